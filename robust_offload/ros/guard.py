"""No callback exception ends a node: every subscription and timer callback runs guarded.

A node class mixes in :class:`Guarded` before its rclpy base class; its ``create_subscription``
and ``create_timer`` then wrap each callback in the node's :class:`CallbackGuard`. An exception
while handling one message (or one tick) is one ERROR line naming the callback, the topic and
the message's source (its ``robot_id`` or ``source`` field, else the publisher's gid), at most
once per :data:`REPEAT_S` for the same callback and error type (with the count of repeats held
back), and the node goes on with its last good state: what the failing call had not yet
changed stays as it was.
"""

from __future__ import annotations

import inspect
import time

from robust_offload.core.checks import show
from robust_offload.runtime.throttle import Throttle

REPEAT_S = 10.0
"""The same callback failing with the same error type is reported at most this often."""


def message_source(msg, info=None) -> str:
    """Who sent ``msg``: its robot_id or source field, else its publisher's gid (a prefix)."""
    for field in ("robot_id", "source"):
        value = getattr(msg, field, None)
        if isinstance(value, str) and value:
            return f"from {show(value)!r}"
    gid = (info or {}).get("publisher_gid") if isinstance(info, dict) else None
    if gid:
        return f"from publisher {bytes(gid.get('data', b'')).hex()[:16]}"
    return ""


def takes_info(callback) -> bool:
    """Whether rclpy calls this subscription callback with (message, message info): as rclpy
    decides, by whether it can be called with one argument."""
    try:
        inspect.signature(callback).bind(object())
        return False
    except TypeError:
        return True


class CallbackGuard:
    """Runs callbacks; reports what they raise (see the module docstring). Thread-safe: a
    multi-threaded executor runs callbacks side by side."""

    def __init__(self, report, period_s: float = REPEAT_S, clock=time.monotonic):
        self.report = report
        self._throttle = Throttle(lambda text: self.report(text), period_s, clock=clock)

    def run(self, name: str, where: str, callback, *args) -> bool:
        """``callback(*args)``; an exception is reported, never raised (returns False)."""
        try:
            callback(*args)
        except Exception as err:  # noqa: BLE001 -- the point: no message may end the node
            self._failed(name, where, args, err)
            return False
        return True

    def subscription(self, callback, topic: str):
        """``callback`` guarded, with the arity rclpy expects of it."""
        name = getattr(callback, "__name__", type(callback).__name__)
        if takes_info(callback):
            def guarded(msg, info):
                self.run(name, topic, callback, msg, info)
        else:
            def guarded(msg):
                self.run(name, topic, callback, msg)
        return guarded

    def timer(self, callback):
        name = getattr(callback, "__name__", type(callback).__name__)

        def guarded():
            self.run(name, "timer", callback)
        return guarded

    def _failed(self, name: str, where: str, args, err: Exception) -> None:
        source = message_source(*args[:2]) if args else ""
        text = (f"callback {name} ({' '.join(filter(None, (where, source)))}) failed: "
                f"{type(err).__name__}: {err}; going on with the last good state")
        self._throttle(" ".join(text.split()), key=f"{name} {type(err).__name__}")


class Guarded:
    """Mixin for rclpy nodes: every subscription and timer callback is guarded by
    ``self.guard`` (a :class:`CallbackGuard` reporting to the node's logger at ERROR)."""

    @property
    def guard(self) -> CallbackGuard:
        if "_callback_guard" not in self.__dict__:
            self._callback_guard = CallbackGuard(self.get_logger().error)
        return self._callback_guard

    def create_subscription(self, msg_type, topic, callback, qos_profile, **kwargs):
        return super().create_subscription(msg_type, topic,
                                           self.guard.subscription(callback, topic),
                                           qos_profile, **kwargs)

    def create_timer(self, timer_period_sec, callback, *args, **kwargs):
        return super().create_timer(timer_period_sec, self.guard.timer(callback), *args,
                                    **kwargs)
