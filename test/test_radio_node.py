"""The radio node as a real process over real DDS: air-time delay, channel state, drops."""

import math
import signal
import subprocess
import sys
import time

import pytest

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")
rclpy = pytest.importorskip("rclpy")

from rclpy.serialization import deserialize_message  # noqa: E402

from robust_offload.runtime.fdma import air_time_s, uplink_rate_bps  # noqa: E402
from robust_offload.ros import topics  # noqa: E402
from robust_offload.ros.cdr import peek_feature_tensor  # noqa: E402

from conftest import REPO, ros_env  # noqa: E402
from helpers import assert_within  # noqa: E402

DOMAIN_ID = 83
DISTANCE_M = 100.0           # path loss 98 dB
BANDWIDTH_HZ = 1.0e6         # 15.3 Mbit/s at 1 W and 100 m
PAYLOAD_BYTES = 2**20        # 1 MB: 0.55 s on the air
TOLERANCE_S = 0.02
SLACK_S = 2.0                # what the radio's scheduling may add to an air time (idle host)


def tensor(robot_id: str, request_id: int, size: int) -> "msg.FeatureTensor":
    t = msg.FeatureTensor(robot_id=robot_id, request_id=request_id, model="alexnet",
                          partition=3, dtype="int8", shape=[size])
    t.payload = bytes((request_id + i) % 251 for i in range(251)) * (size // 251) \
        + bytes(size % 251)
    return t


class Probe:
    """A test node: publishes status/plan/uplink, records channel states and features."""

    def __init__(self, domain_id: int):
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("radio_probe", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        n = self.node
        self.status_pub = n.create_publisher(msg.RobotStatus, topics.ROBOT_STATUS,
                                             topics.STATUS_QOS)
        self.plan_pub = n.create_publisher(msg.OffloadPlan, topics.PLAN, topics.PLAN_QOS)
        self.uplink_pub = n.create_publisher(msg.FeatureTensor, topics.UPLINK, topics.TENSOR_QOS)
        self.channel = {}
        self.own = []                # robot_1's states on its own topic
        self.features = []  # (monotonic arrival, robot_id, request_id, raw bytes)
        n.create_subscription(msg.ChannelState, topics.CHANNEL_STATE,
                              lambda m: self.channel.__setitem__(m.robot_id, m), topics.STATUS_QOS)
        n.create_subscription(msg.ChannelState, topics.own_channel("robot_1"), self.own.append,
                              topics.OWN_CHANNEL_QOS)
        n.create_subscription(msg.FeatureTensor, topics.FEATURES, self._on_features,
                              topics.TENSOR_QOS, raw=True)

    def _on_features(self, data):
        """Keeps the first arrival of each tensor: under heavy load the middleware has been
        seen to deliver a sample twice (the radio's own count of sent tensors is checked
        separately, from its log)."""
        robot_id, request_id, _ = peek_feature_tensor(data)
        if (robot_id, request_id) not in {(r, q) for _, r, q, _ in self.features}:
            self.features.append((time.monotonic(), robot_id, request_id, data))

    def spin_until(self, condition, timeout_s: float, every=None) -> bool:
        end = time.monotonic() + timeout_s
        next_every = 0.0
        while time.monotonic() < end:
            if every is not None and time.monotonic() >= next_every:
                every()
                next_every = time.monotonic() + 0.3
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def radio(tmp_path):
    log = open(tmp_path / "radio.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.radio_node", "--ros-args",
         "--params-file", str(REPO / "config" / "radio.yaml"),
         "-p", "static:=true", "-p", "update_period_s:=0.2",
         "-p", f"initial_distances_m:=[{DISTANCE_M}]"],
        cwd=REPO, env=ros_env(DOMAIN_ID), stdout=log, stderr=subprocess.STDOUT)
    probe = Probe(DOMAIN_ID)
    try:
        yield proc, probe, tmp_path / "radio.log"
    finally:
        probe.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def status(robot_id: str, power: float) -> "msg.RobotStatus":
    return msg.RobotStatus(robot_id=robot_id, tx_power_w=power, model="alexnet",
                           deadline_ms=180.0, risk=0.05)


def test_radio_delays_tensors_by_their_air_time(radio):
    proc, probe, log_path = radio
    # The robot appears: the radio places it at 100 m and reports its channel.
    assert probe.spin_until(lambda: "robot_1" in probe.channel, 30.0,
                            every=lambda: probe.status_pub.publish(status("robot_1", 1.0))), \
        log_path.read_text()
    cs = probe.channel["robot_1"]
    assert cs.path_loss_db == pytest.approx(38.0 + 30.0 * math.log10(DISTANCE_M), abs=1e-9)
    assert cs.channel_gain == pytest.approx(10 ** (-cs.path_loss_db / 10), rel=1e-12)
    assert cs.tx_power_w == 1.0 and cs.measured_uplink_rate_bps == 0.0  # no plan yet

    # Malformed status (NaN power) and an unplanned robot are ignored / kept without a share.
    probe.status_pub.publish(status("robot_nan", float("nan")))
    probe.status_pub.publish(status("robot_2", 0.5))

    plan = msg.OffloadPlan(plan_id=1, policy="robust")
    plan.devices = [msg.DeviceDecision(robot_id="robot_1", partition=3, freq_ghz=0.5,
                                       bandwidth_hz=BANDWIDTH_HZ, feasible=True)]
    probe.plan_pub.publish(plan)
    rate = uplink_rate_bps(BANDWIDTH_HZ, 1.0, cs.channel_gain, -174.0)
    assert probe.spin_until(lambda: probe.channel["robot_1"].measured_uplink_rate_bps > 0, 10.0)
    assert probe.channel["robot_1"].measured_uplink_rate_bps == pytest.approx(rate, rel=1e-9)
    assert probe.spin_until(lambda: "robot_2" in probe.channel, 10.0)
    assert probe.channel["robot_2"].measured_uplink_rate_bps == 0.0
    # robot_1's own topic carries its states only, the planned rate included
    # (its writer is made as robot_1 joins: matched a moment after the shared topic's)
    assert probe.spin_until(lambda: probe.own and probe.own[-1].measured_uplink_rate_bps > 0,
                            10.0)
    assert probe.own[-1].measured_uplink_rate_bps == pytest.approx(rate, rel=1e-9)
    assert {m.robot_id for m in probe.own} == {"robot_1"}

    air = air_time_s(8 * PAYLOAD_BYTES, BANDWIDTH_HZ, 1.0, cs.channel_gain, -174.0)
    assert air == pytest.approx(0.549, rel=0.01)

    # One tensor: arrives intact, not before its air time.
    first = tensor("robot_1", 1, PAYLOAD_BYTES)
    t0 = time.monotonic()
    probe.uplink_pub.publish(first)
    assert probe.spin_until(lambda: len(probe.features) >= 1, 10.0), log_path.read_text()
    arrived, robot_id, request_id, data = probe.features[0]
    delay = arrived - t0
    assert robot_id == "robot_1" and request_id == 1
    back = deserialize_message(data, msg.FeatureTensor)  # CDR padding bytes may differ
    assert bytes(back.payload) == bytes(first.payload) and list(back.shape) == [PAYLOAD_BYTES]
    assert air - TOLERANCE_S <= delay, delay
    assert_within(f"one tensor's delay (air time {air:.4f} s)", delay, air, SLACK_S)

    # Two back to back share one FDMA channel: the second ends two air times after the start.
    t0 = time.monotonic()
    probe.uplink_pub.publish(tensor("robot_1", 2, PAYLOAD_BYTES))
    probe.uplink_pub.publish(tensor("robot_1", 3, PAYLOAD_BYTES))
    assert probe.spin_until(lambda: len(probe.features) >= 3, 15.0), log_path.read_text()
    delays = [t - t0 for t, *_ in probe.features[1:]]
    assert [r for _, _, r, _ in probe.features[1:]] == [2, 3]
    print(f"back to back: {delays[0]:.4f} s, {delays[1]:.4f} s (modelled {air:.4f}, {2 * air:.4f})")
    assert delays[0] >= air - TOLERANCE_S and delays[1] >= 2 * air - TOLERANCE_S, delays

    # No bandwidth (robot_2) or no status (robot_9): dropped; robot_1 is still served.
    probe.uplink_pub.publish(tensor("robot_2", 1, 1000))
    probe.uplink_pub.publish(tensor("robot_9", 1, 1000))
    probe.uplink_pub.publish(tensor("robot_1", 4, 1000))
    assert probe.spin_until(lambda: len(probe.features) >= 4, 10.0)
    # the dropped ones went first: had they been sent, they (1000 bytes each) would have come
    # within the time the first tensor took, at most
    probe.spin_until(lambda: False, delay)
    assert [(r, q) for _, r, q, _ in probe.features[3:]] == [("robot_1", 4)]
    assert "robot_nan" not in probe.channel and proc.poll() is None

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    log = log_path.read_text()
    assert "simulated radio" in log
    assert "ignored: RobotStatus from 'robot_nan': field 'tx_power_w' = nan: must be finite" in log
    assert "dropping tensor 1 of 'robot_2'" in log and "no bandwidth" in log
    assert "robot robot_1: 4 tensors sent, 0 dropped" in log
    assert "Traceback" not in log
