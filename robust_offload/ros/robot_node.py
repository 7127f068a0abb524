"""The ``robot`` node: one per Jetson (or per emulated robot).

Each frame (a dedicated thread at ``rate_hz``, so the executor never waits for compute): apply
the newest plan decision at the frame boundary, set the frequency, run blocks 1..m
(:class:`robust_offload.runtime.robot.RobotRuntime`), publish the feature tensor on
``uplink_topic`` and later the frame's record (latency, energy, deadline hit or miss) on
/robust_offload/frames. Results come on the robot's own topic (/robust_offload/results/<id>);
frames whose result does not come back by deadline + grace count as misses, and so do frames
the edge answers as failed (executed_on "failed"); after ``max_missed`` such misses in a row,
when the edge's profile heartbeat stops, or when nothing came from the edge (heartbeat, result,
alive signal) for one deadline with a frame overdue, frames run locally (m = M at f_max) until
the edge is back. Publishes RobotStatus (heartbeat and requirements) and the online local
profile (streaming mean/variance per partition point).

Run: ``python -m robust_offload.ros.robot_node --ros-args --params-file config/robot.yaml
-r __ns:=/robot_1 -p robot_id:=robot_1``
"""

from __future__ import annotations

import re
import sys
import threading
import time

import rclpy
from rclpy.node import Node

from sensor_msgs.msg import CompressedImage, Image

from robust_offload.contract.topics import FAILED
from robust_offload.core.channel import NOISE_DBM_PER_HZ, gain_at_distance
from robust_offload.core.checks import InputError
from robust_offload.dnn.answer import checked
from robust_offload.hw.errors import HardwareError
from robust_offload.msg import (
    ChannelState,
    EdgeStatus,
    FeatureTensor,
    InferenceProfile,
    InferenceResult,
    OffloadPlan,
    RobotStatus,
)
from robust_offload.ros import topics
from robust_offload.ros.auth import Gate, fleet_key, robot_verifier
from robust_offload.ros.guard import Guarded
from robust_offload.ros.messages import robot_status, tensor_message
from robust_offload.ros.node_main import Warnings, from_time, run_node, stamp
from robust_offload.ros.parameters import Param, declare_parameters
from robust_offload.runtime.auth import PlanSource
from robust_offload.runtime.device import BACKENDS
from robust_offload.runtime.edge_match import EdgeMatch, fingerprint_of
from robust_offload.runtime.profile_cadence import ProfileCadence
from robust_offload.runtime.robot import EdgeWatch, Newest, capture_time
from robust_offload.runtime.robot_loop import FrameLoop, build_robot, camera_preprocessing

PARAMETERS = {
    "robot_id": Param("robot_1", "robot identifier (the fleet runner sets the namespace's name)"),
    "model": Param("alexnet", "DNN model reference: alexnet, resnet152, torchvision:<name>, "
                              "<module>:<factory> or a .pt2 file (docs/dnn.md)"),
    "weights": Param("", "the model's weights: a state_dict file (.pt, .pth, .safetensors) or "
                         "a torchvision weights name in the torch hub cache; '' = random, seeded"),
    "input_shape": Param([], "model input C, H, W ([] = from the weights or the model)"),
    "profile": Param("alexnet_nx_cpu", "planner profile name in profiles_file"),
    "profiles_file": Param("", "profile YAML ('' = the shipped Jetson Xavier NX profiles)"),
    "hardware": Param("jetson-xavier-nx", "hardware description sent to the planner"),
    "dvfs_backend": Param("emulated", "where frequencies are set", choices=BACKENDS),
    "power_rail": Param("", "INA3221 rail whose energy is measured on a Jetson (e.g. "
                            "VDD_CPU_GPU_CV); '' = modelled energy"),
    "compute_mode": Param("real", "real: run the DNN head (padded to the model) | modelled",
                          choices=("real", "modelled")),
    "codec": Param("float32", "feature codec", choices=("float32", "float16", "int8")),
    "rate_hz": Param(2.0, "frames per second of the built-in synthetic camera"),
    "image_topic": Param("", "sensor_msgs/Image topic to process ('' = the synthetic camera)"),
    "image_transport": Param("raw", "raw: sensor_msgs/Image on image_topic | compressed: "
                             "sensor_msgs/CompressedImage (jpeg, png) on image_topic/compressed",
                             choices=("raw", "compressed")),
    "image_resize": Param(0, "shorter image side before the centre crop to the model's input "
                             "(0 = the model's: its weights' transforms, else 8/7 of the input)"),
    "image_mean": Param([], "per-channel mean to normalise by ([] = the model's)"),
    "image_std": Param([], "per-channel std to normalise by ([] = the model's)"),
    "image_reliability": Param("best_effort", "QoS reliability of the camera subscription "
                               "(best_effort matches every camera; reliable only reliable ones)",
                               choices=tuple(topics.CAMERA_QOS)),
    "top_k": Param(5, "classes each frame's answer names, best first (0: none)"),
    "labels_file": Param("", "class names, one per line in class order ('' = ids only)"),
    "deadline_ms": Param(200.0, "end-to-end deadline D_n"),
    "risk": Param(0.05, "tolerated deadline-violation probability epsilon_n"),
    "kappa": Param(0.8e-27, "energy coefficient"),
    "freq_min_ghz": Param(0.1, "lowest frequency"),
    "freq_max_ghz": Param(1.2, "highest frequency"),
    "tx_power_w": Param(1.0, "transmit power p_n"),
    "noise_dbm_per_hz": Param(NOISE_DBM_PER_HZ, "noise PSD N0 (for the modelled uplink energy)"),
    "uplink_topic": Param(topics.UPLINK, "where feature tensors go (radio emulator or edge)"),
    "publish_channel_state": Param(False, "publish ChannelState from distance_m (no radio "
                                          "emulator)"),
    "distance_m": Param(100.0, "distance to the edge for publish_channel_state"),
    "edge_timeout_s": Param(3.0, "edge is gone after this long without its profile heartbeat "
                                 "(with a fleet key, a restarted edge's session is then "
                                 "followed)"),
    "result_grace_s": Param(0.5, "wait this long past the deadline before a frame is lost"),
    "max_missed": Param(3, "consecutive lost frames before falling back to local execution"),
    "stale_after_s": Param(2.0, "heard neither the edge nor a plan for this long: let the share "
                                "go until the next plan (below the planner's robot_timeout_s)"),
    "plan_wait_s": Param(15.0, "wait this long for a first plan before running frames locally"),
    "profile_period_s": Param(5.0, "the measured profile goes to the planner this often (the "
                                   "status every second)"),
    "seed": Param(0, "seed of the synthetic images and the emulated time noise"),
    "torch_threads": Param(1, "torch CPU threads for the DNN head"),
    "auth_key_file": Param("", "fleet key: plans, edge heartbeats and results must be signed "
                               "with it ('' = nothing checked)"),
    "planner_timeout_s": Param(5.0, "plans of another planner (with a fleet key, of another "
                                    "session) are ignored until the one followed has been "
                                    "silent this long"),
}

