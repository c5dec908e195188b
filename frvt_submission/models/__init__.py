"""Model sourcing: pinned wheels, SHA-256 checks, and ONNX clean-up."""
