"""The image_player node as a process: a subscriber with the sensor-data QoS receives every
image of an .npz file with its encoding, shape and bytes, the index in its frame_id."""

import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")
rclpy = pytest.importorskip("rclpy")

from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from conftest import REPO, ros_env  # noqa: E402
from helpers import log_has, wait_until  # noqa: E402
from robust_offload.ros import topics  # noqa: E402

DOMAIN = 151
RECEIVE_S = 60.0    # gives up on images that never come (a loaded host starts nodes slowly)


def start_player(tmp_path, *params):
    log = open(tmp_path / "player.log", "w")
    args = [a for p in params for a in ("-p", p)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.image_player_node", "--ros-args", *args,
         "--log-level", "image_player:=debug"],
        cwd=REPO, env=ros_env(DOMAIN), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def stop(proc) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def test_the_sensor_data_profile_is_rclpys():
    ours = topics.PLAYER_QOS["best_effort"]
    for policy in ("history", "depth", "reliability", "durability"):
        assert getattr(ours, policy) == getattr(qos_profile_sensor_data, policy), policy


def test_a_sensor_data_subscriber_receives_every_image(tmp_path):
    images = np.random.default_rng(5).integers(0, 256, (4, 8, 6), dtype=np.uint8)
    np.savez(tmp_path / "set.npz", images=images, labels=np.array([3, 1, 4, 1]))
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    node = rclpy.create_node("image_probe", context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received = {}
    node.create_subscription(Image, "/camera/image_raw",
                             lambda msg: received.setdefault(msg.header.frame_id, msg),
                             qos_profile_sensor_data)
    proc = start_player(tmp_path, f"source:={tmp_path / 'set.npz'}", "rate_hz:=20.0",
                        "loop:=true", "frame_id:=cam", "frame_id_index:=true")
    try:
        # best effort and volatile: images sent before the match are gone, the loop resends them
        assert wait_until(lambda: len(received) == len(images), RECEIVE_S,
                          step=lambda s: executor.spin_once(timeout_sec=s)), (
            sorted(received), (tmp_path / "player.log").read_text())
        now = time.time()
    finally:
        code = stop(proc)
        node.destroy_node()
        rclpy.shutdown(context=context)
    assert code == 0
    for index, image in enumerate(images):
        msg = received[f"cam/{index}"]
        assert (msg.encoding, msg.height, msg.width, msg.step) == ("mono8", 8, 6, 6)
        assert bytes(msg.data) == image.tobytes()
        assert 0 <= now - (msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9) < RECEIVE_S
    log = tmp_path / "player.log"
    assert log_has(log, "4 images (8x6x1, labelled), looping") and log_has(log, "image 2 (label 4)")


def test_a_missing_source_is_one_error_line_and_exit_2(tmp_path):
    proc = start_player(tmp_path, f"source:={tmp_path / 'none.npz'}")
    assert proc.wait(timeout=60) == 2
    assert log_has(tmp_path / "player.log", "field 'source'")