class RobotNode(Guarded, Node):
    """Thin ROS wrapper around RobotRuntime and FrameLoop (see the module docstring)."""

    def __init__(self, subscribe_plans: bool = True, **kwargs):
        """``subscribe_plans=False``: someone else hands this robot its plans (``on_plan``; the
        swarm's one plan subscription per process)."""
        super().__init__("robot", **kwargs)
        self.p = declare_parameters(self, PARAMETERS)
        self.robot_id = self.p["robot_id"]
        self.runtime, description = build_robot(self.p)
        self.get_logger().info(description)
        verifier = robot_verifier(fleet_key(self, self.p["auth_key_file"]),
                                  self.p["planner_timeout_s"], self.p["edge_timeout_s"])
        self.warn = Warnings(self.get_logger(), 10.0)
        self.gate = Gate(verifier, PlanSource(self.p["planner_timeout_s"]), self.warn)
        self.profile_cadence = ProfileCadence(self.p["profile_period_s"])
        self.status_pub = self.create_publisher(RobotStatus, topics.ROBOT_STATUS,
                                                topics.STATUS_QOS)
        self.profile_pub = self.create_publisher(InferenceProfile, topics.PROFILE,
                                                 topics.STATUS_QOS)
        self.tensor_pub = self.create_publisher(FeatureTensor, self.p["uplink_topic"],
                                                topics.TENSOR_QOS)
        self.frame_pub = self.create_publisher(InferenceResult, topics.FRAMES, topics.RESULT_QOS)
        # only without a radio (which otherwise publishes every robot's channel state)
        self.channel_pub = (self.create_publisher(ChannelState, topics.CHANNEL_STATE,
                                                  topics.STATUS_QOS)
                            if self.p["publish_channel_state"] else None)
        self.camera = Newest()
        self.match = EdgeMatch(self.p["model"], fingerprint_of(self.runtime.model))
        logger = self.get_logger()
        self.loop = FrameLoop(
            self.runtime, EdgeWatch(self.p["edge_timeout_s"], self.p["max_missed"]),
            rate_hz=self.p["rate_hz"], plan_wait_s=self.p["plan_wait_s"],
            stale_after_s=self.p["stale_after_s"], send=self.send,
            publish=self.publish_record, warn=logger.warning, error=logger.error,
            images=self.next_image if self.p["image_topic"] else None)
        if subscribe_plans:
            self.create_subscription(OffloadPlan, topics.PLAN, self.on_plan, topics.PLAN_QOS)
        # before the heartbeats: the edge knows this reader when it hears the robot's tensors
        self.create_subscription(InferenceResult, topics.own_results(self.robot_id),
                                 self.on_result, topics.OWN_RESULTS_QOS)
        self.create_subscription(InferenceProfile, topics.EDGE_PROFILE, self.on_profile,
                                 topics.EDGE_PROFILE_QOS)
        self.create_subscription(EdgeStatus, topics.EDGE_ALIVE, self.on_alive,
                                 topics.EDGE_ALIVE_QOS)
        self.create_subscription(ChannelState, topics.own_channel(self.robot_id),
                                 self.on_channel, topics.OWN_CHANNEL_QOS)
        self.create_timer(1.0, self.publish_status)
        if self.p["image_topic"]:
            self.preprocessing = camera_preprocessing(self.p, self.runtime.model)
            compressed = self.p["image_transport"] == "compressed"
            self.create_subscription(
                CompressedImage if compressed else Image,
                f"{self.p['image_topic']}/compressed" if compressed else self.p["image_topic"],
                self.camera.put, topics.CAMERA_QOS[self.p["image_reliability"]])
        self.thread = threading.Thread(target=self.loop.run, args=(rclpy.ok,), name="frames",
                                       daemon=True)
        self.thread.start()

    # -- subscriptions ----------------------------------------------------------------------
    def on_plan(self, plan: OffloadPlan, info):
        if not self.gate.plan(plan, info, time.monotonic()):
            return
        self.loop.plan_heard()
        mine = [(d.partition, d.freq_ghz, d.bandwidth_hz, d.feasible, d.reason)
                for d in plan.devices if d.robot_id == self.robot_id]
        warning = self.runtime.apply_plan(plan.plan_id, mine)
        if warning:       # the same one for every plan of an over-subscribed band: once per 10 s
            self.warn(warning, key=re.sub(r"#\d+", "#", warning))

    def on_result(self, result: InferenceResult):
        if not self.gate.result(result, time.monotonic()):
            return
        self.loop.edge_answered()
        if result.robot_id == self.robot_id:
            try:
                answer = checked(f"InferenceResult {result.request_id}", result.class_ids,
                                 result.scores)
            except InputError as err:
                self.warn(f"result ignored: {err}", key=err.key)
                return
            self.loop.result(result.request_id, result.edge_ms, answer,
                             failed=result.executed_on == FAILED)

    def on_alive(self, status: EdgeStatus):
        if self.gate.alive(status, time.monotonic()):
            self.loop.edge_answered()              # it answered some robot's frame

    def on_profile(self, profile: InferenceProfile):
        if not (profile.is_edge and self.gate.edge(profile, time.monotonic())):
            return
        if not self.match.heartbeat(profile.model, profile.model_fingerprint):
            if self.match.note:
                self.warn(self.match.note, key="edge weights")
            return
        back = not self.loop.edge_available()
        self.loop.heard()
        if back and self.loop.edge_available():
            self.publish_status()          # the planner hears "edge back" now, not in 1 s

    def on_channel(self, state: ChannelState):
        if state.robot_id == self.robot_id:
            try:
                self.runtime.set_channel_gain(state.channel_gain)
            except InputError as err:
                self.warn(f"channel state ignored: {err}", key=err.key)

    def next_image(self):
        """(tensor, capture time, source) of the newest camera image, None if none came within
        1 s; source: its header's stamp and frame_id."""
        from robust_offload.dnn.preprocess import compressed_image, raw_image

        msg = self.camera.take(timeout_s=1.0)
        if msg is None:
            return None
        try:
            tensor = self.preprocessing(
                compressed_image(msg.data, msg.format) if isinstance(msg, CompressedImage)
                else raw_image(msg.data, msg.height, msg.width, msg.encoding, msg.step))
        except ValueError as err:
            self.warn(f"image ignored: {err}", key="image")
            return None
        header = msg.header
        return (tensor, capture_time(from_time(header.stamp), time.time()),
                (header.stamp.sec, header.stamp.nanosec, header.frame_id))

    def send(self, frame):
        msg = tensor_message(self.robot_id, self.p, frame, self.runtime.uplink_payload(frame))
        msg.header = stamp(self, time.time())
        self.tensor_pub.publish(msg)

    # -- periodic publications --------------------------------------------------------------
    def publish_record(self, record: dict):
        sec, nanosec, frame_id = record.pop("image_header")
        msg = InferenceResult(**record)
        msg.header = stamp(self, time.time())
        msg.image_header.stamp.sec, msg.image_header.stamp.nanosec = sec, nanosec
        msg.image_header.frame_id = frame_id
        self.frame_pub.publish(msg)

    def publish_status(self):
        status, profile = robot_status(self.robot_id, self.p, self.runtime,
                                       self.loop.edge_available(), self.match.note)
        status.header = profile.header = stamp(self, time.time())
        self.status_pub.publish(status)
        if self.profile_cadence.due(time.monotonic()):
            self.profile_pub.publish(profile)
        if self.channel_pub is not None:
            gain, loss = gain_at_distance(self.p["distance_m"])
            self.runtime.set_channel_gain(gain)     # its own estimate (no radio sends one)
            self.channel_pub.publish(ChannelState(
                header=stamp(self, time.time()), robot_id=self.robot_id, channel_gain=gain,
                path_loss_db=loss, tx_power_w=self.p["tx_power_w"]))

    def destroy_node(self):
        # Also called by rclpy's shutdown for a node whose __init__ failed half-way.
        if hasattr(self, "thread"):
            self.loop.stop()
            self.thread.join(timeout=10.0)
        if hasattr(self, "runtime"):
            self.runtime.device.restore()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node("robot", RobotNode, (HardwareError,), threads=2, args=args)

if __name__ == "__main__":
    sys.exit(main())
