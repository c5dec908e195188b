// FRVT_11::Interface over the CFFI bridge. This is the one translation unit that
// includes the NIST headers without the extern macros, so it DEFINES the version
// symbols the driver checks. Nothing throws out of here: every method runs in guarded().
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "frvt11.h"
#include "frvt_bridge.h"
#include "frvt_template_format.h"
#include "runtime_env.h"
#include "template_match.h"

using FRVT::EyePair;
using FRVT::Image;
using FRVT::IrisAnnulus;
using FRVT::ReturnCode;
using FRVT::ReturnStatus;
using FRVT::TemplateRole;

namespace frvt_bridge {

class BridgeImplementation : public FRVT_11::Interface {
public:
    ReturnStatus initialize(const std::string &configDir) override;
    ReturnStatus createFaceTemplate(const std::vector<Image> &faces, TemplateRole role,
                                    std::vector<uint8_t> &templ,
                                    std::vector<EyePair> &eyeCoordinates) override;
    ReturnStatus createIrisTemplate(const std::vector<Image> &irises, TemplateRole role,
                                    std::vector<uint8_t> &templ,
                                    std::vector<IrisAnnulus> &irisLocations) override;
    ReturnStatus createFaceTemplate(const Image &image, TemplateRole role,
                                    std::vector<std::vector<uint8_t>> &templs,
                                    std::vector<EyePair> &eyeCoordinates) override;
    ReturnStatus matchTemplates(const std::vector<uint8_t> &verifTemplate,
                                const std::vector<uint8_t> &enrollTemplate, double &score) override;

private:
    bool ready_ = false;
    frvtb_limits limits_{};
};

namespace {

frvtb_image to_bridge(const Image &img) {
    frvtb_image b{};
    b.width = img.width;
    b.height = img.height;
    b.depth = img.depth;
    b.description = static_cast<int32_t>(img.description);
    b.data = img.data.get();
    b.size = b.data ? img.size() : 0;
    return b;
}

EyePair to_eye_pair(const frvtb_eyes &e) {
    return EyePair(e.left_assigned != 0, e.right_assigned != 0, e.xleft, e.yleft, e.xright, e.yright);
}

std::string info_of(const frvtb_status &s) {
    return std::string(s.info, strnlen(s.info, sizeof(s.info)));
}

// Bridge status -> ReturnStatus. FRVTB_OK carries the FRVT code chosen in Python.
ReturnStatus from_bridge(int32_t rc, const frvtb_status &s, ReturnCode if_not_started) {
    if (rc == FRVTB_OK) {
        const int32_t code = s.code;
        if (code < 0 || code > static_cast<int32_t>(ReturnCode::VendorError))
            return {ReturnCode::UnknownError, "bridge returned an unknown code"};
        return {static_cast<ReturnCode>(code), info_of(s)};
    }
    if (rc == FRVTB_PY_ERROR) return {ReturnCode::UnknownError, "python error: " + info_of(s)};
    return {if_not_started, "embedded Python runtime did not start (bridge status " +
                                std::to_string(rc) + ")"};
}

void fail_fill(std::vector<uint8_t> &templ, std::vector<EyePair> &eyes, size_t n) {
    templ = failure_template();
    eyes.assign(n, EyePair(false, false, 0, 0, 0, 0));
}

// A status with text, or with the code alone when even the text cannot be allocated.
ReturnStatus failed(ReturnCode code, const char *method, const char *what) noexcept {
    try {
        return {code, std::string(method) + ": " + what};
    } catch (...) {
        return ReturnStatus(code);  // "" fits std::string's inline buffer: nothing to allocate
    }
}

// The one guard every method runs its body in: no exception leaves the library (NIST's
// driver would terminate), and running out of memory is NIST's MemoryError, not UnknownError.
template <typename Body>
ReturnStatus guarded(const char *method, Body &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return failed(ReturnCode::MemoryError, method, "out of memory");
    } catch (const std::exception &e) {
        return failed(ReturnCode::UnknownError, method, e.what());
    } catch (...) {
        return failed(ReturnCode::UnknownError, method, "unknown C++ exception");
    }
}

}  // namespace

ReturnStatus BridgeImplementation::initialize(const std::string &configDir) {
    return guarded("initialize", [&]() -> ReturnStatus {
        const std::string lib_dir = library_dir();
        if (lib_dir.empty()) return {ReturnCode::ConfigError, "cannot find the library's own folder (dladdr)"};
        const std::string problem = prepare_environment(lib_dir);
        if (!problem.empty()) return {ReturnCode::ConfigError, problem};
        frvtb_status status{};
        frvtb_limits limits{};
        const int32_t rc = frvtb_initialize(configDir.c_str(), lib_dir.c_str(), &limits, &status);
        ReturnStatus result = from_bridge(rc, status, ReturnCode::ConfigError);
        if (result.code != ReturnCode::Success) return result;
        if (limits.abi_version != FRVTB_ABI_VERSION || limits.template_size == 0 || limits.max_faces == 0)
            return {ReturnCode::ConfigError, "bridge ABI mismatch between library and Python core"};
        limits_ = limits;
        ready_ = true;
        return {ReturnCode::Success, ""};
    });
}

