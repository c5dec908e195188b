// Fuzz the native template parser/matcher (built with -fsanitize=address,undefined):
// random, truncated, bit-flipped and length-changed templates must never read out
// of bounds and must score -1 unless both are well formed.
// Usage: fuzz_match [iterations] [seed]
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <vector>

#include "frvt_template_format.h"
#include "template_match.h"

using frvt_bridge::MatchOutcome;

int main(int argc, char **argv) {
    const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
    std::mt19937 rng(argc > 2 ? std::atoi(argv[2]) : 1);
    std::vector<uint8_t> valid(FRVT_TEMPLATE_HEADER_SIZE + 4 * 128, 0);
    const uint32_t magic = FRVT_TEMPLATE_MAGIC, dim = 128;
    const uint16_t version = FRVT_TEMPLATE_VERSION;
    std::memcpy(valid.data(), &magic, 4);
    std::memcpy(valid.data() + 4, &version, 2);
    std::memcpy(valid.data() + 8, &dim, 4);
    for (int i = 0; i < 128; ++i) {
        const float v = 1.0f / std::sqrt(128.0f);
        std::memcpy(valid.data() + FRVT_TEMPLATE_HEADER_SIZE + 4 * i, &v, 4);
    }
    long ok = 0, rejected = 0, bad_scores = 0;
    for (long it = 0; it < iterations; ++it) {
        std::vector<uint8_t> t = valid;
        switch (rng() % 5) {
            case 0:  // random bytes of random length
                t.resize(rng() % 1200);
                for (auto &b : t) b = static_cast<uint8_t>(rng());
                break;
            case 1:  // truncate
                t.resize(rng() % t.size());
                break;
            case 2:  // flip bits anywhere
                for (int k = 1 + rng() % 4; k > 0; --k) t[rng() % t.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
                break;
            case 3:  // corrupt the header fields
                t[4 + rng() % 12] = static_cast<uint8_t>(rng());
                break;
            default:  // grow
                t.resize(t.size() + 1 + rng() % 64, static_cast<uint8_t>(rng()));
        }
        // Exact-size heap copies so ASan sees any read past the end.
        uint8_t *a = t.empty() ? nullptr : static_cast<uint8_t *>(std::malloc(t.size()));
        if (a) std::memcpy(a, t.data(), t.size());
        double score = 0;
        const MatchOutcome r = frvt_bridge::match_templates(a, t.size(), valid.data(), valid.size(), score);
        std::free(a);
        if (r == MatchOutcome::Ok) {
            ++ok;
            if (!(score >= 0 && score <= FRVT_TEMPLATE_SCORE_MAX)) ++bad_scores;
        } else {
            ++rejected;
            if (score != FRVT_TEMPLATE_FAILED_SCORE) ++bad_scores;
        }
    }
    std::cout << "iterations " << iterations << " ok " << ok << " rejected " << rejected << " bad_scores "
              << bad_scores << "\n";
    return bad_scores == 0 ? 0 : 1;
}
