/*
 * FRVT 1:1 API, version 6.0 — written from NIST's public description so that
 * NIST's own frvt11.h is a drop-in replacement.
 */
#ifndef FRVT11_H_
#define FRVT11_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <frvt_structs.h>

namespace FRVT_11 {

/** The interface a 1:1 submission implements. */
class Interface {
public:
    virtual ~Interface() {}

    /**
     * Called once, in the parent process, before any fork. configDir is a
     * read-only folder whose name NIST chooses: read only under it, write nothing.
     * Failure: ConfigError (missing or corrupt files).
     */
    virtual FRVT::ReturnStatus initialize(const std::string &configDir) = 0;

    /**
     * One template from one or more images of ONE person. eyeCoordinates gets
     * exactly one EyePair per input image, in order. When extraction fails a
     * template is still produced; matchTemplates must accept it.
     */
    virtual FRVT::ReturnStatus createFaceTemplate(const std::vector<FRVT::Image> &faces,
                                                  FRVT::TemplateRole role, std::vector<uint8_t> &templ,
                                                  std::vector<FRVT::EyePair> &eyeCoordinates) = 0;

    /** Iris templates: NIST accepts no 1:1 iris submissions; NotImplemented is correct. */
    virtual FRVT::ReturnStatus createIrisTemplate(const std::vector<FRVT::Image> &irises,
                                                  FRVT::TemplateRole role, std::vector<uint8_t> &templ,
                                                  std::vector<FRVT::IrisAnnulus> &irisLocations) = 0;

    /**
     * One image that may show several people: one template and one EyePair per
     * detected person. With no face found, still exactly ONE (failure) template.
     */
    virtual FRVT::ReturnStatus createFaceTemplate(const FRVT::Image &image, FRVT::TemplateRole role,
                                                  std::vector<std::vector<uint8_t>> &templs,
                                                  std::vector<FRVT::EyePair> &eyeCoordinates) = 0;

    /**
     * Similarity in [0, 1000000], higher = more alike. If either template
     * records a failed extraction: score -1 and VerifTemplateError.
     */
    virtual FRVT::ReturnStatus matchTemplates(const std::vector<uint8_t> &verifTemplate,
                                              const std::vector<uint8_t> &enrollTemplate, double &score) = 0;

    /** Factory, defined by the implementation. */
    static std::shared_ptr<Interface> getImplementation();
};

/* API version; see frvt_structs.h for how the extern macro is used. */
#ifdef NIST_EXTERN_API_VERSION
extern uint16_t API_MAJOR_VERSION;
extern uint16_t API_MINOR_VERSION;
#else
uint16_t API_MAJOR_VERSION{6};
uint16_t API_MINOR_VERSION{0};
#endif

}  // namespace FRVT_11

#endif /* FRVT11_H_ */
