"""The radio emulator's logic without ROS: mobility, channel and the FDMA uplink queues.

:class:`RandomWaypoint` moves the robots; :class:`FdmaUplink` keeps each robot's tensors on its
own FDMA channel for their air time (eq. 4) at the robot's planned share and current gain. The
``radio`` node (:mod:`robust_offload.ros.radio_node`) only turns messages into calls of these.

The cell of Sec. VI-A is a 400 m x 400 m square with the edge server at its centre (the origin).
Each robot repeatedly draws a waypoint uniformly in the square and a speed uniformly in
[v_min, v_max] m/s, walks there in a straight line, optionally pauses, then draws the next one.
Its distance to the edge is clipped below at ``MIN_DISTANCE_M`` (10 m); the channel follows the
path loss 38 + 30 log10(r) dB used by the planner (:mod:`robust_offload.core.channel`).

Every robot has its own random stream, derived from (seed, robot index), so a robot's trajectory
does not depend on how many other robots there are or when they joined.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from robust_offload.core import checks
from robust_offload.core.channel import (
    gain_from_path_loss_db,
    path_loss_db_from_distance,
    rate_bps,
    snr_scale_hz,
)
from robust_offload.core.generate import CELL_SIDE_M, MIN_DISTANCE_M


def uplink_rate_bps(bandwidth_hz: float, tx_power_w: float, gain: float,
                    noise_dbm_per_hz: float) -> float:
    """Shannon rate b log2(1 + p h / (b N0)) in bit/s (channel.rate_bps); 0 when b <= 0."""
    if not bandwidth_hz > 0:
        return 0.0
    return float(rate_bps(bandwidth_hz, snr_scale_hz(tx_power_w, gain, noise_dbm_per_hz)))


def air_time_s(bits: float, bandwidth_hz: float, tx_power_w: float, gain: float,
               noise_dbm_per_hz: float) -> float:
    """Time to send ``bits`` over an FDMA share: bits / (b log2(1 + p h / (b N0))).

    Infinite when the rate is 0 (no bandwidth, no power or no gain) and there is something to
    send; 0 for an empty message.
    """
    if bits <= 0:
        return 0.0
    rate = uplink_rate_bps(bandwidth_hz, tx_power_w, gain, noise_dbm_per_hz)
    return bits / rate if rate > 0 else math.inf


class RandomWaypoint:
    """Random waypoint mobility of a growing set of robots in the square cell.

    ``add_robot()`` places a robot (uniformly in the cell, or at a given distance from the edge at
    a random bearing) and returns its index; ``step(dt)`` advances every robot by ``dt`` seconds.
    """

    def __init__(self, count: int = 0, *, speed_min_mps: float = 0.5, speed_max_mps: float = 1.5,
                 pause_s: float = 0.0, seed: int = 0, side_m: float = CELL_SIDE_M,
                 min_distance_m: float = MIN_DISTANCE_M):
        if not 0.0 < speed_min_mps <= speed_max_mps or not math.isfinite(speed_max_mps):
            raise ValueError(f"need 0 < speed_min_mps <= speed_max_mps, got "
                             f"{speed_min_mps}, {speed_max_mps}")
        if not pause_s >= 0.0:
            raise ValueError(f"pause_s must be >= 0, got {pause_s}")
        if not side_m > 0.0 or not min_distance_m >= 0.0:
            raise ValueError("side_m must be > 0 and min_distance_m >= 0")
        self.speed_min_mps = float(speed_min_mps)
        self.speed_max_mps = float(speed_max_mps)
        self.pause_s = float(pause_s)
        self.seed = int(seed)
        self.half = side_m / 2.0
        self.min_distance_m = float(min_distance_m)
        self._rngs: list[np.random.Generator] = []
        self._pos: list[np.ndarray] = []
        self._waypoint: list[np.ndarray] = []
        self._speed: list[float] = []
        self._pause_left: list[float] = []
        for _ in range(count):
            self.add_robot()

    def __len__(self) -> int:
        return len(self._pos)

    def _draw_point(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-self.half, self.half, size=2)

    def _new_leg(self, i: int) -> None:
        rng = self._rngs[i]
        self._waypoint[i] = self._draw_point(rng)
        self._speed[i] = float(rng.uniform(self.speed_min_mps, self.speed_max_mps))

    def add_robot(self, distance_m: float | None = None) -> int:
        """Add a robot (``distance_m``: its starting distance to the edge); returns its index."""
        i = len(self._pos)
        rng = np.random.default_rng([self.seed, i])
        if distance_m is None:
            pos = self._draw_point(rng)
        else:
            pos = self._point_at_distance(float(distance_m), rng)
        self._rngs.append(rng)
        self._pos.append(pos)
        self._waypoint.append(pos.copy())
        self._speed.append(0.0)
        self._pause_left.append(0.0)
        self._new_leg(i)
        return i

    def _point_at_distance(self, r: float, rng: np.random.Generator) -> np.ndarray:
        corner = self.half * math.sqrt(2.0)
        if not 0.0 <= r <= corner:
            raise ValueError(f"distance {r} m is outside the {2 * self.half:g} m cell "
                             f"(0 .. {corner:.1f} m)")
        for _ in range(1000):  # a random bearing that keeps the point in the square
            theta = rng.uniform(0.0, 2.0 * math.pi)
            pos = np.array([r * math.cos(theta), r * math.sin(theta)])
            if np.all(np.abs(pos) <= self.half):
                return pos
        return np.array([r, r]) / math.sqrt(2.0)  # only reachable near the corners

    def step(self, dt: float) -> None:
        """Advance every robot by ``dt`` seconds (several legs and pauses if dt is long)."""
        if not dt >= 0.0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        for i in range(len(self._pos)):
            left = float(dt)
            while left > 0.0:
                if self._pause_left[i] > 0.0:
                    used = min(left, self._pause_left[i])
                    self._pause_left[i] -= used
                    left -= used
                    continue
                delta = self._waypoint[i] - self._pos[i]
                dist = float(np.hypot(delta[0], delta[1]))
                reach = self._speed[i] * left
                if reach < dist:
                    self._pos[i] = self._pos[i] + delta * (reach / dist)
                    left = 0.0
                else:  # arrive, pause, then head for a new waypoint
                    self._pos[i] = self._waypoint[i].copy()
                    left -= dist / self._speed[i]
                    self._pause_left[i] = self.pause_s
                    self._new_leg(i)

    @property
    def positions(self) -> np.ndarray:
        """(N, 2) positions in metres, edge server at the origin."""
        return np.array(self._pos, dtype=float).reshape(-1, 2)

    def distances_m(self) -> np.ndarray:
        """Distance of each robot to the edge, at least ``min_distance_m``."""
        pos = self.positions
        return np.maximum(np.hypot(pos[:, 0], pos[:, 1]), self.min_distance_m)

    def path_loss_db(self) -> np.ndarray:
        """Path loss 38 + 30 log10(r) dB of each robot."""
        return np.asarray(path_loss_db_from_distance(self.distances_m()), dtype=float)


@dataclass(frozen=True)
class Fade:
    """A scheduled channel drop: ``robot_id``'s gain is cut by ``db`` from ``start_s`` for
    ``duration_s`` (seconds since the radio started)."""

    robot_id: str
    db: float
    start_s: float
    duration_s: float

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.start_s + self.duration_s


def parse_fades(entries) -> list[Fade]:
    """Fades from "robot_id:dB:start_s:duration_s" texts (the radio node's ``fades``); a
    malformed entry raises InputError naming it."""
    fades = []
    for index, entry in enumerate(entries):
        field = f"fades[{index}]"
        parts = str(entry).split(":")
        if len(parts) != 4:
            checks.fail("parameter", field, entry, "must be 'robot_id:dB:start_s:duration_s'")
        try:
            db, start, duration = (float(x) for x in parts[1:])
        except ValueError:
            checks.fail("parameter", field, entry, "dB, start_s and duration_s must be numbers")
        fades.append(Fade(checks.name("parameter", field, parts[0]),
                          checks.number("parameter", f"{field}.loss_db", db),
                          checks.number("parameter", f"{field}.start_s", start),
                          checks.number("parameter", f"{field}.duration_s", duration)))
    return fades


@dataclass(frozen=True)
class ShapedLink:
    """Where a robot's uplink can be shaped: its host's network namespace and interface."""

    robot_id: str
    netns: str
    interface: str


def parse_links(entries) -> dict[str, ShapedLink]:
    """Shaped links from "robot_id:netns:interface" texts (the radio node's ``shaped_links``,
    which ``robust-offload fleet --hosts netns`` fills in); a malformed entry raises InputError
    naming it."""
    links = {}
    for index, entry in enumerate(entries):
        parts = str(entry).split(":")
        if len(parts) != 3 or not all(parts):
            checks.fail("parameter", f"shaped_links[{index}]", entry,
                        "must be 'robot_id:netns:interface'")
        links[parts[0]] = ShapedLink(checks.name("parameter", f"shaped_links[{index}]",
                                                 parts[0]), parts[1], parts[2])
    return links


@dataclass
class ShapedUplinks:
    """The air time as real network time: each robot's traffic to the edge is
    limited to the rate eq. (4) gives its planned share and current gain,
    b log2(1 + p h / (b N0)), so a tensor takes its air time on the wire instead of in the
    radio's queue.

    ``shape(netns, interface, to, rate_bps)`` does it
    (:func:`robust_offload.orchestration.netns.shape_link`, tc htb). A robot's link is shaped
    again only when its rate moved by more than ``tolerance`` (relative): mobility changes
    every gain a little at every step.
    """

    links: dict[str, ShapedLink]
    edge_address: str
    shape: Callable[[str, str, str, float], None]
    tolerance: float = 0.02
    rates_bps: dict[str, float] = field(default_factory=dict)

    def update(self, states: list[LinkState]) -> dict[str, float]:
        """Shape the links whose rate changed; returns them with their new rates (bit/s)."""
        changed = {}
        for state in states:
            link, old = self.links.get(state.robot_id), self.rates_bps.get(state.robot_id)
            if link is None or (old is not None
                                and abs(state.rate_bps - old) <= self.tolerance * old):
                continue
            self.shape(link.netns, link.interface, self.edge_address, state.rate_bps)
            self.rates_bps[state.robot_id] = changed[state.robot_id] = state.rate_bps
        return changed


class LaggedReports:
    """What the radio reports lags the channel by ``lag_s`` (a channel estimate that is late),
    while a shaped link follows the channel at once: :meth:`report` keeps the states it is
    given and returns the newest ones at least ``lag_s`` old (none until there are)."""

    def __init__(self, lag_s: float):
        self.lag_s = lag_s
        self._history: deque = deque()          # (time, states), oldest first

    def report(self, now: float, states: list[LinkState]) -> list[LinkState]:
        if self.lag_s <= 0:
            return states
        self._history.append((now, states))
        while len(self._history) > 1 and now - self._history[1][0] >= self.lag_s:
            self._history.popleft()              # the first one left is the newest due
        since, oldest = self._history[0]
        return oldest if now - since >= self.lag_s else []


def shaped_uplinks(air_time: str, entries, edge_address: str,
                   shape: Callable[[str, str, str, float], None]) -> ShapedUplinks | None:
    """The radio node's shaping from its parameters: None for ``air_time`` "modelled"; for
    "shaped", the links ``entries`` name (see :func:`parse_links`) towards ``edge_address``."""
    if air_time != "shaped":
        return None
    links = parse_links([entry for entry in entries if entry])
    if not links:
        checks.fail("parameter", "shaped_links", list(entries),
                    "air_time shaped needs every robot's 'robot_id:netns:interface'")
    if not edge_address:
        checks.fail("parameter", "edge_address", edge_address,
                    "air_time shaped needs the edge host's address")
    return ShapedUplinks(links, edge_address, shape)


@dataclass
class _Link:
    """One robot's FDMA channel."""

    index: int                    # index in the mobility model
    tx_power_w: float
    seen: float                   # when its last status came
    queue: deque = field(default_factory=deque)   # (arrival s, request_id, bits, data)
    busy_until: float = 0.0       # time the current transmission ends
    current: tuple | None = None  # (finish s, request_id, data) on the air now
    sent: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class LinkState:
    """What a ChannelState message carries for one robot."""

    robot_id: str
    channel_gain: float
    path_loss_db: float
    tx_power_w: float
    rate_bps: float               # at the robot's planned share (0 without one)


class FdmaUplink:
    """Every robot's uplink: its tensors leave one after the other, each after its air time
    bits / (b log2(1 + p h / (b N0))) with the share b and gain h of the moment its
    transmission starts. Robots do not share air time (the plan already split the band).

    Thread-safe: message callbacks call :meth:`join`, :meth:`set_shares`, :meth:`offer` and
    :meth:`move`; one sender thread loops on :meth:`await_due` and publishes what it returns.
    Times are seconds on one monotonic clock.
    """

    def __init__(self, mobility: RandomWaypoint, noise_dbm_per_hz: float, max_queue: int,
                 initial_distances_m=()):
        self.mobility, self.noise_dbm_per_hz, self.max_queue = mobility, noise_dbm_per_hz, \
            max_queue
        self.initial_distances_m = list(initial_distances_m)
        for r in self.initial_distances_m:
            if not 0.0 <= r <= mobility.half * math.sqrt(2.0):
                raise ValueError(f"initial_distances_m: {r} m is outside the cell (at most "
                                 f"{mobility.half * math.sqrt(2.0):.1f} m from the edge)")
        self._lock = threading.Condition()
        self._links: dict[str, _Link] = {}
        self._shares: dict[str, float] = {}
        self._fade_db: dict[str, float] = {}
        self._stopped = False

    def join(self, robot_id: str, tx_power_w: float, now: float) -> float | None:
        """A robot's status: a new robot is placed (the next initial distance, if given) and
        its distance (m) returned; a known one only updates its power (returns None)."""
        with self._lock:
            link = self._links.get(robot_id)
            if link is not None:
                link.tx_power_w, link.seen = tx_power_w, now
                return None
            k = len(self._links)
            distance = self.initial_distances_m[k] if k < len(self.initial_distances_m) else None
            index = self.mobility.add_robot(distance)
            self._links[robot_id] = _Link(index, tx_power_w, now)
            return float(self.mobility.distances_m()[index])

    def set_shares(self, shares: dict[str, float]) -> None:
        """The bandwidth (Hz) of every robot in the newest plan; robots left out have none."""
        with self._lock:
            self._shares = {robot: b for robot, b in shares.items() if b > 0}
            self._lock.notify()

    def offer(self, robot_id: str, request_id: int, bits: float, data, now: float) -> str | None:
        """Queue a tensor for the air; returns why it was dropped, or None."""
        with self._lock:
            link = self._links.get(robot_id)
            if link is None:
                return "no RobotStatus heard from it (tx power and position unknown)"
            if robot_id not in self._shares:
                problem = "it has no bandwidth in the current plan"
            elif len(link.queue) >= self.max_queue:
                problem = f"its uplink queue is full ({self.max_queue} tensors)"
            else:
                link.queue.append((now, request_id, bits, data))
                self._lock.notify()
                return None
            link.dropped += 1
            return problem

    def expire(self, now: float, timeout_s: float) -> list[str]:
        """Forget robots whose last status is older than ``timeout_s`` (their queued tensors
        are dropped, no more channel states for them); returns them, sorted."""
        with self._lock:
            gone = sorted(r for r, link in self._links.items() if now - link.seen > timeout_s)
            for robot_id in gone:
                del self._links[robot_id]
            return gone

    def move(self, dt_s: float) -> None:
        """Advance the robots' motion by ``dt_s`` seconds."""
        with self._lock:
            self.mobility.step(dt_s)

    def set_fades(self, fades: list[Fade], t_s: float) -> list[str]:
        """Apply the fades active at ``t_s``; returns the robots whose fade started or ended."""
        with self._lock:
            active = {}
            for fade in fades:
                if fade.active(t_s):
                    active[fade.robot_id] = active.get(fade.robot_id, 0.0) + fade.db
            changed = sorted(set(active.items()) ^ set(self._fade_db.items()))
            self._fade_db = active
            return sorted({robot for robot, _ in changed})

    def _losses_db(self) -> np.ndarray:
        """Path loss of each robot (by mobility index), fades included."""
        loss = self.mobility.path_loss_db()
        for robot_id, db in self._fade_db.items():
            link = self._links.get(robot_id)
            if link is not None:
                loss[link.index] += db
        return loss

    def states(self) -> list[LinkState]:
        """Every robot's channel now."""
        with self._lock:
            if not self._links:
                return []
            loss = self._losses_db()
            gain = gain_from_path_loss_db(loss)
            return [LinkState(robot_id, float(gain[link.index]), float(loss[link.index]),
                              link.tx_power_w,
                              uplink_rate_bps(self._shares.get(robot_id, 0.0), link.tx_power_w,
                                              float(gain[link.index]), self.noise_dbm_per_hz))
                    for robot_id, link in self._links.items()]

    def _start_next(self, robot_id: str, link: _Link, gain, warnings: list[str]) -> None:
        while link.current is None and link.queue:
            arrival, request_id, bits, data = link.queue.popleft()
            b = self._shares.get(robot_id, 0.0)
            t = air_time_s(bits, b, link.tx_power_w, float(gain[link.index]),
                           self.noise_dbm_per_hz)
            if not math.isfinite(t):
                link.dropped += 1
                warnings.append(f"dropping tensor {request_id} of {robot_id!r}: no uplink rate "
                                f"(bandwidth {b:g} Hz, tx power {link.tx_power_w:g} W)")
                continue
            link.busy_until = max(arrival, link.busy_until) + t
            link.current = (link.busy_until, request_id, data)

    def await_due(self, clock) -> tuple[list, list[str]] | None:
        """Block until tensors finish their air time (or a drop must be reported): returns
        (data of the finished tensors in finishing order, warnings); None once stopped.
        ``clock()`` reads the monotonic clock of the arrival times."""
        with self._lock:
            while not self._stopped:
                now, due, warnings = clock(), [], []
                gain = gain_from_path_loss_db(self._losses_db()) if self._links else None
                for robot_id, link in self._links.items():
                    self._start_next(robot_id, link, gain, warnings)
                    if link.current is not None and link.current[0] <= now:
                        due.append(link.current)
                        link.current = None
                        link.sent += 1
                if due or warnings:
                    return [data for _, _, data in sorted(due, key=lambda item: item[0])], \
                        warnings
                ends = [link.current[0] for link in self._links.values() if link.current]
                self._lock.wait(timeout=max(min(ends) - now, 0.0) if ends else None)
            return None

    def stop(self) -> int:
        """Stop the sender; returns how many tensors were still queued or on the air."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
            return sum(len(link.queue) + (link.current is not None)
                       for link in self._links.values())

    def stats(self) -> dict[str, tuple[int, int]]:
        """(sent, dropped) tensors per robot."""
        with self._lock:
            return {robot: (link.sent, link.dropped) for robot, link in self._links.items()}
