// Native template parsing and matching (the byte format comes from the generated
// frvt_template_format.h, whose single source is frvt_runtime/template.py; the build
// writes it with frvt_submission/bridge/headers.py).
#ifndef FRVT_TEMPLATE_MATCH_H
#define FRVT_TEMPLATE_MATCH_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace frvt_bridge {

enum class MatchOutcome { Ok, FailedTemplate, BadFormat };

// score in [0, SCORE_MAX] on Ok, FAILED_SCORE otherwise. Never reads past size.
MatchOutcome match_templates(const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size,
                             double &score);

// A valid template that records a failed extraction.
std::vector<uint8_t> failure_template();

}  // namespace frvt_bridge

#endif
