"""When the planner plans, what it publishes, and how a failure is retried: without ROS.

The planner node turns messages into updates of the live fleet through :class:`Replanner`
(:class:`~robust_offload.runtime.planner.LiveFleet` and the robots' health: O(1) work per
message) and calls :meth:`Replanner.poll` on its timer (every :data:`POLL_PERIOD_S`); a
:class:`Published` comes back when a plan is due: its decisions are the DeviceDecision fields,
one per robot. Should planning fail because of one robot's data, that robot is found and left
out (:meth:`Replanner._isolated`); the others are planned as usual. A robot whose reported share
differs from this planner's decision for :data:`RESYNC_S` is sent the plan again.

When the band or a deadline cannot serve everyone, the admission rule decides who is planned
at which risk (:mod:`robust_offload.runtime.admission`); a plan that gives a robot more bandwidth
than it uses now is published in two steps (:mod:`robust_offload.runtime.transition`).
"""

from __future__ import annotations

import time
from dataclasses import replace

from robust_offload.contract.topics import FAILED
from robust_offload.core import checks, policies
from robust_offload.core.bounds import multiplier
from robust_offload.core.calibration import BASE_BOUND
from robust_offload.core.plan import Plan
from robust_offload.runtime.admission import Admission
from robust_offload.runtime.health import FleetHealth
from robust_offload.runtime.planner import LiveFleet
from robust_offload.runtime.published import Published
from robust_offload.runtime.transition import (
    TRANSITION_S,
    SecondStep,
    hold_increases,
    share_of,
    shrinking,
)

RESYNC_S = 3.0
"""A robot whose reported share has differed this long from the planner's decision for it (it
missed a plan, or let its share go while cut off) is sent the plan again: longer than a robot
takes to apply a plan (a frame) and say so (a status period)."""

SEARCH_S = 0.5
"""A replan's branch and bound (every solve of it together) stops exploring after this long and
publishes its best plan, the certified gap in the log (core/robust.py: near-twin robots close
their last 1e-5 of gap only at the node limit, 13 s at N = 50)."""

POLL_PERIOD_S = 0.1
"""How often the planner node polls (:meth:`Replanner.poll`): updates are planned at most this
late, a burst of them together."""


