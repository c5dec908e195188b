"""Template bytes: round trip, failure templates, score range, malformed input, C header facts."""

import struct

import numpy as np
import pytest

from frvt_runtime.errors import TemplateFormatError
from frvt_runtime import template as T


def _unit(seed, dim=128):
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_round_trip():
    v = _unit(1)
    b = T.encode(v, n_images=3)
    assert len(b) == T.HEADER_SIZE + 4 * 128
    t = T.decode(b)
    assert not t.failed and t.n_images == 3
    np.testing.assert_array_equal(t.embedding, v)


def test_failure_template_is_valid_and_scores_minus_one():
    f = T.encode(None)
    assert T.decode(f).failed
    assert T.match(f, T.encode(_unit(2))) == (-1.0, "failed")
    assert T.match(T.encode(_unit(2)), f) == (-1.0, "failed")


def test_score_range_and_order():
    a, b = _unit(3), _unit(4)
    same, _ = T.match(T.encode(a), T.encode(a))
    opposite, _ = T.match(T.encode(a), T.encode(-a))
    other, _ = T.match(T.encode(a), T.encode(b))
    assert same == pytest.approx(T.SCORE_MAX)
    assert opposite == pytest.approx(0.0, abs=1.0)  # float32 rounding of -1
    assert 0 <= other <= T.SCORE_MAX and opposite < other < same
    assert T.score_to_cosine(other) == pytest.approx(float(a @ b), abs=1e-6)


@pytest.mark.parametrize("data", [
    b"", b"\x00" * 15, b"\x00" * 16,
    struct.pack("<IHHIHH", T.MAGIC, 99, 0, 4, 1, 0) + b"\x00" * 16,  # wrong version
    struct.pack("<IHHIHH", T.MAGIC, T.VERSION, 0, 128, 1, 0) + b"\x00" * 100,  # truncated
    struct.pack("<IHHIHH", T.MAGIC, T.VERSION, 0, 2, 1, 0) + struct.pack("<2f", np.nan, 1.0),
    struct.pack("<IHHIHH", T.MAGIC, T.VERSION, T.FLAG_FAILED, 0, 0, 0) + b"x",  # failed + payload
])
def test_malformed_is_rejected(data):
    with pytest.raises(TemplateFormatError):
        T.decode(data)
    assert T.match(data, T.encode(_unit(5))) == (-1.0, "format")


def test_dimension_mismatch_is_a_format_error():
    assert T.match(T.encode(_unit(6, 128)), T.encode(_unit(7, 64)))[1] == "format"


def test_combine_is_normalised_mean():
    a, b = _unit(8), _unit(9)
    c = T.combine([a, b])
    assert np.linalg.norm(c) == pytest.approx(1.0, abs=1e-6)
    assert c @ a == pytest.approx(c @ b, abs=1e-6)
    assert T.combine([]) is None


def test_c_header_carries_the_same_facts():
    from frvt_submission.bridge.headers import header_fields, template_header

    h = template_header()
    assert f"0x{T.MAGIC:08X}u" in h and f"FRVT_TEMPLATE_HEADER_SIZE {T.HEADER_SIZE}" in h
    assert f"FRVT_TEMPLATE_VERSION {T.VERSION}" in h
    # Each field's offset: where HEADER.pack puts it (distinct values, read back at the offset).
    fields = header_fields()
    assert list(fields) == list(T.HEADER_FIELDS) and sum(size for _, size in fields.values()) == T.HEADER_SIZE
    values = range(1, len(fields) + 1)
    packed = T.HEADER.pack(*values)
    for (name, (at, size)), value in zip(fields.items(), values):
        assert int.from_bytes(packed[at:at + size], "little") == value, name
        assert f"FRVT_TEMPLATE_OFFSET_{name.upper()} {at}\n" in h


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=3000, deadline=None)
@given(st.binary(max_size=700))
def test_decoder_fuzz_random_bytes(data):
    """Any bytes: either a template or TemplateFormatError; match never raises."""
    try:
        t = T.decode(data)
        assert t.failed or (t.embedding.size * 4 + T.HEADER_SIZE == len(data))
    except TemplateFormatError:
        pass
    score, status = T.match(data, data)
    assert status in ("ok", "failed", "format") and (status == "ok") == (0 <= score <= T.SCORE_MAX)


@hsettings(max_examples=2000, deadline=None)
@given(st.integers(0, T.HEADER_SIZE + 4 * 128 - 1), st.integers(0, 255), st.integers(0, 600))
def test_decoder_fuzz_mutations(pos, value, cut):
    data = bytearray(T.encode(_unit(11)))
    data[pos] = value
    data = bytes(data[: max(cut, 0)]) if cut < len(data) else bytes(data)
    try:
        T.decode(data)
    except TemplateFormatError:
        pass
