"""The ``edge`` node: the edge inference server.

Every robot gets its own worker thread and queue (the paper's one VM per robot): a feature
tensor from /robust_offload/features is decoded and blocks m+1..M of the robot's model run
(:class:`robust_offload.runtime.edge.EdgeRuntime`: on CUDA when present, or from the edge time
model in ``compute_mode: modelled``); the result goes back with the timing breakdown on the
robot's own topic (/robust_offload/results/<robot_id>: a writer made with the robot's worker and
destroyed when the worker is reaped, ``worker_idle_s``). The node publishes its edge profile
(mean/variance of the edge time per model and partition point, with sample counts) every
``profile_period_s``; robots take that as the edge's heartbeat. Every ``alive_period_s`` in
which it published results it says so on /robust_offload/edge_alive (EdgeStatus): a robot whose
own frame is overdue takes that as a sign of life. A tensor whose robot id or model is no name
is dropped (one line). A request that fails (a malformed tensor, an unknown model: one warning
line; anything else: one ERROR line from the robot's worker, throttled) is answered with a
result whose ``executed_on`` is "failed", so that its robot records the miss at once; the node
keeps serving.

Run: ``python -m robust_offload.ros.edge_node --ros-args --params-file config/edge.yaml``
"""

from __future__ import annotations

import sys
import time

from rclpy.event_handler import PublisherEventCallbacks

from robust_offload.contract.topics import FAILED
from robust_offload.core import checks
from robust_offload.dnn.codec import Payload
from robust_offload.contract.files import profile_file
from robust_offload.core.scenario import load_profiles
from robust_offload.msg import EdgeStatus, FeatureTensor, InferenceProfile, InferenceResult
from robust_offload.ros import topics
from robust_offload.ros.node_main import Warnings, from_time, run_node, stamp
from robust_offload.ros.managed import ManagedNode
from robust_offload.ros.parameters import Param
from robust_offload.ros.auth import fleet_key, sign
from robust_offload.runtime.auth import Signer
from robust_offload.runtime.edge import EdgeRuntime, Served, per_model
from robust_offload.runtime.workers import Workers

WARN_REPEAT_S = 5.0

PARAMETERS = {
    "compute_mode": Param("real", "real: run the DNN tail | modelled: edge time from the profile",
                          choices=("real", "modelled")),
    "modelled_models": Param(["none"], "models whose tails are always modelled (e.g. resnet152 "
                                       "on a CPU-only edge); ['none'] = no exception"),
    "device": Param("auto", "torch device for the tails (auto: cuda if present)",
                    choices=("auto", "cpu", "cuda")),
    "profiles_file": Param("", "profile YAML ('' = the shipped Jetson Xavier NX profiles)"),
    "profile_period_s": Param(1.0, "edge profile (and heartbeat) period"),
    "alive_period_s": Param(0.05, "the alive signal at most this often, after results were "
                                  "published (well below the robots' deadlines)"),
    "queue_depth": Param(4, "tensors waiting per robot before the oldest is dropped"),
    "worker_idle_s": Param(30.0, "a robot's worker is removed after this long without tensors"),
    "max_robots": Param(64, "robots served at once; tensors of further robots are refused"),
    "calibration_repeats": Param(20, "timed passes per real model at start, so the first edge "
                                     "profile is already measured (0 = none)"),
    "calibration_rounds": Param(3, "rounds of calibration_repeats passes; the quietest seeds "
                                   "the profile (the host's other processes start meanwhile)"),
    "model_weights": Param(["none"], "weights of the served models, as <model>=<file or "
                                     "torchvision weights name> ('none': random, seeded)"),
    "model_input_shapes": Param(["none"], "input shapes of served models, as <model>=C,H,W "
                                          "('none': from the weights or the model)"),
    "seed": Param(0, "seed of the models' random weights and the modelled edge times"),
    "torch_threads": Param(1, "torch CPU threads per tail"),
    "hardware": Param("", "hardware name in the edge profile ('' = the torch device's name)"),
    "auth_key_file": Param("", "fleet key to sign heartbeats and results with ('' = unsigned)"),
}


