"""Simulated FDMA uplink: the ``radio`` node.

Robots that run without a real radio publish their feature tensors on /robust_offload/uplink. This
node holds every tensor back for its modelled air time bits / (b log2(1 + p h / (b N0))) and then
republishes it, byte for byte, on /robust_offload/features, where the edge server listens:

* p (tx power) comes from the robot's RobotStatus; a robot is known once its status was heard.
* h (channel gain) comes from random waypoint mobility in the paper's 400 m x 400 m cell,
  path loss 38 + 30 log10(r) dB.
* b (bandwidth share) is the robot's ``bandwidth_hz`` in the latest OffloadPlan.

The logic lives in :class:`robust_offload.runtime.radio.Radio` and
:class:`robust_offload.runtime.fdma.FdmaUplink` (one FDMA channel per robot, tensors sent one
after the other); a tensor from a robot without a bandwidth share (or without a
status) is dropped with a throttled warning. Every ``update_period_s`` the robots move and a
ChannelState per robot is published (gain, path loss, tx power, and the rate at the robot's
planned share as ``measured_uplink_rate_bps``). Tensors travel as serialized CDR bytes (raw
subscription, raw publish); only the fields in front of the payload are read
(:mod:`robust_offload.ros.cdr`).

With ``air_time: shaped`` (hosts as network namespaces: ``robust-offload fleet --hosts netns``)
the robots send their tensors straight to the edge, and this node limits each robot's traffic to
the edge to that same rate with tc (:class:`robust_offload.runtime.links.ShapedUplinks`): the air
time is then real network time.

Run: ``python -m robust_offload.ros.radio_node --ros-args --params-file config/radio.yaml``
"""

from __future__ import annotations

import sys
import threading
import time

import rclpy
from rclpy.node import Node
from std_msgs.msg import Header

from robust_offload.core import checks
from robust_offload.core.channel import NOISE_DBM_PER_HZ
from robust_offload.msg import ChannelState, FeatureTensor, OffloadPlan, RobotStatus
from robust_offload.ros import topics
from robust_offload.ros.auth import sender_of
from robust_offload.ros.cdr import peek_feature_tensor
from robust_offload.ros.guard import Guarded
from robust_offload.ros.node_main import Warnings, run_node
from robust_offload.ros.parameters import Param, declare_parameters
from robust_offload.orchestration.netns import NetnsError, shape_link
from robust_offload.runtime.auth import PlanSource
from robust_offload.runtime.links import shaped_uplinks
from robust_offload.runtime.radio import build_radio, plan_shares

WARN_THROTTLE_S = 5.0

PARAMETERS = {
    "noise_dbm_per_hz": Param(NOISE_DBM_PER_HZ, "noise power spectral density N0"),
    "speed_min_mps": Param(0.5, "random waypoint speed range, lower end"),
    "speed_max_mps": Param(1.5, "random waypoint speed range, upper end"),
    "pause_s": Param(0.0, "pause at each waypoint"),
    "seed": Param(0, "seed of the robots' trajectories"),
    "update_period_s": Param(0.5, "motion step and ChannelState period"),
    "initial_distances_m": Param([], "optional start distances (m), in order of appearance"),
    "static": Param(False, "true: robots keep their start positions"),
    "max_queue": Param(16, "tensors waiting per robot before new ones are dropped"),
    "robot_timeout_s": Param(3.0, "a robot whose status stops for this long is forgotten"),
    "fades": Param([""], "scheduled channel drops 'robot_id:dB:start_s:duration_s' (seconds "
                         "since the radio started), e.g. 'robot_2:10:150:30'"),
    "air_time": Param("modelled", "modelled: tensors on the uplink topic are held for their air "
                                  "time; shaped: robots send to the edge over links shaped to "
                                  "that rate (hosts as network namespaces, root)",
                      choices=("modelled", "shaped")),
    "shaped_links": Param([""], "with air_time shaped: 'robot_id:netns:interface' of each robot"),
    "edge_address": Param("", "with air_time shaped: the edge host's address"),
    "planner_timeout_s": Param(5.0, "shares of another planner's plans are ignored until the "
                                    "one followed has been silent this long (as robots do)"),
    "report_lag_s": Param(0.0, "ChannelState reports the channel this long ago (a late "
                               "estimate); shaped links follow the channel at once"),
}


