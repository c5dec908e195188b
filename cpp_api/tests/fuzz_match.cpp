// Fuzz the native template parser/matcher (built with -fsanitize=address,undefined) by
// mutating VALID templates: real ones written by the library plus synthetic ones of other
// dimensions and a failure template. Bit flips, header-field rewrites, truncation,
// extension, dim rewritten to fit the new length, splices and special floats, stacked.
// Every outcome must be Ok with a score in [0, SCORE_MAX] or a rejection with FAILED_SCORE,
// and match(a, b) must equal match(b, a). Counts the mutants that get past the magic and
// version check, that parse completely, and that parse with another dim than their seed,
// so a caller can tell the fuzz reached the deep code.
// Usage: fuzz_match iterations seed [template file ...]
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <random>
#include <vector>

#include "frvt_template_format.h"
#include "template_match.h"

using frvt_bridge::MatchOutcome;
using Bytes = std::vector<uint8_t>;

namespace {

// The header fields' offsets, from the generated header.
constexpr size_t MAGIC_AT = FRVT_TEMPLATE_OFFSET_MAGIC, VERSION_AT = FRVT_TEMPLATE_OFFSET_VERSION,
                 FLAGS_AT = FRVT_TEMPLATE_OFFSET_FLAGS, DIM_AT = FRVT_TEMPLATE_OFFSET_DIM;

template <typename T>
void put(Bytes &t, size_t at, T v) {
    if (at + sizeof(T) <= t.size()) std::memcpy(t.data() + at, &v, sizeof(T));
}

template <typename T>
T get(const Bytes &t, size_t at) {
    T v{};
    if (at + sizeof(T) <= t.size()) std::memcpy(&v, t.data() + at, sizeof(T));
    return v;
}

Bytes synthetic(uint32_t dim, std::mt19937 &rng) {
    Bytes t(FRVT_TEMPLATE_HEADER_SIZE + 4ull * dim, 0);
    put<uint32_t>(t, MAGIC_AT, FRVT_TEMPLATE_MAGIC);
    put<uint16_t>(t, VERSION_AT, FRVT_TEMPLATE_VERSION);
    put<uint32_t>(t, DIM_AT, dim);
    put<uint16_t>(t, FRVT_TEMPLATE_OFFSET_N_IMAGES, 1);
    std::normal_distribution<float> normal;
    std::vector<float> v(dim);
    double norm = 0;
    for (auto &x : v) {
        x = normal(rng);
        norm += static_cast<double>(x) * x;
    }
    for (uint32_t i = 0; i < dim; ++i) put<float>(t, FRVT_TEMPLATE_HEADER_SIZE + 4 * i, v[i] / std::sqrt(norm));
    return t;
}

Bytes failure() {
    Bytes t(FRVT_TEMPLATE_HEADER_SIZE, 0);
    put<uint32_t>(t, MAGIC_AT, FRVT_TEMPLATE_MAGIC);
    put<uint16_t>(t, VERSION_AT, FRVT_TEMPLATE_VERSION);
    put<uint16_t>(t, FLAGS_AT, FRVT_TEMPLATE_FLAG_FAILED);
    return t;
}

struct Mutator {
    std::mt19937 &rng;
    const std::vector<Bytes> &seeds;

    size_t below(size_t n) { return n ? rng() % n : 0; }

    // Values next to the limits the parser checks (0, 1, MAX_DIM, sign bit, all ones).
    uint32_t interesting(uint32_t current) {
        static const uint32_t picks[] = {0, 1, 2, 127, 128, 129, 512, FRVT_TEMPLATE_MAX_DIM,
                                         FRVT_TEMPLATE_MAX_DIM + 1, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
                                         0x80000000u, 0xFFFFFFFFu};
        switch (below(3)) {
            case 0: return picks[below(std::size(picks))];
            case 1: return current + static_cast<uint32_t>(below(9)) - 4;
            default: return static_cast<uint32_t>(rng());
        }
    }

    void once(Bytes &t) {
        const size_t hs = FRVT_TEMPLATE_HEADER_SIZE;
        switch (below(10)) {
            case 0:  // flip payload bits
                for (size_t k = 1 + below(8); k > 0 && t.size() > hs; --k)
                    t[hs + below(t.size() - hs)] ^= static_cast<uint8_t>(1u << below(8));
                break;
            case 1:  // flip header bits (magic included, now and then)
                if (!t.empty()) t[below(std::min(t.size(), hs))] ^= static_cast<uint8_t>(1u << below(8));
                break;
            case 2: {  // rewrite one header field: version, flags, dim, n_images or reserved
                static const size_t at[] = {VERSION_AT, FLAGS_AT, DIM_AT, FRVT_TEMPLATE_OFFSET_N_IMAGES,
                                            FRVT_TEMPLATE_OFFSET_RESERVED};
                const size_t f = at[below(5)];
                if (f == DIM_AT)
                    put<uint32_t>(t, DIM_AT, interesting(get<uint32_t>(t, DIM_AT)));
                else
                    put<uint16_t>(t, f, static_cast<uint16_t>(interesting(get<uint16_t>(t, f))));
                break;
            }
            case 3:  // truncate: anywhere, or by whole floats
                t.resize(below(2) ? below(t.size() + 1) : (t.size() >= 4 * 4 ? t.size() - 4 * (1 + below(4)) : 0));
                break;
            case 4:  // extend with random bytes or whole floats
                t.resize(t.size() + (below(2) ? 1 + below(64) : 4 * (1 + below(16))), static_cast<uint8_t>(rng()));
                break;
            case 5:  // make dim agree with the length again: a consistent header of another size
                if (t.size() >= hs) put<uint32_t>(t, DIM_AT, static_cast<uint32_t>((t.size() - hs) / 4));
                break;
            case 6: {  // splice: this one's head, another seed's tail
                const Bytes &o = seeds[below(seeds.size())];
                const size_t cut = below(std::min(t.size(), o.size()) + 1);
                Bytes s(t.begin(), t.begin() + static_cast<long>(cut));
                s.insert(s.end(), o.begin() + static_cast<long>(cut), o.end());
                t.swap(s);
                break;
            }
            case 7: {  // special floats in the payload
                static const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                                                 std::numeric_limits<float>::infinity(),
                                                 -std::numeric_limits<float>::infinity(),
                                                 std::numeric_limits<float>::denorm_min(),
                                                 std::numeric_limits<float>::max(), -0.0f, 1e30f};
                if (t.size() >= hs + 4) put<float>(t, hs + 4 * below((t.size() - hs) / 4), specials[below(7)]);
                break;
            }
            case 8:  // mark failed: with its payload, or as a proper failure template
                put<uint16_t>(t, FLAGS_AT, static_cast<uint16_t>(get<uint16_t>(t, FLAGS_AT) | FRVT_TEMPLATE_FLAG_FAILED));
                if (below(2) && t.size() >= hs) {
                    t.resize(hs);
                    put<uint32_t>(t, DIM_AT, 0);
                }
                break;
            default:  // rarely: bytes that were never a template
                if (below(4) == 0) {
                    t.resize(below(700));
                    for (auto &b : t) b = static_cast<uint8_t>(rng());
                }
        }
    }

