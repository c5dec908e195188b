"""The --backend option of embed, compare, eval and report, and the face pipeline it names."""

from __future__ import annotations

from pathlib import Path

from frvt_runtime.errors import ConfigError

from .common import make_hint, output_option, settings


def with_backend(p, library: bool = False):
    """library: the command can also run lib/ through the NIST driver (a whole set of images)."""
    p.add_argument("--backend", choices=("tvm", "onnxruntime") + (("library",) if library else ()),
                   default="tvm", help="tvm: the compiled config/ in this process (default); onnxruntime: the "
                   "reference" + ("; library: lib/ + config/ through the NIST driver (eval also checks it "
                                  "against tvm, pair by pair)" if library else ""))
    output_option(p, "--config-dir", lambda o: o.config, "config/", "compiled config folder")
    return p


def pipeline(args, s=None):
    """onnxruntime: the reference pipeline of the settings file (s, when the command has read it);
    else config/'s compiled one, whose settings are config/pipeline.json's, not the file's."""
    from frvt_runtime.pipeline import FacePipeline

    if args.backend == "onnxruntime":
        from ..reference import reference_pipeline

        if not getattr(args, "config_dir_default", True):  # (it was silently ignored)
            raise ConfigError("--config-dir names a compiled build; --backend onnxruntime runs the settings "
                              "file's models as they are: give one or the other")

        return reference_pipeline(s or settings(args, describe=False))
    from ..tvm_wheel import wheel_runtime_dir

    if getattr(args, "config_dir_default", False) and not Path(args.config_dir).is_dir():
        raise ConfigError(f"config directory not found: {args.config_dir}, the build of {args.settings}: make it "
                          f"with `{make_hint(args, 'compile')}`")
    return FacePipeline.from_config_dir(Path(args.config_dir), wheel_runtime_dir())
