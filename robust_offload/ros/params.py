"""Small helpers shared by the nodes: running a node, parameter declaration, stamps."""

from __future__ import annotations

import rclpy
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
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


def run_node(name: str, make_node, errors=(ValueError,), threads: int = 1, args=None) -> int:
    """The ``main()`` of every node: init rclpy, build the node, spin until Ctrl-C or SIGTERM,
    clean up. An exception of ``errors`` while building (a bad parameter) is one ERROR line and
    exit status 2."""
    try:
        with rclpy.init(args=args):
            try:
                node = make_node()
            except errors as err:
                rclpy.logging.get_logger(name).error(str(err).replace("\n", " "))
                return 2
            executor = MultiThreadedExecutor(threads) if threads > 1 else SingleThreadedExecutor()
            executor.add_node(node)
            try:
                executor.spin()
            except Exception:
                if rclpy.ok():
                    raise  # else: a signal arrived before spin() started and shut rclpy down
            finally:
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return 0
