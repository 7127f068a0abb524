"""Who may command a robot: authenticated control messages, without ROS.

Plans (planner), edge heartbeats, alive signals and results (edge) carry ``auth_session``,
``auth_epoch`` and ``auth_tag``: HMAC-SHA256 (standard library :mod:`hmac`) with a per-fleet key
over the message's canonical text with an empty tag (:mod:`robust_offload.ros.auth`), session and
counter included. Receivers check the tag in constant time (:func:`hmac.compare_digest`);
unsigned and forged messages are dropped and counted. Without a key nothing is signed or checked
(each node says so once at start): the behaviour of an unsecured fleet, for benches and
single-host demos.

Freshness rests on no clock: hosts' clocks may be far behind (a Jetson without a battery-backed
clock before NTP) or jump. Each :class:`Signer` (one per node) draws a random 64-bit session id
when it starts and numbers its messages 1, 2, 3, ... (``auth_epoch``). A :class:`Verifier` keeps
per stream (plans, one edge model's heartbeats, the results for one robot) the session it
follows, the newest counter accepted of it and when (monotonic seconds):

- the followed session: accepted only with a higher counter (a replay is stale);
- another session: refused while the followed one is alive; accepted once the followed one has
  been silent for the stream's timeout (a restarted planner or edge, whatever its clock says),
  and the stream follows it from then on;
- a session the stream followed before and gave up: refused for good (the last
  :data:`REPLACED_KEPT` per stream), so recorded messages of an earlier signer cannot be
  replayed; a signer given up (silent past the timeout while another one took over) is heard
  again only once restarted, as a new session.

The first message of a stream is accepted from any session. Timeouts per kind of stream: a
robot's ``planner_timeout_s`` for plans and ``edge_timeout_s`` for the edge's heartbeats and
results, the planner's ``edge_timeout_s`` for edge profiles.

:class:`PlanSource` makes a robot stick to one planner: the publisher whose plan it applied
last, until that one has been silent for ``timeout_s``; plans of another publisher meanwhile are
ignored and reported (a second planner on the domain; with a key its plans are refused before,
as another session).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from robust_offload.core import checks

MIN_KEY_BYTES = 16
"""Shortest accepted key (128 bit); ``openssl rand -hex 32 > fleet.key`` makes a good one."""

REPLACED_KEPT = 16
"""A stream remembers (and refuses) the last this many sessions it gave up: an older one could
be replayed only after as many restarts of its signer, and only once the followed session has
been silent for the stream's timeout."""

UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad signature"
STALE = "stale epoch (a replay, or older than one already accepted)"
OTHER_SESSION = "another session (a second signer while the one followed is alive)"
REPLACED_SESSION = "replaced session (a replay of a signer this stream gave up)"


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
    """Tags outgoing control messages of one session (see the module docstring); thread-safe
    (the edge signs from worker threads)."""

    def __init__(self, key: bytes | None):
        self.key = key
        self.session = secrets.randbits(64)
        self._counter = 0
        self._lock = threading.Lock()

    def epoch(self) -> int:
        """The next number of this session: 1, 2, 3, ..."""
        with self._lock:
            self._counter += 1
            return self._counter

    def tag(self, data: bytes) -> bytes:
        return hmac.new(self.key, data, hashlib.sha256).digest()


@dataclass
class _Stream:
    """What a verifier keeps of one stream: the session it follows, that session's newest
    counter accepted, when (monotonic s), and the sessions it gave up."""

    session: int
    newest: int
    heard: float
    replaced: deque = field(default_factory=lambda: deque(maxlen=REPLACED_KEPT))


class Verifier:
    """Checks incoming control messages (see the module docstring); ``rejected`` counts the
    dropped ones by reason. ``timeouts``: per kind of stream (a stream's name up to its first
    "/": "plan", "edge", "results"), how long the followed session must have been silent before
    another one is accepted. Thread-safe."""

    def __init__(self, key: bytes | None, timeouts: dict[str, float]):
        self.key, self.timeouts = key, dict(timeouts)
        self.rejected: Counter = Counter()
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()

    def check(self, stream: str, session: int, epoch: int, data: bytes, tag: bytes,
              now: float) -> str | None:
        """None when the message is authentic and fresh on ``stream`` at monotonic time
        ``now``, else why it is dropped. ``data``: the message's canonical text with an empty
        tag."""
        if self.key is None:
            return None
        expected = hmac.new(self.key, data, hashlib.sha256).digest()
        with self._lock:
            if not tag:
                reason = UNSIGNED
            elif not hmac.compare_digest(bytes(tag), expected):
                reason = BAD_SIGNATURE
            else:
                reason = self._fresh(stream, session, epoch, now)
            if reason:
                self.rejected[reason] += 1
            return reason

    def _fresh(self, name: str, session: int, epoch: int, now: float) -> str | None:
        """None when ``epoch`` of ``session`` may follow what ``name`` accepted so far (which
        then records it), else why not."""
        stream = self._streams.get(name)
        if stream is None:
            self._streams[name] = _Stream(session, epoch, now)
            return None
        if session in stream.replaced:
            return REPLACED_SESSION
        if session != stream.session:
            if now - stream.heard <= self.timeouts[name.split("/")[0]]:
                return OTHER_SESSION
            stream.replaced.append(stream.session)
            stream.session = session
        elif epoch <= stream.newest:
            return STALE
        stream.newest, stream.heard = epoch, now
        return None


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
