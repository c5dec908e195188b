# frvt-submission: the README's two commands are `make submission` and `make test`.
# Each step is a file target that depends on the files it reads, so a second `make submission`
# with nothing changed redoes nothing; the settings file (frvt.toml, or SETTINGS=FILE) is split per
# step (build/settings/<step>.json, rewritten only when that step's settings change), so e.g. a new
# gpg key only repackages.
# Each settings file has its own outputs (frvt_submission/paths.py): the project's frvt.toml the
# project root (config/, lib/, doc/, validation/output, dist/, build/), a file in profiles/
# out/<its stem>/, any other file out/<its stem>-<8 hex digits of its path>/, with its own stamps there, so `make submission SETTINGS=profiles/x.toml` and `make submission`
# each redo only their own steps.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
# The settings file: empty = the frvt commands' own rule (./frvt.toml, here the project's);
# SETTINGS=FILE is passed to every frvt command, and the settings stamps depend on it.
SETTINGS ?=
SETTINGS_ARG  := $(if $(SETTINGS), --settings $(SETTINGS))
SETTINGS_FILE := $(or $(SETTINGS),frvt.toml)
# Checked as make reads this file, before any step: else a missing file was make's own "No rule to
# make target", and a bad TIMING_CORE or FRVT_DIR was found only after compile and build.
ifneq ($(words $(SETTINGS)),$(if $(SETTINGS),1,0))
$(error SETTINGS="$(SETTINGS)": make splits a path with spaces; give one without (a symlink will do))
endif
ifeq ($(wildcard $(SETTINGS_FILE)),)
$(error SETTINGS=$(SETTINGS_FILE): no such file)
endif
FRVT   := $(PY) -m frvt_submission$(SETTINGS_ARG)
# The settings file's output root, asked once of paths.py (stdlib only: it runs before setup):
# empty for the project's frvt.toml, else its out/ folder.
OUT    := $(shell $(PYTHON) frvt_submission/paths.py $(SETTINGS_FILE))
ifneq ($(.SHELLSTATUS),0)
# (most often an interpreter too old for paths.py: check_python.py, written for 3.6 on, says so)
$(error cannot tell where the outputs of $(SETTINGS_FILE) go (frvt_submission/paths.py failed); \
  $(PYTHON): $(shell $(PYTHON) scripts/check_python.py 2>&1 | head -2))
endif
DONE   := $(OUT)build/make
SET    := $(OUT)build/settings

# What each step reads (besides its settings and the step before it); tests/conftest.py reads
# COMPILE_SRC and BUILD_SRC from here (make -pnq) to decide whether config/ and lib/ are stale.
sources = $(shell find $(1) -type f -not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null)
# From tuning/, only what compile reads: each folder's records and model.json (not its curve, logs or
# README). Every folder's, not just this settings file's models': a new record elsewhere recompiles
# needlessly, never wrongly.
RECORDS      := $(shell find tuning -type f \( -name 'database_*.json' -o -name model.json \) -not -path '*/logs/*' 2>/dev/null)
COMPILE_SRC  := $(call sources,frvt_submission/compile frvt_submission/models frvt_runtime/decoders quantization) $(RECORDS) \
                frvt_submission/config.py frvt_runtime/config.py frvt_runtime/config_dir.py \
                frvt_runtime/code_paths.py frvt_runtime/resample_kernels.py
BUILD_SRC    := $(call sources,cpp_api/src cpp_api/bridge cpp_api/include frvt_runtime frvt_submission/bridge) \
                cpp_api/CMakeLists.txt frvt_submission/docs.py frvt_submission/nist_headers.py
VALIDATE_SRC := $(call sources,frvt_submission/validation cpp_api/driver) validation/validate.sh
PACKAGE_SRC  := frvt_submission/package.py frvt_submission/nist_headers.py

.PHONY: help setup fetch compile build validate nist-validate timing package submission status test tune bench docs accuracy clean
.DELETE_ON_ERROR:

