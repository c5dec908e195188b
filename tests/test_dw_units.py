"""The hand-written pointwise + depthwise unit kernel: its sums against numpy, the graph pass that
puts it in place of YuNet-like units (and leaves other graphs alone), outputs against
onnxruntime, build facts that name it, and tuning that leaves it out."""

import unittest.mock

import numpy as np
import pytest

import onnx
import onnxruntime as ort

from conftest import onnx_model, prepared_kernels


def _unit_numpy(x, w1, b1, w2, b2, relu, pool):
    """The unit in numpy: 1x1 conv + bias, 3x3 depthwise conv (zero padding 1) + bias, ReLU, 2x2 max pool."""
    y = np.einsum("hwk,kc->hwc", x[0].astype(np.float64), w1) + b1
    h, w, c = y.shape
    padded = np.zeros((h + 2, w + 2, c))
    padded[1:-1, 1:-1] = y
    z = b2 + sum(padded[i:i + h, j:j + w] * w2[i, j] for i in range(3) for j in range(3))
    if relu:
        z = np.maximum(z, 0)
    if pool:
        z = z.reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))
    return z[None]


def _stem_numpy(image, w0, b0):
    """YuNet's first layer in numpy: 3x3 conv, stride 2, zero padding 1, + bias, ReLU."""
    height, width, _ = image.shape
    padded = np.zeros((height + 2, width + 2, 3))
    padded[1:-1, 1:-1] = image
    h, w = height // 2, width // 2
    x = b0 + sum(np.einsum("hwk,kc->hwc", padded[i:i + 2 * h:2, j:j + 2 * w:2], w0[i, j])
                 for i in range(3) for j in range(3))
    return np.maximum(x, 0)[None]


@pytest.mark.parametrize("h, w, ci, co, relu, pool", [
    (8, 10, 3, 16, True, True),     # 5-pixel and 2-pixel blocks, 16 channels
    (6, 14, 8, 24, False, False),   # 2-pixel blocks, 8-channel blocks
    (7, 7, 5, 3, True, False),      # single pixels and channels; odd height
    (4, 12, 16, 32, False, True),   # 4-pixel blocks, two channel blocks
    (1, 4, 2, 8, True, False),      # one row: both its neighbours are padding
])
def test_unit_kernel_matches_numpy(h, w, ci, co, relu, pool):
    import tvm

    from frvt_submission.compile.dw_units import dw_unit
    from frvt_submission.compile.tvm_build import resolve_target

    rng = np.random.default_rng(h * w + co)
    args = [rng.standard_normal(s).astype(np.float32) for s in [(1, h, w, ci), (ci, co), (co,), (3, 3, co), (co,)]]
    want = _unit_numpy(*args, relu, pool)
    lib = tvm.compile(tvm.IRModule({"main": dw_unit(h, w, ci, co, relu, pool).with_attr("global_symbol", "main")}),
                      target=resolve_target("host"))
    out = tvm.runtime.tensor(np.full(want.shape, np.nan, np.float32), tvm.cpu())
    lib["main"](*[tvm.runtime.tensor(a, tvm.cpu()) for a in args], out)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("h, w, ci, co, relu, pool, dtype", [
    (4, 10, 16, 16, True, True, "uint8"),     # YuNet's first unit: 16 channels, pooled
    (5, 4, 8, 24, False, False, "float32"),   # a float image, 8-channel blocks, odd height
])
def test_unit_kernel_with_the_stem_matches_numpy(h, w, ci, co, relu, pool, dtype):
    """The stem variant computes x from the image (2h x 2w, flat rows) inside the kernel."""
    import tvm

    from frvt_submission.compile.dw_units import dw_unit
    from frvt_submission.compile.tvm_build import resolve_target

    rng = np.random.default_rng(h + w)
    image = rng.integers(0, 256, (2 * h, 2 * w, 3)).astype(dtype)
    w0, b0 = rng.standard_normal((3, 3, 3, ci)).astype(np.float32) * 0.05, rng.standard_normal(ci).astype(np.float32)
    args = [rng.standard_normal(s).astype(np.float32) for s in [(ci, co), (co,), (3, 3, co), (co,)]]
    want = _unit_numpy(_stem_numpy(image.astype(np.float64), w0, b0), *args, relu, pool)
    lib = tvm.compile(tvm.IRModule({"main": dw_unit(h, w, ci, co, relu, pool, dtype).with_attr("global_symbol", "main")}),
                      target=resolve_target("host"))
    out = tvm.runtime.tensor(np.full(want.shape, np.nan, np.float32), tvm.cpu())
    lib["main"](*[tvm.runtime.tensor(a, tvm.cpu()) for a in [image.reshape(1, 2 * h, 6 * w), w0, b0, *args]], out)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def _saved(path, name, nodes, outputs, inits):
    """The graph of nodes on a 1x3x12x20 image x saved as an ONNX model at path: (path, (w, h), output names)."""
    onnx.save(onnx_model(name, nodes, [1, 3, 12, 20], outputs, inits), str(path))
    return path, (20, 12), [n for n, _ in outputs]


