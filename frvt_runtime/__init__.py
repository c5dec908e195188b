"""The submission's runtime: all that libfrvt_11 runs in its embedded interpreter (the bundle ships only this)."""
