"""Graph passes: the image input's transposes cancel (its kernel is a plain cast), outputs stay
onnxruntime's, and compile runs the passes its records were tuned with."""

import json
import re
import unittest.mock

import numpy as np
import pytest

import onnx
import onnxruntime as ort

from conftest import onnx_model


def _stem(path, h=20, w=26, relu=True):
    """YuNet's first layer at toy size: a 3x3 stride-2 conv with bias (+ ReLU), then a 1x1 conv."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(7)
    inits = {"w": rng.standard_normal((4, 3, 3, 3)), "b": rng.standard_normal(4), "w2": rng.standard_normal((5, 4, 1, 1))}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2])]
    nodes.append(helper.make_node("Relu", ["c"], ["r"]) if relu else helper.make_node("Identity", ["c"], ["r"]))
    nodes.append(helper.make_node("Conv", ["r", "w2"], ["y"]))
    out = [1, 5, (h + 1) // 2, (w + 1) // 2]
    onnx.save(onnx_model("stem", nodes, [1, 3, h, w], [("y", out)],
                         [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()]), str(path))
    return path, (w, h)


def _kernels(mod) -> list[str]:
    """The module's TIR kernels, without the numbers TVM appends to keep names unique."""
    from tvm.tirx import PrimFunc

    return sorted(re.sub(r"\d+$", "", gv.name_hint) for gv, f in mod.functions_items() if isinstance(f, PrimFunc))


def _run(mod, target, image):
    import tvm
    from tvm import relax

    vm = relax.VirtualMachine(relax.build(mod, target=target), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(image[None], tvm.cpu())).numpy()


@pytest.mark.parametrize("colour, layout, mean, scale, want, before", [
    ("BGR", "NHWC", 0.0, 1.0, ["flat_cast"], ["fused_strided_slice_cast_transpose_transpose"]),
    ("RGB", "NHWC", 0.0, 1.0, ["flat_cast"], ["fused_cast_transpose_transpose"]),
    ("BGR", "NCHW", 0.0, 1.0, ["fused_cast_transpose"], ["fused_strided_slice_cast_transpose"]),
    ("RGB", "NHWC", 127.5, 1.0, ["flat_normalise"], ["fused_cast_subtract_transpose_transpose"]),
    ("BGR", "NHWC", (104.0, 117.0, 123.0), 1.0, ["flat_normalise"], ["fused_strided_slice_cast_subtract_transpose_transpose"]),
    ("BGR", "NCHW", 127.5, 1.0, ["fused_cast_subtract_transpose"], ["fused_strided_slice_cast_subtract_transpose"]),
    ("RGB", "NHWC", 127.5, 1 / 128, ["flat_normalise"], ["fused_cast_subtract_multiply_transpose_transpose"]),
])
def test_image_input_kernel(tmp_path, colour, layout, mean, scale, want, before):
    """Without the passes, the input kernel reversed BGR channels and, in NHWC, transposed
    the image to NCHW and back. With them no kernel reverses channels (a BGR model's first
    conv has reversed weights), a model whose image goes straight into convs gets a flat
    cast kernel, or with arithmetic (mean) a flat normalise kernel, and NCHW keeps its
    one transpose."""
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.graph_passes import GRAPH_PASSES
    from frvt_submission.compile.tvm_build import import_onnx, prepare, resolve_target
    from frvt_submission.reference import to_tensor

    path, size = _stem(tmp_path / "stem.onnx", relu=layout == "NHWC")
    spec = ModelSettings(name="stem", input_size=size, colour=colour, layout=layout,
                         mean=mean if isinstance(mean, tuple) else (mean,) * 3, scale=(scale,) * 3)
    target = resolve_target("host")
    plain = prepare(import_onnx(path, spec, None, ()), target, layout, ())
    passed = prepare(import_onnx(path, spec, None, GRAPH_PASSES), target, layout, GRAPH_PASSES)
    assert [k for k in _kernels(passed) if "cast" in k or "normalise" in k] == want, _kernels(passed)
    assert [k for k in _kernels(plain) if "cast" in k] == before, _kernels(plain)

    image = np.random.default_rng(8).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = sess.run(None, {"x": to_tensor(image, colour, spec.mean, spec.scale)})[0]
    got = _run(passed, target, image)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    # Reversed weights change the order of the 3-term channel sums: equal to float rounding.
    np.testing.assert_allclose(got, _run(plain, target, image), rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_cast_with_another_user_is_left_alone():
    import tvm
    from tvm import relax

    from frvt_submission.compile.graph_passes import graph_passes

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4, 4, 3), "uint8"))
    w = relax.const(np.ones((2, 1, 1, 3), np.float32))
    with bb.function("main", [x]):
        with bb.dataflow():
            f = bb.emit(relax.op.astype(x, "float32"))
            y = bb.emit(relax.op.nn.conv2d(f, w, data_layout="NHWC", kernel_layout="OHWI"))
            out = bb.emit_output(relax.Tuple([y, f]))  # the float image is also an output
        bb.emit_func_output(out)
    mod = tvm.transform.Sequential(graph_passes(["flat_image_cast"]))(bb.get())
    assert "R.astype" in mod["main"].script() and "flat_cast" not in mod.script()


