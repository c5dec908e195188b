"""`frvt compile`: the models through TVM into config/, one code path per ISA class the target asks for, then parity with onnxruntime in a fresh process."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import add_command, class_text, log, output_option, settings


def cmd_compile(args) -> int:
    import subprocess

    from frvt_runtime.config_dir import KERNELS
    from ..compile.build_models import compile_all
    from ..compile.write_config import write_config_dir
    from ..docs import tuning_summary

    s = settings(args)
    compiled = compile_all(s, args.outputs.compiled, args.cpu, log, use_records=not args.no_records)
    out = Path(args.config_dir)
    write_config_dir(s, compiled, out)
    for path, built in compiled.items():
        for name, info in built["models"].items():
            if name != KERNELS:
                log(f"[{path}/{name}] built for {info['cpu']} ({class_text(info['isa_class'])}): "
                    f"{tuning_summary(info)}")
    log(f"wrote {out}: code paths {', '.join(compiled)}")
    if args.no_parity:
        return 0
    from ..validation.stand_in import cannot_run

    lacking = cannot_run(out)
    if lacking:  # loading one here would die of an illegal instruction
        log(f"warning: parity not checked: this CPU lacks {', '.join(lacking)}, which every code path "
            f"uses; `validate` and `time` run a stand-in built for this host")
        return 0
    # A fresh process: parity is checked on the runtime-only (deployed) path.
    return subprocess.call([sys.executable, "-m", "frvt_submission", "--settings", args.settings,
                            "parity", "--config-dir", str(out)])


def register(sub) -> None:
    p = add_command(sub, "compile", cmd_compile,
                    "compile both models with TVM into config/ and check parity with onnxruntime")
    p.add_argument("--cpu", default="", help="LLVM CPU name (default: [submission] target; 'host' = this CPU)")
    output_option(p, "--config-dir", lambda o: o.config, "config/", "output folder", written="folder")
    p.add_argument("--no-parity", action="store_true", help="skip the onnxruntime parity check")
    p.add_argument("--no-records", action="store_true", help="ignore tuning records (an untuned build)")
