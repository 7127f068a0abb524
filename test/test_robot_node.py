"""The robot node on real DDS: camera images drive frames, malformed images are skipped."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO
from helpers import file_parameter, log_has, wait_until
from robust_offload.core.checks import InputError

rclpy = pytest.importorskip("rclpy")

ROBOT_YAML = REPO / "config/robot.yaml"
WAIT_S = 60.0     # gives up on an event that does not come (start-up on a loaded host)


def start_robot(tmp_path, domain: int, *params):
    """A modelled robot node process on ``domain`` (log: tmp_path/robot.log), frames from the
    start; this test process joins the same domain."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    overrides = [arg for p in ("plan_wait_s:=0.0", "compute_mode:=modelled", *params)
                 for arg in ("-p", p)]
    robot = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.robot_node", "--ros-args", "--params-file",
         str(ROBOT_YAML), *overrides],
        env=env, stdout=open(tmp_path / "robot.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    return robot


def stop_all(node, robot):
    """Shut the test's node down and stop the robot process (SIGINT: a clean shutdown)."""
    node.destroy_node()
    rclpy.shutdown()
    os.killpg(robot.pid, signal.SIGINT)
    robot.wait(timeout=20)

def test_camera_topic_frames_and_a_malformed_image(tmp_path):
    """A camera publishing with the sensor-data QoS (best effort, as camera drivers do) feeds
    the robot's frames, each answered with the model's top-k and the header of its image; a
    malformed image is ignored with one line."""
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from robust_offload.msg import InferenceResult
    from robust_offload.ros import topics

    robot = start_robot(tmp_path, 134, "robot_id:=cam_bot", "image_topic:=/cam",
                        "compute_mode:=real")
    rclpy.init()
    node = Node("camera")
    try:
        camera = node.create_publisher(Image, "/cam", qos_profile_sensor_data)
        records = []
        node.create_subscription(InferenceResult, topics.FRAMES, records.append,
                                 topics.RESULT_QOS)
        pixels = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8).tobytes()

        def image(data, step=480):
            msg = Image(height=120, width=160, encoding="rgb8", step=step)
            msg.data = data
            msg.header.stamp = node.get_clock().now().to_msg()
            msg.header.frame_id = "cam_optical"
            stamps.add((msg.header.stamp.sec, msg.header.stamp.nanosec))
            return msg

        frame_s = 1 / file_parameter(ROBOT_YAML, "/**", "rate_hz")   # the robot takes one
        sent, stamps = [], set()                                     # image per frame

        def spin(seconds):
            rclpy.spin_once(node, timeout_sec=seconds)

        def publish(data):
            def step(_):
                camera.publish(image(data))
                sent.append(data)
                end = time.monotonic() + frame_s
                while time.monotonic() < end:
                    spin(0.05)
            return step

        assert wait_until(lambda: camera.get_subscription_count() > 0, WAIT_S, step=spin)
        # malformed (7 bytes short) until the robot's frame loop has taken and ignored one
        ignored = tmp_path / "robot.log", "image ignored: image field 'data' has"
        assert wait_until(lambda: log_has(*ignored), WAIT_S, step=publish(pixels[:-7])), \
            f"{len(sent)} malformed images sent, none ignored"
        assert wait_until(lambda: len(records) >= 4, WAIT_S, step=publish(pixels)), \
            f"{len(records)} frames from {len(sent)} images"
        assert all(r.robot_id == "cam_bot" and r.executed_on == "local" for r in records)
        top_k = file_parameter(ROBOT_YAML, "/**", "top_k")
        for r in records:
            assert r.image_header.frame_id == "cam_optical"
            assert (r.image_header.stamp.sec, r.image_header.stamp.nanosec) in stamps
            assert len(r.class_ids) == top_k and r.class_id == r.class_ids[0]
            assert list(r.scores) == sorted(r.scores, reverse=True) and sum(r.scores) <= 1.0
        assert robot.poll() is None                         # still running
    finally:
        stop_all(node, robot)