def test_inverse_transposes_cancel_and_others_compose():
    import tvm
    from tvm import relax

    from frvt_submission.compile.graph_passes import graph_passes

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((3, 3, 4, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            a = bb.emit(relax.op.permute_dims(x, [0, 3, 1, 2]))
            same = bb.emit(relax.op.permute_dims(a, [0, 2, 3, 1]))       # inverse: x again
            b = bb.emit(relax.op.permute_dims(same, [1, 0, 2, 3]))
            c = bb.emit(relax.op.permute_dims(b, [0, 1, 3, 2]))          # composes with b
            out = bb.emit_output(relax.op.add(same, relax.op.permute_dims(c, [0, 1, 3, 2])))
        bb.emit_func_output(out)
    mod = tvm.transform.Sequential(graph_passes(["cancel_permutes"]))(bb.get())
    calls = [ln for ln in mod["main"].script().splitlines() if "R.permute_dims" in ln]
    # Left: the three transposes after `same`, composed into one.
    assert len(calls) == 1 and "axes=[1, 0, 2, 3]" in calls[0], calls
    data = np.random.default_rng(9).standard_normal((3, 3, 4, 4)).astype(np.float32)
    got = relax.VirtualMachine(relax.build(mod, target="llvm"), tvm.cpu())["main"](tvm.runtime.tensor(data)).numpy()
    np.testing.assert_array_equal(got, data + data.transpose(1, 0, 2, 3))

    bb = relax.BlockBuilder()  # two transposes that do not cancel become one
    with bb.function("main", [x]):
        with bb.dataflow():
            a = bb.emit(relax.op.permute_dims(x, [1, 0, 2, 3]))
            out = bb.emit_output(relax.op.permute_dims(a, [0, 1, 3, 2]))
        bb.emit_func_output(out)
    mod = tvm.transform.Sequential(graph_passes(["cancel_permutes"]))(bb.get())
    calls = [ln for ln in mod["main"].script().splitlines() if "R.permute_dims" in ln]
    assert len(calls) == 1 and "axes=[1, 0, 3, 2]" in calls[0], calls


def test_unknown_graph_pass_is_refused():
    from frvt_submission.compile.graph_passes import graph_passes

    with pytest.raises(ValueError, match="unknown graph pass"):
        graph_passes(["cancel_permutes", "fold_everything"])


def test_compile_runs_the_passes_its_records_were_tuned_with(tmp_path):
    from frvt_submission.config import ModelSettings
    from frvt_submission.errors import CompileError
    from frvt_submission.compile.graph_passes import GRAPH_PASSES
    from frvt_submission.compile.tvm_build import (RECORDS_FILE, WORKLOADS_FILE, records_graph_passes,
                                                   write_records_model)

    assert records_graph_passes(None) == GRAPH_PASSES  # no records to match: the best graph
    db = tmp_path / "records"
    write_records_model(db, ModelSettings(name="m", input_size=(8, 8), sha256="ab"))
    assert records_graph_passes(db) == GRAPH_PASSES  # a model.json without records is still "no records"
    (db / WORKLOADS_FILE).write_text("[]\n")
    (db / RECORDS_FILE).write_text("[0, []]\n")
    assert records_graph_passes(db) == GRAPH_PASSES
    facts = json.loads((db / "model.json").read_text())
    del facts["graph_passes"]  # records from before the passes existed: their kernels are the ones without
    (db / "model.json").write_text(json.dumps(facts))
    assert records_graph_passes(db) == ()
    facts["graph_passes"] = []
    (db / "model.json").write_text(json.dumps(facts))
    assert records_graph_passes(db) == ()
    facts["graph_passes"] = ["cancel_permutes"]
    (db / "model.json").write_text(json.dumps(facts))
    assert records_graph_passes(db) == ("cancel_permutes",)
    facts["graph_passes"] = ["cancel_permutes", "from_a_newer_version"]
    (db / "model.json").write_text(json.dumps(facts))
    with pytest.raises(CompileError, match=r"model.json: unknown graph pass.*from_a_newer_version"):
        records_graph_passes(db)


def _strided_residual(path):
    """dlib's residual_down at toy size: a 3x3 stride-2 conv (4x4 out) with a per-channel affine,
    zero-padded to its 2x2-pooled shortcut's 5x5, the shortcut zero-padded to the conv's 8
    channels, added, ReLU."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(11)
    inits = {"w": rng.standard_normal((8, 3, 3, 3)), "g": rng.standard_normal((1, 8, 1, 1)),
             "pad_conv": np.array([0, 0, 0, 0, 0, 0, 1, 1]), "pad_short": np.array([0, 0, 0, 0, 0, 5, 0, 0])}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], strides=[2, 2]),
             helper.make_node("Mul", ["c", "g"], ["a"]),
             helper.make_node("Pad", ["a", "pad_conv"], ["ap"]),
             helper.make_node("AveragePool", ["x"], ["s"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Pad", ["s", "pad_short"], ["sp"]),
             helper.make_node("Add", ["ap", "sp"], ["sum"]),
             helper.make_node("Relu", ["sum"], ["y"])]
    onnx.save(onnx_model("residual_down", nodes, [1, 3, 10, 10], [("y", [1, 8, 5, 5])],
                         [numpy_helper.from_array(v.astype(np.int64 if k.startswith("pad") else np.float32), k)
                          for k, v in inits.items()], opset=13), str(path))
    return path


def test_a_conv_outputs_pad_gets_a_kernel_of_its_own(tmp_path):
    """Fused into the conv's kernel, the pad of a conv's output made MetaSchedule's tuned schedules
    compute wrong values (dlib's ResNet, tuning/README.md); with output_pads_apart the conv's kernel
    holds no pad, the shortcut's channel pad stays fused, and the result is onnxruntime's."""
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.tvm_build import import_onnx, prepare, resolve_target
    from frvt_submission.reference import to_tensor

    path = _strided_residual(tmp_path / "residual.onnx")
    spec = ModelSettings(name="residual", input_size=(10, 10), colour="RGB", layout="NCHW")
    target = resolve_target("host")
    apart = prepare(import_onnx(path, spec, None, ("output_pads_apart",)), target, "NCHW", ("output_pads_apart",))
    fused = prepare(import_onnx(path, spec, None, ()), target, "NCHW", ())
    conv_kernels = [k for k in _kernels(apart) if "conv2d" in k]
    assert conv_kernels and not any("pad" in k for k in conv_kernels), _kernels(apart)
    assert "pad_apart" in _kernels(apart) and any("avg_pool2d_pad" in k for k in _kernels(apart)), _kernels(apart)
    assert any("conv2d" in k and "pad" in k for k in _kernels(fused)), _kernels(fused)  # what it prevents

    image = np.random.default_rng(12).integers(0, 256, (10, 10, 3), dtype=np.uint8)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = sess.run(None, {"x": to_tensor(image, "RGB", spec.mean, spec.scale)})[0]
    np.testing.assert_allclose(_run(apart, target, image), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def _twice_computed(path):
    """RetinaFace's SSH at toy size: one conv + LeakyReLU of the same map written twice, the second
    with an Identity of the first's weights (as its export has it), each feeding its own conv."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(13)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k)
             for k, s in (("w", (4, 3, 3, 3)), ("b", (4,)), ("w1", (2, 4, 3, 3)), ("w2", (5, 4, 3, 3)))]
    nodes = [helper.make_node("Identity", ["w"], ["w_again"]),
             helper.make_node("Identity", ["b"], ["b_again"]),
             helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1] * 4),
             helper.make_node("LeakyRelu", ["c"], ["a"], alpha=0.1),
             helper.make_node("Conv", ["x", "w_again", "b_again"], ["c_again"], pads=[1] * 4),
             helper.make_node("LeakyRelu", ["c_again"], ["a_again"], alpha=0.1),
             helper.make_node("Conv", ["a", "w1"], ["y1"], pads=[1] * 4),
             helper.make_node("Conv", ["a_again", "w2"], ["y2"], pads=[1] * 4)]
    onnx.save(onnx_model("ssh", nodes, [1, 3, 6, 8], [("y1", [1, 2, 6, 8]), ("y2", [1, 5, 6, 8])], inits, opset=13),
              str(path))
    return path


