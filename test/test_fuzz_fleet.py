"""A hostile stream on every input of a running fleet (planner, edge, radio, recorder, two
robots) for FUZZ_S seconds: no node exits, every real robot stays in every plan, plans stay
finite with shares that fit the band, and the fleet still runs frames afterwards."""

import math
import time

import pytest

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")
rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from robust_offload.contract.topics import TOPIC_TYPES  # noqa: E402
from robust_offload.ros import topics  # noqa: E402

from hostile import Hostile, message_class  # noqa: E402
import test_system  # noqa: E402
from test_system import description, robot  # noqa: E402

run_fleet = test_system.run_fleet   # the fixture

FUZZ_S = 30.0
ROUNDS_PER_S = 10            # one message on every input topic per round
DOMAIN = 138
ROBOTS = ("robot_1", "robot_2")
BANDWIDTH_HZ = 20e6          # the test fleet's planner (test_system.description)


def bases():
    """A valid message of each type the nodes read: hostile ones start from these."""
    status = msg.RobotStatus(robot_id="fuzz_robot", model="alexnet", profile="alexnet_nx_cpu",
                             hardware="nx", deadline_ms=200.0, risk=0.05, kappa=0.8e-27,
                             freq_min_ghz=0.1, freq_max_ghz=1.2, tx_power_w=1.0,
                             edge_available=True)
    profile = msg.InferenceProfile(source="robot_1", model="alexnet", output_mb=[0.5] * 9,
                                   local_gflops=[0.0] + [0.1 * m for m in range(1, 9)],
                                   flops_per_cycle=[0.0] + [1.0] * 8, mean_ms=[10.0] * 9,
                                   var_ms2=[1.0] * 9, sample_counts=[50] * 9,
                                   freq_min_ghz=0.1, freq_max_ghz=1.2)
    decision = msg.DeviceDecision(robot_id="robot_1", partition=3, freq_ghz=0.8,
                                  bandwidth_hz=5e6, energy_j=0.1, deadline_ms=200.0, risk=0.05,
                                  feasible=True)
    tensor = msg.FeatureTensor(robot_id="robot_1", request_id=1, model="alexnet", partition=3,
                               dtype="float32", shape=[1, 4], payload=list(range(16)),
                               deadline_ms=200.0)
    result = msg.InferenceResult(robot_id="robot_1", request_id=1, class_id=3, total_ms=50.0,
                                 deadline_met=True, partition=3, deadline_ms=200.0,
                                 executed_on="edge")
    return {msg.RobotStatus: status, msg.InferenceProfile: profile,
            msg.OffloadPlan: msg.OffloadPlan(plan_id=10**6, policy="robust",
                                             devices=[decision]),
            msg.ChannelState: msg.ChannelState(robot_id="robot_1", path_loss_db=100.0,
                                               channel_gain=1e-10, tx_power_w=1.0),
            msg.FeatureTensor: tensor, msg.InferenceResult: result}


class Attacker:
    """A test-side node that publishes hostile messages on every input topic and watches the
    plans of the fleet's planner (those not from its own plan writer)."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=DOMAIN)
        self.node = rclpy.create_node("hostile", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.targets = [(topic, message_class(kind.replace("/msg/", "/")))
                        for topic, kind in TOPIC_TYPES.items()]
        self.targets += [(topics.own_channel(name), msg.ChannelState) for name in ROBOTS]
        self.targets += [(topics.own_results(name), msg.InferenceResult) for name in ROBOTS]
        self.pubs = {topic: self.node.create_publisher(kind, topic, topics.QOS.get(
            topic, topics.OWN_CHANNEL_QOS)) for topic, kind in self.targets}
        self.hostile = Hostile(bases(), seed=DOMAIN)
        self.received, self.sent = [], 0
        self.node.create_subscription(msg.OffloadPlan, topics.PLAN, self._on_plan,
                                      topics.PLAN_QOS)

    def _on_plan(self, plan, info):
        self.received.append((bytes(info["publisher_gid"]["data"]), plan))

    def planner_plans(self):
        """The plans received from the fleet's planner node (by its plan writer's gid)."""
        planner = {bytes(i.endpoint_gid) for i in self.node.get_publishers_info_by_topic(
            topics.PLAN) if i.node_name == "planner"}
        assert planner, "the fleet's planner has no plan writer"
        return [plan for gid, plan in self.received if gid in planner]

    def prepare(self, rounds):
        """The messages of ``rounds`` rounds, made beforehand so that making them costs the
        attacked host nothing while it is attacked: one per topic and round, a third of them
        raw bytes that are no message."""
        def one(kind):
            raw = self.hostile.rng.random() < 1 / 3
            return self.hostile.garbage(kind) if raw else self.hostile.message(kind)
        return [[(topic, one(kind)) for topic, kind in self.targets] for _ in range(rounds)]

    def attack(self, duration_s):
        """Publish the prepared rounds, ROUNDS_PER_S a second, for ``duration_s``."""
        rounds = self.prepare(int(duration_s * ROUNDS_PER_S))
        next_round = time.monotonic()
        for messages in rounds:
            for topic, message in messages:
                self.pubs[topic].publish(message)
                self.sent += 1
            next_round += 1.0 / ROUNDS_PER_S
            self.executor.spin_once(timeout_sec=max(0.0, next_round - time.monotonic()))
        while time.monotonic() < next_round:
            self.executor.spin_once(timeout_sec=next_round - time.monotonic())

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def check_plan(plan):
    """A plan of the fleet's planner: both robots decided, finite numbers, shares within B."""
    names = {d.robot_id for d in plan.devices}
    assert set(ROBOTS) <= names, (plan.plan_id, names)
    for d in plan.devices:
        for field in ("freq_ghz", "bandwidth_hz", "energy_j", "deadline_ms", "risk"):
            assert math.isfinite(getattr(d, field)), (plan.plan_id, d.robot_id, field)
    assert math.isfinite(plan.total_energy_j)
    assert sum(d.bandwidth_hz for d in plan.devices) <= BANDWIDTH_HZ * (1 + 1e-9)


def test_a_hostile_stream_on_every_input_stops_no_node(run_fleet):
    fleet = run_fleet(DOMAIN, description([robot(name) for name in ROBOTS]))
    fleet.wait_for_frames(10, timeout_s=180)            # planned and running
    attacker = Attacker()
    try:
        attacker.attack(FUZZ_S)
        exited = [spec.label for spec, process in fleet.fleet.processes
                  if process.poll() is not None]
        assert not exited and not fleet.fleet.restarts, (exited, fleet.fleet.restarts)
        plans = attacker.planner_plans()
        assert plans, "the planner published no plan while attacked"
        complete = [i for i, p in enumerate(plans)
                    if set(ROBOTS) <= {d.robot_id for d in p.devices}]
        for plan in plans[complete[0] if complete else len(plans):]:
            check_plan(plan)
    finally:
        attacker.close()
    after = fleet.wait_for_frames(10, timeout_s=120)    # frames still flow afterwards
    assert min(after.values()) >= 10, after
    fleet.stop()
    logs = {spec.label: (fleet.fleet.out / "logs" / f"{spec.label.replace('/', '_')}.log")
            .read_text() for spec, _ in fleet.fleet.processes}
    for label, log in logs.items():
        assert "Traceback" not in log, (label, log[-3000:])
    for label in ("planner", "radio", "robot_1/robot"):     # the attack reached them
        assert "ignored" in logs[label], (label, logs[label][-3000:])
    print(f"{attacker.sent} hostile messages in {FUZZ_S:g} s, {len(plans)} plans")
