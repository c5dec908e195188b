"""The CFFI embedding bridge: build (build.py, bundle.py) apart from runtime (runtime_env.py, service.py)."""