class Replanner:
    """Decides when to plan the live fleet and builds what is published (see the module
    docstring). ``bound``: a bound of :mod:`robust_offload.core.bounds` or "calibrated".
    The planner node's brain: fleet inputs go through it so that the robots' health
    (:class:`~robust_offload.runtime.health.FleetHealth`, for /diagnostics) follows them."""

    def __init__(self, fleet: LiveFleet, policy: str, bound: str, discovery_s: float = 0.0,
                 transition_s: float = TRANSITION_S, search_s: float = SEARCH_S):
        self.fleet, self.policy = fleet, policy
        self.health = FleetHealth(fleet.calibration_window)
        self.bound = bound
        self.discovery_s, self.transition_s = discovery_s, transition_s
        self.search_s = checks.number("parameter", "search_s", search_s, low=0.0,
                                      open_low=True)
        self._search_until: float | None = None
        self._in_use: dict[str, dict] = {}
        self._reported: dict[str, float] = {}     # robot -> share its status says it uses
        self._applied: dict[str, int] = {}        # robot -> plan id its status says it applies
        self._differs_since: dict[str, float] = {}  # robot -> since when reported != ours
        self._second_step: SecondStep | None = None
        self._started_at: float | None = None
        self.plan_id = 0
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
        self.fleet.request_replan("policy changed")

    def apply(self, changes: dict) -> None:
        """Runtime changes of the settings that may change: bandwidth_hz, policy, bound."""
        if "bandwidth_hz" in changes:
            self.fleet.set_bandwidth(changes["bandwidth_hz"])
        if "policy" in changes:
            self.set_policy(changes["policy"])
        if "bound" in changes:
            self.bound = changes["bound"]

    def status(self, robot_id: str, now: float, edge_available: bool, share_hz: float = 0.0,
               plan_id: int = 0, edge_note: str = "", **fields) -> bool:
        """A robot's status (:meth:`LiveFleet.update_status` fields, ``share_hz``, the share of
        the decision it applies, ``plan_id``, the plan that decision is of, and ``edge_note``,
        why it does not use the edge it hears); True when it joined."""
        robot_id = checks.name("RobotStatus", "robot_id", robot_id)
        edge_note = checks.text(f"RobotStatus from '{robot_id}'", "edge_note", edge_note,
                                allow_empty=True)
        if share_hz:                          # 0: no share (below the plausible Hz range)
            share_hz = checks.number(f"RobotStatus from '{robot_id}'", "bandwidth_hz",
                                     share_hz, low=0.0)
        joined = self.fleet.update_status(robot_id, now, edge_available=edge_available,
                                          **fields)
        self._reported[robot_id], self._applied[robot_id] = share_hz, int(plan_id)
        self.health.status(robot_id, self.fleet.requirements(robot_id).risk, edge_available,
                           edge_note)
        return joined

    def frame(self, robot_id: str, *, executed_on: str, deadline_met: bool,
              edge_ms: float = 0.0, **fields) -> None:
        """A robot's frame record (InferenceResult's executed_on, deadline_met and edge_ms;
        the other :meth:`LiveFleet.record_frame` fields): a failed frame is a miss, and only a
        frame the edge ran and answered measures the transport overhead."""
        failed = executed_on == FAILED
        missed = failed or not deadline_met
        self.fleet.record_frame(robot_id, missed=missed,
                                offloaded=executed_on == "edge" and edge_ms > 0, **fields)
        if robot_id in self.fleet.robots:
            self.health.frame(robot_id, missed, self.fleet.requirements(robot_id).risk,
                              failed=failed)

    def expire(self, now: float) -> list[str]:
        """Drop the robots whose status stopped (:meth:`LiveFleet.expire`); returns them."""
        dropped = self.fleet.expire(now)
        for name in dropped:
            self.health.forget(name)
            self._reported.pop(name, None)
            self._applied.pop(name, None)
            self._differs_since.pop(name, None)
            if self._second_step is not None:        # gone: its old share is free
                self._second_step.shrinking.pop(name, None)
        return dropped

    def poll(self, now: float) -> Published | None:
        """The plan to publish now, if one is due (a planning error raises, after scheduling
        a retry one replan period later). Called on a timer, not per message: a burst of
        updates is planned together, and a message costs the planner O(1) work however fast
        they come. Nothing is planned in the first ``discovery_s`` after the first poll: robots
        announce themselves once per heartbeat period, and a plan of the robots heard so far
        would hand one of them the whole band and churn as the others join."""
        if self._started_at is None:
            self._started_at = now
        if now - self._started_at < self.discovery_s:
            return None
        if self._second_step is not None:
            return self._second(now)
        if late := self._out_of_sync(now):
            self.fleet.request_replan(f"{', '.join(late)}: out of sync")
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self.fleet.request_replan("retry after a failed plan")
        if not self.fleet.needs_replan(now):
            return None
        return self.replan(now)

    def replan(self, now: float) -> Published:
        started = time.perf_counter()        # the planning time (every solve), for the log
        self._search_until = started + self.search_s
        scenario = self.fleet.scenario()
        self.fleet.mark_planned(now)
        try:
            scenario, failed, plan = self._isolated(scenario)
            plan, degraded, theta = Admission(self._solve, self.planning_bound).admit(scenario,
                                                                                      plan)
            decisions = self._decisions(plan, scenario, degraded, theta)
        except Exception as err:
            self._retry_at = now + self.fleet.replan_period_s
            raise RuntimeError(f"planning {len(scenario.devices)} robots failed: "
                               f"{type(err).__name__}: {err}".replace("\n", " ")) from err
        decisions += [self._no_decision(name, deadline_ms, f"planning failed for this robot "
                                                           f"({why}); running locally")
                      for name, (deadline_ms, why) in failed.items()]
        reason, in_use = self.fleet.replan_reason, self.in_use()
        first, held = hold_increases(in_use, decisions, scenario.bandwidth_hz)
        published = self._publish(Published(0, plan, first, degraded, theta, tuple(held),
                                            reason, time.perf_counter() - started))
        if held:
            self._second_step = SecondStep(Published(0, plan, decisions, degraded, theta,
                                                     reason="second step"),
                                           shrinking(in_use, first), published.plan_id)
        return published

    def _second(self, now: float) -> Published | None:
        """The second step of a plan once it may go out
        (:mod:`~robust_offload.runtime.transition`), else None. Its bound ``transition_s``
        counts from the first poll after the first step went out, not from the solve (which may
        take a while)."""
        step = self._second_step
        if step.due is None:
            step.due = now + self.transition_s
            return None
        waiting = step.waiting({name: (share, self._applied.get(name, 0))
                                for name, share in self._reported.items()})
        if waiting and now < step.due:
            return None
        self._second_step = None
        if waiting:
            step.published.reason += (f": {', '.join(waiting)} did not report the smaller share "
                                      f"within {self.transition_s:g} s")
        return self._publish(step.published)

    def _out_of_sync(self, now: float) -> list[str]:
        """Robots whose reported share has differed from this planner's decision for them for
        :data:`RESYNC_S` since that decision was published (each is then given it again, and
        waits another RESYNC_S)."""
        late = []
        for name, share in self._reported.items():
            mine = self._in_use.get(name)
            ours = share_of(mine) if mine else share
            if abs(share - ours) <= 1e-6 * max(ours, 1.0):
                self._differs_since.pop(name, None)
            elif now - self._differs_since.setdefault(name, now) >= RESYNC_S:
                late.append(name)
                self._differs_since[name] = now
        return late

    def in_use(self) -> dict[str, dict]:
        """The shares robots may be using: this planner's last decisions, and for a robot it
        has not planned (it was just (re)started, or the robot comes back after it was
        dropped) the share the robot's status reports, a decision of an earlier plan or
        planner: a plan grows nobody's share into it before the robot has let it go."""
        reported = {name: {"robot_id": name, "bandwidth_hz": share, "reported": True}
                    for name, share in self._reported.items()
                    if share > 0 and name not in self._in_use}
        return {**reported, **self._in_use}

    def _solve(self, scenario) -> Plan:
        if not scenario.devices:
            return Plan(self.policy, [], [], 0.0, 0.0)
        return policies.plan(scenario, self.policy, self.planning_bound,
                             deadline=self._search_until)

    def _isolated(self, scenario):
        """(scenario, failed, plan): the plan of the robots whose data can be planned. Should
        planning the fleet fail, each robot is planned alone to find the ones whose data make it
        fail; they are left out, with the error and their deadline, and the others planned as
        usual (no robot's input stops the fleet's planning). Planning that fails for every robot,
        or only for the whole fleet, raises."""
        try:
            return scenario, {}, self._solve(scenario)
        except Exception:
            failed = {}
            for device in scenario.devices:
                try:
                    self._solve(replace(scenario, devices=[device]))
                except Exception as err:
                    failed[device.name] = (device.deadline_ms, f"{type(err).__name__}: {err}")
            if len(failed) in (0, len(scenario.devices)):
                raise                                # not one robot's data: the planner's error
        rest = replace(scenario, devices=[d for d in scenario.devices if d.name not in failed])
        return rest, failed, self._solve(rest)

    def _publish(self, published: Published) -> Published:
        """Number a plan (or a first step) and remember its decisions as the ones in use."""
        self.plan_id += 1
        published.plan_id = self.plan_id
        before, self._in_use = self._in_use, {d["robot_id"]: d for d in published.decisions}
        for decision in published.decisions:
            self.health.decision(decision)
            old = before.get(decision["robot_id"], {})
            if old.get("bandwidth_hz") != decision.get("bandwidth_hz"):
                self._differs_since.pop(decision["robot_id"], None)   # a new share to apply
        self.fleet.left_local(d["robot_id"] for d in published.decisions
                              if "partition" not in d)
        return published

    def _decisions(self, plan: Plan, scenario, degraded: dict[str, float],
                   theta: float) -> list[dict]:
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
                                    f"eps (margins x{theta:.3g}); planned at risk "
                                    f"{planned_risk:.4g}" if d.name in degraded else ""),
                            margin_k=float(multiplier(self.planning_bound, planned_risk))))
        for d in plan.infeasible_devices:
            risk = ("no risk level helps" if d.min_risk is None
                    else f"min risk {d.min_risk:.4g}")
            out.append(self._no_decision(d.name, devices[d.name].deadline_ms,
                                         f"{d.reason}; {risk}"))
        return out

    def _no_decision(self, name: str, deadline_ms: float, reason: str) -> dict:
        """The DeviceDecision fields of a robot the plan leaves without a decision (it runs
        locally), with why."""
        return dict(robot_id=name, deadline_ms=deadline_ms, feasible=False,
                    risk=self.fleet.requirements(name).risk, reason=reason)
