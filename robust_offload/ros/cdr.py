"""Reading a serialized FeatureTensor without deserialising its payload (for the radio node).

The radio emulator forwards feature tensors byte for byte and only needs who sent them and how
large they are. :func:`peek_feature_tensor` reads the CDR fields in front of the payload, in the
order of ``msg/FeatureTensor.msg`` -- :data:`FIELDS_BEFORE_PAYLOAD`, which test_cdr.py compares
with the generated message, so a change of the message layout fails a test instead of silently
misreading tensors.
"""

from __future__ import annotations

import struct

from rclpy.serialization import deserialize_message

from robust_offload.msg import FeatureTensor

FIELDS_BEFORE_PAYLOAD = ("header", "robot_id", "request_id", "model", "partition", "dtype",
                         "shape", "payload")
"""The fields of FeatureTensor that :func:`_peek_cdr` walks, in message order."""


def peek_feature_tensor(data: bytes) -> tuple[str, int, int]:
    """(robot_id, request_id, payload bytes) of a serialized FeatureTensor.

    Reads the CDR fields in front of the payload (header, robot_id, request_id, model,
    partition, dtype, shape) and the payload length; the payload itself is not touched.
    Handles plain CDR (XCDR1) and plain XCDR2, little and big endian; anything else falls back
    to a full deserialisation.
    """
    try:
        return _peek_cdr(data)
    except (ValueError, struct.error, IndexError, UnicodeDecodeError):
        msg = deserialize_message(data, FeatureTensor)
        return msg.robot_id, int(msg.request_id), len(msg.payload)


def _peek_cdr(data: bytes) -> tuple[str, int, int]:
    if len(data) < 4 or data[0] != 0:
        raise ValueError("unknown encapsulation")
    kind = data[1]
    if kind in (0x00, 0x01):      # CDR_BE / CDR_LE (XCDR1): 8-byte types align to 8
        max_align = 8
    elif kind in (0x06, 0x07):    # PLAIN_CDR2_BE / _LE: 8-byte types align to 4
        max_align = 4
    else:
        raise ValueError("unknown encapsulation")
    endian = "<" if kind & 1 else ">"
    body = memoryview(data)[4:]
    pos = 0

    def align(n: int) -> None:
        nonlocal pos
        n = min(n, max_align)
        pos += (-pos) % n

    def unsigned(size: int) -> int:
        nonlocal pos
        align(size)
        (value,) = struct.unpack_from(endian + {4: "I", 8: "Q"}[size], body, pos)
        pos += size
        return value

    def u32() -> int:
        return unsigned(4)

    def string() -> str:
        nonlocal pos
        n = u32()
        if n == 0 or pos + n > len(body):
            raise ValueError("bad string")
        text = bytes(body[pos:pos + n - 1]).decode("utf-8")
        pos += n
        return text

    u32()                         # header.stamp.sec
    u32()                         # header.stamp.nanosec
    string()                      # header.frame_id
    robot_id = string()
    request_id = unsigned(8)
    string()                      # model
    u32()                         # partition
    string()                      # dtype
    n_shape = u32()
    pos += 4 * n_shape            # shape elements
    n_payload = u32()
    if pos + n_payload > len(body):
        raise ValueError("truncated payload")
    return robot_id, request_id, n_payload
