"""Feature codec: intermediate tensors <-> bytes (float32, float16, int8).

Codecs (the codec name is also the numpy name of the payload's element type):

* ``float32``: lossless, 4 bytes per element;
* ``float16``: 2 bytes per element, relative error <= 2^-11; finite values beyond float16's range
  (|x| > 65504) are rejected rather than turned into inf;
* ``int8``: per-tensor affine quantisation, 1 byte per element: ``q = clip(round(x / scale) + zp,
  -128, 127)``, ``x ~= (q - zp) * scale`` with ``scale = (max - min) / 255`` over the tensor's
  range extended to include 0 (so 0 is exact); the error is at most ``scale / 2`` per element.
  Non-finite values are rejected.

Two wire forms:

* self-describing bytes, :func:`encode` / :func:`decode`: a little-endian header then the payload::

      offset  size        field
      0       4           magic b"ROFT"
      4       1           version (1)
      5       1           codec id (0 float32, 1 float16, 2 int8)
      6       1           ndim (0..8)
      7       1           reserved (0)
      8       4 * ndim    shape, uint32 each
      8+4n    4           scale, float32 (int8; 0 otherwise)
      12+4n   4           zero point, int32 (int8; 0 otherwise)
      16+4n   ...         payload, C order, little endian

* separate fields for a message that carries dtype and shape itself (``FeatureTensor.msg``):
  :func:`to_payload` / :func:`from_payload`. The payload bytes are identical in both forms.

Every malformed input raises :class:`CodecError` (a ``ValueError``) naming what is wrong and the
values. Zero-copy where possible: encoding a contiguous float32 tensor copies it once (into the
output ``bytes``), :func:`to_payload` returns a ``memoryview`` of the tensor's memory, and
decoding to numpy is ``np.frombuffer`` on the input buffer (no copy for float32). Torch is only
needed for torch tensors; numpy arrays work without it.
"""

from __future__ import annotations

import array
import math
import struct
import warnings
from typing import Any, NamedTuple

import numpy as np

MAGIC = b"ROFT"
VERSION = 1
MAX_NDIM = 8
CODECS = ("float32", "float16", "int8")
"""Codec names, in codec-id order."""

_DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2"), "int8": np.dtype("i1")}
_FIXED = struct.Struct("<4sBBBB")
_QUANT = struct.Struct("<fi")
_FLOAT16_MAX = float(np.finfo(np.float16).max)


class CodecError(ValueError):
    """A tensor cannot be encoded, or bytes/fields cannot be decoded; the message says why."""


class Payload(NamedTuple):
    """A tensor as separate fields (see :func:`to_payload`).

    dtype: numpy name of the element type, one of :data:`CODECS`.
    shape: per-tensor shape (C order).
    data: the raw payload, C order, little endian (a ``memoryview`` of bytes, format "B"; a
        received one may be any bytes-like object).
    scale / zero_point: int8 quantisation parameters (1.0 and 0 for the float codecs; an int8
        payload without them is refused by :func:`from_payload`).

    The one type of a tensor on the wire, both ways: the robot's runtime makes it
    (:func:`to_payload`), the node copies it into a FeatureTensor, the edge node makes one of
    the message and the edge runtime decodes it (:func:`from_payload`).
    """

    dtype: str
    shape: tuple[int, ...]
    data: memoryview
    scale: float | None = None
    zero_point: int | None = None

    def data_array(self) -> array.array:
        """The payload as ``array.array("B")`` (one copy): the fast way to fill a ROS uint8[]
        field (a ``bytes`` value makes the generated setter check every element in Python)."""
        out = array.array("B")
        out.frombytes(self.data)
        return out

    def shape_array(self) -> array.array:
        """The shape as ``array.array("I")`` for a ROS uint32[] field."""
        return array.array("I", self.shape)


def header_bytes(ndim: int) -> int:
    """Size of the :func:`encode` header for a tensor of ``ndim`` dimensions."""
    return _FIXED.size + 4 * ndim + _QUANT.size


def _check_codec(codec: str) -> str:
    if codec not in _DTYPES:
        raise CodecError(f"unknown codec {codec!r}; expected one of {', '.join(CODECS)}")
    return codec