def test_a_computation_written_twice_runs_once(tmp_path):
    """common_subexpressions: the second conv + LeakyReLU is gone (one kernel call fewer), and both
    branches still give onnxruntime's outputs."""
    import tvm
    from tvm import relax

    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.compile.tvm_build import compile_model, import_onnx, prepare, resolve_target
    from frvt_submission.reference import to_tensor

    path = _twice_computed(tmp_path / "ssh.onnx")
    spec = ModelSettings(name="ssh", input_size=(8, 6), colour="RGB", layout="NHWC")
    target = resolve_target("host")
    call_tir = tvm.ir.Op.get("relax.call_tir")

    def kernel_calls(passes) -> int:
        mod = prepare(import_onnx(path, spec, None, passes), target, spec.layout, passes)
        found = []
        relax.analysis.post_order_visit(mod["main"].body, lambda e: found.append(
            isinstance(e, relax.Call) and e.op == call_tir and "conv2d" in e.args[0].name_hint))
        return sum(found)

    assert kernel_calls(()) == 4
    assert kernel_calls(("common_subexpressions",)) == 3

    out = tmp_path / "ssh.so"
    with unittest.mock.patch("frvt_submission.compile.tvm_build.records_graph_passes",
                             lambda db: ("common_subexpressions",)):
        compile_model(path, spec, target, out, None, log=lambda msg: None)
    image = np.random.default_rng(14).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["y1", "y2"], {"x": to_tensor(image, spec.colour, spec.mean, spec.scale)})
    got = compiled_model(out, ["y1", "y2"])(image)
    for name, expected in zip(["y1", "y2"], want):
        np.testing.assert_allclose(got[name], expected, rtol=1e-4, atol=1e-5 * float(np.abs(expected).max()))


