/*
 * FRVT common structures, version 3.1 — written from NIST's public description of
 * the FRVT/FRTE 1:1 API so that NIST's own frvt_structs.h is a drop-in replacement.
 */
#ifndef FRVT_STRUCTS_H_
#define FRVT_STRUCTS_H_

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace FRVT {

/** Labels describing the type of image */
enum class ImageDescription {
    /** Unknown or unspecified */
    FaceUnknown = 0,
    /** Frontal, ISO/IEC 19794-5:2005 compliant */
    FaceIso,
    /** From law enforcement booking processes; nominally frontal */
    FaceMugshot,
    /** Photojournalism: wide pose and illumination variation */
    FacePhotojournalism,
    /** Unconstrained: "in the wild" */
    FaceWild,
    /** Iris, unknown capture */
    IrisUnknown,
    /** Iris, near-infrared */
    IrisNIR,
    /** Iris, unconstrained */
    IrisWild
};

/** Illumination of an image */
enum class Illuminant { Unspecified = 0, Visible, NIR, SWIR, MWIR, LWIR };

/** Which eye an iris image shows */
enum class IrisLR { Unspecified = 0, RightIris, LeftIris };

/** An image: width x height pixels, depth 24 (interleaved RGB) or 8 (grey) */
typedef struct Image {
    uint16_t width;
    uint16_t height;
    uint8_t depth;
    std::shared_ptr<uint8_t> data;
    ImageDescription description;
    Illuminant illuminant;
    IrisLR irisLR;

    Image()
        : width{0}, height{0}, depth{24}, description{ImageDescription::FaceUnknown},
          illuminant{Illuminant::Unspecified}, irisLR{IrisLR::Unspecified} {}

    Image(uint16_t width, uint16_t height, uint8_t depth, const std::shared_ptr<uint8_t> &data,
          ImageDescription description, Illuminant illuminant, IrisLR irisLR = IrisLR::Unspecified)
        : width{width}, height{height}, depth{depth}, data{data}, description{description},
          illuminant{illuminant}, irisLR{irisLR} {}

    /** Size of the image data in bytes */
    size_t size() const { return (static_cast<size_t>(width) * height * (depth / 8)); }
} Image;

/**
 * Eye coordinates. "Left" is the SUBJECT's left eye (on the right of a frontal
 * photo); each point is the midpoint of that eye's corners. A point that is
 * unknown or out of the image has its is*Assigned flag false.
 */
typedef struct EyePair {
    bool isLeftAssigned;
    bool isRightAssigned;
    uint16_t xleft;
    uint16_t yleft;
    uint16_t xright;
    uint16_t yright;

    EyePair()
        : isLeftAssigned{false}, isRightAssigned{false}, xleft{0}, yleft{0}, xright{0}, yright{0} {}

    EyePair(bool isLeftAssigned, bool isRightAssigned, uint16_t xleft, uint16_t yleft, uint16_t xright,
            uint16_t yright)
        : isLeftAssigned{isLeftAssigned}, isRightAssigned{isRightAssigned}, xleft{xleft}, yleft{yleft},
          xright{xright}, yright{yright} {}
} EyePair;

/** Iris location */
typedef struct IrisAnnulus {
    uint16_t limbusCenterX;
    uint16_t limbusCenterY;
    uint16_t pupilRadius;
    uint16_t limbusRadius;

    IrisAnnulus() : limbusCenterX{0}, limbusCenterY{0}, pupilRadius{0}, limbusRadius{0} {}

    IrisAnnulus(uint16_t limbusCenterX, uint16_t limbusCenterY, uint16_t pupilRadius, uint16_t limbusRadius)
        : limbusCenterX{limbusCenterX}, limbusCenterY{limbusCenterY}, pupilRadius{pupilRadius},
          limbusRadius{limbusRadius} {}
} IrisAnnulus;

/** Role of a template */
enum class TemplateRole { Enrollment_11 = 0, Verification_11, Enrollment_1N, Search_1N };

/** Return codes of every API call */
enum class ReturnCode {
    /** Success */
    Success = 0,
    /** Catch-all error */
    UnknownError,
    /** Error reading configuration files */
    ConfigError,
    /** Elective refusal to process the input */
    RefuseInput,
    /** Involuntary failure to process the image */
    ExtractError,
    /** Cannot parse the input data */
    ParseError,
    /** Elective refusal to produce a template */
    TemplateCreationError,
    /** Either or both templates are result of failed feature extraction */
    VerifTemplateError,
    /** Unable to detect a face in the image */
    FaceDetectionError,
    /** The implementation cannot support the number of input images */
    NumDataError,
    /** Template file is an incorrect format or defective */
    TemplateFormatError,
    /** An operation on the enrollment directory failed */
    EnrollDirError,
    /** Cannot locate the input data (images, templates) */
    InputLocationError,
    /** Memory allocation failed */
    MemoryError,
    /** Error occurred during the 1:1 match operation */
    MatchError,
    /** Failure to generate a quality score on the input image */
    QualityAssessmentError,
    /** Function is not implemented */
    NotImplemented,
    /** Vendor-defined failure */
    VendorError
};

/** Output stream operator for a ReturnCode */
inline std::ostream &operator<<(std::ostream &s, const ReturnCode &rc) {
    switch (rc) {
        case ReturnCode::Success: return (s << "Success");
        case ReturnCode::UnknownError: return (s << "Unknown Error");
        case ReturnCode::ConfigError: return (s << "Error reading configuration files");
        case ReturnCode::RefuseInput: return (s << "Elective refusal to process the input");
        case ReturnCode::ExtractError: return (s << "Involuntary failure to process the image");
        case ReturnCode::ParseError: return (s << "Cannot parse the input data");
        case ReturnCode::TemplateCreationError: return (s << "Elective refusal to produce a template");
        case ReturnCode::VerifTemplateError:
            return (s << "Either/both input templates were result of failed feature extraction");
        case ReturnCode::FaceDetectionError: return (s << "Unable to detect a face in the image");
        case ReturnCode::NumDataError: return (s << "Number of input images not supported");
        case ReturnCode::TemplateFormatError: return (s << "Template file is an incorrect format or defective");
        case ReturnCode::EnrollDirError: return (s << "An operation on the enrollment directory failed");
        case ReturnCode::InputLocationError: return (s << "Cannot locate the input data - the input files or names seem incorrect");
        case ReturnCode::MemoryError: return (s << "Memory allocation failed (e.g. out of memory)");
        case ReturnCode::MatchError: return (s << "Error occurred during the 1:1 match operation");
        case ReturnCode::QualityAssessmentError: return (s << "Failure to generate a quality score on the input image");
        case ReturnCode::NotImplemented: return (s << "Function is not implemented");
        case ReturnCode::VendorError: return (s << "Vendor-defined error");
        default: return (s << "Undefined error");
    }
}

/** A return code with optional explanatory text */
typedef struct ReturnStatus {
    ReturnCode code;
    std::string info;

    ReturnStatus() : code{ReturnCode::UnknownError}, info{""} {}
    ReturnStatus(const ReturnCode code, const std::string &info = "") : code{code}, info{info} {}
} ReturnStatus;

/* Version of these structures. The driver is compiled with
 * NIST_EXTERN_FRVT_STRUCTS_VERSION and reads the values the library defines. */
#ifdef NIST_EXTERN_FRVT_STRUCTS_VERSION
extern uint16_t FRVT_STRUCTS_MAJOR_VERSION;
extern uint16_t FRVT_STRUCTS_MINOR_VERSION;
#else
uint16_t FRVT_STRUCTS_MAJOR_VERSION{3};
uint16_t FRVT_STRUCTS_MINOR_VERSION{1};
#endif

}  // namespace FRVT

#endif /* FRVT_STRUCTS_H_ */