def _check_shape(shape: Any) -> tuple[int, ...]:
    try:
        dims = tuple(shape)
    except TypeError:
        raise CodecError(f"shape must be a sequence of integers, got {shape!r}") from None
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise CodecError(f"shape {dims!r} has a non-integer dimension {d!r}")
        if d < 0 or d > 0xFFFFFFFF:
            raise CodecError(f"shape {dims!r} has dimension {int(d)} outside 0..2^32-1")
        out.append(int(d))
    if len(out) > MAX_NDIM:
        raise CodecError(f"shape {tuple(out)} has {len(out)} dimensions, at most {MAX_NDIM}")
    return tuple(out)


def encoded_bytes(shape, codec: str = "float32", header: bool = True) -> int:
    """Bytes that :func:`encode` produces for a tensor of ``shape`` (``header=False``: payload
    only, what :func:`to_payload` puts in a message). Divide by 2^20 for the planner's d_m."""
    dims = _check_shape(shape)
    size = math.prod(dims) * _DTYPES[_check_codec(codec)].itemsize
    return size + (header_bytes(len(dims)) if header else 0)


# -- quantisation --------------------------------------------------------------------------------

def quant_params(lo: float, hi: float) -> tuple[float, int]:
    """int8 scale and zero point for values in [lo, hi] (the range is extended to include 0)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise CodecError(f"int8 needs finite values, got range [{lo}, {hi}]")
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = float(np.float32((hi - lo) / 255.0))
    if scale == 0.0 or not math.isfinite(scale):
        if hi == lo:
            return 1.0, 0
        raise CodecError(f"int8 cannot represent the range [{lo}, {hi}]")
    zero_point = int(np.clip(round(-128.0 - lo / scale), -128, 127))
    return scale, zero_point


def _quantize_numpy(x: np.ndarray) -> tuple[np.ndarray, float, int]:
    if x.size == 0:
        return np.empty(x.shape, dtype=np.int8), 1.0, 0
    scale, zp = quant_params(float(x.min()), float(x.max()))
    q = np.divide(x.reshape(-1), np.float32(scale), dtype=np.float32)  # 1-D: ufunc out= works
    np.rint(q, out=q)
    q += np.float32(zp)
    np.clip(q, -128, 127, out=q)
    return q.astype(np.int8).reshape(x.shape), scale, zp


def _quantize_torch(t) -> tuple[Any, float, int]:
    """Same arithmetic as :func:`_quantize_numpy`, on the tensor's device (so only int8 bytes
    cross the PCIe bus)."""
    import torch
    if t.numel() == 0:
        return torch.empty(t.shape, dtype=torch.int8), 1.0, 0
    t = t.float()
    lo, hi = torch.aminmax(t)
    scale, zp = quant_params(float(lo), float(hi))
    q = torch.round(t / scale).add_(zp).clamp_(-128, 127).to(torch.int8)
    return q, scale, zp


def _as_numpy(tensor) -> np.ndarray:
    if isinstance(tensor, np.ndarray):
        return tensor
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is optional for numpy users
        torch = None
    if torch is not None and isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy()
    raise CodecError(f"expected a numpy array or torch tensor, got {type(tensor).__name__}")


def _to_wire_array(tensor, codec: str) -> tuple[np.ndarray, float, int]:
    """C-contiguous little-endian array of the codec's dtype, plus quantisation parameters."""
    _check_codec(codec)
    _check_shape(getattr(tensor, "shape", ()))
    scale, zp = 1.0, 0
    if isinstance(tensor, np.generic):
        tensor = np.asarray(tensor)
    if not isinstance(tensor, np.ndarray):
        import torch
        if isinstance(tensor, torch.Tensor):
            t = tensor.detach()
            if not (t.is_floating_point()):
                raise CodecError(f"expected a floating-point tensor, got {t.dtype}")
            if codec == "int8":
                q, scale, zp = _quantize_torch(t)
                return _contiguous(q.cpu().numpy()), scale, zp
            if codec == "float16" and t.numel():
                lo, hi = torch.aminmax(t)
                if not (torch.isfinite(lo) and torch.isfinite(hi)):
                    finite = t[torch.isfinite(t)]
                    lo, hi = torch.aminmax(finite) if finite.numel() else (lo * 0, hi * 0)
                _check_float16_range(float(lo), float(hi), t)
            target = torch.float16 if codec == "float16" else torch.float32
            return _contiguous(t.to(target).cpu().numpy()), scale, zp
        raise CodecError(f"expected a numpy array or torch tensor, got {type(tensor).__name__}")
    x = tensor
    if x.dtype.kind != "f":
        raise CodecError(f"expected a floating-point array, got dtype {x.dtype}")
    if codec == "int8":
        q, scale, zp = _quantize_numpy(np.asarray(x, dtype=np.float32))
        return _contiguous(q), scale, zp
    if codec == "float16" and x.size:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN input
            _check_float16_range(float(np.nanmin(x)), float(np.nanmax(x)), x)
    if codec == "float16":
        return _convert(x, np.float16), scale, zp
    return _contiguous(x, _DTYPES[codec]), scale, zp