    Bytes mutant(const Bytes &seed) {
        Bytes t = seed;
        for (size_t k = 1 + below(3); k > 0; --k) once(t);
        return t;
    }
};

bool past_magic(const Bytes &t) {
    return t.size() >= FRVT_TEMPLATE_HEADER_SIZE && get<uint32_t>(t, MAGIC_AT) == FRVT_TEMPLATE_MAGIC &&
           get<uint16_t>(t, VERSION_AT) == FRVT_TEMPLATE_VERSION;
}

// Exact-size heap copies (nullptr when empty) so ASan sees any read past either end.
MatchOutcome match(const Bytes &a, const Bytes &b, double &score) {
    uint8_t *pa = a.empty() ? nullptr : static_cast<uint8_t *>(std::malloc(a.size()));
    uint8_t *pb = b.empty() ? nullptr : static_cast<uint8_t *>(std::malloc(b.size()));
    if (pa) std::memcpy(pa, a.data(), a.size());
    if (pb) std::memcpy(pb, b.data(), b.size());
    score = 12345.0;
    const MatchOutcome r = frvt_bridge::match_templates(pa, a.size(), pb, b.size(), score);
    std::free(pa);
    std::free(pb);
    return r;
}

bool sane(MatchOutcome r, double score) {
    return r == MatchOutcome::Ok ? (std::isfinite(score) && score >= 0 && score <= FRVT_TEMPLATE_SCORE_MAX)
                                 : score == FRVT_TEMPLATE_FAILED_SCORE;
}

}  // namespace

int main(int argc, char **argv) {
    const long iterations = argc > 1 ? std::atol(argv[1]) : 200000;
    std::mt19937 rng(argc > 2 ? std::atoi(argv[2]) : 1);
    std::vector<Bytes> seeds;
    for (int i = 3; i < argc; ++i) {
        std::ifstream in(argv[i], std::ios::binary);
        Bytes t((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        double s;
        if (t.empty() || match(t, t, s) == MatchOutcome::BadFormat) {
            std::cerr << "seed " << argv[i] << " is not a well-formed template\n";
            return 2;
        }
        seeds.push_back(t);
    }
    const size_t real = seeds.size();
    for (uint32_t dim : {1u, 64u, 128u, 512u}) seeds.push_back(synthetic(dim, rng));
    seeds.push_back(failure());
    Mutator mutate{rng, seeds};
    long mutants = 0, magic_ok = 0, parsed = 0, resized = 0;
    long ok = 0, failed = 0, rejected = 0, bad_scores = 0, asymmetric = 0;
    for (long it = 0; it < iterations; ++it) {
        // Mostly real templates; the partner is a clean seed, or a mutant too.
        const Bytes &seed = seeds[real && rng() % 4 ? rng() % real : rng() % seeds.size()];
        const Bytes a = mutate.mutant(seed);
        const Bytes b = rng() % 4 ? seeds[real && rng() % 2 ? rng() % real : rng() % seeds.size()]
                                  : mutate.mutant(seeds[rng() % seeds.size()]);
        ++mutants;
        if (past_magic(a)) ++magic_ok;
        double self;
        const MatchOutcome alone = match(a, a, self);
        if (!sane(alone, self)) ++bad_scores;
        if (alone != MatchOutcome::BadFormat) {  // a survives every header check
            ++parsed;
            if (get<uint32_t>(a, DIM_AT) != get<uint32_t>(seed, DIM_AT)) ++resized;  // a consistent header of another dim
        }
        double ab, ba;
        const MatchOutcome r = match(a, b, ab), q = match(b, a, ba);
        if (!sane(r, ab) || !sane(q, ba)) ++bad_scores;
        if (r != q || std::memcmp(&ab, &ba, sizeof ab) != 0) ++asymmetric;
        (r == MatchOutcome::Ok ? ok : r == MatchOutcome::FailedTemplate ? failed : rejected)++;
    }
    std::cout << "seeds " << seeds.size() << " real " << real << " mutants " << mutants << " past_magic " << magic_ok
              << " parsed " << parsed << " resized " << resized << " ok " << ok << " failed " << failed
              << " rejected " << rejected << " bad_scores " << bad_scores << " asymmetric " << asymmetric << "\n";
    return bad_scores == 0 && asymmetric == 0 ? 0 : 1;
}