def _fpn(path):
    """RetinaFace's FPN at toy size: conv + LeakyReLU at two scales, the coarse map resized (nearest)
    to the fine one and added to it, then a conv."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(17)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k)
             for k, s in (("w1", (4, 3, 3, 3)), ("b1", (4,)), ("w2", (4, 4, 3, 3)), ("b2", (4,)), ("w3", (5, 4, 3, 3)))]
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"))
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1] * 4),
             helper.make_node("LeakyRelu", ["c1"], ["a1"], alpha=0.1),
             helper.make_node("Conv", ["a1", "w2", "b2"], ["c2"], pads=[1] * 4, strides=[2, 2]),
             helper.make_node("LeakyRelu", ["c2"], ["a2"], alpha=0.1),
             helper.make_node("Resize", ["a2", "", "scales"], ["up"], mode="nearest"),
             helper.make_node("Add", ["a1", "up"], ["s"]),
             helper.make_node("Conv", ["s", "w3"], ["y"], pads=[1] * 4)]
    onnx.save(onnx_model("fpn", nodes, [1, 3, 8, 12], [("y", [1, 5, 8, 12])], inits, opset=13), str(path))
    return path


def test_leaky_relu_resize_and_add_stay_in_the_conv_layout(tmp_path):
    """layout_leftovers: ConvertLayout leaves LeakyReLU and the resize in NCHW, each between two
    transposes (RetinaFace's 38 LeakyReLUs: transpose kernels of their own); with the pass only the
    NCHW output's transpose is left, each LeakyReLU is fused into its conv's kernel, and the outputs
    are the same."""
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.tvm_build import import_onnx, prepare, resolve_target
    from frvt_submission.reference import to_tensor

    path = _fpn(tmp_path / "fpn.onnx")
    spec = ModelSettings(name="fpn", input_size=(12, 8), colour="RGB", layout="NHWC")
    target = resolve_target("host")
    image = np.random.default_rng(18).integers(0, 256, (8, 12, 3), dtype=np.uint8)

    def prepared(passes):
        return prepare(import_onnx(path, spec, None, passes), target, spec.layout, passes)

    before, after = prepared(("cancel_permutes",)), prepared(("layout_leftovers", "cancel_permutes"))
    assert len([k for k in _kernels(before) if "transpose" in k]) == 4
    assert [k for k in _kernels(after) if "transpose" in k] == ["transpose"]  # the NCHW output's
    leaky = [k for k in _kernels(after) if "leaky_relu" in k]
    assert len(leaky) == 2 and all("conv2d" in k for k in leaky)

    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["y"], {"x": to_tensor(image, spec.colour, spec.mean, spec.scale)})[0]
    got = _run(after, target, image)
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2) if got.shape != want.shape else got, want,
                               rtol=1e-4, atol=1e-5 * float(np.abs(want).max()))
    np.testing.assert_array_equal(got, _run(before, target, image))


def test_image_normalise_kernel_keeps_each_lane_on_one_channel():
    """flat_normalise is scheduled by hand: rows of 24 values, the 24 vectorized (MetaSchedule's
    schedules fused and re-split the loops, and ran 10x slower), and left out of tuning."""
    from frvt_submission.compile.dw_units import is_hand_scheduled
    from frvt_submission.compile.image_kernels import flat_normalise_kernel

    func = flat_normalise_kernel(100, "uint8")
    assert is_hand_scheduled(func)
    loops = [ln.strip() for ln in func.script().splitlines() if ln.strip().startswith("for ")]
    assert loops == ["for i in range(100):", "for j in T.vectorized(24):"]


def _calls(mod) -> list[str]:
    """The kernels main calls, in order, once per call."""
    import tvm
    from tvm import relax

    call_tir, names = tvm.ir.Op.get("relax.call_tir"), []
    relax.analysis.post_order_visit(mod["main"].body, lambda n: names.append(n.args[0].name_hint) if (
        isinstance(n, relax.Call) and n.op == call_tir) else None)
    return names


def _ssh_heads(path):
    """RetinaFace's SSH output and heads at toy size: three conv branches of 8, 4 and 4 channels,
    relu(concat) over channels, read by 1x1 head convs of 4, 8 and 20 channels (with bias)."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(27)
    shapes = [("wa", (8, 3, 3, 3)), ("ba", (8,)), ("wb", (4, 3, 3, 3)), ("bb", (4,)),
              ("wc", (4, 3, 3, 3)), ("bc", (4,)), ("h1", (4, 16, 1, 1)), ("c1", (4,)),
              ("h2", (8, 16, 1, 1)), ("c2", (8,)), ("h3", (20, 16, 1, 1)), ("c3", (20,))]
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k) for k, s in shapes]
    nodes = [helper.make_node("Conv", ["x", f"w{b}", f"b{b}"], [b], pads=[1] * 4) for b in "abc"]
    nodes += [helper.make_node("Concat", ["a", "b", "c"], ["cat"], axis=1), helper.make_node("Relu", ["cat"], ["r"])]
    nodes += [helper.make_node("Conv", ["r", f"h{i}", f"c{i}"], [f"y{i}"]) for i in (1, 2, 3)]
    outs = [(f"y{i}", [1, n, 6, 10]) for i, n in ((1, 4), (2, 8), (3, 20))]
    onnx.save(onnx_model("ssh_heads", nodes, [1, 3, 6, 10], outs, inits, opset=13), str(path))
    return path


