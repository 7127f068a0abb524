"""Hostile messages for every topic the fleet's nodes read: a fuzzer's message source.

Each message is a plausible one of its type (so that it gets past the first check) with one to
three fields set to a hostile value of the field's type, or, now and then, every field hostile:
text that is over-long, empty, whitespace, unicode, NUL, '/', '~', '{}', a newline, or the id of
a real robot (ids that collide); numbers NaN, +-inf, 0, negative, huge, denormal, integer
extremes (float32's own for float32 fields); arrays empty, of the wrong length, of 1000
entries; nested messages and message arrays alike. :func:`garbage` gives serialised bytes
that are no valid message (cut, flipped) for raw publication.
"""

from __future__ import annotations

import importlib
import math
import random
import re

from rclpy.serialization import serialize_message

TEXT = ["", " ", "  robot_1", "robot_1 ", "\trobot", "x" * 300, "y" * 65, "robot/1", "~robot",
        "{robot}", "robot\x00id", "rōbot_ü", "日本語ロボット", "../../etc/passwd", "1robot",
        "robot\nid", "%s%n%x", "alexnet", "resnet152", "edge", "robot_1", "robot_2", "__ns",
        "robot-1", "/robust_offload/plan"]
FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 1e308, -1e308, 5e-324, 1.0, 1e6,
          2e-25, 1e12]
FLOAT32S = [math.nan, math.inf, -math.inf, 0.0, -0.0, -1.0, 3.4e38, -3.4e38, 1e-45, 1.0, 1e6,
            2e-25, 1e12]     # within float32's range, as rosidl's field check asks
INT_RANGES = {"uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1),
              "uint64": (0, 2**64 - 1), "int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1),
              "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}
LENGTHS = [0, 1, 2, 3, 9, 10, 11, 1000]


def message_class(type_name: str):
    """The class of a nested type as rosidl names it ("std_msgs/Header")."""
    package, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


class Hostile:
    """Hostile messages from plausible ``bases`` (type -> a valid message to start from)."""

    def __init__(self, bases: dict, seed: int = 0):
        self.bases, self.rng = bases, random.Random(seed)

    def value(self, field_type: str):
        """A hostile value of a field type (rosidl's names: 'double', 'sequence<uint32>'...)."""
        sequence = re.fullmatch(r"sequence<(.+?)(?:, \d+)?>", field_type)
        if sequence:
            length = self.rng.choice(LENGTHS)
            inner = sequence.group(1)
            if inner in ("uint8", "octet") and length == 1000:
                return [self.rng.randrange(256) for _ in range(length)]
            return [self.value(inner) for _ in range(min(length, 50) if "/" in inner
                                                     else length)]
        if field_type == "string":
            return self.rng.choice(TEXT)
        if field_type == "double":
            return self.rng.choice(FLOATS)
        if field_type == "float":
            return self.rng.choice(FLOAT32S)
        if field_type == "boolean":
            return self.rng.random() < 0.5
        if field_type == "octet":
            return bytes([self.rng.randrange(256)])
        if field_type in INT_RANGES:
            low, high = INT_RANGES[field_type]
            return self.rng.choice([low, high, 0, 1, min(high, 7), self.rng.randint(low, high)])
        return self.message(message_class(field_type), every_field=True)

    def message(self, kind, every_field: bool = False):
        """A message of class ``kind``: its base with some fields hostile (all, if asked or if
        it has no base)."""
        base = self.bases.get(kind)
        msg = kind() if base is None else _copy(base)
        fields = msg.get_fields_and_field_types()
        chosen = list(fields) if every_field or base is None else \
            self.rng.sample(list(fields), k=min(len(fields), self.rng.randint(1, 3)))
        for name in chosen:
            setattr(msg, name, self.value(fields[name]))
        return msg

    def garbage(self, kind) -> bytes:
        """Serialised bytes of a ``kind`` message that are no valid message: cut short or with
        bytes flipped."""
        data = bytearray(serialize_message(self.message(kind)))
        if self.rng.random() < 0.5 and len(data) > 4:
            return bytes(data[:self.rng.randrange(4, len(data))])
        for _ in range(self.rng.randint(1, 8)):
            data[self.rng.randrange(len(data))] = self.rng.randrange(256)
        return bytes(data)


def _copy(msg):
    """A deep copy of a ROS message (field by field, nested messages included)."""
    fresh = type(msg)()
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, "get_fields_and_field_types"):
            value = _copy(value)
        elif isinstance(value, list):
            value = [_copy(v) if hasattr(v, "get_fields_and_field_types") else v for v in value]
        setattr(fresh, name, value)
    return fresh