def _convert(x: np.ndarray, dtype) -> np.ndarray:
    """``x`` converted to float16/float32 (C order). numpy converts float16 one element at a
    time (~350 MB/s); torch's vectorised kernel is ~25x faster, so it is used when installed."""
    try:
        import torch
    except ImportError:  # pragma: no cover - exercised only without torch
        return _contiguous(x, dtype)
    if x.dtype.byteorder == ">" or x.dtype.kind != "f" or x.dtype.itemsize > 4:
        x = _contiguous(x, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # read-only input: torch only reads it
        t = torch.from_numpy(x)
    target = torch.float16 if np.dtype(dtype) == np.float16 else torch.float32
    return _contiguous(t.to(target).numpy())


def _contiguous(x: np.ndarray, dtype=None) -> np.ndarray:
    """C-contiguous array of ``dtype``, same shape (no copy when it already is one); unlike
    ``np.ascontiguousarray`` it keeps 0-d arrays 0-d."""
    return np.require(x, dtype=dtype, requirements="C")


def _check_float16_range(lo: float, hi: float, x) -> None:
    """Reject finite values beyond float16's range (NaN and inf pass through unchanged)."""
    peak = max((abs(v) for v in (lo, hi) if math.isfinite(v)), default=0.0)
    if peak > _FLOAT16_MAX:
        raise CodecError(f"float16 cannot represent |x| = {peak:g} (max {_FLOAT16_MAX:g}); "
                         f"use float32 or int8 for this tensor of shape {tuple(x.shape)}")


# -- separate fields (ROS message) ---------------------------------------------------------------

def to_payload(tensor, codec: str = "float32") -> Payload:
    """Encode ``tensor`` (numpy array or torch tensor, any device) as separate fields.

    ``data`` is a ``memoryview`` of the encoded array: no copy for a contiguous float32 CPU
    tensor with codec float32.
    """
    wire, scale, zp = _to_wire_array(tensor, codec)
    return Payload(codec, tuple(int(d) for d in wire.shape), memoryview(wire).cast("B"),
                   scale, zp)


def _check_quant(codec: str, scale, zero_point) -> tuple[float, int]:
    if codec != "int8":
        return 1.0, 0
    if scale is None or zero_point is None:
        raise CodecError("int8 payload needs scale and zero_point")
    scale = float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise CodecError(f"int8 scale must be finite and > 0, got {scale}")
    if isinstance(zero_point, bool) or not isinstance(zero_point, (int, np.integer)) \
            or not -128 <= zero_point <= 127:
        raise CodecError(f"int8 zero_point must be an integer in -128..127, got {zero_point!r}")
    return scale, int(zero_point)


def _view(dtype: str, shape, data, offset: int = 0) -> np.ndarray:
    """Zero-copy numpy view of ``data[offset:]`` as ``dtype`` with ``shape``; checks the length."""
    codec = _check_codec(dtype)
    dims = _check_shape(shape)
    try:
        buf = memoryview(data).cast("B")
    except TypeError:
        raise CodecError(f"payload must be a bytes-like object, got {type(data).__name__}") \
            from None
    expected = math.prod(dims) * _DTYPES[codec].itemsize
    actual = buf.nbytes - offset
    if actual != expected:
        raise CodecError(f"payload is {actual} bytes but shape {dims} of {codec} needs "
                         f"{expected} bytes")
    return np.frombuffer(buf, dtype=_DTYPES[codec], offset=offset).reshape(dims)


def _dequantize(wire: np.ndarray, codec: str, scale: float, zp: int) -> np.ndarray:
    if codec == "float32":
        return wire
    if codec == "float16":
        return _convert(wire, np.float32)
    out = wire.astype(np.float32)
    if codec == "int8":
        out -= np.float32(zp)
        out *= np.float32(scale)
    return out


def _to_output(x: np.ndarray, as_numpy: bool, device):
    if as_numpy:
        return x
    import torch
    if not x.flags.writeable:  # a read-only buffer (bytes): torch tensors must own writable memory
        x = x.copy()
    t = torch.from_numpy(x)
    return t if device is None else t.to(device)


def from_payload(payload: Payload, *, as_numpy: bool = False, device=None):
    """Decode a :class:`Payload` back to a float32 tensor (torch, or numpy with ``as_numpy``).

    ``payload.data`` is any bytes-like object (bytes, bytearray, memoryview, array.array, uint8
    array). float32 to numpy is a zero-copy view (read-only for ``bytes``); a torch tensor from a
    read-only buffer is a copy.
    """
    wire = _view(payload.dtype, payload.shape, payload.data)
    scale, zp = _check_quant(payload.dtype, payload.scale, payload.zero_point)
    return _to_output(_dequantize(wire, payload.dtype, scale, zp), as_numpy, device)


# -- self-describing bytes -----------------------------------------------------------------------

def encode(tensor, codec: str = "float32") -> bytes:
    """Header + payload of ``tensor`` (numpy array or torch tensor) as one ``bytes`` object."""
    p = to_payload(tensor, codec)
    header = (_FIXED.pack(MAGIC, VERSION, CODECS.index(codec), len(p.shape), 0)
              + struct.pack(f"<{len(p.shape)}I", *p.shape)
              + _QUANT.pack(p.scale if codec == "int8" else 0.0, p.zero_point))
    return b"".join((header, p.data))


def parse_header(data) -> tuple[Payload, int]:
    """Parse the header of :func:`encode` output: the fields (``data`` is the payload view) and
    the payload offset. Checks magic, version, codec, ndim, quantisation and payload length."""
    try:
        buf = memoryview(data).cast("B")
    except TypeError:
        raise CodecError(f"expected a bytes-like object, got {type(data).__name__}") from None
    if buf.nbytes < _FIXED.size:
        raise CodecError(f"truncated header: {buf.nbytes} bytes, need at least {_FIXED.size}")
    magic, version, codec_id, ndim, _ = _FIXED.unpack_from(buf)
    if magic != MAGIC:
        raise CodecError(f"bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise CodecError(f"unsupported version {version}, expected {VERSION}")
    if codec_id >= len(CODECS):
        raise CodecError(f"unknown codec id {codec_id}; known: "
                         + ", ".join(f"{i} {c}" for i, c in enumerate(CODECS)))
    if ndim > MAX_NDIM:
        raise CodecError(f"header has ndim {ndim}, at most {MAX_NDIM}")
    size = header_bytes(ndim)
    if buf.nbytes < size:
        raise CodecError(f"truncated header: {buf.nbytes} bytes, ndim {ndim} needs {size}")
    shape = struct.unpack_from(f"<{ndim}I", buf, _FIXED.size)
    scale, zp = _QUANT.unpack_from(buf, _FIXED.size + 4 * ndim)
    codec = CODECS[codec_id]
    if codec == "int8":
        scale, zp = _check_quant(codec, scale, zp)
    else:
        scale, zp = 1.0, 0
    _view(codec, shape, buf, size)  # length check
    return Payload(codec, shape, buf[size:], scale, zp), size


def decode(data, *, as_numpy: bool = False, device=None):
    """Inverse of :func:`encode`: a float32 tensor (torch, or numpy with ``as_numpy``)."""
    p, _ = parse_header(data)
    return from_payload(p, as_numpy=as_numpy, device=device)
