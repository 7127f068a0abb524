"""Small helpers shared by the nodes: parameter declaration, stamps."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from std_msgs.msg import Header


class ParameterError(ValueError):
    """A node parameter is invalid; the message names it and its value (one line)."""


def declare_all(node: Node, spec: dict) -> dict:
    """Declare ``name -> (default, description)`` parameters; return their values."""
    values = {}
    for name, (default, description) in spec.items():
        node.declare_parameter(name, default, ParameterDescriptor(description=description))
        values[name] = node.get_parameter(name).value
    return values


def to_time(seconds: float) -> Time:
    """builtin_interfaces/Time of a UNIX time in seconds."""
    sec = int(seconds)
    return Time(sec=sec, nanosec=int((seconds - sec) * 1e9))


def from_time(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def stamp(node: Node, seconds: float) -> Header:
    """A header stamped with wall-clock ``seconds`` (all hosts share wall time via NTP/PTP)."""
    return Header(stamp=to_time(seconds), frame_id=node.get_name())
