"""A plan as the planner node publishes it (:class:`Published`): what the replanner builds,
the two-step transition holds back, and the node turns into an OffloadPlan message."""

from __future__ import annotations

from dataclasses import dataclass

from robust_offload.core.plan import Plan


@dataclass
class Published:
    """One plan to publish: the core plan, its id, and the DeviceDecision fields per robot."""

    plan_id: int
    plan: Plan
    decisions: list[dict]
    degraded: dict[str, float]
    margin_share: float = 1.0
    held: tuple[str, ...] = ()
    reason: str = ""
    planning_s: float = 0.0

    @property
    def summary(self) -> str:
        infeasible = len(self.plan.infeasible_devices)
        extra = f" ({infeasible} infeasible)" if infeasible else ""
        if self.margin_share < 1.0:
            extra += f" (over-subscribed: margins x{self.margin_share:.3g})"
        if self.degraded:
            extra += "".join(f" ({name} at risk {risk:.3g})"
                             for name, risk in sorted(self.degraded.items()))
        if self.plan.stats.get("deadline_hit"):
            extra += f" (search stopped at its time limit: gap {self.plan.gap:.2g})"
        if self.held:
            extra += f" (first step: {', '.join(self.held)} grow only in the next)"
        why = f" [{self.reason}]" if self.reason else ""
        return (f"plan #{self.plan_id}: {len(self.decisions)} robots{extra}, "
                f"{self.plan.total_energy_j:.4g} J, planned in "
                f"{self.planning_s * 1e3:.1f} ms{why}")
