"""Who the band serves when it cannot serve everyone: relax every margin, then degrade.

The core planner admits robots in order of their smallest bandwidth need while the needs fit in
B; a robot left out cannot reach its eps. It is not starved (sent to run locally, where it may
miss every frame, while the others keep margins far wider than their data need). Two steps:

1. *Relax*: every robot's margin multiplier k_n (eq. 22) is scaled by one common factor theta,
   the largest in [:data:`MIN_MARGIN_SHARE`, 1] that admits every robot any theta in that range
   admits: the shortfall is shared, each robot giving up the same fraction of its margin
   (bisection on theta, admission only grows as theta falls, to :data:`RELAX_TOLERANCE`).
   The floor bounds what one robot can cost the others: a robot that needs the others' margins
   cut by more than half is not worth it.
2. *Degrade*: a robot still left out is planned at the smallest risk it can reach with the band
   the others leave (its ``min_risk``, at f_max): one at a time, lowest min risk first, each only
   if every robot planned so far stays planned, at most :data:`MAX_DEGRADED_PER_PLAN` per plan.

Relaxed and degraded decisions are published with ``feasible = false``, their real partition,
frequency and bandwidth, and a reason naming the risk each was planned at (and theta). A robot
for which no risk level helps (no point meets its deadline in the mean, even locally at f_max)
gets no decision and runs locally.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from robust_offload.core.bounds import multiplier, risk_of
from robust_offload.core.plan import Plan
from robust_offload.core.scenario import Scenario

MAX_RISK = 0.999
"""A degraded robot is planned at most at this risk level."""

MIN_MARGIN_SHARE = 0.5
"""Relaxation keeps at least this share of every robot's margin multiplier."""

RELAX_TOLERANCE = 0.01
"""The relaxation theta is found to this precision (at most 0.01 below the largest that admits
the robots)."""

MAX_DEGRADED_PER_PLAN = 8
"""Robots degraded per plan at most (each costs one more solve); the rest wait for the next."""


@dataclass(frozen=True)
class Admission:
    """The admission rule over one planner: ``solve`` plans a scenario, ``bound`` (a bound of
    :mod:`robust_offload.core.bounds`) turns each robot's eps into its margin."""

    solve: Callable[[Scenario], Plan]
    bound: str

    def _replanned(self, scenario, risks: dict[str, float]) -> Plan:
        """The plan of ``scenario`` with the robots' risks replaced by ``risks``."""
        devices = [replace(d, risk=risks.get(d.name, d.risk)) for d in scenario.devices]
        return self.solve(replace(scenario, devices=devices))

    def _relax(self, scenario, plan: Plan) -> tuple[Plan, dict[str, float], float]:
        """Step 1 of the admission rule (module docstring): the plan with every margin scaled
        by the largest theta that admits the robots theta >= MIN_MARGIN_SHARE can admit; the
        relaxed risks ({} and theta = 1 when nothing needs or gains from it)."""
        if not any(d.min_risk is not None for d in plan.infeasible_devices):
            return plan, {}, 1.0
        bound = self.bound

        def relaxed(theta: float) -> tuple[Plan, dict[str, float]]:
            risks = {d.name: min(MAX_RISK, float(risk_of(bound, theta * multiplier(bound,
                                                                                    d.risk))))
                     for d in scenario.devices}
            return self._replanned(scenario, risks), risks

        (best, risks), theta = relaxed(MIN_MARGIN_SHARE), MIN_MARGIN_SHARE
        wanted = {d.name for d in best.devices}
        if len(wanted) <= len(plan.devices):
            return plan, {}, 1.0                         # relaxing admits nobody more
        high = 1.0
        while high - theta > RELAX_TOLERANCE:
            middle = (theta + high) / 2
            trial, trial_risks = relaxed(middle)
            if wanted <= {d.name for d in trial.devices}:
                best, risks, theta = trial, trial_risks, middle
            else:
                high = middle
        return best, risks, theta

    def _degrade(self, scenario, plan: Plan,
                 risks: dict[str, float]) -> tuple[Plan, dict[str, float]]:
        """Step 2 of the admission rule (module docstring): robots still left out planned at
        their min risk, one at a time, lowest first, each only if that keeps every robot planned
        so far; returns the plan and the risks it was planned with."""
        tried: set[str] = set()
        for _ in range(MAX_DEGRADED_PER_PLAN):
            candidates = [d for d in plan.infeasible_devices
                          if d.min_risk is not None and d.name not in tried]
            if not candidates:
                break
            best = min(candidates, key=lambda d: d.min_risk)
            tried.add(best.name)
            trial = {**risks, best.name: min(MAX_RISK, best.min_risk * (1 + 1e-6) + 1e-12)}
            second = self._replanned(scenario, trial)
            if {best.name, *(d.name for d in plan.devices)} <= {d.name for d in second.devices}:
                plan, risks = second, trial
        return plan, risks

    def admit(self, scenario: Scenario, plan: Plan) -> tuple[Plan, dict[str, float], float]:
        """The admission rule: the plan, the risks of the robots not planned at their eps
        (relaxed or degraded), and theta."""
        plan, risks, theta = self._relax(scenario, plan)
        plan, risks = self._degrade(scenario, plan, risks)
        planned = {d.name for d in plan.devices}
        asked = {d.name: d.risk for d in scenario.devices}
        return plan, {name: risk for name, risk in risks.items()
                      if name in planned and risk != asked[name]}, theta
