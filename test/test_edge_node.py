"""The edge node: as a real process, a managed (lifecycle) edge announces itself only once a
supervisor has configured and activated it; in this process, where its results go and how it
answers a request it cannot serve."""

import subprocess
import sys
import time

import pytest

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")
rclpy = pytest.importorskip("rclpy")

from lifecycle_msgs.msg import Transition  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402

from robust_offload.ros import topics  # noqa: E402

from conftest import REPO, ros_env  # noqa: E402

DOMAIN = 98


def spin_for(executor, seconds, until=lambda: False):
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        executor.spin_once(timeout_sec=0.05)
    return until()


def call(executor, node, service_type, name, request):
    client = node.create_client(service_type, name)
    assert spin_for(executor, 30.0, client.service_is_ready), f"{name} never came up"
    future = client.call_async(request)
    assert spin_for(executor, 30.0, future.done), f"{name} did not answer"
    return future.result()


def test_a_managed_edge_heartbeats_only_once_active(tmp_path):
    log = open(tmp_path / "edge.log", "w")
    edge = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.edge_node", "--ros-args", "--params-file",
         str(REPO / "config" / "edge.yaml"), "-p", "managed:=true",
         "-p", "compute_mode:=modelled"],
        cwd=REPO, env=ros_env(DOMAIN), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    node = rclpy.create_node("supervisor", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    heartbeats = []
    node.create_subscription(msg.InferenceProfile, topics.EDGE_PROFILE,
                             lambda m: heartbeats.append(m) if m.is_edge else None,
                             topics.STATUS_QOS)
    try:
        state = call(executor, node, GetState, "/edge/get_state", GetState.Request())
        assert state.current_state.label == "unconfigured"
        assert not spin_for(executor, 3.0, lambda: heartbeats)          # not announced
        for step in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert call(executor, node, ChangeState, "/edge/change_state",
                        ChangeState.Request(transition=Transition(id=step))).success
        assert spin_for(executor, 10.0, lambda: heartbeats), (tmp_path / "edge.log").read_text()
        state = call(executor, node, GetState, "/edge/get_state", GetState.Request())
        assert state.current_state.label == "active"
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
        edge.send_signal(2)
        assert edge.wait(timeout=20) == 0, (tmp_path / "edge.log").read_text()


def test_a_robots_results_go_on_its_own_topic_until_its_worker_is_reaped():
    """The edge answers a robot's tensor on /robust_offload/results/<robot_id> (a writer made
    with the robot's worker, destroyed when the worker is reaped), says on
    /robust_offload/edge_alive that it served a result, and publishes no shared results topic."""
    from rclpy.parameter import Parameter

    from robust_offload.ros.edge_node import EdgeNode

    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=99)
    executor = SingleThreadedExecutor(context=context)
    try:
        edge = EdgeNode(context=context, parameter_overrides=[
            Parameter("compute_mode", value="modelled"), Parameter("worker_idle_s", value=0.5)])
        probe = rclpy.create_node("probe", context=context)
        for node in (edge, probe):
            executor.add_node(node)
        results, alive = [], []
        probe.create_subscription(msg.InferenceResult, topics.own_results("r9"), results.append,
                                  topics.OWN_RESULTS_QOS)
        probe.create_subscription(msg.EdgeStatus, topics.EDGE_ALIVE, alive.append,
                                  topics.EDGE_ALIVE_QOS)
        tensors = probe.create_publisher(msg.FeatureTensor, topics.FEATURES, topics.TENSOR_QOS)
        assert spin_for(executor, 30.0, lambda: tensors.get_subscription_count() > 0)
        tensors.publish(msg.FeatureTensor(robot_id="r9", request_id=4, model="alexnet",
                                          partition=3, dtype="float32", deadline_ms=200.0))
        assert spin_for(executor, 30.0, lambda: results and alive)
        own = probe.count_publishers(topics.own_results("r9"))
        shared = probe.count_publishers(topics.RESULTS)
        assert spin_for(executor, 30.0,                               # idle: reaped
                        lambda: probe.count_publishers(topics.own_results("r9")) == 0)
        executor.shutdown()
        edge.destroy_node()
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    assert [(r.robot_id, r.request_id, r.executed_on) for r in results] == [("r9", 4, "edge")]
    assert alive[0].results_served == 1
    assert own == 1 and shared == 0


def test_a_request_the_edge_cannot_serve_is_answered_as_failed():
    """A tensor for a model the edge does not serve: the edge answers at once with a failed
    result on the robot's own topic (the robot records the miss then, not after its deadline)
    and keeps serving: the next tensor is answered."""
    from rclpy.parameter import Parameter

    from robust_offload.ros.edge_node import EdgeNode

    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=89)
    executor = SingleThreadedExecutor(context=context)
    try:
        edge = EdgeNode(context=context,
                        parameter_overrides=[Parameter("compute_mode", value="modelled")])
        probe = rclpy.create_node("probe", context=context)
        for node in (edge, probe):
            executor.add_node(node)
        results = []
        probe.create_subscription(msg.InferenceResult, topics.own_results("r7"), results.append,
                                  topics.OWN_RESULTS_QOS)
        tensors = probe.create_publisher(msg.FeatureTensor, topics.FEATURES, topics.TENSOR_QOS)
        assert spin_for(executor, 30.0, lambda: tensors.get_subscription_count() > 0)
        for request_id, model in ((5, "vgg"), (6, "alexnet")):
            tensors.publish(msg.FeatureTensor(robot_id="r7", request_id=request_id, model=model,
                                              partition=3, dtype="float32", deadline_ms=500.0,
                                              plan_id=2))
        assert spin_for(executor, 30.0, lambda: len(results) == 2)
        executor.shutdown()
        edge.destroy_node()
        probe.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    failed, served = results
    assert (failed.request_id, failed.plan_id, failed.executed_on, failed.class_id,
            failed.deadline_met) == (5, 2, "failed", -1, False)
    assert (served.request_id, served.executed_on) == (6, "edge")
