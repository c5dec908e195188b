// hostile11: drive FRVT_11::Interface with inputs NIST or a careless caller may send.
// Every call must return a defined status, a non-empty template, and one EyePair
// per image; the process must survive. Prints one row per case; exit 1 on any
// contract violation. Usage: hostile11 configDir [edgeImageDir]
#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
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

Image noise(uint16_t w, uint16_t h, uint32_t seed) {
    Image img = make(w, h, 24);
    std::mt19937 rng(seed);
    for (size_t i = 0; i < img.size(); ++i) img.data.get()[i] = static_cast<uint8_t>(rng());
    return img;
}

Image read_pnm(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::string magic;
    int w = 0, h = 0, maxval = 0;
    in >> magic >> w >> h >> maxval;
    in.get();
    Image img = make(static_cast<uint16_t>(w), static_cast<uint16_t>(h), magic == "P6" ? 24 : 8);
    in.read(reinterpret_cast<char *>(img.data.get()), static_cast<std::streamsize>(img.size()));
    return img;
}

void check_single(FRVT_11::Interface &impl, const std::string &name, const std::vector<Image> &images) {
    std::vector<uint8_t> templ;
    std::vector<EyePair> eyes;
    const auto t0 = std::chrono::steady_clock::now();
    const ReturnStatus st = impl.createFaceTemplate(images, TemplateRole::Enrollment_11, templ, eyes);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const bool ok = !templ.empty() && eyes.size() == images.size();
    if (!ok) ++violations;
    std::cout << name << " " << static_cast<int>(st.code) << " " << templ.size() << " " << eyes.size() << " "
              << static_cast<int>(ms) << " " << (ok ? "ok" : "VIOLATION") << "\n";
}

void check_multi(FRVT_11::Interface &impl, const std::string &name, const Image &image) {
    std::vector<std::vector<uint8_t>> templs;
    std::vector<EyePair> eyes;
    const ReturnStatus st = impl.createFaceTemplate(image, TemplateRole::Verification_11, templs, eyes);
    bool ok = !templs.empty() && templs.size() == eyes.size();
    for (const auto &t : templs) ok = ok && !t.empty();
    if (!ok) ++violations;
    std::cout << name << " " << static_cast<int>(st.code) << " " << (templs.empty() ? 0 : templs[0].size()) << " "
              << templs.size() << " 0 " << (ok ? "ok" : "VIOLATION") << "\n";
}

void check_match(FRVT_11::Interface &impl, const std::string &name, const std::vector<uint8_t> &a,
                 const std::vector<uint8_t> &b) {
    double score = 12345.0;
    const ReturnStatus st = impl.matchTemplates(a, b, score);
    const bool ok = st.code == ReturnCode::Success ? (score >= 0 && score <= 1e6) : score < 0;
    if (!ok) ++violations;
    std::cout << name << " " << static_cast<int>(st.code) << " " << score << " 0 0 " << (ok ? "ok" : "VIOLATION")
              << "\n";
}

