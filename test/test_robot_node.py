"""The robot node on real DDS: camera images drive frames, malformed images are skipped."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO

rclpy = pytest.importorskip("rclpy")


def test_camera_topic_frames_and_a_malformed_image(tmp_path):
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from robust_offload.msg import InferenceResult
    from robust_offload.ros import topics

    env = dict(os.environ, ROS_DOMAIN_ID="134", ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "robot.log", "w")
    robot = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.robot_node", "--ros-args", "--params-file",
         str(REPO / "config/robot.yaml"), "-p", "robot_id:=cam_bot", "-p", "image_topic:=/cam",
         "-p", "plan_wait_s:=0.0", "-p", "compute_mode:=modelled"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    os.environ.update(ROS_DOMAIN_ID="134", ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    rclpy.init()
    node = Node("camera")
    try:
        camera = node.create_publisher(Image, "/cam", 10)
        records = []
        node.create_subscription(InferenceResult, topics.FRAMES, records.append,
                                 topics.RESULT_QOS)
        pixels = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8).tobytes()

        def image(data, step=480):
            msg = Image(height=120, width=160, encoding="rgb8", step=step)
            msg.data = data
            msg.header.stamp = node.get_clock().now().to_msg()
            return msg

        deadline = time.time() + 60
        while camera.get_subscription_count() == 0 and time.time() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        time.sleep(2.0)
        for _ in range(3):
            camera.publish(image(pixels[:-7]))              # malformed: 7 bytes short
            time.sleep(0.5)
        sent = 3
        while len(records) < 4 and time.time() < deadline:
            camera.publish(image(pixels))
            sent += 1
            end = time.time() + 0.5
            while time.time() < end:
                rclpy.spin_once(node, timeout_sec=0.05)
        assert len(records) >= 4, f"{len(records)} frames from {sent} images"
        assert all(r.robot_id == "cam_bot" and r.executed_on == "local" for r in records)
        assert robot.poll() is None                         # still running
    finally:
        node.destroy_node()
        rclpy.shutdown()
        os.killpg(robot.pid, signal.SIGINT)
        robot.wait(timeout=20)
    text = (tmp_path / "robot.log").read_text()
    assert "image ignored: image field 'data' has" in text, text
