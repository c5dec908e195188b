"""The CFFI embedding bridge's build: C sources and generated headers (build.py, headers.py), the bundle (bundle.py)."""