def test_with_a_fleet_key_only_signed_fresh_plans_command_the_robot(tmp_path):
    """A rogue participant's unsigned plan, a forged one and a replayed one are ignored and
    named in the log; the planner's signed plan is applied."""
    from rclpy.node import Node

    from robust_offload.msg import DeviceDecision, OffloadPlan, RobotStatus
    from robust_offload.ros import topics
    from robust_offload.ros.auth import sign
    from robust_offload.runtime.auth import Signer

    key = tmp_path / "fleet.key"
    key.write_text("5f1c0e7a9d2b4c6e8f0a1b3c5d7e9f1a\n")
    robot = start_robot(tmp_path, 138, "robot_id:=r1", f"auth_key_file:={key}")
    rclpy.init()
    node = Node("rogue_and_planner")
    statuses = []
    try:
        plans = node.create_publisher(OffloadPlan, topics.PLAN, topics.PLAN_QOS)
        node.create_subscription(RobotStatus, topics.ROBOT_STATUS, statuses.append,
                                 topics.STATUS_QOS)

        def plan(plan_id):
            return OffloadPlan(plan_id=plan_id, policy="robust", devices=[DeviceDecision(
                robot_id="r1", partition=3, freq_ghz=0.6, bandwidth_hz=2e6, feasible=True)])

        def spin_until(condition, seconds=60.0):
            end = time.time() + seconds
            while not condition() and time.time() < end:
                rclpy.spin_once(node, timeout_sec=0.1)
            return condition()

        assert spin_until(lambda: plans.get_subscription_count() > 0 and statuses)
        genuine = sign(plan(5), Signer(key.read_bytes().strip()))
        log = tmp_path / "robot.log"
        for msg, said in ((plan(999), "ignored plan #999: unsigned"),
                          (sign(plan(42), Signer(b"not the fleet key at all!")),
                           "ignored plan #42: bad signature"),
                          (genuine, None), (genuine, "ignored plan #5: stale epoch")):
            plans.publish(msg)                           # unsigned, forged, good, replay
            if said:       # each is judged (and the good one applied) before the next goes
                assert spin_until(lambda: log_has(log, said)), log.read_text()
            else:
                assert spin_until(lambda: statuses[-1].plan_id == 5), \
                    [s.plan_id for s in statuses]
        assert {s.plan_id for s in statuses} <= {0, 5}       # 999 and 42 never applied
        assert robot.poll() is None
    finally:
        stop_all(node, robot)
    text = (tmp_path / "robot.log").read_text()
    for why in ("ignored plan #999: unsigned", "ignored plan #42: bad signature",
                "ignored plan #5: stale epoch"):
        assert why in text, text
    assert "control messages signed and checked with the fleet key" in text


def test_a_robot_meets_no_other_robots_endpoint():
    """No robot endpoint is matched with another robot's (N^2 reliable pairs at N robots): the
    robot hears the edge's heartbeats on their own topic, not the robots' profiles, its channel
    states and its results on topics of its own, and has no channel-state writer while a radio
    publishes them."""
    import rclpy
    from rclpy.parameter import Parameter

    from robust_offload.ros import topics
    from robust_offload.ros.robot_node import RobotNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=176)
    try:
        node = RobotNode(context=context, parameter_overrides=[
            Parameter("robot_id", value="robot_7"), Parameter("compute_mode", value="modelled")])
        filtered = {s.topic_name for s in node.subscriptions if s.is_cft_enabled}
        heard = {name for name, _ in node.get_subscriber_names_and_types_by_node(
            node.get_name(), node.get_namespace())}
        sent = {p.topic_name for p in node.publishers}
        node.loop.stop()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert not filtered
    assert heard >= {topics.EDGE_PROFILE, topics.EDGE_ALIVE,
                     "/robust_offload/channel_state/robot_7", "/robust_offload/results/robot_7"}
    assert not heard & {topics.PROFILE, topics.CHANNEL_STATE, topics.RESULTS}
    assert topics.PROFILE in sent and topics.CHANNEL_STATE not in sent
    with pytest.raises(InputError, match="field 'robot_id' = \"it's\": must be a ROS name"):
        topics.own_channel("it's")            # no topic from an id that is no name