class RadioNode(Guarded, Node):
    """Delays each robot's feature tensors by their modelled FDMA air time."""

    def __init__(self, **kwargs):
        super().__init__("radio", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        self.radio = build_radio(p, time.monotonic())
        self.uplink = self.radio.uplink
        self.planner = PlanSource(p["planner_timeout_s"])
        self._warn = Warnings(self.get_logger(), WARN_THROTTLE_S)
        self.channel_pub = self.create_publisher(ChannelState, topics.CHANNEL_STATE,
                                                 topics.STATUS_QOS)
        self._own_pubs = {}          # robot_id -> its publisher on topics.own_channel(robot_id)
        self.features_pub = self.create_publisher(FeatureTensor, topics.FEATURES,
                                                  topics.TENSOR_QOS)
        # N robots' statuses share one reader queue: a depth of 10 lost most of 250 robots'
        # (forgotten, "no status for 10 s", and re-added: 618 times in a 250-robot run)
        self.create_subscription(RobotStatus, topics.ROBOT_STATUS, self._on_status,
                                 topics.INPUT_QOS)
        self.create_subscription(OffloadPlan, topics.PLAN, self._on_plan, topics.PLAN_QOS)
        self.shaper = shaped_uplinks(p["air_time"], p["shaped_links"], p["edge_address"],
                                     shape_link)
        if self.shaper is None:
            self.create_subscription(FeatureTensor, topics.UPLINK, self._on_uplink,
                                     topics.TENSOR_QOS, raw=True)
        self.create_timer(p["update_period_s"], self._on_update)
        self._sender = threading.Thread(target=self._send_loop, name="radio-air", daemon=True)
        self._sender.start()
        motion = ("static" if self.radio.static else
                  f"random waypoint {p['speed_min_mps']:g}-{p['speed_max_mps']:g} m/s, pause "
                  f"{p['pause_s']:g} s, seed {p['seed']}")
        air = (f"robots' links to the edge ({p['edge_address']}) shaped to the FDMA rate"
               if self.shaper else
               f"{topics.UPLINK} -> {topics.FEATURES} delayed by the FDMA air time")
        self.get_logger().info(
            f"simulated radio: {air}, N0 {p['noise_dbm_per_hz']:g} dBm/Hz, {motion}, channel "
            f"state every {p['update_period_s']:g} s")

    def _on_status(self, msg: RobotStatus) -> None:
        try:
            robot_id, power, distance = self.radio.hear(msg.robot_id, msg.tx_power_w,
                                                        time.monotonic())
        except checks.InputError as err:
            self._warn(f"ignored: {err}", key=err.key)
            return
        if distance is not None:
            self.get_logger().info(f"robot {robot_id}: {distance:.1f} m from the edge, "
                                   f"{power:g} W")
            self._publish_channel_states(only=robot_id)

    def _on_plan(self, msg: OffloadPlan, info) -> None:
        if not self.planner.accept(sender_of(info), time.monotonic()):
            self._warn(f"ignored plan #{msg.plan_id} of another planner: following "
                       f"{self.planner.sender[:16]} until it is silent for "
                       f"{self.planner.timeout_s:g} s", key="second planner")
            return
        shares, errors = plan_shares(msg.plan_id, [(d.robot_id, d.bandwidth_hz)
                                                   for d in msg.devices])
        for err in errors:
            self._warn(f"ignored a share: {err}", key=err.key)
        self.uplink.set_shares(shares)
        self.get_logger().info(f"plan {msg.plan_id}: bandwidth for "
                               f"{sum(b > 0 for b in shares.values())} robots")
        shaped = self._publish_channel_states()
        if shaped:
            self.get_logger().info("links shaped: " + ", ".join(
                f"{robot_id} {rate / 1e6:.2f} Mbit/s" for robot_id, rate in shaped.items()))

    def _on_uplink(self, data: bytes) -> None:
        try:
            robot_id, request_id, n_bytes = peek_feature_tensor(data)
            checks.name("FeatureTensor", "robot_id", robot_id)
        except checks.InputError as err:
            self._warn(f"dropping a tensor: {err}", key=err.key)
            return
        except Exception as err:  # malformed bytes: never let one message stop the node
            self._warn(f"dropping an unreadable FeatureTensor: {err}", key="unreadable")
            return
        problem = self.uplink.offer(robot_id, request_id, 8 * n_bytes, data, time.monotonic())
        if problem:
            self._warn(f"dropping tensor {request_id} of {robot_id!r}: {problem}",
                       key=f"drop {robot_id} {problem}")

    def _on_update(self) -> None:
        gone, faded = self.radio.step(time.monotonic())
        for robot_id in gone:
            if robot_id in self._own_pubs:
                self.destroy_publisher(self._own_pubs.pop(robot_id))
            self.get_logger().info(f"robot {robot_id}: no status for "
                                   f"{self.radio.robot_timeout_s:g} s, forgotten")
        shaped = self._publish_channel_states()
        for robot_id in faded:
            rate = f", link shaped to {shaped[robot_id] / 1e6:.2f} Mbit/s" \
                if robot_id in shaped else ""
            self.get_logger().info(f"robot {robot_id}: scheduled fade starts or ends{rate}")

    def _publish_channel_states(self, only: str | None = None) -> dict[str, float]:
        """Publish every robot's ChannelState (``only``: that robot's, as it joins) and shape
        the links whose rate moved; returns those (bit/s)."""
        header = Header(stamp=self.get_clock().now().to_msg())
        reports, states = self.radio.channel(time.monotonic(), only)
        for link in reports:
            state = ChannelState(
                header=header, robot_id=link.robot_id, channel_gain=link.channel_gain,
                path_loss_db=link.path_loss_db, tx_power_w=link.tx_power_w,
                measured_uplink_rate_bps=link.rate_bps)
            self.channel_pub.publish(state)                 # the planner's
            self._own_publisher(link.robot_id).publish(state)
        if self.shaper is None:
            return {}
        try:
            return self.shaper.update(states)
        except NetnsError as err:
            self._warn(f"could not shape a link: {err}")
            return {}

    def _own_publisher(self, robot_id: str):
        if robot_id not in self._own_pubs:
            self._own_pubs[robot_id] = self.create_publisher(
                ChannelState, topics.own_channel(robot_id), topics.OWN_CHANNEL_QOS)
        return self._own_pubs[robot_id]

    def _send_loop(self) -> None:
        """Sender thread: publish every tensor when its air time is over."""
        while (result := self.uplink.await_due(time.monotonic)) is not None:
            due, warnings = result
            for text in warnings:
                self._warn(text)
            for data in due:
                try:
                    self.features_pub.publish(data)
                except Exception as err:  # the middleware refused
                    self._warn(f"could not publish a tensor: {err}")

    def destroy_node(self):
        if not hasattr(self, "_sender"):   # __init__ failed half-way (rclpy's shutdown)
            return super().destroy_node()
        pending = self.uplink.stop()
        self._sender.join(timeout=2.0)
        log = rclpy.logging.get_logger(self.get_name())
        for robot_id, (sent, dropped) in self.uplink.stats().items():
            log.info(f"robot {robot_id}: {sent} tensors sent, {dropped} dropped")
        if pending:
            log.info(f"{pending} tensors still queued at shutdown were discarded")
        return super().destroy_node()


def main(args=None) -> int:
    return run_node("radio", RadioNode, args=args)


if __name__ == "__main__":
    sys.exit(main())