long rss_kb() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: hostile11 configDir [edgeImageDir|-] [soakCalls] [soakImageSide]\n";
        return 2;
    }
    auto impl = FRVT_11::Interface::getImplementation();
    const ReturnStatus init = impl->initialize(argv[1]);
    if (init.code != ReturnCode::Success) {
        std::cerr << "initialize: " << init.info << "\n";
        return 1;
    }
    std::cout << "case returnCode templateBytes count ms result\n";
    check_single(*impl, "1x1", {make(1, 1, 24)});
    check_single(*impl, "0-width", {make(0, 50, 24)});
    check_single(*impl, "0-height", {make(50, 0, 24)});
    check_single(*impl, "depth-16", {make(40, 40, 16)});
    check_single(*impl, "depth-32", {make(40, 40, 32)});
    check_single(*impl, "depth-0", {make(40, 40, 0)});
    Image null_data = make(64, 64, 24);
    null_data.data.reset();
    check_single(*impl, "null-data", {null_data});
    check_single(*impl, "strip-65535x1", {make(65535, 1, 24)});
    check_single(*impl, "strip-1x65535", {make(1, 65535, 8)});
    check_single(*impl, "noise-640x480", {noise(640, 480, 1)});
    check_single(*impl, "noise-4000x6000", {noise(4000, 6000, 2)});
    check_single(*impl, "black-grey", {make(320, 240, 8, 0)});
    check_single(*impl, "white", {make(320, 240, 24, 255)});
    check_single(*impl, "no-images", {});
    check_single(*impl, "mixed-good-and-bad", {make(0, 0, 24), noise(100, 100, 3), make(10, 10, 16)});
    check_multi(*impl, "multi-noise", noise(800, 600, 4));
    check_multi(*impl, "multi-null", null_data);
    if (argc > 2 && std::string(argv[2]) != "-") {
        const std::string dir = argv[2];
        if (DIR *d = opendir(dir.c_str())) {
            std::vector<std::string> names;
            while (dirent *e = readdir(d)) {
                const std::string n = e->d_name;
                if (n.size() > 4 && (n.substr(n.size() - 4) == ".ppm" || n.substr(n.size() - 4) == ".pgm"))
                    names.push_back(n);
            }
            closedir(d);
            std::sort(names.begin(), names.end());
            for (const auto &n : names) {
                const Image img = read_pnm(dir + "/" + n);
                check_single(*impl, "edge-" + n, {img});
                check_multi(*impl, "edge-multi-" + n, img);
            }
        }
    }
    // Templates that are not templates.
    std::vector<uint8_t> good;
    std::vector<EyePair> eyes;
    impl->createFaceTemplate({noise(64, 64, 5)}, TemplateRole::Enrollment_11, good, eyes);  // a failure template
    std::vector<uint8_t> valid(16 + 4 * 128, 0);
    const uint32_t magic = 0x54525646;
    const uint16_t version = 1;
    const uint32_t dim = 128;
    std::memcpy(valid.data(), &magic, 4);
    std::memcpy(valid.data() + 4, &version, 2);
    std::memcpy(valid.data() + 8, &dim, 4);
    for (int i = 0; i < 128; ++i) {
        const float v = (i == 0) ? 1.0f : 0.0f;
        std::memcpy(valid.data() + 16 + 4 * i, &v, 4);
    }
    check_match(*impl, "match-valid-self", valid, valid);
    check_match(*impl, "match-empty", {}, valid);
    check_match(*impl, "match-truncated", std::vector<uint8_t>(valid.begin(), valid.begin() + 100), valid);
    std::vector<uint8_t> wrong_version = valid;
    wrong_version[4] = 7;
    check_match(*impl, "match-wrong-version", wrong_version, valid);
    std::vector<uint8_t> wrong_dim = valid;
    wrong_dim[8] = 64;
    check_match(*impl, "match-wrong-dimension", wrong_dim, valid);
    std::vector<uint8_t> nan = valid;
    const float qnan = std::nanf("");
    for (int i = 0; i < 128; ++i) std::memcpy(nan.data() + 16 + 4 * i, &qnan, 4);
    check_match(*impl, "match-nan", nan, valid);
    std::mt19937 rng(7);
    std::vector<uint8_t> random(528);
    for (auto &b : random) b = static_cast<uint8_t>(rng());
    check_match(*impl, "match-random", random, valid);
    check_match(*impl, "match-failure-template", good, valid);
    // Soak: many calls, resident memory must settle.
    const int soak = argc > 3 ? std::atoi(argv[3]) : 0;
    if (soak > 0) {
        long first = 0;
        const int side = argc > 4 ? std::atoi(argv[4]) : 96;
        const Image small = noise(static_cast<uint16_t>(side), static_cast<uint16_t>(side), 9);
        for (int i = 0; i < soak; ++i) {
            std::vector<uint8_t> t;
            std::vector<EyePair> e;
            impl->createFaceTemplate({small}, TemplateRole::Enrollment_11, t, e);
            double s;
            impl->matchTemplates(valid, valid, s);
            if (i == soak / 10) first = rss_kb();
        }
        const long last = rss_kb();
        const bool ok = last - first < 20 * 1024;  // < 20 MB growth after warm-up
        if (!ok) ++violations;
        std::cout << "soak-" << soak << " 0 " << first << " " << last << " 0 " << (ok ? "ok" : "VIOLATION") << "\n";
    }
    std::cout << "violations " << violations << "\n";
    return violations == 0 ? 0 : 1;
}
