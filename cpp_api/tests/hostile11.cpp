// hostile11: drive FRVT_11::Interface with inputs NIST or a careless caller may send.
// Every call must return a defined status, a non-empty template, and one EyePair
// per image; the process must survive. Modes (all print one row per case):
//   hostile11 configDir cases facePnm [edgeDir ...]   built-in cases + every PPM/PGM of each dir
//   hostile11 configDir soak calls warmup pnm ...     createFaceTemplate + matchTemplates, RSS
//   hostile11 configDir templates outDir pnm ...      write <stem>.template per image
//   hostile11 configDir match recordsFile             score (u32 len, bytes) x 2 records
// Exit 1 on a contract violation, 2 on bad usage or unreadable input.
#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <frvt11.h>

using namespace FRVT;

namespace {

int violations = 0;

std::shared_ptr<uint8_t> buffer(size_t n, uint8_t fill) {
    std::shared_ptr<uint8_t> p(new uint8_t[n ? n : 1], std::default_delete<uint8_t[]>());
    std::memset(p.get(), fill, n ? n : 1);
    return p;
}

Image make(uint16_t w, uint16_t h, uint8_t depth, uint8_t fill = 128) {
    return Image(w, h, depth, buffer(static_cast<size_t>(w) * h * std::max(1, depth / 8), fill),
                 ImageDescription::FaceUnknown, Illuminant::Unspecified);
}

Image noise(uint16_t w, uint16_t h, uint32_t seed, uint8_t depth = 24) {
    Image img = make(w, h, depth);
    std::mt19937 rng(seed);
    for (size_t i = 0; i < img.size(); ++i) img.data.get()[i] = static_cast<uint8_t>(rng());
    return img;
}

// NIST's driver reads PNM headers with >> and no comments; so do we.
Image read_pnm(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::string magic;
    long w = 0, h = 0, maxval = 0;
    if (!(in >> magic >> w >> h >> maxval) || w < 0 || h < 0 || w > 65535 || h > 65535) {
        std::cerr << "unreadable image " << path << "\n";
        std::exit(2);
    }
    in.get();
    Image img = make(static_cast<uint16_t>(w), static_cast<uint16_t>(h), magic == "P6" ? 24 : 8);
    in.read(reinterpret_cast<char *>(img.data.get()), static_cast<std::streamsize>(img.size()));
    return img;
}

std::string stem(const std::string &path) {
    const size_t slash = path.find_last_of('/');
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    return base.substr(0, base.find_last_of('.'));
}

// A real detection places both eyes; a failure leaves both unassigned.
bool both_eyes(const EyePair &e) { return e.isLeftAssigned && e.isRightAssigned; }

std::string eye_flags(const std::vector<EyePair> &eyes) {
    std::string s;
    for (const auto &e : eyes) s += both_eyes(e) ? '1' : '0';
    return s.empty() ? "-" : s;
}

// Row: name returnCode templateBytes count eyes ms result
ReturnStatus check_single(FRVT_11::Interface &impl, const std::string &name, const std::vector<Image> &images,
                          std::vector<uint8_t> *out = nullptr) {
    std::vector<uint8_t> templ;
    std::vector<EyePair> eyes;
    const auto t0 = std::chrono::steady_clock::now();
    const ReturnStatus st = impl.createFaceTemplate(images, TemplateRole::Enrollment_11, templ, eyes);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const bool ok = !templ.empty() && eyes.size() == images.size();
    if (!ok) ++violations;
    std::cout << name << " " << static_cast<int>(st.code) << " " << templ.size() << " " << eyes.size() << " "
              << eye_flags(eyes) << " " << static_cast<int>(ms) << " " << (ok ? "ok" : "VIOLATION") << "\n";
    if (out) *out = templ;
    return st;
}

void check_multi(FRVT_11::Interface &impl, const std::string &name, const Image &image) {
    std::vector<std::vector<uint8_t>> templs;
    std::vector<EyePair> eyes;
    const auto t0 = std::chrono::steady_clock::now();
    const ReturnStatus st = impl.createFaceTemplate(image, TemplateRole::Verification_11, templs, eyes);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    bool ok = !templs.empty() && templs.size() == eyes.size();
    for (const auto &t : templs) ok = ok && !t.empty();
    if (!ok) ++violations;
    std::cout << name << " " << static_cast<int>(st.code) << " " << (templs.empty() ? 0 : templs[0].size()) << " "
              << templs.size() << " " << eye_flags(eyes) << " " << static_cast<int>(ms) << " "
              << (ok ? "ok" : "VIOLATION") << "\n";
}

// NIST: a score within [0, 1e6] on Success; -1 with a non-zero code otherwise.
bool score_ok(const ReturnStatus &st, double score) {
    return st.code == ReturnCode::Success ? (std::isfinite(score) && score >= 0 && score <= 1e6) : score == -1.0;
}

// Row: name returnCode score - - - result
void check_match(FRVT_11::Interface &impl, const std::string &name, const std::vector<uint8_t> &a,
                 const std::vector<uint8_t> &b) {
    double score = 12345.0;
    const ReturnStatus st = impl.matchTemplates(a, b, score);
    const bool ok = score_ok(st, score);
    if (!ok) ++violations;
    std::cout << name << " " << static_cast<int>(st.code) << " " << score << " - - - " << (ok ? "ok" : "VIOLATION")
              << "\n";
}

long rss_kb() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

template <typename T>
void put(std::vector<uint8_t> &t, size_t at, T v) {
    std::memcpy(t.data() + at, &v, sizeof(T));
}

// A well-formed template in the library's layout (magic, version 1, dim, unit vector).
std::vector<uint8_t> synthetic(uint32_t dim) {
    std::vector<uint8_t> t(16 + 4 * static_cast<size_t>(dim), 0);
    put<uint32_t>(t, 0, 0x54525646);
    put<uint16_t>(t, 4, 1);
    put<uint32_t>(t, 8, dim);
    put<float>(t, 16, 1.0f);
    return t;
}

void cases(FRVT_11::Interface &impl, const std::string &face_path, const std::vector<std::string> &dirs) {
    check_single(impl, "1x1", {make(1, 1, 24)});
    check_single(impl, "1x1-grey", {make(1, 1, 8)});
    check_single(impl, "0-width", {make(0, 50, 24)});
    check_single(impl, "0-height", {make(50, 0, 24)});
    check_single(impl, "0x0", {make(0, 0, 8)});
    check_single(impl, "depth-16", {make(40, 40, 16)});
    check_single(impl, "depth-32", {make(40, 40, 32)});
    check_single(impl, "depth-0", {make(40, 40, 0)});
    check_single(impl, "depth-1", {make(40, 40, 1)});
    Image null_data = make(64, 64, 24);
    null_data.data.reset();
    check_single(impl, "null-data", {null_data});
    Image null_empty = make(0, 0, 24);
    null_empty.data.reset();
    check_single(impl, "null-data-0x0", {null_empty});
    check_single(impl, "strip-65535x1", {make(65535, 1, 24)});
    check_single(impl, "strip-1x65535", {make(1, 65535, 8)});
    check_single(impl, "strip-65535x2", {noise(65535, 2, 11)});
    check_single(impl, "odd-333x257", {noise(333, 257, 12)});
    check_single(impl, "odd-grey-7x5", {noise(7, 5, 13, 8)});
    check_single(impl, "noise-640x480", {noise(640, 480, 1)});
    check_single(impl, "noise-4000x6000", {noise(4000, 6000, 2)});
    check_single(impl, "black-grey", {make(320, 240, 8, 0)});
    check_single(impl, "white", {make(320, 240, 24, 255)});
    check_single(impl, "no-images", {});
    check_single(impl, "mixed-good-and-bad", {make(0, 0, 24), noise(100, 100, 3), make(10, 10, 16)});
    check_multi(impl, "multi-noise", noise(800, 600, 4));
    check_multi(impl, "multi-null", null_data);
    check_multi(impl, "multi-0x0", make(0, 0, 24));
    check_multi(impl, "multi-depth-16", make(40, 40, 16));

    // A real face, alone and among broken images: the broken ones must not cost the face its template.
    const Image face = read_pnm(face_path);
    std::vector<uint8_t> real, mixed;
    check_single(impl, "face", {face}, &real);
    check_multi(impl, "multi-face", face);
    check_single(impl, "face-among-bad", {null_data, face, make(0, 0, 24), make(40, 40, 16)}, &mixed);
    check_single(impl, "face-twice", {face, face});

    for (const std::string &dir : dirs) {
        DIR *d = opendir(dir.c_str());
        if (d == nullptr) {
            std::cerr << "no edge folder " << dir << "\n";
            std::exit(2);
        }
        std::vector<std::string> names;
        while (dirent *e = readdir(d)) {
            const std::string n = e->d_name;
            if (n.size() > 4 && (n.substr(n.size() - 4) == ".ppm" || n.substr(n.size() - 4) == ".pgm"))
                names.push_back(n);
        }
        closedir(d);
        std::sort(names.begin(), names.end());
        const std::string tag = dir.substr(dir.find_last_of('/') + 1);
        for (const auto &n : names) {
            const Image img = read_pnm(dir + "/" + n);
            check_single(impl, "edge-" + tag + "/" + n, {img});
            check_multi(impl, "multi-" + tag + "/" + n, img);
        }
    }

    // Templates that are not templates, next to real ones.
    std::vector<uint8_t> failed;
    std::vector<EyePair> eyes;
    impl.createFaceTemplate({noise(64, 64, 5)}, TemplateRole::Enrollment_11, failed, eyes);  // a failure template
    const std::vector<uint8_t> valid = synthetic(128);
    check_match(impl, "match-valid-self", valid, valid);
    check_match(impl, "match-empty", {}, valid);
    check_match(impl, "match-empty-both", {}, {});
    check_match(impl, "match-truncated", std::vector<uint8_t>(valid.begin(), valid.begin() + 100), valid);
    std::vector<uint8_t> wrong_version = valid;
    wrong_version[4] = 7;
    check_match(impl, "match-wrong-version", wrong_version, valid);
    std::vector<uint8_t> wrong_dim = valid;
    wrong_dim[8] = 64;
    check_match(impl, "match-wrong-dimension", wrong_dim, valid);
    std::vector<uint8_t> nan = valid;
    for (int i = 0; i < 128; ++i) put<float>(nan, 16 + 4 * i, std::nanf(""));
    check_match(impl, "match-nan", nan, valid);
    std::mt19937 rng(7);
    std::vector<uint8_t> random(528);
    for (auto &b : random) b = static_cast<uint8_t>(rng());
    check_match(impl, "match-random", random, valid);
    check_match(impl, "match-failure-template", failed, valid);
    check_match(impl, "match-failure-both", failed, failed);

    check_match(impl, "match-real-self", real, real);
    check_match(impl, "match-real-mixed", real, mixed);  // same face, template from the mixed list
    check_match(impl, "match-real-vs-failure", real, failed);
    check_match(impl, "match-failure-vs-real", failed, real);
    check_match(impl, "match-real-vs-empty", real, {});
    check_match(impl, "match-real-vs-dim64", real, synthetic(64));  // mismatched template sizes
    check_match(impl, "match-real-vs-dim512", synthetic(512), real);
    if (real.size() > 20) {
        check_match(impl, "match-real-truncated", std::vector<uint8_t>(real.begin(), real.end() - 4), real);
        std::vector<uint8_t> longer = real;
        longer.resize(real.size() + 4, 0);
        check_match(impl, "match-real-extended", longer, real);
        std::vector<uint8_t> shrunk(real.begin(), real.end() - 4);  // consistent header, one value fewer
        put<uint32_t>(shrunk, 8, static_cast<uint32_t>((shrunk.size() - 16) / 4));
        check_match(impl, "match-real-consistent-shorter", shrunk, real);
        std::vector<uint8_t> inf = real;
        put<float>(inf, 16, INFINITY);
        check_match(impl, "match-real-inf", inf, real);
        std::vector<uint8_t> failed_payload = real;
        put<uint16_t>(failed_payload, 6, 1);
        check_match(impl, "match-real-failed-flag-with-payload", failed_payload, real);
        std::vector<uint8_t> header_only(real.begin(), real.begin() + 16);
        check_match(impl, "match-real-header-only", header_only, real);
    }
}

// Repeated real inference: every call must succeed, resident memory must settle after warm-up.
void soak(FRVT_11::Interface &impl, int calls, int warmup, const std::vector<std::string> &paths) {
    std::vector<Image> images;
    for (const auto &p : paths) images.push_back(read_pnm(p));
    std::vector<uint8_t> previous;
    long warm = 0, peak = 0, created = 0, matched = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) {
        std::vector<uint8_t> t;
        std::vector<EyePair> e;
        const Image &img = images[static_cast<size_t>(i) % images.size()];
        const ReturnStatus st = impl.createFaceTemplate({img}, TemplateRole::Enrollment_11, t, e);
        if (st.code == ReturnCode::Success && e.size() == 1 && both_eyes(e[0]) && t.size() > 16) ++created;
        double score = -2;
        const ReturnStatus ms = impl.matchTemplates(t, previous.empty() ? t : previous, score);
        if (ms.code == ReturnCode::Success && score_ok(ms, score)) ++matched;
        previous.swap(t);
        if (i + 1 == warmup) warm = rss_kb();
        if (i + 1 >= warmup) peak = std::max(peak, rss_kb());
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "soak calls " << calls << " created " << created << " matched " << matched << " rss_warm_kb " << warm
              << " rss_end_kb " << rss_kb() << " rss_peak_kb " << peak << " seconds " << s << "\n";
}

void write_templates(FRVT_11::Interface &impl, const std::string &out, const std::vector<std::string> &paths) {
    for (const auto &p : paths) {
        std::vector<uint8_t> t;
        check_single(impl, stem(p), {read_pnm(p)}, &t);
        std::ofstream(out + "/" + stem(p) + ".template", std::ios::binary)
            .write(reinterpret_cast<const char *>(t.data()), static_cast<std::streamsize>(t.size()));
    }
}

// Score every (verif, enroll) record pair through the library; one "code score" line each.
void match_records(FRVT_11::Interface &impl, const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    auto next = [&in](std::vector<uint8_t> &t) {
        uint32_t n = 0;
        if (!in.read(reinterpret_cast<char *>(&n), 4)) return false;
        t.assign(n, 0);
        return static_cast<bool>(in.read(reinterpret_cast<char *>(t.data()), n));
    };
    std::vector<uint8_t> a, b;
    char line[64];
    while (next(a) && next(b)) {
        double score = 12345.0;
        const ReturnStatus st = impl.matchTemplates(a, b, score);
        if (!score_ok(st, score)) ++violations;
        std::snprintf(line, sizeof line, "%d %.17g\n", static_cast<int>(st.code), score);
        std::cout << line;
    }
}

}  // namespace

