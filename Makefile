# frvt-submission: the README's two commands are `make submission` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
FRVT   := $(PY) -m frvt_submission

.PHONY: help setup fetch compile build validate timing package submission test tune bench clean

help:
	@echo "make submission  set up, compile, build, validate, time and package (the main job)"
	@echo "make test        run all tests (sets up the environment first when needed)"
	@echo "make tune        MetaSchedule tuning for the target's ISA class (TUNE_ISA=avx2|avx512 to choose),"
	@echo "                 TUNE_MINUTES per model (default 30; records go to tuning/<class>/)"
	@echo "make bench       TVM vs peers benchmark table (long; BENCH_ISA=avx2 builds for the avx2 class)"
	@echo "make setup | fetch | compile | build | validate | timing | package | clean"

$(STAMP): requirements.txt
	@echo "== setup: virtual environment $(VENV) with pinned packages"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

setup: $(STAMP)

fetch: setup
	@echo "== fetch: pinned models (SHA-256 checked) and registry test images"
	$(FRVT) fetch

compile: setup
	@echo "== compile: TVM build of detector + recognizer into config/, parity vs onnxruntime"
	$(FRVT) compile

build: compile
	@echo "== build: lib/ (C++ + CFFI bridge + bundled runtime) and doc/"
	$(FRVT) build

validate: setup
	@echo "== validate: NIST-style run + single-core timing"
	validation/validate.sh

timing: setup
	@echo "== timing: NIST-style single-core measurement of the built library"
	$(FRVT) time

package: setup
	@echo "== package: submission tarball"
	$(FRVT) package

submission: build validate package
	@echo "== submission ready: see dist/"

TUNE_MINUTES ?= 30
tune: setup
	@echo "== tune: MetaSchedule records for an ISA class into tuning/ ($(TUNE_MINUTES) min per model; resumable)"
	taskset -c 0 $(FRVT) tune --minutes $(TUNE_MINUTES) $(if $(TUNE_ISA),--isa $(TUNE_ISA))

bench: setup
	@echo "== bench: single-core comparison with peers (writes docs/benchmark.md)"
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-bench.txt
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 TVM_NUM_THREADS=1 \
		taskset -c 0 $(FRVT) bench $(if $(BENCH_ISA),--isa $(BENCH_ISA))

test: setup
	@echo "== test"
	$(PY) -m pytest -q tests

clean:
	rm -rf build config lib doc validation/output
