"""Small helpers shared by the nodes: running a node, parameter declaration, stamps."""

from __future__ import annotations

import signal
import threading

import rclpy
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Header


SPIN_PERIOD_S = 0.1   # how often the main loop looks at the stop flag


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
    exit status 2.

    Signals only set a flag (rclpy's own handler is off): the loop stops, the node's
    ``finish(executor)`` runs if it has one (its return value is the exit status) and the node
    is destroyed -- its threads stopped -- while the context is still valid, and only then does
    rclpy shut down. So no thread of the node publishes on a dead context, and shutdown takes one
    spin period. A signal while the node is still being built (loading models) ends it at once.
    """
    stop = threading.Event()
    building = True

    def on_signal(signum, frame):
        stop.set()
        if building:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        with rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO):
            try:
                node = make_node()
            except errors as err:
                rclpy.logging.get_logger(name).error(str(err).replace("\n", " "))
                return 2
            building = False
            executor = MultiThreadedExecutor(threads) if threads > 1 else SingleThreadedExecutor()
            executor.add_node(node)
            try:
                while not stop.is_set() and rclpy.ok():
                    executor.spin_once(timeout_sec=SPIN_PERIOD_S)
            finally:
                if hasattr(node, "finish"):
                    code = node.finish(executor)
                executor.shutdown()
                node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
