"""Runtime results -> ROS messages, for the nodes that publish them."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from robust_offload.msg import DeviceDecision, OffloadPlan
from robust_offload.runtime.health import Health
from robust_offload.runtime.replanner import Published


def plan_message(published: Published) -> OffloadPlan:
    """The OffloadPlan of a published plan (header left to the node)."""
    plan = published.plan
    return OffloadPlan(plan_id=published.plan_id, policy=plan.policy,
                       total_energy_j=sum(d.get("energy_j", 0.0) for d in published.decisions),
                       lower_bound_j=float(plan.lower_bound_j), solve_time_s=plan.solve_time_s,
                       devices=[DeviceDecision(**d) for d in published.decisions])


def diagnostic_array(report: list[Health]) -> DiagnosticArray:
    """One DiagnosticStatus per robot's :class:`Health` (header left to the node)."""
    return DiagnosticArray(status=[DiagnosticStatus(
        level=bytes([h.level]), name=h.name, message=h.message, hardware_id=h.name,
        values=[KeyValue(key=k, value=v) for k, v in h.values.items()]) for h in report])