help:
	@echo "make submission  set up, compile, build, validate, time and package (the main job; redoes only what changed)"
	@echo "make test        run all tests (sets up the environment first when needed)"
	@echo "make tune        MetaSchedule tuning for the target's ISA class, this host's for target nist"
	@echo "                 (TUNE_ISA=avx2|avx512 to choose),"
	@echo "                 TUNE_MINUTES per model (default 30; records go to tuning/<class>/)"
	@echo "make bench       TVM vs peers benchmark table (long; BENCH_ISA=avx2 builds for the avx2 class)"
	@echo "make docs        docs/measurements.md again, from the files parity, eval, validate, timing and bench left"
	@echo "make accuracy    every model pair (frvt.toml, profiles/*.toml) evaluated on ../shared/data beside its"
	@echo "                 onnxruntime reference, then docs/measurements.md (compiles each pair if needed)"
	@echo "make nist-validate  NIST's own validation package (a copy of FRVT_DIR, default ../shared/nist-frvt)"
	@echo "                 on config/ + lib/ + doc/version.txt; log in build/nist-validate/run.log"
	@echo "make setup | fetch | compile | build | validate | timing | package | status | clean"
	@echo "                 (TIMING_CORE=N pins validation's and make timing's measurements to core N; default 0)"
	@echo "                 (SETTINGS=FILE: that settings file instead of ./frvt.toml; its outputs, stamps"
	@echo "                 included, go to out/<name>/ for profiles/<name>.toml, out/<name>-<hash of its path>/"
	@echo "                 for any other <name>.toml, and clean removes only those)"

# The interpreter is checked first: lib/ embeds its shared libpython3.11, and a Python without
# one would otherwise be found by `build`, after fetch and compile.
$(STAMP): requirements.txt pyproject.toml
	@echo "== setup: virtual environment $(VENV) with pinned packages, the project installed (console script: frvt)"
	@$(PYTHON) scripts/check_python.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $@

setup: $(STAMP)

# One recipe writes the four stamps; it rewrites only those whose settings changed, and make
# re-reads their times afterwards, so unchanged steps stay done. Precious: when the settings have
# an error, .DELETE_ON_ERROR would delete them, and once it is fixed every step would redo.
.PRECIOUS: $(SET)/compile.json $(SET)/build.json $(SET)/validate.json $(SET)/package.json
$(SET)/compile.json $(SET)/build.json $(SET)/validate.json $(SET)/package.json &: $(SETTINGS_FILE) $(STAMP)
	@$(FRVT) stamps --folder $(SET)

fetch: $(STAMP)
	@echo "== fetch: pinned models (SHA-256 checked) and registry test images"
	$(FRVT) fetch

$(DONE)/compile: $(SET)/compile.json $(COMPILE_SRC) | $(STAMP)
	@echo "== compile: fetch if needed, TVM build of detector + recognizer into $(OUT)config/, parity vs onnxruntime"
	$(FRVT) compile
	@mkdir -p $(DONE) && touch $@

$(DONE)/build: $(DONE)/compile $(SET)/build.json $(BUILD_SRC)
	@echo "== build: $(OUT)lib/ (C++ + CFFI bridge + bundled runtime) and $(OUT)doc/"
	$(FRVT) build
	@touch $@

# The core validation's and make timing's measurements are pinned to (e.g. TIMING_CORE=1 when
# something else runs on core 0).
TIMING_CORE ?= 0
ifneq ($(shell [ "$(TIMING_CORE)" -ge 0 ] 2>/dev/null && [ "$(TIMING_CORE)" -lt "$$(nproc --all)" ] && echo ok),ok)
$(error TIMING_CORE=$(TIMING_CORE): not a core of this machine (cores 0 to $(shell echo $$(($$(nproc --all) - 1)))))
endif

$(DONE)/validate: $(DONE)/build $(SET)/validate.json $(VALIDATE_SRC)
	@echo "== validate: NIST-style run + single-core timing (writes $(OUT)validation/output/summary.json)"
	validation/validate.sh$(SETTINGS_ARG) --core $(TIMING_CORE)
	@touch $@

$(DONE)/timing: $(DONE)/build $(SET)/validate.json $(VALIDATE_SRC)
	@echo "== timing: NIST-style single-core measurement of the built library"
	$(FRVT) time --core $(TIMING_CORE)
	@touch $@

