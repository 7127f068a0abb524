"""Every robot's FDMA uplink: its tensors on its own channel for their air time (eq. 4).

A robot's tensors leave one after the other, each after bits / (b log2(1 + p h / (b N0))) at its
planned share b and its current gain h (from the mobility model, scheduled fades included).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from robust_offload.core.channel import gain_from_path_loss_db, rate_bps, snr_scale_hz
from robust_offload.runtime.fades import Fade, fade_db_at
from robust_offload.runtime.mobility import RandomWaypoint


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
            active = fade_db_at(fades, t_s)
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