def _units_model(path, extra_output: bool):
    """YuNet's backbone at toy size: a 3x3 stride-2 conv + ReLU, a unit (1x1 conv, depthwise 3x3,
    ReLU, 2x2 max pool), a unit without ReLU or pool. extra_output: the second unit's 1x1 conv
    is an output too, so its map must be written and that unit stays apart."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(11)
    shapes = {"w0": (8, 3, 3, 3), "b0": (8,), "p1": (16, 8, 1, 1), "pb1": (16,), "d1": (16, 1, 3, 3), "db1": (16,),
              "p2": (8, 16, 1, 1), "pb2": (8,), "d2": (8, 1, 3, 3), "db2": (8,)}
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k) for k, s in shapes.items()]
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1] * 4, strides=[2, 2]),
             helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "p1", "pb1"], ["u1"]),
             helper.make_node("Conv", ["u1", "d1", "db1"], ["v1"], pads=[1] * 4, group=16),
             helper.make_node("Relu", ["v1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["m1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["m1", "p2", "pb2"], ["u2"]),
             helper.make_node("Conv", ["u2", "d2", "db2"], ["y"], pads=[1] * 4, group=8)]
    outputs = [("y", [1, 8, 3, 5])]
    if extra_output:
        outputs.append(("u2", [1, 8, 3, 5]))
    return _saved(path, "units", nodes, outputs, inits)


@pytest.mark.parametrize("extra_output, units", [(False, 2), (True, 1)])
def test_units_become_one_kernel_each_and_match_onnxruntime(tmp_path, extra_output, units):
    """Each unit's 1x1 conv, depthwise conv, ReLU and pool kernels become one hand-scheduled
    kernel, the first with the stem conv and the image's cast; a unit whose intermediate map
    is also an output keeps its kernels. The compiled model's outputs are onnxruntime's, and
    its build facts name the hand-scheduled kernels."""
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.compile.graph_passes import GRAPH_PASSES
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.reference import to_tensor

    path, (w, h), names = _units_model(tmp_path / "units.onnx", extra_output)
    spec = ModelSettings(name="units", input_size=(w, h), layout="NHWC")
    target = resolve_target("host")

    without = prepared_kernels(path, spec, tuple(p for p in GRAPH_PASSES if p != "fuse_dw_units"))
    assert sum(k.startswith("fused_conv2d") for k in without) == 5
    assert any("cast" in k for k in without)
    fused = prepared_kernels(path, spec, GRAPH_PASSES)
    assert sum(k.startswith("fused_conv2d") for k in fused) == 2 * (2 - units)  # a unit left apart: 2 convs
    assert not any(k.startswith("max_pool") or "cast" in k for k in fused), fused

    out = tmp_path / "units.so"
    facts = compile_model(path, spec, target, out, None, log=lambda msg: None)
    assert len(facts["hand_scheduled"]) == units and facts["tuned"] is False  # no records: not tuned
    image = np.random.default_rng(5).integers(0, 256, (h, w, 3), dtype=np.uint8)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        names, {"x": to_tensor(image, spec.colour, spec.mean, spec.scale)})
    got = compiled_model(out, names)(image)
    for name, expected in zip(names, want):
        np.testing.assert_allclose(got[name], expected, rtol=1e-4, atol=1e-5 * float(np.abs(expected).max()))


def _heads_model(path):
    """YuNet's heads at toy size: after the stem and a unit, four units read the same map. Three
    have no ReLU (1, 4 and 10 channels, as YuNet's class, box and landmark heads), one has."""
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(12)
    shapes = {"w0": (8, 3, 3, 3), "b0": (8,), "p1": (16, 8, 1, 1), "pb1": (16,), "d1": (16, 1, 3, 3), "db1": (16,)}
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1] * 4, strides=[2, 2]),
             helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "p1", "pb1"], ["u1"]),
             helper.make_node("Conv", ["u1", "d1", "db1"], ["v1"], pads=[1] * 4, group=16),
             helper.make_node("Relu", ["v1"], ["r1"])]
    outputs = []
    for name, co, relu in (("cls", 1, False), ("box", 4, False), ("kps", 10, False), ("act", 2, True)):
        shapes.update({f"{name}_p": (co, 16, 1, 1), f"{name}_pb": (co,), f"{name}_d": (co, 1, 3, 3), f"{name}_db": (co,)})
        nodes += [helper.make_node("Conv", ["r1", f"{name}_p", f"{name}_pb"], [f"{name}_u"]),
                  helper.make_node("Conv", [f"{name}_u", f"{name}_d", f"{name}_db"], [f"{name}_v" if relu else name],
                                   pads=[1] * 4, group=co)]
        if relu:
            nodes.append(helper.make_node("Relu", [f"{name}_v"], [name]))
        outputs.append((name, [1, co, 6, 10]))
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), k) for k, s in shapes.items()]
    return _saved(path, "heads", nodes, outputs, inits)


