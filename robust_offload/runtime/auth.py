"""Who may command a robot: authenticated control messages, without ROS.

Plans (planner), edge heartbeats, alive signals and results (edge) carry ``auth_epoch`` and
``auth_tag``: HMAC-SHA256 (standard library :mod:`hmac`) with a per-fleet key over the message's
canonical text with an empty tag (:mod:`robust_offload.ros.auth`). The epoch is the signer's
wall clock in nanoseconds, strictly increasing, so a restarted planner or edge continues above
its predecessor and a replayed message is stale.
Receivers check the tag in constant time (:func:`hmac.compare_digest`) and keep the newest epoch
per stream (plans, one edge's heartbeats, its alive signals, the results for one robot);
unsigned, forged and stale messages are dropped and counted. Without a key nothing is signed or
checked (each node says so once at start): the behaviour of an unsecured fleet, for benches and
single-host demos.

:class:`PlanSource` makes a robot stick to one planner: the publisher whose plan it applied
last, until that one has been silent for ``timeout_s``; plans of another publisher meanwhile are
ignored and reported (a second planner on the domain).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import Counter
from pathlib import Path

from robust_offload.core import checks

MIN_KEY_BYTES = 16
"""Shortest accepted key (128 bit); ``openssl rand -hex 32 > fleet.key`` makes a good one."""


def load_key(path: str | Path) -> bytes | None:
    """The fleet key in file ``path`` (surrounding whitespace removed); "" = no key."""
    if not path:
        return None
    try:
        key = Path(path).read_bytes().strip()
    except OSError as err:
        checks.fail("parameter", "auth_key_file", str(path), f"cannot read: {err.strerror}")
    if len(key) < MIN_KEY_BYTES:
        checks.fail("parameter", "auth_key_file", str(path),
                    f"key too short ({len(key)} bytes, needs >= {MIN_KEY_BYTES}; "
                    f"e.g. openssl rand -hex 32)")
    return key


class Signer:
    """Tags outgoing control messages; thread-safe (the edge signs from worker threads)."""

    def __init__(self, key: bytes | None):
        self.key = key
        self._last = 0
        self._lock = threading.Lock()

    def epoch(self) -> int:
        """Nanoseconds of wall time, strictly increasing within this process."""
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return self._last

    def tag(self, data: bytes) -> bytes:
        return hmac.new(self.key, data, hashlib.sha256).digest()


class Verifier:
    """Checks incoming control messages (see the module docstring); ``rejected`` counts the
    dropped ones by reason. Thread-safe."""

    def __init__(self, key: bytes | None):
        self.key = key
        self.rejected: Counter = Counter()
        self._newest: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, stream: str, epoch: int, data: bytes, tag: bytes) -> str | None:
        """None when the message is authentic and newer than the last one of ``stream``,
        else why it is dropped. ``data``: the message's canonical text with an empty tag."""
        if self.key is None:
            return None
        expected = hmac.new(self.key, data, hashlib.sha256).digest()
        with self._lock:
            if not tag:
                reason = "unsigned"
            elif not hmac.compare_digest(bytes(tag), expected):
                reason = "bad signature"
            elif epoch <= self._newest.get(stream, -1):
                reason = "stale epoch (a replay, or older than one already accepted)"
            else:
                self._newest[stream] = epoch
                return None
            self.rejected[reason] += 1
            return reason


class PlanSource:
    """The planner a robot follows (see the module docstring). Times are monotonic seconds;
    ``sender`` identifies a publisher (its DDS writer gid)."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.sender: str | None = None
        self.heard = -float("inf")
        self.others: Counter = Counter()

    def accept(self, sender: str, now: float) -> bool:
        """Whether to apply a plan of ``sender`` (False: another planner, counted)."""
        if self.sender is None or sender == self.sender or now - self.heard > self.timeout_s:
            self.sender, self.heard = sender, now
            return True
        self.others[sender] += 1
        return False
