"""The radio emulator's brain without ROS: what it reports of the channel, and when.

The ``radio`` node (:mod:`robust_offload.ros.radio_node`) only turns messages into calls of
:class:`Radio`, which composes the robots' motion (:mod:`robust_offload.runtime.mobility`), their
FDMA uplinks (:mod:`robust_offload.runtime.fdma`), scheduled fades
(:mod:`robust_offload.runtime.fades`) and the lag of its channel reports (:class:`LaggedReports`);
with shaped links (:mod:`robust_offload.runtime.links`) the air time is real network time.
"""

from __future__ import annotations

from collections import deque

from robust_offload.core import checks
from robust_offload.runtime.fades import Fade, parse_fades
from robust_offload.runtime.fdma import FdmaUplink, LinkState
from robust_offload.runtime.mobility import RandomWaypoint


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


def plan_shares(plan_id: int, decisions) -> tuple[dict[str, float], list[checks.InputError]]:
    """Every robot's bandwidth share (Hz; 0: none) in plan ``plan_id``, from its decisions'
    (robot_id, bandwidth_hz) pairs; a share out of range is left out and its error returned."""
    shares, errors = {}, []
    for robot_id, bandwidth_hz in decisions:
        try:
            shares[robot_id] = checks.number(f"plan {plan_id}", "bandwidth_hz",
                                             bandwidth_hz) if bandwidth_hz else 0.0
        except checks.InputError as err:
            errors.append(err)
    return shares, errors


class Radio:
    """The robots the radio hears, their motion, fades and channel reports (module docstring).
    Times are seconds on the monotonic clock of ``now``, when the radio starts."""

    def __init__(self, uplink: FdmaUplink, fades: list[Fade], report_lag_s: float,
                 static: bool, robot_timeout_s: float, now: float):
        self.uplink, self.fades, self.static = uplink, fades, static
        self.robot_timeout_s = robot_timeout_s
        self.reports = LaggedReports(report_lag_s)
        self._last_step = self._started = now

    def hear(self, robot_id, tx_power_w, now: float) -> tuple[str, float, float | None]:
        """A RobotStatus: (robot_id, tx power, its distance in m when it is new, else None);
        InputError for an id or power out of range."""
        robot_id = checks.name("RobotStatus", "robot_id", robot_id)
        power = checks.number(f"RobotStatus from '{robot_id}'", "tx_power_w", tx_power_w)
        return robot_id, power, self.uplink.join(robot_id, power, now)

    def step(self, now: float) -> tuple[list[str], list[str]]:
        """One update period: the robots move (unless static); returns the robots forgotten
        (no status for robot_timeout_s) and those whose scheduled fade started or ended."""
        gone = self.uplink.expire(now, self.robot_timeout_s)
        if not self.static:
            self.uplink.move(now - self._last_step)
        self._last_step = now
        return gone, self.uplink.set_fades(self.fades, now - self._started)

    def channel(self, now: float, only: str | None = None
                ) -> tuple[list[LinkState], list[LinkState]]:
        """The channel states to report now (``only``: that robot's, as it joins; late by the
        report lag) and every robot's state now (what shaped links follow)."""
        states = self.uplink.states()
        known = {state.robot_id for state in states}
        return [state for state in self.reports.report(now, states)
                if state.robot_id in known and only in (None, state.robot_id)], states


def build_radio(p: dict, now: float) -> Radio:
    """The radio of the radio node's parameters ``p`` (its PARAMETERS), started at ``now``;
    InputError or ValueError names a parameter out of its range."""
    checks.number("parameter", "update_period_s", p["update_period_s"], low=0.0,
                  open_low=True)
    checks.whole("parameter", "max_queue", p["max_queue"], low=1)
    distances = checks.array("parameter", "initial_distances_m",
                             p["initial_distances_m"]) if p["initial_distances_m"] else []
    mobility = RandomWaypoint(speed_min_mps=p["speed_min_mps"],
                              speed_max_mps=p["speed_max_mps"], pause_s=p["pause_s"],
                              seed=p["seed"])
    uplink = FdmaUplink(mobility, p["noise_dbm_per_hz"], p["max_queue"], distances)
    fades = parse_fades([f for f in p["fades"] if f])
    return Radio(uplink, fades, p["report_lag_s"], p["static"], p["robot_timeout_s"], now)
