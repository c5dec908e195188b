"""NIST's ReturnCode values and the core's typed errors; each error maps to one ReturnCode."""

from enum import IntEnum


class ReturnCode(IntEnum):
    """FRVT::ReturnCode (frvt_structs.h 3.1), values 0..17."""

    Success = 0
    UnknownError = 1
    ConfigError = 2
    RefuseInput = 3
    ExtractError = 4
    ParseError = 5
    TemplateCreationError = 6
    VerifTemplateError = 7
    FaceDetectionError = 8
    NumDataError = 9
    TemplateFormatError = 10
    EnrollDirError = 11
    InputLocationError = 12
    MemoryError = 13
    MatchError = 14
    QualityAssessmentError = 15
    NotImplemented = 16
    VendorError = 17


class FrvtError(Exception):
    """Base class: every error the core raises on purpose."""

    return_code = ReturnCode.UnknownError


class ConfigError(FrvtError):
    """Missing, corrupt or inconsistent configuration or model files."""

    return_code = ReturnCode.ConfigError


class RefuseInput(FrvtError):
    """The input image cannot be processed (bad size, depth or data)."""

    return_code = ReturnCode.RefuseInput


class TemplateFormatError(FrvtError):
    """Template bytes that are not a template of this format."""

    return_code = ReturnCode.TemplateFormatError
