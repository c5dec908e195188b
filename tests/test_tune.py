"""Tuning end to end on a tiny real network: records written, the time cap obeyed, records applied."""

import dataclasses
import json
import shutil
import time

import numpy as np
import pytest

import onnx
import xgboost  # noqa: F401  (MetaSchedule's cost model: pinned, so a failed import is an error)

from conftest import onnx_model


def _tiny_cnn(path):
    """conv -> relu -> maxpool -> conv: a few distinct TIR tasks, seconds to tune."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 8, 3, 3)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["y"], pads=[1, 1, 1, 1])]
    onnx.save(onnx_model("tiny", nodes, [1, 3, 32, 32], [("y", [1, 16, 16, 16])], [w1, w2]), str(path))
    return path


def _trials_per_workload(db_dir):
    counts = {}
    for line in (db_dir / "database_tuning_record.json").read_text().splitlines():
        if line.strip():
            wid = json.loads(line)[0]
            counts[wid] = counts.get(wid, 0) + 1
    return counts


def test_tune_with_time_cap_then_compile_applies_records(tmp_path):
    from frvt_submission.compile.graph_passes import GRAPH_PASSES
    from frvt_submission.compile.tune import tune_model
    from frvt_submission.compile.tvm_build import compile_model, records_graph_passes, resolve_target
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.weights import compiled_model

    from frvt_submission.models.sources import sha256_of

    model = _tiny_cnn(tmp_path / "tiny.onnx")
    spec = ModelSettings(name="tiny", input_size=(32, 32), sha256=sha256_of(model))
    target = resolve_target("host")
    db = tmp_path / "db"
    said = []
    # Tuned without one graph pass (tune --skip-pass): model.json says so, and every compile
    # below builds that same graph (tuned: all its kernels have records).
    passes = tuple(p for p in GRAPH_PASSES if p != "flat_image_cast")
    # minutes=0: the cap fires at the first measurement join, after the round over all tasks.
    result = tune_model(model, spec, target, db, trials=200, per_task=8, per_iter=4, population=16, minutes=0,
                        log=said.append, passes=passes)
    assert records_graph_passes(db) == passes
    counts = _trials_per_workload(db)
    assert len(counts) >= 2, counts                 # every task got its first round
    assert any("time cap reached" in s for s in said)
    n_tasks = len((db / "database_workload.json").read_text().splitlines())
    # At most one round of 4 per task, not 8: the cap ended it (the image-conversion
    # kernel's search space is too small to give 4 distinct candidates).
    assert n_tasks <= result["records"] <= 4 * n_tasks
    assert max(counts.values()) <= 2 and result["kept"] == sum(counts.values())  # compacted
    curve = (db / "curve.csv").read_text().splitlines()
    assert curve[0] == "trials,minutes,estimated_ms" and len(curve) >= 2
    trials, _, est = curve[-1].split(",")
    assert int(trials) == result["records"] and float(est) > 0

    # A resumed run continues the curve (cumulative trials, seeded with the kept records).
    again = tune_model(model, spec, target, db, trials=200, per_task=8, per_iter=4, population=16, minutes=0,
                       log=said.append, passes=passes)
    rows = [ln.split(",") for ln in (db / "curve.csv").read_text().splitlines()[1:]]
    assert [int(r[0]) for r in rows] == sorted(int(r[0]) for r in rows)
    assert int(rows[-1][0]) == result["records"] + again["records"] - result["kept"]

    # --new-only: nothing to do while every kernel has a record; with one kernel's
    # records gone, only that kernel is tuned and the curve is left alone.
    nothing = tune_model(model, spec, target, db, trials=200, per_task=8, per_iter=4, population=16,
                         new_only=True, log=said.append, passes=passes)
    assert nothing["records"] == 0, (nothing, _trials_per_workload(db), said[-5:])
    records = db / "database_tuning_record.json"
    lines = records.read_text().splitlines()
    records.write_text("".join(ln + "\n" for ln in lines if json.loads(ln)[0] != 0))
    curve_before = (db / "curve.csv").read_text()
    before = _trials_per_workload(db)
    tune_model(model, spec, target, db, trials=4, per_task=4, per_iter=4, population=16, new_only=True,
               log=said.append, passes=passes)
    after = _trials_per_workload(db)
    assert 0 not in before and after.get(0, 0) >= 1, (before, after, said[-5:])
    assert {w: n for w, n in after.items() if w != 0} == before, (before, after)
    assert (db / "curve.csv").read_text() == curve_before

    # --kernels: only the named kernels (kernel_times' _prepacked names do); the curve is left
    # alone, and a name the model lacks is refused before any tuning.
    from frvt_runtime.errors import FrvtError
    picked = shutil.copytree(db, tmp_path / "picked")
    (picked / "database_tuning_record.json").write_text("")
    model_json, before_refusal = (picked / "model.json").read_text(), len(said)
    with pytest.raises(FrvtError, match="this model has no tunable kernel named fused_nothing"):
        # other passes: the refused run once rewrote model.json with them, and said it was tuning
        tune_model(model, spec, target, picked, trials=4, kernels=("fused_nothing",), log=said.append, passes=())
    assert (picked / "model.json").read_text() == model_json
    assert not [line for line in said[before_refusal:] if "tuning 4 trials" in line], said[before_refusal:]
    with pytest.raises(FrvtError, match="this model has no tunable kernel named fused_nothing") as refused:
        tune_model(model, spec, target, picked, trials=4, kernels=("fused_nothing",), log=said.append, passes=passes)
    assert (picked / "database_tuning_record.json").read_text() == ""
    conv = next(n for n in str(refused.value).split("its kernels: ")[1].split(", ") if "conv2d" in n)
    one = tune_model(model, spec, target, picked, trials=8, per_task=4, per_iter=4, population=16,
                     kernels=(conv + "_prepacked",), log=said.append, passes=passes)
    # trials=8 over kernels capped at 4: a second kernel would have had the other 4
    assert len(_trials_per_workload(picked)) == 1 and one["records"] >= 1, (one, said[-5:])
    assert f"[tiny] tuning only the kernels named: {conv}" in said
    assert (picked / "curve.csv").read_text() == curve_before

    out = tmp_path / "tiny.so"
    facts = compile_model(model, spec, target, out, db, log=said.append)
    assert facts["tuned"] is True and facts["records_model"] == spec.sha256
    assert facts["graph_passes"] == list(passes)
    import onnxruntime as ort

    from frvt_submission.reference import to_tensor

    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = to_tensor(image, spec.colour, spec.mean, spec.scale)
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = compiled_model(out, ["y"])(image)["y"]
    # Pixel inputs (0-255) and unit weights give sums near 1e4: fp32 rounding in a
    # different summation order is ~1e-3 there, so tolerate it relative to that scale.
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))

    # Every kernel was tuned; the same records after a layout change match no kernel,
    # and compile says so instead of shipping default schedules silently.
    assert facts["kernels_without_records"] == 0
    said.clear()
    nhwc = compile_model(model, dataclasses.replace(spec, layout="NHWC"), target, tmp_path / "nhwc.so", db,
                         log=said.append)
    assert nhwc["records_applied"] is True and nhwc["tuned"] is False
    assert nhwc["kernels_without_records"] >= 2 and len(nhwc["unscheduled"]) == nhwc["kernels_without_records"]
    assert any("no tuning record" in s and "--new-only" in s for s in said), said

    # Records are matched to the model by its hash, not by the folder's role name:
    # the same kernels scheduled by another model's records do not make a tuned build.
    said.clear()
    other = compile_model(model, dataclasses.replace(spec, sha256="0" * 64), target, tmp_path / "other.so", db,
                          log=said.append)
    assert other["kernels_without_records"] == 0 and other["tuned"] is False
    assert any("not tuned for this model" in s for s in said), said


def test_compaction_keeps_the_fastest_valid_records_per_workload(tmp_path):
    from frvt_submission.compile.tune import RECORDS_FILE, compact_records

    def rec(w, secs, tag):
        return json.dumps([w, [[[tag], []], secs, {"kind": "llvm"}, []]])

    lines = [rec(0, [3e-3], "a"), rec(0, [1e-3, 1e-3], "b"), rec(0, [2e-3], "c"), rec(0, [1e10], "failed"),
             rec(1, [], "no-time"), rec(1, [5e-4], "d")]
    (tmp_path / RECORDS_FILE).write_text("\n".join(lines) + "\n")
    assert compact_records(tmp_path, keep=2) == (6, 3)
    kept = [json.loads(ln) for ln in (tmp_path / RECORDS_FILE).read_text().splitlines()]
    assert [(w, r[0][0][0]) for w, r in kept] == [(0, "b"), (0, "c"), (1, "d")]



def _records(root, folder, model="m"):
    d = root / folder / model
    d.mkdir(parents=True)
    (d / "database_workload.json").write_text("[]\n")
    (d / "database_tuning_record.json").write_text("[]\n")


@pytest.mark.parametrize("cpu, folders, picked, klass", [
    ("haswell", ["avx2", "avx512", "znver5"], "avx2", "avx2"),
    ("haswell", ["avx512", "znver5"], None, None),          # never a wider class's schedules
    ("znver3", ["avx2", "znver3", "avx512"], "znver3", "avx2"),  # the CPU's own first
    ("skylake-avx512", ["avx2", "avx512", "znver5"], "avx512", "avx512"),
    ("skylake-avx512", ["avx2", "znver5"], "znver5", "avx512"),  # another CPU of the class
    ("skylake-avx512", ["avx2", "znver3"], "avx2", "avx2"),      # a narrower class, the class folder first
    ("znver5", ["avx2", "avx512", "znver5"], "znver5", "avx512"),
])
def test_records_are_picked_by_instruction_set_class(tmp_path, monkeypatch, cpu, folders, picked, klass):
    from frvt_submission import paths
    from frvt_submission.compile.build_models import pick_records
    from frvt_submission.compile.isa_class import target_class
    from frvt_submission.compile.tvm_build import resolve_target

    monkeypatch.setattr(paths, "TUNING_DB", tmp_path)
    for f in folders:
        _records(tmp_path, f)
    said = []
    db, got_class = pick_records(resolve_target(cpu), "m", said.append)
    assert (db.parent.name if db else None, got_class) == (picked, klass), said
    if picked and picked not in (cpu, target_class(resolve_target(cpu))):
        assert said and f"tuning/{picked}" in said[0]  # a stand-in is always named


def test_isa_classes_of_known_cpus():
    from frvt_submission.compile.isa_class import class_cpu, cpu_class

    assert [cpu_class(c) for c in ("haswell", "znver3", "skylake-avx512", "znver5", "nehalem")] == \
        ["avx2", "avx2", "avx512", "avx512", None]
    # Each class is tuned for a CPU of exactly that class.
    assert cpu_class(class_cpu("avx2")) == "avx2" and cpu_class(class_cpu("avx512")) == "avx512"


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tuning_measures_on_rpc_servers_and_compile_applies_their_records(tmp_path):
    """scripts/rpc_tracker.sh + two scripts/rpc_server.sh on 127.0.0.1; tune --rpc's runner."""
    import os
    import signal
    import subprocess
    import time

    from frvt_submission import paths
    from frvt_submission.compile.rpc import registered_servers, rpc_runner
    from frvt_submission.compile.tune import tune_model
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.config import ModelSettings
    from frvt_submission.models.sources import sha256_of

    port, key = _free_port(), "frvt-test"
    env = {**os.environ, "RPC_HOST": "127.0.0.1", "PYTHON": __import__("sys").executable}
    procs, logs = [], []

    def start(args, name):
        log = open(tmp_path / f"{name}.log", "w")
        logs.append(tmp_path / f"{name}.log")
        procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start([str(paths.ROOT / "scripts" / "rpc_tracker.sh"), str(port)], "tracker")
        for i in (0, 1):
            time.sleep(1.0)  # the tracker first
            start([str(paths.ROOT / "scripts" / "rpc_server.sh"), f"127.0.0.1:{port}", key, str(i % os.cpu_count())],
                  f"server{i}")
        deadline = time.monotonic() + 60
        while True:
            try:
                if registered_servers("127.0.0.1", port, key) == 2:
                    break
            except Exception:
                pass
            assert time.monotonic() < deadline, [p.read_text() for p in logs]
            time.sleep(0.5)

        model = _tiny_cnn(tmp_path / "tiny.onnx")
        spec = ModelSettings(name="tiny", input_size=(32, 32), sha256=sha256_of(model))
        target = resolve_target("haswell")  # the avx2 class's CPU: runs on this machine whatever its class
        db = tmp_path / "db"
        said = []
        runner = rpc_runner(f"127.0.0.1:{port}", key, said.append)
        assert any("2 server(s)" in s for s in said), said
        result = tune_model(model, spec, target, db, trials=200, per_task=8, per_iter=4, population=16,
                            minutes=0, log=said.append, runner=runner)
        assert result["kept"] >= 2 and len(_trials_per_workload(db)) >= 2, said[-5:]
        facts = compile_model(model, spec, target, tmp_path / "tiny.so", db, log=said.append)
        assert facts["tuned"] is True and facts["kernels_without_records"] == 0
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=20)
    # The candidates were measured on the servers, and on both: each loads every module it times.
    loaded = [p.read_text().count("load_module") for p in logs[1:]]
    assert all(n > 0 for n in loaded) and sum(loaded) >= result["kept"], (loaded, result)