class EdgeNode(ManagedNode):
    """Thin ROS wrapper around EdgeRuntime with one worker per robot; a lifecycle node
    (:mod:`robust_offload.ros.managed`): configuring loads and times the models, activating
    starts the heartbeat (robots offload only to an edge they hear) and serving."""

    def __init__(self, **kwargs):
        self.serving = False
        super().__init__("edge", PARAMETERS, **kwargs)

    def setup(self):
        for name in ("profile_period_s", "alive_period_s"):
            checks.number("parameter", name, self.p[name], low=0.0, open_low=True)
        checks.whole("parameter", "queue_depth", self.p["queue_depth"], low=1)
        checks.whole("parameter", "max_robots", self.p["max_robots"], low=1)
        device, loader = self._torch_setup()
        modelled = [m for m in self.p["modelled_models"] if m != "none"]
        profiles = load_profiles(profile_file(self.p["profiles_file"]))
        self.runtime = EdgeRuntime(self.p["compute_mode"], profiles, device, self.p["seed"],
                                   loader, modelled)
        self.hardware = self.p["hardware"] or device
        self.models = self.runtime.models
        for model in self.models:  # load and time before the heartbeat says "ready"
            if self.runtime.mode_of(model) == "real":
                self.runtime.model(model)
                if self.p["calibration_repeats"] > 0:
                    self.runtime.calibrate(model, self.p["calibration_repeats"],
                                           self.p["calibration_rounds"])
        self.result_pubs = {}                      # robot_id -> its own results writer
        self.served = Served()
        self.workers = Workers(self.serve, self.p["queue_depth"], self.p["worker_idle_s"],
                               self.p["max_robots"], started=self.open_results,
                               reaped=self.close_results, error=self.get_logger().error)
        self._warn = Warnings(self.get_logger(), WARN_REPEAT_S)
        self.signer = Signer(fleet_key(self, self.p["auth_key_file"]))
        self.alive_pub = self.create_lifecycle_publisher(EdgeStatus, topics.EDGE_ALIVE,
                                                         topics.EDGE_ALIVE_QOS)
        self.profile_pub = self.create_lifecycle_publisher(InferenceProfile, topics.EDGE_PROFILE,
                                                           topics.EDGE_PROFILE_QOS)
        self.create_subscription(FeatureTensor, topics.FEATURES, self.on_tensor,
                                 topics.TENSOR_QOS)
        what = {"real": "DNN tails run", "modelled": "edge times drawn from the profile"}
        modes = ", ".join(f"{m}: {what[self.runtime.mode_of(m)]}" for m in self.models)
        self.get_logger().info(f"edge on {device}: {modes}")

    def start(self):
        self.publish_profiles()                    # announced at once, not a period later
        self.heartbeat = self.create_timer(self.p["profile_period_s"], self.publish_profiles)
        self.alive_timer = self.create_timer(self.p["alive_period_s"], self.publish_alive)
        self.serving = True

    def stop(self):
        self.serving = False
        self.destroy_timer(self.heartbeat)
        self.destroy_timer(self.alive_timer)

    def _torch_setup(self):
        if self.p["compute_mode"] == "modelled":
            return "none", None
        try:
            import torch

            from robust_offload.dnn.registry import get_model
        except ImportError:
            checks.fail("parameter", "compute_mode", "real",
                        "needs torch: pip install 'robust-offload[dnn]'")
        torch.set_num_threads(max(1, self.p["torch_threads"]))
        device = self.p["device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"

        weights = per_model("model_weights", self.p["model_weights"])
        shapes = {model: checks.image_shape("parameter", "model_input_shapes", shape.split(","))
                  for model, shape in
                  per_model("model_input_shapes", self.p["model_input_shapes"]).items()}

        def loader(name, device):
            return get_model(name, weights=weights.get(name), input_shape=shapes.get(name),
                             seed=self.p["seed"], device=device)

        return device, loader

    def on_tensor(self, msg: FeatureTensor):
        if not self.serving:
            self._warn("tensors dropped: the edge is not active", key="inactive")
            return
        try:
            checks.name("FeatureTensor", "robot_id", msg.robot_id)
            checks.text(f"FeatureTensor from '{msg.robot_id}'", "model", msg.model)
        except checks.InputError as err:
            self._warn(f"tensor dropped: {err}", key=err.key)
            return
        problem = self.workers.submit(msg.robot_id, (msg, time.time()))
        if problem:
            self._warn(problem, key=f"{msg.robot_id} {problem.split(',')[0]}")

    def open_results(self, robot_id: str):
        """A robot's first tensor (executor thread): its results writer, without QoS event
        handlers (the default ones only log): each would be a waitable the executor walks at
        every wake-up (edge CPU 0.16-0.17 cores with them at 50 robots, 0.10-0.12 without:
        docs/scale/results_fanout.md)."""
        self.result_pubs[robot_id] = self.create_publisher(
            InferenceResult, topics.own_results(robot_id), topics.OWN_RESULTS_QOS,
            event_callbacks=PublisherEventCallbacks(use_default_callbacks=False))

    def close_results(self, robot_id: str):
        """A robot's worker was reaped (its thread, after its last result)."""
        self.destroy_publisher(self.result_pubs.pop(robot_id))

    def serve(self, item):
        """Worker thread of one robot: the tail of one tensor, then its result (a failed one
        when the tail fails)."""
        msg, received = item
        try:
            answer, edge_s = self.runtime.serve(msg.model, msg.partition, Payload(
                msg.dtype, tuple(msg.shape), msg.payload, msg.quant_scale,
                msg.quant_zero_point), top_k=msg.top_k)
        except (ValueError, KeyError, RuntimeError) as err:   # a malformed request
            self._warn(f"{msg.robot_id} request {msg.request_id}: failed: {err}",
                       key=f"{msg.robot_id} {type(err).__name__}")
            self.publish_result(msg, received)
            return
        except Exception:
            self.publish_result(msg, received)
            raise                                 # the worker logs it (ERROR, throttled)
        self.publish_result(msg, received, answer, edge_s)

    def publish_result(self, msg: FeatureTensor, received: float, answer: tuple | None = None,
                       edge_s: float = 0.0):
        """The result of ``msg`` with its ``answer`` (class ids, scores); without one the
        request failed: executed_on "failed", deadline_met false, class_id -1."""
        done = time.time()
        total_ms = (done - from_time(msg.capture_time)) * 1e3
        failed = answer is None
        ids, scores = ((), ()) if failed else answer
        self.result_pubs[msg.robot_id].publish(sign(InferenceResult(
            header=stamp(self, done), robot_id=msg.robot_id, request_id=msg.request_id,
            class_id=ids[0] if ids else -1, class_ids=list(ids), scores=list(scores),
            local_ms=msg.local_ms,
            uplink_ms=(received - from_time(msg.header.stamp)) * 1e3, edge_ms=edge_s * 1e3,
            total_ms=total_ms, deadline_met=not failed and total_ms <= msg.deadline_ms,
            plan_id=msg.plan_id, partition=msg.partition, deadline_ms=msg.deadline_ms,
            executed_on=FAILED if failed else "edge"), self.signer))
        self.served.add()

    def publish_alive(self):
        served = self.served.news()
        if served is not None:
            self.alive_pub.publish(sign(EdgeStatus(header=stamp(self, time.time()),
                                                   results_served=served), self.signer))

    def publish_profiles(self):
        for model in self.models:
            profile = self.runtime.profile_for(model)
            measured = (self.runtime.edge_profile(model) if model in self.runtime.stats
                        else None)
            points = profile.num_points
            self.profile_pub.publish(sign(InferenceProfile(
                header=stamp(self, time.time()), source="edge", model=model,
                hardware=self.hardware, is_edge=True, output_mb=list(profile.output_mb),
                model_fingerprint=self.runtime.fingerprint(model),
                mean_ms=[float(v) for v in (measured["mean_ms"] if measured
                                            else profile.edge_mean_ms)],
                var_ms2=[float(v) for v in (measured["var_ms2"] if measured
                                            else profile.edge_var_ms2)],
                sample_counts=[int(v) for v in (measured["sample_counts"] if measured
                                                else [0] * points)]), self.signer))


    def destroy_node(self):
        # Also called by rclpy's shutdown for a node whose __init__ failed half-way.
        if hasattr(self, "workers"):
            self.workers.stop()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node("edge", EdgeNode, args=args)

if __name__ == "__main__":
    sys.exit(main())
