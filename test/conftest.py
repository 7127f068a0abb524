"""Shared fixtures: the shipped profiles and small random fleets."""

import os
import time
from pathlib import Path

import pytest

from robust_offload.contract.files import DEFAULT_PROFILE_FILE
from robust_offload.core.scenario import load_profiles

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "config" / "scenarios" / "default.yaml"


def pytest_sessionstart(session):
    """What killed DDS participants of earlier runs left in /dev/shm goes first: a port one of
    them never initialised would hang every node these tests start
    (robust_offload.orchestration.shm)."""
    from robust_offload.orchestration.shm import clean_zombie_segments

    clean_zombie_segments()


@pytest.fixture(scope="session")
def profiles():
    return load_profiles(DEFAULT_PROFILE_FILE)


class FakeClock:
    """Deterministic stand-in for time.perf_counter / time.sleep: every reading advances 1 us
    (so busy-waits end), sleep and work advance it by their duration. Emulated compute then
    takes exactly its modelled time, whatever the load of the host running the tests."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self):
        self.now += 1e-6
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(time, "perf_counter", fake.perf_counter)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake


def ros_env(domain_id: int) -> dict:
    """Environment for node subprocesses of a test: its own DDS domain on this host only."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
               HOME=env.get("HOME") or "/tmp", ROS_LOG_DIR=env.get("ROS_LOG_DIR") or "/tmp/roslog",
               PYTHONUNBUFFERED="1")
    return env


def wait_for_frames(domain_id: int, robots, count: int, timeout_s: float) -> dict[str, int]:
    """Listen on /robust_offload/frames of ``domain_id`` until every robot has ``count`` frame
    records (or ``timeout_s`` passes); returns the counts. Start-up time varies with this
    machine's load, so tests wait for frames rather than for a fixed time."""
    import rclpy
    from rclpy.node import Node

    from robust_offload.msg import InferenceResult
    from robust_offload.ros import topics

    seen = dict.fromkeys(robots, 0)
    os.environ.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    rclpy.init()
    try:
        node = Node("frame_counter")

        def count_frame(msg):
            seen[msg.robot_id] = seen.get(msg.robot_id, 0) + 1

        node.create_subscription(InferenceResult, topics.FRAMES, count_frame, topics.RESULT_QOS)
        deadline = time.time() + timeout_s
        while min(seen.values()) < count and time.time() < deadline:
            rclpy.spin_once(node, timeout_sec=0.2)
        node.destroy_node()
    finally:
        rclpy.shutdown()
    return seen