def test_heads_read_the_branches_not_their_concat(tmp_path):
    """heads_read_branches: the relu(concat) copy kernel goes, the ReLU moves into each branch's conv,
    the three heads become one 32-channel conv per branch (their sum added in a conv's epilogue) and
    the outputs stay onnxruntime's, within float rounding of the build without the pass."""
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.tvm_build import import_onnx, prepare, resolve_target
    from frvt_submission.reference import to_tensor

    path = _ssh_heads(tmp_path / "ssh.onnx")
    spec = ModelSettings(name="ssh", input_size=(10, 6), colour="RGB", layout="NHWC")
    target = resolve_target("host")
    image = np.random.default_rng(28).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    base = ("layout_leftovers", "cancel_permutes")
    before = prepare(import_onnx(path, spec, None, base), target, spec.layout, base)
    passes = base + ("heads_read_branches",)
    after = prepare(import_onnx(path, spec, None, passes), target, spec.layout, passes)
    assert any("concatenate" in k for k in _kernels(before))
    assert not any("concatenate" in k for k in _kernels(after))
    heads = [k for k in _calls(after) if "conv2d" in k and "relu" not in k]  # the branches' convs take the ReLU
    assert len(heads) == 3 and any("add" in k for k in heads)  # the sum in an epilogue, not a kernel of its own
    assert not any(k.startswith("add") for k in _calls(after))
    assert sum("relu" in k for k in _calls(after)) == 3

    def outputs(mod):
        import tvm
        from tvm import relax

        vm = relax.VirtualMachine(relax.build(mod, target=target), tvm.cpu())
        return [t.numpy() for t in vm["main"](tvm.runtime.tensor(image[None], tvm.cpu()))]

    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": to_tensor(image, spec.colour, spec.mean, spec.scale)})
    for got, ref, expected in zip(outputs(after), outputs(before), want):
        got = got.transpose(0, 3, 1, 2) if got.shape != expected.shape else got
        ref = ref.transpose(0, 3, 1, 2) if ref.shape != expected.shape else ref
        scale = float(np.abs(expected).max())
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * scale)