ReturnStatus BridgeImplementation::createFaceTemplate(const std::vector<Image> &faces, TemplateRole role,
                                                      std::vector<uint8_t> &templ,
                                                      std::vector<EyePair> &eyeCoordinates) {
    return guarded("createFaceTemplate", [&]() -> ReturnStatus {
        fail_fill(templ, eyeCoordinates, faces.size());
        if (!ready_) return {ReturnCode::ConfigError, "initialize() has not succeeded"};
        if (faces.empty()) return {ReturnCode::RefuseInput, "no images given"};
        std::vector<frvtb_image> images;
        images.reserve(faces.size());
        for (const Image &img : faces) images.push_back(to_bridge(img));
        std::vector<uint8_t> buffer(limits_.template_size);
        std::vector<frvtb_eyes> eyes(faces.size());
        size_t size = 0;
        frvtb_status status{};
        const int32_t rc = frvtb_create_template(images.data(), images.size(), static_cast<int32_t>(role),
                                                 buffer.data(), buffer.size(), &size, eyes.data(), &status);
        const ReturnStatus result = from_bridge(rc, status, ReturnCode::UnknownError);
        if (rc != FRVTB_OK || size == 0 || size > buffer.size()) return result;
        templ.assign(buffer.begin(), buffer.begin() + static_cast<long>(size));
        for (size_t i = 0; i < faces.size(); ++i) eyeCoordinates[i] = to_eye_pair(eyes[i]);
        return result;
    });
}

ReturnStatus BridgeImplementation::createIrisTemplate(const std::vector<Image> &, TemplateRole,
                                                      std::vector<uint8_t> &templ,
                                                      std::vector<IrisAnnulus> &irisLocations) {
    return guarded("createIrisTemplate", [&]() -> ReturnStatus {
        templ.clear();
        irisLocations.clear();
        return {ReturnCode::NotImplemented, "iris is not supported"};
    });
}

ReturnStatus BridgeImplementation::createFaceTemplate(const Image &image, TemplateRole role,
                                                      std::vector<std::vector<uint8_t>> &templs,
                                                      std::vector<EyePair> &eyeCoordinates) {
    return guarded("createFaceTemplate(multi)", [&]() -> ReturnStatus {
        std::vector<uint8_t> failed_templ;
        fail_fill(failed_templ, eyeCoordinates, 1);
        templs.assign(1, failed_templ);
        if (!ready_) return {ReturnCode::ConfigError, "initialize() has not succeeded"};
        const frvtb_image img = to_bridge(image);
        const size_t max = limits_.max_faces, tsize = limits_.template_size;
        std::vector<uint8_t> buffer(max * tsize);
        std::vector<size_t> sizes(max, 0);
        std::vector<frvtb_eyes> eyes(max);
        size_t n = 0;
        frvtb_status status{};
        const int32_t rc = frvtb_create_multi(&img, static_cast<int32_t>(role), buffer.data(), tsize, max,
                                              sizes.data(), eyes.data(), &n, &status);
        const ReturnStatus result = from_bridge(rc, status, ReturnCode::UnknownError);
        if (rc != FRVTB_OK || n == 0 || n > max) return result;
        templs.clear();
        eyeCoordinates.clear();
        for (size_t i = 0; i < n; ++i) {
            if (sizes[i] == 0 || sizes[i] > tsize) {
                templs.assign(1, failed_templ);
                eyeCoordinates.assign(1, EyePair(false, false, 0, 0, 0, 0));
                return {ReturnCode::UnknownError, "bridge returned a template of invalid size"};
            }
            const uint8_t *start = buffer.data() + i * tsize;
            templs.emplace_back(start, start + sizes[i]);
            eyeCoordinates.push_back(to_eye_pair(eyes[i]));
        }
        return result;
    });
}

ReturnStatus BridgeImplementation::matchTemplates(const std::vector<uint8_t> &verifTemplate,
                                                  const std::vector<uint8_t> &enrollTemplate, double &score) {
    score = FRVT_TEMPLATE_FAILED_SCORE;  // what the caller sees if anything below fails
    return guarded("matchTemplates", [&]() -> ReturnStatus {
        switch (match_templates(verifTemplate.data(), verifTemplate.size(), enrollTemplate.data(),
                                enrollTemplate.size(), score)) {
            case MatchOutcome::Ok:
                return {ReturnCode::Success, ""};
            case MatchOutcome::FailedTemplate:
                return {ReturnCode::VerifTemplateError, "a template records a failed extraction"};
            default:
                return {ReturnCode::TemplateFormatError, "not a template of this library's format"};
        }
    });
}

}  // namespace frvt_bridge

std::shared_ptr<FRVT_11::Interface> FRVT_11::Interface::getImplementation() {
    try {
        return std::make_shared<frvt_bridge::BridgeImplementation>();
    } catch (...) {
        return nullptr;  // out of memory before anything ran: no object, and no exception either
    }
}

// Vendor extension outside NIST's interface, for the timing driver: the stage
// times of the last createFaceTemplate call. Returns 1 when text was written.
extern "C" __attribute__((visibility("default"))) int frvt11_ext_last_stages(char *text, size_t capacity) noexcept {
    if (text == nullptr || capacity == 0) return 0;
    text[0] = '\0';
    frvtb_status status{};
    return frvtb_last_stages(text, capacity, &status) == FRVTB_OK ? 1 : 0;  // C: cannot throw
}
