"""When the planner plans, what it publishes, and how a failure is retried: without ROS.

The planner node turns messages into :class:`~robust_offload.runtime.planner.LiveFleet` updates
and calls :meth:`Replanner.poll` on every message and timer tick; a :class:`Published` comes
back when a plan is due: its decisions are the DeviceDecision fields, one per robot.

Admission rule when the band or a deadline cannot serve everyone. The core planner admits robots
in order of their smallest bandwidth need while the needs fit in B; a robot left out cannot reach
its eps. It is not starved (sent to run locally, where it may miss every frame, while the others
keep margins far wider than their data need): the fleet is *relaxed* instead. Every robot's
planning eps is multiplied by one common factor alpha >= 1 (capped at :data:`MAX_RISK`), the
smallest that admits every robot that any relaxation can admit: the fleet's shortfall is shared in
proportion to each robot's eps (alpha minimises max_n eps'_n / eps_n). alpha is found by bisection
on log alpha (admission only grows with alpha: larger eps, smaller margins, smaller bandwidth
needs) to a relative :data:`RELAX_TOLERANCE`, at most :data:`MAX_RELAX_SOLVES` solves. Relaxed
decisions are published with ``feasible = false``, their real partition/frequency/bandwidth and a
reason naming alpha and the risk each robot was planned at. A robot that no relaxation admits
(no point meets its deadline in the mean, even locally at f_max) gets no decision and runs
locally.

Shares in use never sum to more than B. Robots apply a plan at their next frame boundary, not
all at once: if one robot's share grew while another's had not yet shrunk, the band would be
over-committed for a frame. So a plan that gives some robot more bandwidth than it uses now is
published in two steps (:func:`hold_increases`): first every robot whose share shrinks (or
stays) switches, and every robot whose share grows keeps the decision it uses (a joining robot
waits) unless its new share fits in what is free even while the others still use their old
shares; ``transition_s`` later (at least the slowest robot's frame period) the plan itself.
At every instant each robot uses its old or its new share, and neither step can then sum above B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from robust_offload.core import policies
from robust_offload.core.bounds import multiplier
from robust_offload.core.calibration import BASE_BOUND
from robust_offload.core.plan import Plan
from robust_offload.runtime.planner import LiveFleet

MAX_RISK = 0.999
"""A relaxed robot is planned at most at this risk level."""

RELAX_TOLERANCE = 0.01
"""The relaxation factor alpha is found to this relative precision (at most 1 % above the
smallest that admits every robot)."""

MAX_RELAX_SOLVES = 12
"""Solves of one relaxation search at most (the bisection needs about 9 for alpha <= 20)."""

MIN_GAP_S = 0.1
"""Shortest time between two plans triggered directly by messages: a burst of updates is
planned together at the next timer tick (the node's timer period)."""


def hold_increases(in_use: dict[str, dict], decisions: list[dict],
                   bandwidth_hz: float) -> tuple[list[dict], list[str]]:
    """The first step of a plan change (see the module docstring): the decisions to publish now
    and the robots held back (their share would grow). No robot is held when nothing is in use."""
    def share(decision) -> float:
        return float(decision.get("bandwidth_hz", 0.0)) if decision else 0.0

    if not in_use:
        return decisions, []
    now, grow = [], []
    for decision in decisions:
        before = in_use.get(decision["robot_id"])
        (grow if share(decision) > share(before) * (1 + 1e-9) else now).append(decision)
    # until they apply it, shrinking robots may still use their old share: count that
    free = bandwidth_hz - sum(share(in_use.get(d["robot_id"])) for d in now + grow)
    held = []
    for decision in sorted(grow, key=share):
        extra = share(decision) - share(in_use.get(decision["robot_id"]))
        if extra <= free:
            free -= extra
            now.append(decision)
        else:
            held.append(decision["robot_id"])
            if decision["robot_id"] in in_use:
                now.append(in_use[decision["robot_id"]])
    return now, held


@dataclass
class Published:
    """One plan to publish: the core plan, its id, and the DeviceDecision fields per robot."""

    plan_id: int
    plan: Plan
    decisions: list[dict]
    degraded: dict[str, float]
    relaxation: float = 1.0
    held: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        infeasible = len(self.plan.infeasible_devices)
        extra = f" ({infeasible} infeasible)" if infeasible else ""
        if self.degraded:
            extra += (f" (over-subscribed: every eps relaxed x{self.relaxation:.3g}, "
                      f"{len(self.degraded)} robots degraded)")
        if self.held:
            extra += f" (first step: {', '.join(self.held)} keep their share until the next)"
        return (f"plan #{self.plan_id}: {len(self.decisions)} robots{extra}, "
                f"{self.plan.total_energy_j:.4g} J, solved in "
                f"{self.plan.solve_time_s * 1e3:.1f} ms")


class Replanner:
    """Decides when to plan the live fleet and builds what is published (see the module
    docstring). ``bound``: a bound of :mod:`robust_offload.core.bounds` or "calibrated"."""

    def __init__(self, fleet: LiveFleet, policy: str, bound: str, discovery_s: float = 0.0,
                 transition_s: float = 1.0):
        self.fleet, self.policy = fleet, policy
        self.bound = bound
        self.discovery_s, self.transition_s = discovery_s, transition_s
        self._in_use: dict[str, dict] = {}
        self._second_step: tuple[float, Published] | None = None
        self._started_at: float | None = None
        self.plan_id = 0
        self._last_plan_at: float | None = None
        self._retry_at: float | None = None

    @property
    def bound(self) -> str:
        return self._bound

    @bound.setter
    def bound(self, bound: str) -> None:
        self._bound = bound
        self.fleet.set_calibrated(bound == "calibrated")

    @property
    def planning_bound(self) -> str:
        """The bound that turns each robot's planning eps into its margin."""
        return BASE_BOUND if self.bound == "calibrated" else self.bound

    def set_policy(self, policy: str) -> None:
        self.policy = policy
        self.fleet.request_replan()

    def poll(self, now: float, from_message: bool = False) -> Published | None:
        """The plan to publish now, if one is due (a planning error raises, after scheduling
        a retry one replan period later). Nothing is planned in the first ``discovery_s`` after
        the first poll: robots announce themselves once per heartbeat period, and a plan of
        the robots heard so far would hand one of them the whole band and churn as the others
        join."""
        if self._started_at is None:
            self._started_at = now
        if now - self._started_at < self.discovery_s:
            return None
        if self._second_step is not None:
            due, published = self._second_step
            if now < due:
                return None
            self._second_step = None
            return self._publish(published)
        if not from_message and self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self.fleet.request_replan()
        if from_message and self._last_plan_at is not None \
                and now - self._last_plan_at < MIN_GAP_S:
            return None
        if not self.fleet.needs_replan(now):
            return None
        return self.replan(now)

    def replan(self, now: float) -> Published:
        scenario = self.fleet.scenario()
        self.fleet.mark_planned(now)
        self._last_plan_at = now
        try:
            plan = policies.plan(scenario, self.policy, self.planning_bound) \
                if scenario.devices else Plan(self.policy, [], [], 0.0, 0.0)
            plan, degraded, alpha = self._relax(scenario, plan)
            decisions = self._decisions(plan, scenario, degraded, alpha)
        except Exception as err:
            self._retry_at = now + self.fleet.replan_period_s
            raise RuntimeError(f"planning {len(scenario.devices)} robots failed: "
                               f"{type(err).__name__}: {err}".replace("\n", " ")) from err
        first, held = hold_increases(self._in_use, decisions, scenario.bandwidth_hz)
        if held:
            self._second_step = (now + self.transition_s,
                                 Published(0, plan, decisions, degraded, alpha))
        return self._publish(Published(0, plan, first, degraded, alpha, tuple(held)))

    def _publish(self, published: Published) -> Published:
        """Number a plan (or a first step) and remember its decisions as the ones in use."""
        self.plan_id += 1
        published.plan_id = self.plan_id
        self._in_use = {d["robot_id"]: d for d in published.decisions}
        self.fleet.left_local(d["robot_id"] for d in published.decisions
                                    if "partition" not in d)
        return published

    def _relax(self, scenario, plan: Plan) -> tuple[Plan, dict[str, float], float]:
        """The plan with every robot's eps relaxed by the smallest common factor alpha that
        admits every robot any relaxation admits (see the module docstring); the robots'
        relaxed planning risks ({} when the plan serves every robot at its eps); alpha."""
        if not any(d.min_risk is not None for d in plan.infeasible_devices):
            return plan, {}, 1.0

        def relaxed(alpha: float):
            risks = {d.name: min(MAX_RISK, d.risk * alpha) for d in scenario.devices}
            devices = [replace(d, risk=risks[d.name]) for d in scenario.devices]
            return policies.plan(replace(scenario, devices=devices), self.policy,
                                 self.planning_bound), risks

        low, high = 1.0, MAX_RISK / min(d.risk for d in scenario.devices)
        best, risks = relaxed(high)
        wanted = {d.name for d in best.devices}
        if len(wanted) <= len(plan.devices):
            return plan, {}, 1.0                         # no relaxation admits more robots
        for _ in range(MAX_RELAX_SOLVES - 1):
            if high / low <= 1.0 + RELAX_TOLERANCE:
                break
            alpha = math.sqrt(low * high)
            trial, trial_risks = relaxed(alpha)
            if wanted <= {d.name for d in trial.devices}:
                high, best, risks = alpha, trial, trial_risks
            else:
                low = alpha
        planned = {d.name for d in best.devices}
        return best, {name: risk for name, risk in risks.items() if name in planned}, high

    def _decisions(self, plan: Plan, scenario, degraded: dict[str, float],
                   alpha: float) -> list[dict]:
        devices = {device.name: device for device in scenario.devices}
        out = []
        for d in plan.devices:
            planned_risk = degraded.get(d.name, devices[d.name].risk)
            out.append(dict(robot_id=d.name, partition=d.partition, freq_ghz=d.freq_ghz,
                            bandwidth_hz=d.bandwidth_hz, energy_j=d.energy_j,
                            latency_bound_ms=d.latency_bound_ms,
                            deadline_ms=devices[d.name].deadline_ms,
                            risk=self.fleet.requirements(d.name).risk,
                            feasible=d.name not in degraded,
                            reason=(f"degraded: the band cannot serve every robot at its "
                                    f"eps; every eps relaxed x{alpha:.3g}, planned at risk "
                                    f"{planned_risk:.4g}" if d.name in degraded else ""),
                            margin_k=float(multiplier(self.planning_bound, planned_risk))))
        for d in plan.infeasible_devices:
            risk = ("no risk level helps" if d.min_risk is None
                    else f"min risk {d.min_risk:.4g}")
            out.append(dict(robot_id=d.name, deadline_ms=devices[d.name].deadline_ms,
                            risk=self.fleet.requirements(d.name).risk, feasible=False,
                            reason=f"{d.reason}; {risk}"))
        return out
