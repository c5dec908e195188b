"""frvt-submission: take an ONNX face model to a NIST FRVT 1:1 submission via Apache TVM."""

__version__ = "0.1.0"