def spin_until(executor, condition, seconds=30.0, step=None):
    """Spin until ``condition()`` (``step()`` before each turn); returns whether it held."""
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        if step:
            step()
        executor.spin_once(timeout_sec=0.02)
    return condition()


def test_a_robot_receives_its_own_results_only():
    """Each robot of a process reads its own results topic: robot_8's result reaches robot_8
    only, and a result for robot_8 on robot_7's topic is not robot_7's."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from robust_offload.msg import InferenceResult
    from robust_offload.ros import topics
    from robust_offload.ros.robot_node import RobotNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=178)
    executor = SingleThreadedExecutor(context=context)
    try:
        got = {}
        for name in ("robot_7", "robot_8"):
            robot = RobotNode(context=context, namespace=f"/{name}", parameter_overrides=[
                Parameter("robot_id", value=name), Parameter("compute_mode", value="modelled"),
                Parameter("plan_wait_s", value=600.0)])
            robot.loop.result = lambda request_id, edge_ms, answer, failed, name=name: \
                got.setdefault(name, []).append(request_id)
            executor.add_node(robot)
        edge = rclpy.create_node("fake_edge", context=context)
        executor.add_node(edge)
        pubs = {name: edge.create_publisher(InferenceResult, topics.own_results(name),
                                            topics.OWN_RESULTS_QOS)
                for name in ("robot_7", "robot_8")}
        assert spin_until(executor, lambda: all(p.get_subscription_count() for p in
                                                pubs.values()))
        pubs["robot_7"].publish(InferenceResult(robot_id="robot_8", request_id=87))
        pubs["robot_7"].publish(InferenceResult(robot_id="robot_7", request_id=7))
        pubs["robot_8"].publish(InferenceResult(robot_id="robot_8", request_id=8))
        assert spin_until(executor, lambda: len(got) == 2)
        executor.shutdown()
        for node in executor.get_nodes():
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert got == {"robot_7": [7], "robot_8": [8]}


def test_an_overdue_frame_does_not_send_a_robot_local_while_the_edge_is_alive(tmp_path):
    """The robot's own frame is overdue, but the edge's signed alive signal says it answers
    others: the next frame is offloaded; a forged signal is ignored. When the signal stops, the
    next frame one deadline later runs locally."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from robust_offload.msg import EdgeStatus
    from robust_offload.ros import topics
    from robust_offload.ros.auth import sign
    from robust_offload.ros.robot_node import RobotNode
    from robust_offload.runtime.auth import Signer
    from robust_offload.runtime.robot import AppliedDecision

    key = tmp_path / "fleet.key"
    key.write_text("5f1c0e7a9d2b4c6e8f0a1b3c5d7e9f1a\n")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=179)
    executor = SingleThreadedExecutor(context=context)
    try:
        robot = RobotNode(context=context, parameter_overrides=[
            Parameter("compute_mode", value="modelled"), Parameter("plan_wait_s", value=600.0),
            Parameter("deadline_ms", value=300.0), Parameter("auth_key_file", value=str(key))])
        robot.loop.stop()
        robot.thread.join()
        sent, warnings = [], []
        robot.loop.send, robot.loop.warn = sent.append, warnings.append
        edge = rclpy.create_node("fake_edge", context=context)
        for node in (robot, edge):
            executor.add_node(node)
        alive = edge.create_publisher(EdgeStatus, topics.EDGE_ALIVE, topics.EDGE_ALIVE_QOS)
        signer = Signer(key.read_bytes().strip())
        watch = robot.loop.edge

        def signal():
            alive.publish(sign(EdgeStatus(results_served=len(sent)), signer))

        assert spin_until(executor, lambda: alive.get_subscription_count() > 0)
        alive.publish(sign(EdgeStatus(results_served=1), Signer(b"not the fleet key at all!")))
        assert spin_until(executor, lambda: robot.gate.verifier.rejected)
        robot.runtime.set_decision(AppliedDecision(1, 1, 1.2, 2e6))
        robot.loop.heard()
        robot.loop.one_frame()                             # offloaded; no result comes back
        heard = watch.sign_of_life
        assert spin_until(executor, lambda: watch.sign_of_life > heard, step=signal)
        assert spin_until(executor, lambda: robot.runtime.overdue(time.time()), step=signal)
        heard = watch.sign_of_life
        assert spin_until(executor, lambda: watch.sign_of_life > heard, step=signal)
        robot.loop.one_frame()
        offloaded = len(sent)
        assert spin_until(executor, lambda: time.monotonic() - watch.sign_of_life >
                          robot.runtime.deadline_s)          # the signal stops
        robot.loop.one_frame()
        executor.shutdown()
        for node in (robot, edge):
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert dict(robot.gate.verifier.rejected) == {"bad signature": 1}
    assert offloaded == 2 and len(sent) == 2                 # the last frame ran locally
    assert sum(w.startswith("no sign of the edge") for w in warnings) == 1
    assert warnings[-1].startswith("no sign of the edge")


