"""ONNX to TVM: import, tuning records, build, export, parity."""