def test_rpc_errors_are_clear():
    from frvt_submission.compile.rpc import parse_address, rpc_runner
    from frvt_submission.errors import CompileError

    assert parse_address("127.0.0.1:9190") == ("127.0.0.1", 9190)
    for bad in ("9190", "host:", "host:port", "host:70000"):
        with pytest.raises(CompileError, match="HOST:PORT"):
            parse_address(bad)
    t0 = time.monotonic()
    with pytest.raises(CompileError, match="no TVM RPC tracker answers"):
        rpc_runner(f"127.0.0.1:{_free_port()}", "frvt")
    assert time.monotonic() - t0 < 30  # TVM's own connect retried for 72 s, printing each retry



@pytest.mark.parametrize("script, args, says", [
    ("rpc_server.sh", ["127.0.0.1:abc9"], "tracker must be HOST:PORT with a port of 1-65535"),
    ("rpc_server.sh", ["127.0.0.1:99999"], "tracker must be HOST:PORT with a port of 1-65535"),
    ("rpc_server.sh", [":9190"], "tracker must be HOST:PORT"),
    ("rpc_server.sh", ["127.0.0.1:9190", "frvt", "4096"], "core 4096 does not exist"),
    ("rpc_tracker.sh", ["0"], "port must be 1-65534"),
    ("rpc_tracker.sh", ["70000"], "port must be 1-65534"),
])
def test_rpc_scripts_refuse_a_bad_address_or_core(script, args, says):
    """A port of letters ended in a ValueError traceback, 99999 in a thread's traceback and a hang,
    a tracker port of 0 in a TVM traceback, a core that does not exist in taskset's error."""
    import subprocess

    from frvt_submission import paths

    r = subprocess.run([str(paths.ROOT / "scripts" / script), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and f"ERROR: {says}" in r.stderr, (r.returncode, r.stderr[-500:])


def test_new_only_keeps_a_records_folders_own_graph_passes(tmp_path):
    """Seen: `tune --new-only` on SFace's records wrote GRAPH_PASSES into model.json, adding
    fuse_dw_units and output_pads_apart that its records were tuned without."""
    import json

    from frvt_submission.commands.tune import passes_for_new_only
    from frvt_submission.compile.tvm_build import MODEL_FILE, RECORDS_FILE, WORKLOADS_FILE

    db = tmp_path / "records"
    assert passes_for_new_only(db, []) is None  # no records: a full run's passes
    db.mkdir()
    (db / WORKLOADS_FILE).write_text("[]\n")
    (db / RECORDS_FILE).write_text("[0, []]\n")
    (db / MODEL_FILE).write_text(json.dumps({"graph_passes": ["bgr_conv_weights", "cancel_permutes",
                                                              "dense_reads_nhwc"]}))
    assert passes_for_new_only(db, []) == ("bgr_conv_weights", "cancel_permutes", "dense_reads_nhwc")
    assert passes_for_new_only(db, ["cancel_permutes"]) == ("bgr_conv_weights", "dense_reads_nhwc")
    # --add-pass: a pass the records predate joins the folder's own, in GRAPH_PASSES' order
    assert passes_for_new_only(db, [], ["merge_shared_units", "fuse_dw_units"]) == (
        "bgr_conv_weights", "cancel_permutes", "merge_shared_units", "fuse_dw_units", "dense_reads_nhwc")
