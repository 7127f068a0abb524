"""Feature codec: round trips, header layout, zero-copy paths and every rejected input."""

import array
import struct

import numpy as np
import pytest

from robust_offload.dnn import codec
from robust_offload.dnn.codec import (CODECS, CodecError, decode, encode, encoded_bytes,
                                      Payload, from_payload, header_bytes, parse_header,
                                      to_payload)

SHAPES = [(), (0,), (7,), (3, 5), (2, 64, 9, 11)]


def _sample(shape, seed=0, relu=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 3.0, size=shape).astype(np.float32)
    return np.maximum(x, 0) if relu else x


def _check_close(x, y, codec_name, scale=None):
    assert y.shape == x.shape and y.dtype == np.float32
    if codec_name == "float32":
        assert np.array_equal(x, y)
    elif codec_name == "float16":
        np.testing.assert_allclose(y, x, rtol=2.0**-11, atol=6e-8)
    else:
        assert np.max(np.abs(y - x), initial=0.0) <= scale / 2 * (1 + 1e-5) + 1e-7


@pytest.mark.parametrize("codec_name", CODECS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("relu", [True, False])
def test_numpy_round_trip(codec_name, shape, relu):
    x = _sample(shape, relu=relu)
    data = encode(x, codec_name)
    assert isinstance(data, bytes) and len(data) == encoded_bytes(shape, codec_name)
    p, offset = parse_header(data)
    assert (p.dtype, p.shape, offset) == (codec_name, shape, header_bytes(len(shape)))
    y = decode(data, as_numpy=True)
    _check_close(x, y, codec_name, p.scale)
    fields = to_payload(x, codec_name)
    assert bytes(fields.data) == data[offset:]
    assert (fields.scale, fields.zero_point) == (p.scale, p.zero_point)
    z = from_payload(fields, as_numpy=True)
    assert np.array_equal(y, z)


@pytest.mark.parametrize("codec_name", CODECS)
def test_torch_round_trip(codec_name):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(_sample((4, 16, 8, 8), seed=1, relu=False))
    data = encode(x, codec_name)
    y = decode(data)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    y[0, 0, 0, 0] = 1.0  # a tensor decoded from bytes owns writable memory
    p, _ = parse_header(data)
    _check_close(x.numpy()[1:], y.numpy()[1:], codec_name, p.scale)
    # the torch and numpy encoders agree (int8 codes may differ by one at a .5 tie)
    a = np.frombuffer(encode(x, codec_name), np.uint8).astype(int)
    b = np.frombuffer(encode(x.numpy(), codec_name), np.uint8).astype(int)
    if codec_name == "int8":
        assert np.max(np.abs(a[32:].astype(np.int8) - b[32:].astype(np.int8))) <= 1
        assert np.array_equal(a[:32], b[:32])
    else:
        assert np.array_equal(a, b)
    with torch.inference_mode():  # the model's head returns inference tensors
        t = x * 1
    assert encode(t, codec_name) == encode(x, codec_name)


def test_noncontiguous_and_float64_inputs():
    x = _sample((6, 5), seed=2, relu=False)
    assert np.array_equal(decode(encode(x.T), as_numpy=True), x.T)
    x64 = x.astype(np.float64)
    assert np.array_equal(decode(encode(x64), as_numpy=True), x)


def test_header_layout():
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    data = encode(x, "int8")
    magic, version, codec_id, ndim, reserved = struct.unpack_from("<4sBBBB", data)
    assert (magic, version, codec_id, ndim, reserved) == (b"ROFT", 1, 2, 2, 0)
    assert struct.unpack_from("<2I", data, 8) == (2, 3)
    scale, zp = struct.unpack_from("<fi", data, 16)
    assert scale == pytest.approx(5 / 255) and -128 <= zp <= 127
    assert len(data) == 24 + 6 == header_bytes(2) + 6


def test_int8_properties():
    zeros = np.zeros((3, 4), np.float32)
    p = to_payload(zeros, "int8")
    assert (p.scale, p.zero_point) == (1.0, 0)
    assert np.array_equal(decode(encode(zeros, "int8"), as_numpy=True), zeros)
    x = _sample((1000,), seed=3)  # ReLU features: zeros stay exactly zero
    y = decode(encode(x, "int8"), as_numpy=True)
    assert np.array_equal(y[x == 0], x[x == 0])
    neg = np.full((5,), -2.5, np.float32)  # range extended to include 0
    assert np.allclose(decode(encode(neg, "int8"), as_numpy=True), neg, atol=2.5 / 255)


def test_encoded_bytes():
    assert encoded_bytes((64, 112, 112), "float32", header=False) == 64 * 112 * 112 * 4
    assert encoded_bytes((64, 112, 112), "float16", header=False) == 64 * 112 * 112 * 2
    assert encoded_bytes((64, 112, 112), "int8", header=False) == 64 * 112 * 112
    assert encoded_bytes((64, 112, 112), "int8") == 64 * 112 * 112 + 28
    assert encoded_bytes((), "float32") == 16 + 4


def test_zero_copy_paths():
    x = _sample((8, 8), seed=4)
    p = to_payload(x, "float32")
    assert np.shares_memory(np.frombuffer(p.data, np.uint8), x)
    buf = bytearray(encode(x))
    y = decode(buf, as_numpy=True)
    assert np.shares_memory(y, np.frombuffer(buf, np.uint8))
    assert not decode(encode(x), as_numpy=True).flags.writeable  # a view of immutable bytes


def test_payload_for_ros_message_fields():
    x = _sample((2, 3, 4), seed=5)
    p = to_payload(x, "float16")
    data, shape = p.data_array(), p.shape_array()
    assert isinstance(data, array.array) and data.typecode == "B"
    assert shape.typecode == "I" and list(shape) == [2, 3, 4]
    # what a receiver does with msg.dtype / msg.shape / msg.payload (array.array)
    y = from_payload(Payload("float16", shape, data), as_numpy=True)
    np.testing.assert_allclose(y, x, rtol=2.0**-11)


def _bad(data, match):
    with pytest.raises(CodecError, match=match):
        decode(data, as_numpy=True)


def test_decode_rejects_malformed_bytes():
    good = encode(_sample((2, 3)), "int8")
    _bad(good[:5], r"truncated header: 5 bytes, need at least 8")
    _bad(good[:12], r"truncated header: 12 bytes, ndim 2 needs 24")
    _bad(good[:-1], r"payload is 5 bytes but shape \(2, 3\) of int8 needs 6 bytes")
    _bad(good + b"\0", r"payload is 7 bytes")
    _bad(b"XXXX" + good[4:], r"bad magic b'XXXX', expected b'ROFT'")
    _bad(good[:4] + b"\x09" + good[5:], r"unsupported version 9")
    _bad(good[:5] + b"\x07" + good[6:], r"unknown codec id 7")
    _bad(good[:6] + b"\x09" + good[7:], r"ndim 9, at most 8")
    bad_scale = good[:16] + struct.pack("<f", -1.0) + good[20:]
    _bad(bad_scale, r"scale must be finite and > 0, got -1.0")
    nan_scale = good[:16] + struct.pack("<f", float("nan")) + good[20:]
    _bad(nan_scale, r"scale must be finite")
    bad_zp = good[:20] + struct.pack("<i", 300) + good[24:]
    _bad(bad_zp, r"zero_point must be an integer in -128..127, got 300")
    _bad("text", r"expected a bytes-like object, got str")
    assert isinstance(CodecError("x"), ValueError)


def test_from_payload_rejects_inconsistent_fields():
    data = np.zeros(6, np.float32).tobytes()
    with pytest.raises(CodecError, match=r"payload is 24 bytes but shape \(2, 2\) of float32"):
        from_payload(Payload("float32", (2, 2), data))
    with pytest.raises(CodecError, match=r"dimension -6 outside"):
        from_payload(Payload("float32", (-6,), data))
    with pytest.raises(CodecError, match=r"non-integer dimension 2.5"):
        from_payload(Payload("float32", (2.5,), data))
    with pytest.raises(CodecError, match=r"unknown codec 'float64'"):
        from_payload(Payload("float64", (3,), data))
    with pytest.raises(CodecError, match=r"int8 payload needs scale and zero_point"):
        from_payload(Payload("int8", (24,), data))
    with pytest.raises(CodecError, match=r"scale must be finite and > 0, got 0.0"):
        from_payload(Payload("int8", (24,), data, 0.0, 0))
    with pytest.raises(CodecError, match=r"bytes-like"):
        from_payload(Payload("float32", (6,), [0.0] * 6))
    with pytest.raises(CodecError, match=r"at most 8"):
        encoded_bytes((1,) * 9)
    with pytest.raises(CodecError, match=r"unknown codec 'bf16'"):
        encoded_bytes((2,), "bf16")


def test_encode_rejects_unrepresentable_tensors():
    with pytest.raises(CodecError, match=r"unknown codec 'int4'"):
        encode(np.zeros(3, np.float32), "int4")
    with pytest.raises(CodecError, match=r"floating-point array, got dtype int64"):
        encode(np.arange(3), "float32")
    with pytest.raises(CodecError, match=r"int8 needs finite values"):
        encode(np.array([1.0, np.nan], np.float32), "int8")
    with pytest.raises(CodecError, match=r"int8 needs finite values"):
        encode(np.array([1.0, np.inf], np.float32), "int8")
    with pytest.raises(CodecError, match=r"float16 cannot represent \|x\| = 100000"):
        encode(np.array([1.0, -1e5], np.float32), "float16")
    with pytest.raises(CodecError, match=r"numpy array or torch tensor, got list"):
        encode([1.0, 2.0])
    # NaN and inf pass through float16 unchanged
    y = decode(encode(np.array([np.nan, np.inf, 1.0], np.float32), "float16"), as_numpy=True)
    assert np.isnan(y[0]) and np.isinf(y[1]) and y[2] == 1.0


def test_torch_rejections():
    torch = pytest.importorskip("torch")
    with pytest.raises(CodecError, match=r"float16 cannot represent"):
        encode(torch.tensor([float("nan"), 7e4]), "float16")
    with pytest.raises(CodecError, match=r"floating-point tensor, got torch.int64"):
        encode(torch.arange(3), "int8")
    with pytest.raises(CodecError, match=r"int8 needs finite values"):
        encode(torch.tensor([0.0, float("nan")]), "int8")


def test_max_ndim_round_trip():
    x = _sample((1,) * codec.MAX_NDIM + (0,) * 0, seed=6)
    assert decode(encode(x), as_numpy=True).shape == x.shape