int main(int argc, char **argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const bool usable = args.size() >= 3 && ((args[1] == "cases") || (args[1] == "soak" && args.size() >= 5) ||
                                             (args[1] == "templates" && args.size() >= 4) || args[1] == "match");
    if (!usable) {
        std::cerr << "usage: hostile11 configDir cases facePnm [edgeDir ...] | soak calls warmup pnm ... |"
                     " templates outDir pnm ... | match recordsFile\n";
        return 2;
    }
    auto impl = FRVT_11::Interface::getImplementation();
    const ReturnStatus init = impl->initialize(args[0]);
    if (init.code != ReturnCode::Success) {
        std::cerr << "initialize: " << init.info << "\n";
        return 1;
    }
    const std::string &mode = args[1];
    if (mode == "cases") {
        std::cout << "case returnCode templateBytes count eyes ms result\n";
        cases(*impl, args[2], std::vector<std::string>(args.begin() + 3, args.end()));
    } else if (mode == "soak") {
        soak(*impl, std::stoi(args[2]), std::stoi(args[3]), std::vector<std::string>(args.begin() + 4, args.end()));
    } else if (mode == "templates") {
        write_templates(*impl, args[2], std::vector<std::string>(args.begin() + 3, args.end()));
    } else {
        match_records(*impl, args[2]);
    }
    std::cout << "violations " << violations << "\n";
    return violations == 0 ? 0 : 1;
}
