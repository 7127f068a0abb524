"""Small helpers shared by the nodes: running a node, declaring and checking parameters, stamps."""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass

import rclpy
from builtin_interfaces.msg import Time
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
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

from robust_offload.core import checks


SPIN_PERIOD_S = 0.1   # how often the main loop looks at the stop flag


@dataclass(frozen=True)
class Param:
    """One node parameter: default (its type is the parameter's type), description, whether it
    may change at runtime, and for text parameters the allowed values."""

    default: object
    description: str
    dynamic: bool = False
    choices: tuple = ()


def check_parameter(name: str, value, param: Param):
    """A parameter value checked with the house vocabulary (:mod:`robust_offload.core.checks`):
    the type of its default, its choices, and the plausible range of its unit."""
    default, source = param.default, "parameter"
    if param.choices:
        return checks.choice(source, name, value, param.choices)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            checks.fail(source, name, value, "must be true or false")
        return value
    if isinstance(default, int):
        return checks.whole(source, name, value)
    if isinstance(default, float):
        return checks.number(source, name, value)
    if isinstance(default, str):
        if not isinstance(value, str):
            checks.fail(source, name, value, "must be text")
        return value
    if value is None:             # an empty list override arrives as "not set"
        return []
    if not isinstance(value, (list, tuple)):
        checks.fail(source, name, value, "must be a list")
    return list(value)


def _descriptor(name: str, param: Param, read_only: bool, ranged: bool) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=param.description, read_only=read_only,
                                     dynamic_typing=isinstance(param.default, (int, float, list)))
    bounds = checks.quantity(name)
    if ranged and bounds is not None and isinstance(param.default, float):
        descriptor.floating_point_range = [FloatingPointRange(from_value=bounds.low,
                                                              to_value=bounds.high)]
        descriptor.additional_constraints = bounds.unit
    if param.choices:
        descriptor.additional_constraints = f"one of: {', '.join(param.choices)}"
    return descriptor


def declare_parameters(node: Node, spec: dict[str, Param]) -> dict:
    """The one way a node declares its parameters: each is declared, its value checked
    (:func:`check_parameter`: a bad value is one InputError line), then its descriptor gets the
    plausible range and ``read_only`` unless it is dynamic. Parameters in the node's params file
    that the node does not have are errors (a typo must not fall back to a default silently).
    Returns name -> checked value."""
    values = {}
    for name, param in spec.items():
        first = _descriptor(name, param, read_only=False, ranged=False)  # our check first
        value = node.declare_parameter(name, param.default, first).value
        values[name] = check_parameter(name, value, param)
        final = _descriptor(name, param, read_only=not param.dynamic, ranged=True)
        final.type = node.describe_parameter(name).type   # as declared (rclpy checks it)
        node.set_descriptor(name, final)
    # rclpy keeps a node's overrides (params files, -p) in _parameter_overrides; there is no
    # public accessor, and undeclared overrides are otherwise dropped without a word.
    unknown = sorted(set(getattr(node, "_parameter_overrides", {})) - set(spec)
                     - {"use_sim_time"})
    if unknown:
        checks.fail("parameter", unknown[0], node._parameter_overrides[unknown[0]].value,
                    f"not a parameter of node '{node.get_name()}' (known: "
                    f"{', '.join(sorted(spec))})")
    return values


def changed_parameters(parameters, spec: dict[str, Param]) -> tuple[dict, str]:
    """For ``add_on_set_parameters_callback``: (name -> checked value, "") of the changed
    dynamic parameters, or ({}, reason) when one of them is invalid."""
    changes = {}
    for parameter in parameters:
        param = spec.get(parameter.name)
        if param is None or not param.dynamic:
            continue
        try:
            changes[parameter.name] = check_parameter(parameter.name, parameter.value, param)
        except checks.InputError as err:
            return {}, str(err)
    return changes, ""


class Warnings:
    """Warnings that may repeat (a robot resending a malformed message, a flood of drops):
    each ``key`` (default: the text) is logged at most once per ``period_s``. Thread-safe."""

    def __init__(self, logger, period_s: float = 10.0, max_keys: int = 1000):
        self.logger, self.period_s, self.max_keys = logger, period_s, max_keys
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, text: str, key: str | None = None) -> None:
        now, key = time.monotonic(), text if key is None else key
        with self._lock:
            if now - self._last.get(key, -math.inf) < self.period_s:
                return
            if len(self._last) >= self.max_keys:
                self._last.clear()
            self._last[key] = now
        self.logger.warning(text)


def to_time(seconds: float) -> Time:
    """builtin_interfaces/Time of a UNIX time in seconds."""
    sec = int(seconds)
    return Time(sec=sec, nanosec=int((seconds - sec) * 1e9))


def from_time(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def stamp(node: Node, seconds: float) -> Header:
    """A header stamped with wall-clock ``seconds`` (all hosts share wall time via NTP/PTP)."""
    return Header(stamp=to_time(seconds), frame_id=node.get_name())


def run_node(name: str, make_node, errors=(), threads: int = 1, args=None,
             interrupt_build: bool = True) -> int:
    """The ``main()`` of every node: init rclpy, build the node, spin until Ctrl-C or SIGTERM,
    clean up. A bad parameter while building (ValueError -- InputError included --, an rclpy
    parameter exception, or one of ``errors``) is one ERROR line and exit status 2.

    Signals only set a flag (rclpy's own handler is off): the loop stops, the node's
    ``finish(executor)`` runs if it has one (its return value is the exit status) and the node
    is destroyed -- its threads stopped -- while the context is still valid, and only then does
    rclpy shut down. So no thread of the node publishes on a dead context, and shutdown takes one
    spin period. A signal while the node is still being built (loading models) ends it at once,
    unless ``interrupt_build`` is False (the recorder: its bag, opened while building, must be
    closed; it stops right after building instead).
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
