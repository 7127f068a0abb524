"""The edge node as a real process: a managed (lifecycle) edge announces itself only once a
supervisor has configured and activated it."""

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
