"""The `planner` node: keeps the fleet's live state and publishes an OffloadPlan when it changes.

Subscribes RobotStatus (discovery + requirements), ChannelState and InferenceProfile (robots and
the edge, ``is_edge``); publishes OffloadPlan on PLAN (transient local: late joiners get the last
plan). All decisions are in :class:`robust_offload.runtime.planner.LiveFleet`; planning is
:func:`robust_offload.core.policies.plan`. A malformed message is one WARN line and is ignored; a
planner error is one ERROR line; neither stops the node.

    python -m robust_offload.ros.planner_node --ros-args --params-file config/planner.yaml

Exit status: 0 after Ctrl-C / shutdown, 2 on a bad parameter (one ERROR line).
"""

from __future__ import annotations

import inspect
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult

from robust_offload.core import policies
from robust_offload.core.bounds import BOUNDS
from robust_offload.core.checks import InputError
from robust_offload.contract.files import profile_file
from robust_offload.core.scenario import load_profiles
from robust_offload.msg import (
    ChannelState,
    InferenceProfile,
    InferenceResult,
    OffloadPlan,
    RobotStatus,
)
from robust_offload.ros import topics
from robust_offload.ros.auth import (
    OwnPlans,
    edge_stream,
    fleet_key,
    sender_of,
    sign,
    verify,
)
from robust_offload.ros.messages import diagnostic_array, plan_message
from robust_offload.ros.node_main import Warnings, run_node
from robust_offload.ros.managed import ManagedNode
from robust_offload.ros.parameters import Param, changed_parameters
from robust_offload.runtime.auth import Signer, Verifier
from robust_offload.runtime.planner import MIN_STATUS_INTERVAL_S, SETTINGS, LiveFleet
from robust_offload.runtime.replanner import POLL_PERIOD_S, SEARCH_S, Replanner
from robust_offload.runtime.transition import TRANSITION_S

CHECK_PERIOD_S = POLL_PERIOD_S
"""Timer period for expiry and replanning checks (messages only update the fleet: O(1) each;
bursts are planned together at the next tick)."""

DIAGNOSTICS_PERIOD_S = 1.0
"""/diagnostics is published this often (the ROS convention: about 1 Hz)."""

WARN_REPEAT_S = 10.0
"""The same warning (e.g. a robot repeating a malformed message) is logged at most this often."""

DEFAULTS = {name: p.default for name, p in inspect.signature(LiveFleet).parameters.items()}
"""The fleet settings' defaults are LiveFleet's (one source; so are their descriptions)."""

PARAMETERS = {
    **{name: Param(DEFAULTS[name], text, dynamic=name == "bandwidth_hz")
       for name, text in SETTINGS.items()},
    "policy": Param("robust", "planning policy", dynamic=True, choices=tuple(policies.POLICIES)),
    "bound": Param("calibrated", "calibrated: each robot's margin adapted to its own hits and "
                                 "misses (from Cantelli's), or a chance bound (core/bounds.py)",
                   dynamic=True, choices=(*BOUNDS, "calibrated")),
    "profiles_file": Param("", "YAML file with the base profiles ('' = the shipped Jetson "
                               "Xavier NX profiles)"),
    "discovery_s": Param(5.0, "no plan in the first seconds after start: robots send their "
                              "status once a second (a heartbeat period plus margin)"),
    "auth_key_file": Param("", "fleet key: plans are signed with it, edge profiles must be "
                               "('' = nothing signed or checked)"),
    "edge_timeout_s": Param(3.0, "with a fleet key, the profiles of a restarted edge are taken "
                                 "once the previous one has been silent this long"),
    "transition_s": Param(TRANSITION_S, "a plan that grows some robot's share is published "
                                        "in two steps: the second once the robots whose share "
                                        "shrinks report their smaller one (or are dropped), "
                                        "at the latest this long after the first"),
    "search_s": Param(SEARCH_S, "a replan's branch and bound publishes its best plan after "
                                "this long (s; the certified gap is logged)"),
}


