// validate11: a NIST-style FRVT 1:1 driver. initialize() once in the parent, one
// fork per part of the input list, per-fork logs merged under one header.
// Extra subcommand `timing`: NIST's single-process timing measurement.
#include <dirent.h>
#include <dlfcn.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <frvt11.h>

#include "image_io.h"

using namespace FRVT;
using validate11::description_from_label;
using validate11::read_image;

namespace {

const char *USAGE =
    "usage: validate11 createTemplate|createMultiTemplates|match [-x enroll|verif] -c configDir\n"
    "                  -o outputDir -h outputStem -i inputFile -t numForks -j templatesDir\n"
    "       validate11 timing -c configDir -o outputDir -h outputStem -i inputFile [-r repeats] [-m matches]\n";

struct Args {
    std::string action, role = "enroll", config, out, stem, input, templates;
    int forks = 1, repeats = 1, matches = 20000;
};

const char *ENROLL_HEADER =
    "id image templateSizeBytes returnCode isLeftEyeAssigned isRightEyeAssigned xleft yleft xright yright";
const char *MULTI_HEADER =
    "id image templateSizeBytes returnCode numDetections detectionIndex isLeftEyeAssigned "
    "isRightEyeAssigned xleft yleft xright yright";
const char *MATCH_HEADER = "enrollTempl verifTempl simScore returnCode";

std::vector<std::string> split_ws(const std::string &line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

bool write_file(const std::string &path, const std::vector<uint8_t> &bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char *>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return static_cast<bool>(f);
}

bool read_file(const std::string &path, std::vector<uint8_t> &bytes) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    return true;
}

std::string eyes_cols(const EyePair &e) {
    std::ostringstream s;
    s << e.isLeftAssigned << " " << e.isRightAssigned << " " << e.xleft << " " << e.yleft << " " << e.xright
      << " " << e.yright;
    return s.str();
}

int code(const ReturnStatus &s) { return static_cast<int>(s.code); }

// --- one child's work -------------------------------------------------------
int run_templates(FRVT_11::Interface &impl, const Args &a, const std::vector<std::string> &lines, std::ostream &log) {
    const TemplateRole role = a.role == "verif" ? TemplateRole::Verification_11 : TemplateRole::Enrollment_11;
    for (const std::string &line : lines) {
        const auto w = split_ws(line);
        if (w.size() < 3 || w.size() % 2 == 0) {
            std::cerr << "malformed input line: " << line << std::endl;
            return 1;
        }
        const std::string &id = w[0];
        std::vector<Image> images;
        std::vector<std::string> paths;
        for (size_t i = 1; i + 1 < w.size(); i += 2) {
            Image img;
            const std::string err = read_image(w[i], description_from_label(w[i + 1]), img);
            if (!err.empty()) {
                std::cerr << err << std::endl;
                return 1;
            }
            images.push_back(img);
            paths.push_back(w[i]);
        }
        std::vector<uint8_t> templ;
        std::vector<EyePair> eyes;
        ReturnStatus st;
        try {
            st = impl.createFaceTemplate(images, role, templ, eyes);
        } catch (...) {
            std::cerr << "createFaceTemplate threw for " << id << std::endl;
            return 1;
        }
        if (st.code == ReturnCode::NotImplemented || eyes.size() != images.size()) raise(SIGTERM);
        if (!write_file(a.templates + "/" + id + ".template", templ)) {
            std::cerr << "cannot write template for " << id << std::endl;
            return 1;
        }
        for (size_t i = 0; i < images.size(); ++i)
            log << id << " " << paths[i] << " " << templ.size() << " " << code(st) << " " << eyes_cols(eyes[i])
                << "\n";
    }
    return 0;
}

int run_multi(FRVT_11::Interface &impl, const Args &a, const std::vector<std::string> &lines, std::ostream &log) {
    for (const std::string &line : lines) {
        const auto w = split_ws(line);
        if (w.size() != 3) {
            std::cerr << "multi-person lines hold exactly one image: " << line << std::endl;
            return 1;
        }
        Image img;
        const std::string err = read_image(w[1], description_from_label(w[2]), img);
        if (!err.empty()) {
            std::cerr << err << std::endl;
            return 1;
        }
        std::vector<std::vector<uint8_t>> templs;
        std::vector<EyePair> eyes;
        ReturnStatus st;
        try {
            st = impl.createFaceTemplate(img, TemplateRole::Verification_11, templs, eyes);
        } catch (...) {
            std::cerr << "createFaceTemplate(multi) threw for " << w[0] << std::endl;
            return 1;
        }
        if (st.code == ReturnCode::NotImplemented || templs.empty() || templs.size() != eyes.size()) raise(SIGTERM);
        for (size_t i = 0; i < templs.size(); ++i) {
            const std::string id = w[0] + "_" + std::to_string(i);
            if (!write_file(a.templates + "/" + id + ".template", templs[i])) return 1;
            log << id << " " << w[1] << " " << templs[i].size() << " " << code(st) << " " << templs.size() << " "
                << i << " " << eyes_cols(eyes[i]) << "\n";
        }
    }
    return 0;
}

int run_match(FRVT_11::Interface &impl, const std::vector<std::string> &lines, std::ostream &log) {
    for (const std::string &line : lines) {
        const auto w = split_ws(line);
        if (w.size() != 2) {
            std::cerr << "match lines hold two template paths: " << line << std::endl;
            return 1;
        }
        std::vector<uint8_t> enroll, verif;
        // NIST's driver stops on a template it cannot read: no fallback row hides a lost template.
        for (const auto &[path, bytes] : {std::pair{&w[0], &enroll}, std::pair{&w[1], &verif}})
            if (!read_file(*path, *bytes)) {
                std::cerr << "cannot read template " << *path << std::endl;
                return 1;
            }
        double score = -1.0;
        ReturnStatus st;
        try {
            st = impl.matchTemplates(verif, enroll, score);
        } catch (...) {
            std::cerr << "matchTemplates threw" << std::endl;
            return 1;
        }
        log << w[0] << " " << w[1] << " " << score << " " << code(st) << "\n";
    }
    return 0;
}

// --- NIST's timing measurement ------------------------------------------------
int count_threads() {
    int n = 0;
    if (DIR *d = opendir("/proc/self/task")) {
        while (dirent *e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
    }
    return n;
}

// Resident memory now, from /proc/self/status (VmRSS, kB); -1 when unreadable. getrusage's
// ru_maxrss is the peak over the whole run, not what initialize() left behind.
long rss_kb() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return -1;
}

// What initialize() cost: wall time (std::chrono, as NIST times the other calls) and the RSS after it.
struct InitCost {
    double ms = 0.0;
    long rss_kb = -1;
};

int run_timing(FRVT_11::Interface &impl, const Args &a, const std::vector<std::string> &lines, const InitCost &init) {
    using clock = std::chrono::steady_clock;
    std::ofstream out(a.out + "/" + a.stem + ".log");
    out << "image width height depth ms returnCode stages\n";
    // Optional vendor extension (not part of NIST's API): per-stage times.
    using StagesFn = int (*)(char *, size_t);
    const auto stages_fn = reinterpret_cast<StagesFn>(dlsym(RTLD_DEFAULT, "frvt11_ext_last_stages"));
    std::vector<std::vector<uint8_t>> templates;
    int max_threads = count_threads();
    for (const std::string &line : lines) {
        const auto w = split_ws(line);
        if (w.size() < 2) continue;
        Image img;
        const std::string err = read_image(w[1], description_from_label(w.size() > 2 ? w[2] : ""), img);
        if (!err.empty()) {
            std::cerr << err << std::endl;
            return 1;
        }
        for (int r = 0; r < a.repeats; ++r) {
            std::vector<uint8_t> templ;
            std::vector<EyePair> eyes;
            const auto t0 = clock::now();
            const ReturnStatus st = impl.createFaceTemplate(std::vector<Image>{img}, TemplateRole::Enrollment_11,
                                                            templ, eyes);
            const double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
            char stages[512] = "-";
            if (stages_fn == nullptr || stages_fn(stages, sizeof(stages)) != 1 || stages[0] == '\0')
                std::strcpy(stages, "-");
            for (char *c = stages; *c; ++c)
                if (*c == ' ') *c = ',';
            out << w[1] << " " << img.width << " " << img.height << " " << int(img.depth) << " " << ms << " "
                << code(st) << " " << stages << "\n";
            if (r == 0 && st.code == ReturnCode::Success) templates.push_back(templ);
            max_threads = std::max(max_threads, count_threads());
        }
    }
    std::ofstream mout(a.out + "/" + a.stem + "_match.log");
    mout << "pairs calls totalMs usPerCall\n";
    if (templates.size() >= 2) {
        double sink = 0.0;
        const size_t n = templates.size();
        const auto t0 = clock::now();
        for (int i = 0; i < a.matches; ++i) {
            double score = 0;
            impl.matchTemplates(templates[i % n], templates[(i + 1) % n], score);
            sink += score;
        }
        const double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
        mout << n << " " << a.matches << " " << ms << " " << (ms * 1000.0 / a.matches) << "\n";
        if (sink < -1e300) std::cerr << sink;  // keep the loop observable
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::ofstream rout(a.out + "/" + a.stem + "_resources.log");
    rout << "maxThreads peakRssKB initMs initRssKB\n"
         << max_threads << " " << ru.ru_maxrss << " " << init.ms << " " << init.rss_kb << "\n";
    return 0;
}

// --- fork per part, merge logs ------------------------------------------------
// A child returns its status up to main (it does not _exit), as NIST's children do: static
// destructors and atexit handlers then run while the library's embedded interpreter is alive.
struct Forked {
    int rc;
    bool child;
};

Forked run_forked(FRVT_11::Interface &impl, const Args &a, const std::vector<std::string> &lines) {
    const char *header = a.action == "match" ? MATCH_HEADER
                         : a.action == "createMultiTemplates" ? MULTI_HEADER : ENROLL_HEADER;
    const int parts = std::max(1, std::min<int>(a.forks, static_cast<int>(std::max<size_t>(lines.size(), 1))));
    const size_t per = (lines.size() + parts - 1) / parts;
    std::vector<pid_t> children;
    std::cout.flush();
    std::cerr.flush();
    for (int i = 0; i < parts; ++i) {
        const size_t lo = std::min(lines.size(), i * per), hi = std::min(lines.size(), lo + per);
        const pid_t pid = fork();
        if (pid < 0) {
            std::cerr << "fork failed" << std::endl;
            return {1, false};
        }
        if (pid == 0) {
            std::vector<std::string> part(lines.begin() + static_cast<long>(lo), lines.begin() + static_cast<long>(hi));
            std::ofstream log(a.out + "/" + a.stem + ".log." + std::to_string(i));
            int rc = a.action == "match"                  ? run_match(impl, part, log)
                     : a.action == "createMultiTemplates" ? run_multi(impl, a, part, log)
                                                          : run_templates(impl, a, part, log);
            log.close();
            return {rc, true};
        }
        children.push_back(pid);
    }
    int failures = 0;
    for (pid_t pid : children) {
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) {
            std::cerr << "child " << pid << " died by signal " << WTERMSIG(status) << std::endl;
            ++failures;
        } else if (WEXITSTATUS(status) != 0) {
            std::cerr << "child " << pid << " exited with " << WEXITSTATUS(status) << std::endl;
            ++failures;
        }
    }
    std::ofstream merged(a.out + "/" + a.stem + ".log");
    merged << header << "\n";
    for (int i = 0; i < parts; ++i) {
        const std::string part = a.out + "/" + a.stem + ".log." + std::to_string(i);
        std::ifstream in(part);
        merged << in.rdbuf();
        in.close();
        std::remove(part.c_str());
    }
    return {failures == 0 ? 0 : 1, false};
}

bool parse(int argc, char **argv, Args &a) {
    if (argc < 2) return false;
    a.action = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], val = argv[i + 1];
        if (flag == "-x") a.role = val;
        else if (flag == "-c") a.config = val;
        else if (flag == "-o") a.out = val;
        else if (flag == "-h") a.stem = val;
        else if (flag == "-i") a.input = val;
        else if (flag == "-j") a.templates = val;
        else if (flag == "-t") a.forks = std::atoi(val.c_str());
        else if (flag == "-r") a.repeats = std::max(1, std::atoi(val.c_str()));
        else if (flag == "-m") a.matches = std::max(1, std::atoi(val.c_str()));
        else return false;
    }
    if ((argc - 2) % 2 != 0) return false;
    const bool known = a.action == "createTemplate" || a.action == "createMultiTemplates" ||
                       a.action == "match" || a.action == "timing";
    if (a.templates.empty()) a.templates = a.out;
    return known && !a.config.empty() && !a.out.empty() && !a.stem.empty() && !a.input.empty() && a.forks > 0 &&
           (a.role == "enroll" || a.role == "verif");
}

}  // namespace

