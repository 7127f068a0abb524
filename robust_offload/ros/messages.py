"""Runtime results -> ROS messages, for the nodes that publish them."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from robust_offload.msg import (
    DeviceDecision,
    FeatureTensor,
    InferenceProfile,
    OffloadPlan,
    RobotStatus,
)
from robust_offload.runtime.health import Health
from robust_offload.runtime.published import Published
from robust_offload.ros.node_main import to_time

STATUS_PARAMETERS = ("model", "profile", "hardware", "deadline_ms", "risk", "kappa",
                     "freq_min_ghz", "freq_max_ghz", "tx_power_w", "dvfs_backend", "compute_mode")
"""RobotStatus fields that are the robot node's parameters."""
PROFILE_PARAMETERS = ("model", "hardware", "freq_min_ghz", "freq_max_ghz")
"""InferenceProfile fields that are the robot node's parameters."""


def plan_message(published: Published) -> OffloadPlan:
    """The OffloadPlan of a published plan (header left to the node)."""
    plan = published.plan
    return OffloadPlan(plan_id=published.plan_id, policy=plan.policy,
                       total_energy_j=float(sum(d.get("energy_j", 0.0)
                                                for d in published.decisions)),
                       lower_bound_j=float(plan.lower_bound_j),
                       solve_time_s=float(plan.solve_time_s),
                       devices=[DeviceDecision(**d) for d in published.decisions])


def diagnostic_array(report: list[Health]) -> DiagnosticArray:
    """One DiagnosticStatus per robot's :class:`Health` (header left to the node)."""
    return DiagnosticArray(status=[DiagnosticStatus(
        level=bytes([h.level]), name=h.name, message=h.message, hardware_id=h.name,
        values=[KeyValue(key=k, value=v) for k, v in h.values.items()]) for h in report])


def tensor_message(robot_id: str, parameters: dict, frame, payload) -> FeatureTensor:
    """The FeatureTensor of a robot's frame and its encoded payload (header left to the node)."""
    msg = FeatureTensor(robot_id=robot_id, request_id=frame.request_id,
                        model=parameters["model"], partition=frame.decision.partition,
                        dtype=payload.dtype, quant_scale=payload.scale,
                        quant_zero_point=payload.zero_point, local_ms=frame.local_s * 1e3,
                        plan_id=frame.decision.plan_id, deadline_ms=parameters["deadline_ms"],
                        top_k=parameters["top_k"])
    msg.shape = payload.shape_array()
    msg.payload = payload.data_array()
    msg.capture_time = to_time(frame.capture_time)
    return msg


def robot_status(robot_id: str, parameters: dict, runtime, edge_available: bool,
                 edge_note: str = "") -> tuple[RobotStatus, InferenceProfile]:
    """A robot's heartbeat: its RobotStatus (requirements, plan in use, why it does not use
    the edge it hears) and its online local profile (headers left to the node)."""
    plan_id, share_hz = runtime.applied()
    status = RobotStatus(robot_id=robot_id, plan_id=plan_id,
                         edge_available=edge_available, edge_note=edge_note,
                         bandwidth_hz=share_hz,
                         **{key: parameters[key] for key in STATUS_PARAMETERS})
    profile = InferenceProfile(source=robot_id, is_edge=False,
                               **{key: parameters[key] for key in PROFILE_PARAMETERS},
                               **runtime.online_profile(as_lists=True))
    return status, profile