class PlannerNode(ManagedNode):
    """Plans the fleet's offloading whenever its live state changes enough; a lifecycle node
    (:mod:`robust_offload.ros.managed`): configuring builds the fleet state and listens,
    activating starts planning."""

    def __init__(self, **kwargs):
        super().__init__("planner", PARAMETERS, **kwargs)

    def setup(self):
        values = self.p
        profiles = load_profiles(profile_file(values["profiles_file"]))
        self.fleet = LiveFleet(profiles, **{key: values[key] for key in SETTINGS})
        self.planner = Replanner(self.fleet, values["policy"], values["bound"],
                                 values["discovery_s"], values["transition_s"],
                                 values["search_s"])
        key = fleet_key(self, values["auth_key_file"])
        self.signer = Signer(key)
        self.verifier = Verifier(key, {"edge": values["edge_timeout_s"]})
        self.own_plans = OwnPlans()
        self._warn = Warnings(self.get_logger(), WARN_REPEAT_S)
        self.diagnostics = self.create_lifecycle_publisher(DiagnosticArray, topics.DIAGNOSTICS,
                                                           topics.STATUS_QOS)
        self.publisher = self.create_lifecycle_publisher(OffloadPlan, topics.PLAN,
                                                         topics.PLAN_QOS)
        for kind, topic, callback in ((RobotStatus, topics.ROBOT_STATUS, self.on_status),
                                      (ChannelState, topics.CHANNEL_STATE, self.on_channel),
                                      (InferenceProfile, topics.PROFILE, self.on_profile),
                                      (InferenceProfile, topics.EDGE_PROFILE, self.on_profile),
                                      (InferenceResult, topics.FRAMES, self.on_frame)):
            self.create_subscription(kind, topic, callback, topics.INPUT_QOS)
        self.create_subscription(OffloadPlan, topics.PLAN, self.on_plan, topics.PLAN_QOS)
        self.add_on_set_parameters_callback(self.on_set_parameters)
        self.get_logger().info(
            f"planning with policy {self.planner.policy} ({self.planner.bound} bound), "
            f"B = {self.fleet.bandwidth_hz:.4g} Hz, "
            f"profiles {', '.join(sorted(self.fleet.profiles))}")

    def start(self):
        self.timers_on = [self.create_timer(DIAGNOSTICS_PERIOD_S, self.publish_diagnostics),
                          self.create_timer(CHECK_PERIOD_S, self.on_timer)]

    def stop(self):
        for timer in self.timers_on:
            self.destroy_timer(timer)

    # ---------------------------------------------------------------------------- messages

    def _accept(self, update) -> None:
        """Run one fleet update; a rejected message is one WARN line and changes nothing."""
        try:
            update()
        except InputError as err:
            self._warn(f"ignored: {err}", key=err.key)

    def on_status(self, msg: RobotStatus, info):
        received_ns = info.get("received_timestamp", 0)    # 0: the middleware did not stamp it
        if received_ns > 0:
            self.fleet.note_queue_lag(time.time() - received_ns * 1e-9)

        def update():
            if self.planner.status(
                    msg.robot_id, time.monotonic(), msg.edge_available, profile=msg.profile,
                    model=msg.model, deadline_ms=msg.deadline_ms, risk=msg.risk,
                    kappa=msg.kappa, freq_min_ghz=msg.freq_min_ghz,
                    freq_max_ghz=msg.freq_max_ghz, tx_power_w=msg.tx_power_w,
                    sender=sender_of(info), share_hz=msg.bandwidth_hz, plan_id=msg.plan_id,
                    edge_note=msg.edge_note):
                self.get_logger().info(f"robot '{msg.robot_id}' joined ({msg.profile})")
        self._accept(update)

    def on_channel(self, msg: ChannelState):
        self._accept(lambda: self.fleet.update_channel(
            msg.robot_id, time.monotonic(), channel_gain=msg.channel_gain,
            path_loss_db=msg.path_loss_db, tx_power_w=msg.tx_power_w))

    def on_profile(self, msg: InferenceProfile, info):
        if msg.is_edge and (reason := verify(msg, self.verifier, edge_stream(msg.model),
                                             time.monotonic())):
            self._warn(f"ignored an edge profile of {msg.model!r}: {reason}")
        elif msg.is_edge:
            self._accept(lambda: self.fleet.update_edge_profile(
                msg.model, mean_ms=msg.mean_ms, var_ms2=msg.var_ms2,
                sample_counts=msg.sample_counts))
        else:
            self._accept(lambda: self.fleet.update_robot_profile(
                msg.source, flops_per_cycle=msg.flops_per_cycle, var_ms2=msg.var_ms2,
                sample_counts=msg.sample_counts, output_mb=msg.output_mb,
                sender=sender_of(info)))

    def on_set_parameters(self, parameters) -> SetParametersResult:
        """Runtime changes of bandwidth_hz, policy and bound (the others are read-only)."""
        changes, reason = changed_parameters(parameters, PARAMETERS)
        if reason:
            self.get_logger().warning(f"rejected: {reason}")
            return SetParametersResult(successful=False, reason=reason)
        try:
            self.planner.apply(changes)
        except Exception as err:  # noqa: BLE001 -- a refused change leaves the node as it was
            reason = f"{', '.join(changes)} not applied: {type(err).__name__}: {err}"
            self.get_logger().error(reason)
            return SetParametersResult(successful=False, reason=reason)
        if changes:
            self.get_logger().info("parameters changed: " + ", ".join(
                f"{key} = {value}" for key, value in changes.items()))
        return SetParametersResult(successful=True)

    # ---------------------------------------------------------------------------- planning

    def on_timer(self):
        now = time.monotonic()
        for name in self.planner.expire(now):
            self.get_logger().info(f"robot '{name}' dropped: no status for "
                                   f"{self.fleet.robot_timeout_s:g} s")
        for name, count in self.fleet.new_floods().items():
            self._warn(f"robot '{name}' sends statuses more often than every "
                       f"{MIN_STATUS_INTERVAL_S:g} s: {count} dropped unread so far",
                       key=f"rate {name}")
        self._maybe_replan(now)

    def _maybe_replan(self, now: float):
        """Publish a plan if one is due; a planning error is one ERROR line, never raised."""
        try:
            published = self.planner.poll(now)
        except RuntimeError as err:
            self.get_logger().error(str(err))
            return
        if published is None:
            return
        msg = plan_message(published)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.own_plans.published(msg)
        self.publisher.publish(sign(msg, self.signer))
        self.get_logger().info(published.summary)

    def publish_diagnostics(self):
        """Each robot's health (runtime/health.py) as one DiagnosticStatus."""
        msg = diagnostic_array(self.planner.health.report())
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics.publish(msg)

    def on_plan(self, msg: OffloadPlan):
        """A plan this planner did not publish: another planner is on the domain."""
        if self.own_plans.foreign(msg):
            self.get_logger().error(f"another planner publishes plans on this domain (its "
                                    f"plan #{msg.plan_id}); robots follow one planner each",
                                    throttle_duration_sec=10.0)

    def on_frame(self, msg: InferenceResult, info):
        """A robot's frame record: its hit or miss (a failed frame is a miss) calibrates its
        margin (bound calibrated), an offloaded frame measures its transport overhead."""
        self._accept(lambda: self.planner.frame(
            msg.robot_id, executed_on=msg.executed_on, deadline_met=msg.deadline_met,
            edge_ms=msg.edge_ms, partition=msg.partition, bandwidth_hz=msg.bandwidth_hz,
            uplink_ms=msg.uplink_ms, sender=sender_of(info)))


def main(args=None) -> int:
    return run_node("planner", PlannerNode, args=args)

if __name__ == "__main__":
    sys.exit(main())
