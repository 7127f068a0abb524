"""What every node's ``main()`` needs besides parameters: :func:`run_node` (init, build, spin,
signals, clean-up, exit status), wall-clock stamps, and warnings that may repeat."""

from __future__ import annotations

import signal
import threading

import rclpy
from builtin_interfaces.msg import Time
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.exceptions import ParameterException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Header

from robust_offload.ros.guard import CallbackGuard
from robust_offload.runtime.throttle import Throttle

SPIN_PERIOD_S = 0.1   # how often the main loop looks at the stop flag


class Warnings(Throttle):
    """Warnings that may repeat (a robot resending a malformed message, a flood of drops):
    each ``key`` (default: the text) is logged at most once per ``period_s`` (Throttle)."""

    def __init__(self, logger, period_s: float = 10.0, max_keys: int = 1000):
        super().__init__(logger.warning, period_s, max_keys)


def to_time(seconds: float) -> Time:
    """builtin_interfaces/Time of a UNIX time in seconds."""
    sec = int(seconds)
    return Time(sec=sec, nanosec=int((seconds - sec) * 1e9))


def from_time(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def stamp(node: Node, seconds: float) -> Header:
    """A header stamped with wall-clock ``seconds`` (all hosts share wall time via NTP/PTP)."""
    return Header(stamp=to_time(seconds), frame_id=node.get_name())


def threaded_executor(threads: int):
    """A multi-threaded executor of ``threads`` threads; single-threaded for one."""
    return MultiThreadedExecutor(threads) if threads > 1 else SingleThreadedExecutor()


def _spin_once(executor, stop: threading.Event) -> None:
    """One executor turn; a shutdown from outside (rclpy's context) stops the loop."""
    try:
        executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except ExternalShutdownException:
        stop.set()


def run_node(name: str, make_node, errors=(), threads: int = 1, args=None,
             interrupt_build: bool = True, make_executor=None) -> int:
    """The ``main()`` of every node: init rclpy, build the node (or a list of nodes: the
    swarm), spin until Ctrl-C or SIGTERM, clean up. A bad parameter while building (ValueError
    -- InputError included --, an rclpy parameter exception, or one of ``errors``) is one ERROR
    line and exit status 2.

    Signals only set a flag (rclpy's own handler is off): the loop stops, the node's
    ``finish(executor)`` runs if it has one (its return value is the exit status) and the node
    is destroyed -- its threads stopped -- while the context is still valid, and only then does
    rclpy shut down. So no thread of the node publishes on a dead context, and shutdown takes one
    spin period. A signal while the node is still being built (loading models) ends it at once,
    unless ``interrupt_build`` is False (the recorder: its bag, opened while building, must be
    closed; it stops right after building instead).

    An exception out of the executor itself (not of a callback: those are guarded by
    :mod:`robust_offload.ros.guard`) is one throttled ERROR line; the node spins on.

    The nodes spin on ``make_executor()`` if given (the swarm: rclpy's EventsExecutor), else on a
    multi-threaded executor of ``threads`` threads (one: single-threaded). A node that already
    has an executor of its own when built is left to it (and still destroyed here).
    """
    stop = threading.Event()
    building = True

    def on_signal(signum, frame):
        stop.set()
        if building and interrupt_build:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        try:
            context = rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        except _rclpy.RCLError as err:  # e.g. a missing or malformed --params-file
            rclpy.logging.get_logger(name).error(" ".join(str(err).split()))
            return 2
        with context:
            try:
                node = make_node()
            except (ValueError, ParameterException, *errors) as err:
                rclpy.logging.get_logger(name).error(str(err).replace("\n", " "))
                return 2
            building = False
            nodes = node if isinstance(node, list) else [node]
            executor = make_executor() if make_executor else threaded_executor(threads)
            for each in nodes:
                if each.executor is None:
                    executor.add_node(each)
            spin = CallbackGuard(rclpy.logging.get_logger(name).error)
            try:
                while not stop.is_set() and rclpy.ok():
                    if not spin.run("spin_once", "executor", _spin_once, executor, stop):
                        stop.wait(SPIN_PERIOD_S)     # e.g. a message the middleware cannot take
            finally:
                for each in nodes:
                    if hasattr(each, "finish"):
                        code = each.finish(executor) or code
                executor.shutdown()
                for each in nodes:
                    each.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