def test_units_reading_one_map_become_one_wide_unit(tmp_path):
    """merge_shared_units: the three heads without ReLU that read one map become one unit (15
    channels, padded to 16; the one with ReLU stays its own), and every head's output is the one they computed apart,
    bit for bit, and onnxruntime's."""
    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.weights import compiled_model
    from frvt_submission.compile.graph_passes import GRAPH_PASSES
    from frvt_submission.compile.tvm_build import compile_model, resolve_target
    from frvt_submission.reference import to_tensor

    path, (w, h), names = _heads_model(tmp_path / "heads.onnx")
    spec = ModelSettings(name="heads", input_size=(w, h), layout="NHWC")
    target = resolve_target("host")
    image = np.random.default_rng(6).integers(0, 256, (h, w, 3), dtype=np.uint8)
    got = {}
    for merge in (False, True):
        passes = tuple(p for p in GRAPH_PASSES if merge or p != "merge_shared_units")
        out = tmp_path / f"heads_{merge}.so"
        with unittest.mock.patch("frvt_submission.compile.tvm_build.records_graph_passes", lambda db: passes):
            facts = compile_model(path, spec, target, out, None, log=lambda msg: None)
        assert len(facts["hand_scheduled"]) == (3 if merge else 5), facts["hand_scheduled"]
        got[merge] = compiled_model(out, names)(image)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        names, {"x": to_tensor(image, spec.colour, spec.mean, spec.scale)})
    for name, expected in zip(names, want):
        assert got[True][name].shape == expected.shape
        np.testing.assert_array_equal(got[True][name], got[False][name], err_msg=name)
        np.testing.assert_allclose(got[True][name], expected, rtol=1e-4, atol=1e-5 * float(np.abs(expected).max()))


def _relax_unit(stride: int = 1, pool_size: int = 2, height: int = 6):
    """A unit built in Relax, NHWC; stride: the depthwise conv's; pool_size: the max pool's."""
    from tvm import relax

    rng = np.random.default_rng(2)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, height, 8, 4), "float32"))

    def const(*shape):
        return relax.const(rng.standard_normal(shape).astype(np.float32))

    with bb.function("main", [x]):
        with bb.dataflow():
            p = bb.emit(relax.op.nn.conv2d(x, const(8, 1, 1, 4), data_layout="NHWC", kernel_layout="OHWI"))
            a = bb.emit(relax.op.add(p, const(1, 1, 1, 8)))
            d = bb.emit(relax.op.nn.conv2d(a, const(8, 3, 3, 1), strides=stride, padding=1, groups=8,
                                           data_layout="NHWC", kernel_layout="OHWI"))
            r = bb.emit(relax.op.nn.relu(relax.op.add(d, const(1, 1, 1, 8))))
            out = bb.emit_output(relax.op.nn.max_pool2d(r, pool_size, pool_size, layout="NHWC"))
        bb.emit_func_output(out)
    return bb.get()


@pytest.mark.parametrize("stride, pool_size, height, fused, pooled", [
    (1, 2, 6, True, True),
    (2, 2, 6, False, False),   # a strided depthwise conv is no unit
    (1, 3, 6, True, False),    # a 3x3 pool stays its own kernel after the unit
    (1, 2, 5, True, False),    # an odd height: the pool stays apart
])
def test_the_pass_takes_only_what_the_kernel_computes(stride, pool_size, height, fused, pooled):
    import tvm

    from frvt_submission.compile.graph_passes import graph_passes

    mod = tvm.transform.Sequential(graph_passes(["fuse_dw_units"]))(_relax_unit(stride, pool_size, height))
    script = mod["main"].script()
    assert ("dw_unit" in script) == fused
    assert ("R.nn.conv2d" in script) == (not fused)
    assert ("R.nn.max_pool2d" in script) == (not pooled)


def test_tuning_leaves_the_hand_scheduled_kernels_out(tmp_path):
    """MetaSchedule extracts the hand-written kernels as tasks too; tune must not search them."""
    from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

    from frvt_submission.config import ModelSettings
    from frvt_submission.compile.graph_passes import GRAPH_PASSES
    from frvt_submission.compile.tune import tunable_tasks
    from frvt_submission.compile.tvm_build import import_onnx, prepare, resolve_target

    path, (w, h), _ = _units_model(tmp_path / "units.onnx", False)
    spec = ModelSettings(name="units", input_size=(w, h), layout="NHWC")
    target = resolve_target("host")
    mod = prepare(import_onnx(path, spec, None, GRAPH_PASSES), target, "NHWC", GRAPH_PASSES)
    every = [t.task_name for t in extract_tasks(mod, target)]
    tunable = [t.task_name for t in tunable_tasks(mod, target)]
    assert sum(n.startswith("dw_unit") for n in every) == 2
    assert tunable and not any(n.startswith("dw_unit") for n in tunable)
    assert set(tunable) < set(every)