int main(int argc, char **argv) {
    Args a;
    if (!parse(argc, argv, a)) {
        std::cerr << USAGE;
        return 1;
    }
    if (FRVT_STRUCTS_MAJOR_VERSION != EXPECT_STRUCTS_MAJOR || FRVT_STRUCTS_MINOR_VERSION != EXPECT_STRUCTS_MINOR ||
        FRVT_11::API_MAJOR_VERSION != EXPECT_API_MAJOR || FRVT_11::API_MINOR_VERSION != EXPECT_API_MINOR) {
        std::cerr << "[ERROR] library reports structs " << FRVT_STRUCTS_MAJOR_VERSION << "."
                  << FRVT_STRUCTS_MINOR_VERSION << " and API " << FRVT_11::API_MAJOR_VERSION << "."
                  << FRVT_11::API_MINOR_VERSION << "; this driver needs structs " << EXPECT_STRUCTS_MAJOR << "."
                  << EXPECT_STRUCTS_MINOR << " and API " << EXPECT_API_MAJOR << "." << EXPECT_API_MINOR << std::endl;
        return 1;
    }
    std::ifstream in(a.input);
    if (!in) {
        std::cerr << "cannot read input list " << a.input << std::endl;
        return 1;
    }
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        if (!split_ws(line).empty()) lines.push_back(line);

    std::shared_ptr<FRVT_11::Interface> impl;
    InitCost init;
    try {
        impl = FRVT_11::Interface::getImplementation();
        if (!impl) {
            std::cerr << "[ERROR] getImplementation() returned no object" << std::endl;
            return 1;
        }
        const auto t0 = std::chrono::steady_clock::now();
        const ReturnStatus st = impl->initialize(a.config);
        init.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        init.rss_kb = rss_kb();
        if (st.code != ReturnCode::Success) {
            std::cerr << "[ERROR] initialize() returned " << code(st) << " (" << st.code << "): " << st.info
                      << std::endl;
            return 1;
        }
    } catch (...) {
        std::cerr << "[ERROR] the library threw during initialization" << std::endl;
        return 1;
    }
    if (a.action == "timing") return run_timing(*impl, a, lines, init);
    return run_forked(*impl, a, lines).rc;
}
