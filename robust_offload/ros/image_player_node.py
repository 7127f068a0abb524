"""The ``image_player`` node: a data set played as a camera, sensor_msgs/Image at ``rate_hz``.

Publishes the images of ``source`` (an .npz file with uint8 ``images`` and optional ``labels``,
or a folder of png/jpg files: :mod:`robust_offload.runtime.image_player`) on ``image_topic``,
mono8 or rgb8 by their channels, stamped with the node's clock at publication, with the
sensor-data QoS (best effort, keep last 5; ``reliability: reliable`` for reliable readers). After
the last image it stops, or starts over with ``loop``.

``frame_id_index: true`` makes each header's frame_id ``<frame_id>/<index>``, the image's index
in the source: a robot copies its camera image's header into the frame's InferenceResult
(``image_header``), so each answer names the data-set image it answers and its label can be
looked up. Each image published is logged at DEBUG (index, label, stamp), the start and end of
each pass at INFO.

Run: ``python -m robust_offload.ros.image_player_node --ros-args -p source:=DIR/heldout.npz
-p rate_hz:=10.0``
"""

from __future__ import annotations

import sys

from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from robust_offload.core import checks
from robust_offload.ros import topics
from robust_offload.ros.guard import Guarded
from robust_offload.ros.node_main import run_node
from robust_offload.ros.parameters import Param, declare_parameters
from robust_offload.runtime.image_player import Frame, ImagePlayer

PARAMETERS = {
    "source": Param("", ".npz file (uint8 'images' (N, H, W) or (N, H, W, C), optional "
                        "'labels') or folder of png/jpg images"),
    "image_topic": Param("camera/image_raw", "sensor_msgs/Image topic to publish on"),
    "rate_hz": Param(10.0, "images published per second"),
    "loop": Param(False, "start over after the last image (false: stop)"),
    "frame_id": Param("camera", "header.frame_id of every image"),
    "frame_id_index": Param(False, "header.frame_id is '<frame_id>/<index>', the image's index "
                                   "in the source"),
    "reliability": Param("best_effort", "QoS reliability (sensor-data profile: keep last 5)",
                         choices=tuple(topics.PLAYER_QOS)),
}


def image_message(frame: Frame, header: Header) -> Image:
    """The sensor_msgs/Image of a frame (row-major, ``step`` = width x channels)."""
    height, width, _ = frame.pixels.shape
    return Image(header=header, height=height, width=width, encoding=frame.encoding,
                 is_bigendian=0, step=frame.step, data=frame.pixels.tobytes())


class ImagePlayerNode(Guarded, Node):
    """Publishes one image of its source per timer tick (see the module docstring)."""

    def __init__(self, **kwargs):
        super().__init__("image_player", **kwargs)
        self.p = declare_parameters(self, PARAMETERS)
        checks.number("parameter", "rate_hz", self.p["rate_hz"], low=0.0, open_low=True)
        checks.text("parameter", "frame_id", self.p["frame_id"], allow_empty=True)
        self.player = ImagePlayer.of(self.p["source"], loop=self.p["loop"])
        self.publisher = self.create_publisher(Image, self.p["image_topic"],
                                               topics.PLAYER_QOS[self.p["reliability"]])
        self.timer = self.create_timer(1.0 / self.p["rate_hz"], self.tick)
        self.get_logger().info(
            f"playing {self.p['source']}: {self.player.describe()} on "
            f"{self.publisher.topic_name} at {self.p['rate_hz']:g} Hz "
            f"({self.p['reliability']})")

    def frame_id(self, frame: Frame) -> str:
        base = self.p["frame_id"]
        return f"{base}/{frame.index}" if self.p["frame_id_index"] else base

    def tick(self) -> None:
        frame = self.player.next()
        if frame is None:
            self.timer.cancel()
            self.get_logger().info(f"played all {len(self.player)} images; stopped")
            return
        if frame.index == 0 and self.player.position > 1:
            self.get_logger().info(f"pass {self.player.position // len(self.player) + 1}: "
                                   f"starting over")
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id(frame))
        self.publisher.publish(image_message(frame, header))
        label = "" if frame.label is None else f" (label {frame.label})"
        self.get_logger().debug(f"image {frame.index}{label} at stamp "
                                f"{header.stamp.sec}.{header.stamp.nanosec:09d}")


def main(args=None) -> int:
    return run_node("image_player", ImagePlayerNode, args=args)


if __name__ == "__main__":
    sys.exit(main())
