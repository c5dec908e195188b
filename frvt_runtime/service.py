"""The Python side of each bridge function: one guard turns every exception into a status."""

from __future__ import annotations

import functools
import os
import time
import traceback
from pathlib import Path

from .errors import ConfigError, FrvtError, RefuseInput, ReturnCode

# The bridge ABI this runtime implements: FRVTB_ABI_VERSION of cpp_api/bridge/frvt_bridge_decls.h
# when it was written (tests/test_initialize.py checks the two agree). initialize() compares it with
# the constant compiled into the library, so a runtime in lib/python from another build is found.
BRIDGE_ABI = 2

# Set by the embedding init code: the CFFI ffi/lib of the embedded module.
ffi = None
lib = None
_state: dict = {}


def _set_status(status, code: int, info: str) -> None:
    status.code = int(code)
    raw = info.encode("utf-8", "replace")[: lib.FRVTB_INFO_SIZE - 1]
    ffi.memmove(status.info, raw + b"\0", len(raw) + 1)


def error_status(exc: BaseException) -> tuple[ReturnCode, str, bool]:
    """The FRVT code and text for an exception, and whether it is an outcome the core chose
    (bridge FRVTB_OK, the code travels as is) rather than a Python failure (FRVTB_PY_ERROR)."""
    if isinstance(exc, FrvtError):
        return exc.return_code, f"{type(exc).__name__}: {exc}", True
    if isinstance(exc, MemoryError):
        # NIST has a code for it; an allocation failing is not an unknown error.
        return ReturnCode.MemoryError, f"MemoryError: {exc}" if str(exc) else "MemoryError", True
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {Path(last[0].filename).name}:{last[0].lineno}" if last else ""
    return ReturnCode.UnknownError, f"{type(exc).__name__}: {exc}{where}", False


def guarded(fn):
    """Run fn(*args); an exception becomes a ReturnCode (error_status) and a bridge status."""
    @functools.wraps(fn)
    def wrapper(*args):
        status = args[-1]
        try:
            _set_status(status, ReturnCode.Success, "")
            fn(*args)
            return lib.FRVTB_OK
        except BaseException as exc:  # noqa: BLE001  nothing may cross the C boundary
            try:
                code, info, chosen = error_status(exc)
                _set_status(status, code, info)
                return lib.FRVTB_OK if chosen else lib.FRVTB_PY_ERROR
            except BaseException:  # noqa: BLE001  (e.g. a second MemoryError while formatting)
                return lib.FRVTB_PY_ERROR
    return wrapper


def _pipeline():
    p = _state.get("pipeline")
    if p is None:
        raise FrvtError("initialize() has not succeeded")
    return p


def _image(img):
    """frvtb_image -> RGB array, or the RefuseInput that describes why it cannot be used."""
    from .image import from_raw

    try:
        if img.data == ffi.NULL:
            raise RefuseInput("image has no data")
        need = int(img.width) * int(img.height) * (int(img.depth) // 8)
        if int(img.size) < need:
            raise RefuseInput(f"image data has {int(img.size)} bytes, {need} needed")
        data = ffi.buffer(img.data, need) if need > 0 else b""
        return from_raw(int(img.width), int(img.height), int(img.depth), data)
    except RefuseInput as exc:
        return exc


def _write_eyes(dst, eye) -> None:
    dst.left_assigned, dst.right_assigned = int(eye.left_assigned), int(eye.right_assigned)
    dst.xleft, dst.yleft = min(eye.xleft, 0xFFFF), min(eye.yleft, 0xFFFF)
    dst.xright, dst.yright = min(eye.xright, 0xFFFF), min(eye.yright, 0xFFFF)


def _write_bytes(dst, capacity: int, data: bytes) -> None:
    if len(data) > capacity:
        raise FrvtError(f"template of {len(data)} bytes exceeds the buffer of {capacity}")
    ffi.memmove(dst, data, len(data))


@guarded
def initialize(config_dir, lib_dir, limits, status) -> None:
    from . import template
    from .pipeline import FacePipeline

    if lib.FRVTB_ABI_VERSION != BRIDGE_ABI:
        raise ConfigError(f"the Python runtime in lib/python implements bridge ABI {BRIDGE_ABI} but the library "
                          f"was built for ABI {lib.FRVTB_ABI_VERSION}: lib/ mixes two builds (rebuild it: make build)")

    # Folder names are bytes on Linux and need not be UTF-8: fsdecode keeps any byte (as a
    # surrogate that open() turns back into the same byte).
    cfg = Path(os.fsdecode(ffi.string(config_dir)))
    # libtvm_runtime.so sits beside the library; the engine loads it from there and nowhere
    # else (a copy in NIST's working directory must never be picked up).
    libd = os.fsdecode(ffi.string(lib_dir)) if lib_dir != ffi.NULL else ""
    if not libd or not Path(libd).is_absolute():
        raise ConfigError(f"the library's folder is unknown (got {libd!r}): the TVM runtime is loaded from it")
    pipeline = FacePipeline.from_config_dir(cfg, Path(libd))
    _state["pipeline"] = pipeline
    limits.template_size = template.HEADER_SIZE + 4 * pipeline.settings.recognizer.embedding_size
    limits.max_faces = pipeline.settings.detector.top_k
    limits.abi_version = BRIDGE_ABI  # the C++ side checks it against its own compiled constant


@guarded
def create_template(images, n_images, role, templ, capacity, templ_size, eyes, status) -> None:
    t0 = time.perf_counter()
    pipeline = _pipeline()
    decoded = [_image(images[i]) for i in range(int(n_images))]
    t1 = time.perf_counter()
    result = pipeline.create_template(decoded)
    _state["stages"] = {"convert": (t1 - t0) * 1e3, **pipeline.stage_ms}
    _write_bytes(templ, int(capacity), result.templates[0])
    templ_size[0] = len(result.templates[0])
    for i, eye in enumerate(result.eyes):
        _write_eyes(eyes[i], eye)
    if result.code != ReturnCode.Success:
        _set_status(status, result.code, result.info)
    _state["stages"]["python"] = (time.perf_counter() - t0) * 1e3


@guarded
def last_stages(text, capacity, status) -> None:
    stages = _state.get("stages", {})
    raw = " ".join(f"{k}={v:.3f}" for k, v in stages.items()).encode()[: int(capacity) - 1]
    ffi.memmove(text, raw + b"\0", len(raw) + 1)


@guarded
def create_multi(image, role, templs, template_size, max_templates, sizes, eyes, n_templates,
                 status) -> None:
    pipeline = _pipeline()
    result = pipeline.create_multi_person(_image(image[0]))
    count = min(len(result.templates), int(max_templates))
    for i in range(count):
        _write_bytes(templs + i * int(template_size), int(template_size), result.templates[i])
        sizes[i] = len(result.templates[i])
        _write_eyes(eyes[i], result.eyes[i])
    n_templates[0] = count
    if result.code != ReturnCode.Success:
        _set_status(status, result.code, result.info)


def install(ffi_, lib_) -> None:
    """Called by the embedding init code: bind each C declaration to its guarded function."""
    global ffi, lib
    ffi, lib = ffi_, lib_
    ffi_.def_extern(name="frvtb_initialize", error=2)(initialize)
    ffi_.def_extern(name="frvtb_create_template", error=2)(create_template)
    ffi_.def_extern(name="frvtb_create_multi", error=2)(create_multi)
    ffi_.def_extern(name="frvtb_last_stages", error=2)(last_stages)