$(DONE)/package: $(DONE)/validate $(DONE)/timing $(SET)/package.json $(PACKAGE_SRC)
	@echo "== package: submission tarball (refused unless validation passed on these lib/ and config/)"
	$(FRVT) package
	@touch $@

# Asked for by name, validation and timing run again (a new measurement); compile, build and
# package are done when their inputs have not changed.
compile: $(DONE)/compile
build: $(DONE)/build
package: $(DONE)/package
validate: $(DONE)/build
	validation/validate.sh$(SETTINGS_ARG) --core $(TIMING_CORE)
	@touch $(DONE)/validate
timing: $(DONE)/build
	$(FRVT) time --core $(TIMING_CORE)
	@touch $(DONE)/timing

# NIST's own package, run on a temporary copy of FRVT_DIR (a checkout of github.com/usnistgov/frvt
# will do); FRVT_DIR is only read. Its archive is not the submission tarball (that is `make package`).
FRVT_DIR ?= ../shared/nist-frvt
ifneq ($(filter nist-validate,$(MAKECMDGOALS)),)
ifeq ($(wildcard $(FRVT_DIR)/.),)
$(error FRVT_DIR=$(FRVT_DIR): no such folder (NIST's validation package, e.g. a checkout of github.com/usnistgov/frvt))
endif
endif
nist-validate: $(DONE)/build
	$(FRVT) nist-validate --frvt-dir $(FRVT_DIR)

status: $(STAMP)
	@$(FRVT) status

submission: $(DONE)/package
	@echo "== submission ready: see $(OUT)dist/"
	@$(FRVT) status

TUNE_MINUTES ?= 30
tune: $(STAMP)
	@echo "== tune: MetaSchedule records for an ISA class into tuning/ ($(TUNE_MINUTES) min per model; resumable)"
	taskset -c 0 $(FRVT) tune --minutes $(TUNE_MINUTES) $(if $(TUNE_ISA),--isa $(TUNE_ISA))

# Every thread pool at one thread, from the list the library itself sets (runtime_env); expanded
# only when a recipe uses it, after setup.
ONE_THREAD = $(shell $(PY) -c 'from frvt_runtime.runtime_env import THREAD_VARIABLES as v; print(" ".join(n + "=1" for n in v))')

bench: $(STAMP)
	@echo "== bench: single-core comparison with peers (writes this pair's and class's section of docs/benchmark.md)"
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-bench.txt
	$(ONE_THREAD) taskset -c 0 $(FRVT) bench $(if $(BENCH_ISA),--isa $(BENCH_ISA))

# Measures nothing: it reads the stamped files the measuring commands left (build/measurements/,
# build/timing/timing.json, validation/output/summary.json).
docs: $(STAMP)
	@echo "== docs: $(OUT)docs/measurements.md from the measurements' files"
	$(FRVT) measurements

# Every model pair's accuracy on the shared sets, its compiled build beside its onnxruntime reference:
# frvt.toml and each ready-made profile compiled (if needed) and evaluated, then docs/measurements.md.
PAIR_SETTINGS := frvt.toml $(sort $(wildcard profiles/*.toml))
SHARED_PAIRS  ?= $(wildcard ../shared/data/*/pairs.csv)
accuracy: $(STAMP)
	@test -n "$(SHARED_PAIRS)" || { echo "no ../shared/data/*/pairs.csv here: set SHARED_PAIRS=..."; exit 2; }
	@for f in $(PAIR_SETTINGS); do \
	  echo "== accuracy: $$f"; \
	  $(MAKE) --no-print-directory compile SETTINGS=$$f && \
	  $(PY) -m frvt_submission --settings $$f eval $(SHARED_PAIRS) && \
	  $(PY) -m frvt_submission --settings $$f eval --backend onnxruntime $(SHARED_PAIRS) || exit 1; \
	done
	$(PY) -m frvt_submission measurements

test: $(STAMP)
	@echo "== test"
	$(PY) -m pytest -q tests

# The default's outputs and the shared caches in build/ (models, test images); with SETTINGS=FILE
# (not the project's frvt.toml) only that file's out/<stem>/.
clean:
	$(if $(OUT),rm -rf $(OUT),rm -rf build config lib doc validation/output)
