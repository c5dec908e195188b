"""Validation: NIST-format inputs, the phase runner, log checks, timing statistics."""