def test_a_robot_sends_its_status_each_call_and_its_profile_once_per_period(monkeypatch):
    """The measured profile goes out every profile_period_s (5 s by default), not with every
    1 Hz status: each one reaches every reader of /profile (at N = 100, 100 profiles a second
    were a fifth of a swarm's CPU); not with the first status (the planner ignored 21-214 first
    profiles per scale run, their statuses not yet heard). The node's clock is the test's: the
    calls are as far apart as it says, however loaded the host."""
    import types

    import rclpy
    from rclpy.parameter import Parameter

    from robust_offload.ros import robot_node
    from robust_offload.ros.robot_node import RobotNode

    period_s = file_parameter(ROBOT_YAML, "/**", "profile_period_s")
    now = [1000.0]
    monkeypatch.setattr(robot_node, "time", types.SimpleNamespace(monotonic=lambda: now[0],
                                                                  time=time.time))
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=177)
    try:
        node = RobotNode(context=context, parameter_overrides=[
            Parameter("compute_mode", value="modelled")])
        sent = {"status": [], "profile": []}
        node.status_pub = type("Pub", (), {"publish": sent["status"].append})
        node.profile_pub = type("Pub", (), {"publish": sent["profile"].append})
        node.publish_status()
        alone = len(sent["profile"])                     # the planner does not know it yet
        node.publish_status()
        now[0] += 0.9 * period_s
        node.publish_status()
        first = len(sent["profile"])
        now[0] += 0.1 * period_s                         # one period after the first profile
        node.publish_status()
        node.loop.stop()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert len(sent["status"]) == 4 and alone == 0 and first == 1
    assert len(sent["profile"]) == 2
    assert not sent["profile"][0].is_edge and sent["profile"][0].source == "robot_1"


def test_a_robot_without_a_radio_publishes_and_uses_its_own_channel_state():
    """publish_channel_state (no radio): the robot sends its channel state to the planner and
    takes the gain itself (it does not read the shared topic), so its frames' transmit energy,
    eq. (4), has a channel estimate."""
    import rclpy
    from rclpy.parameter import Parameter

    from robust_offload.core.channel import gain_at_distance
    from robust_offload.ros.robot_node import RobotNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=177)
    try:
        node = RobotNode(context=context, parameter_overrides=[
            Parameter("compute_mode", value="modelled"),
            Parameter("publish_channel_state", value=True),
            Parameter("distance_m", value=50.0)])
        before = node.runtime.snr_scale_hz
        states = []
        node.channel_pub = type("Pub", (), {"publish": states.append})
        node.publish_status()
        after = node.runtime.snr_scale_hz
        node.loop.stop()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    gain, _ = gain_at_distance(50.0)
    assert before is None and after is not None and after > 0
    assert [(s.robot_id, s.channel_gain) for s in states] == [("robot_1", gain)]

