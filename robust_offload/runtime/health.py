"""Each robot's health as the planner sees it, for /diagnostics: without ROS.

Per robot: the deadline misses of its last ``window`` frames with their Clopper-Pearson 95 %
interval against its eps (:func:`robust_offload.core.verdict.miss_rate`), how many of them
failed (executed_on "failed": each is a miss too), the decision in use (partition, frequency,
bandwidth, margin multiplier k, feasible or degraded) and whether its edge is available.
Levels, the ROS ``diagnostic_msgs`` convention:

- OK: miss rate <= eps, the robot planned as asked;
- WARN: miss rate above eps but eps inside the interval, frames failed, or the robot degraded /
  infeasible / running locally because the edge is gone;
- ERROR: the whole interval above eps (the guarantee is broken).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from robust_offload.core.verdict import miss_rate

OK, WARN, ERROR = 0, 1, 2
"""diagnostic_msgs/DiagnosticStatus levels."""

HIT, MISS, FAILED = 0, 1, 2
"""A frame's outcome: deadline met, missed, or the frame failed (a miss too)."""


@dataclass
class _Robot:
    risk: float
    outcomes: deque
    decision: dict = field(default_factory=dict)
    edge_available: bool = True
    edge_note: str = ""        # why the robot does not use the edge it hears


@dataclass(frozen=True)
class Health:
    """One robot's DiagnosticStatus fields (``values``: the key/value pairs, as text)."""

    name: str
    level: int
    message: str
    values: dict


class FleetHealth:
    """Deadline outcomes and decisions per robot (see the module docstring)."""

    def __init__(self, window: int = 600):
        self.window = window
        self._robots: dict[str, _Robot] = {}

    def _robot(self, robot_id: str, risk: float) -> _Robot:
        robot = self._robots.get(robot_id)
        if robot is None:
            robot = self._robots[robot_id] = _Robot(risk, deque(maxlen=self.window))
        robot.risk = risk
        return robot

    def frame(self, robot_id: str, missed: bool, risk: float, failed: bool = False) -> None:
        """One frame record of the robot (``failed``: it failed, a miss whatever ``missed``)."""
        self._robot(robot_id, risk).outcomes.append(FAILED if failed else MISS if missed
                                                    else HIT)

    def status(self, robot_id: str, risk: float, edge_available: bool,
               edge_note: str = "") -> None:
        """The robot's heartbeat (RobotStatus): whether it uses its edge, and why not."""
        robot = self._robot(robot_id, risk)
        robot.edge_available, robot.edge_note = bool(edge_available), edge_note

    def decision(self, fields: dict) -> None:
        """The robot's entry of the newest plan (the DeviceDecision fields)."""
        self._robot(fields["robot_id"], fields["risk"]).decision = dict(fields)

    def forget(self, robot_id: str) -> None:
        self._robots.pop(robot_id, None)

    def report(self) -> list[Health]:
        """One :class:`Health` per robot, sorted by name."""
        return [self._health(name, robot) for name, robot in sorted(self._robots.items())]

    @staticmethod
    def _health(name: str, robot: _Robot) -> Health:
        values = {"eps": f"{robot.risk:.4g}", "frames": str(len(robot.outcomes)),
                  "edge available": str(robot.edge_available).lower()}
        level, notes = OK, []
        if robot.outcomes:
            rate = miss_rate(sum(o != HIT for o in robot.outcomes), len(robot.outcomes),
                             robot.risk)
            values.update({"miss rate": f"{rate.rate:.4f}",
                           "miss rate 95% CI": f"[{rate.ci_low:.4f}, {rate.ci_high:.4f}]",
                           "verdict": rate.status})
            level = {"VIOLATED": ERROR, "above eps": WARN}.get(rate.status, OK)
            notes.append(f"miss rate {100 * rate.rate:.2f} % [{100 * rate.ci_low:.2f}, "
                         f"{100 * rate.ci_high:.2f}] vs eps {100 * robot.risk:.2f} % "
                         f"({len(robot.outcomes)} frames)")
            failed = robot.outcomes.count(FAILED)
            values["failed"] = str(failed)
            if failed:
                level = max(level, WARN)
                notes.append(f"{failed} of {len(robot.outcomes)} frames failed")
        decision = robot.decision
        if decision:
            values.update({key: f"{decision.get(key, 0.0):.6g}" for key in
                           ("partition", "freq_ghz", "bandwidth_hz", "margin_k")})
            values["feasible"] = str(decision.get("feasible", False)).lower()
            if not decision.get("feasible", False):
                level = max(level, WARN)
                notes.append(decision.get("reason") or "infeasible")
        if robot.edge_note:
            level = max(level, WARN)
            notes.append(robot.edge_note)
        elif not robot.edge_available:
            level = max(level, WARN)
            notes.append("edge unavailable: running locally")
        return Health(f"robust_offload/{name}", level, "; ".join(notes) or "no frames yet",
                      values)
