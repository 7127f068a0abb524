"""Record the project's topics into a rosbag2 bag: the ``recorder`` node.

A stand-in for ``ros2 bag record`` where rosbag2 is not installed (pip installs): it subscribes to
every topic of :mod:`robust_offload.ros.topics` with the contract's QoS, receives serialized CDR
bytes (raw subscriptions, nothing is deserialised), and writes them with the rosbags library as a
real rosbag2 bag (version 9: metadata.yaml + .mcap or .db3, message definitions and RIHS01 type
hashes that match the live graph). ``ros2 bag info/play`` and rosbags read it.

Parameters (YAML ``recorder: ros__parameters:``):
  bag_path        output directory (must not exist); default bags/robust_offload_<timestamp>
  storage         "mcap" (default) or "sqlite3"
  exclude_topics  topics not to record, e.g. ["/robust_offload/uplink", "features"]
  flush_period_s  what was received is made durable this often (default 1 s)

The bag is closed on Ctrl-C / SIGTERM (it stays readable) and the count per topic is logged.
Killed (SIGKILL, power lost), it loses at most the last ``flush_period_s``: ``robust-offload
analyze`` reindexes such a bag (no metadata.yaml). A full disk is one ERROR line: recording
stops, the node keeps running.

Run: ``python -m robust_offload.ros.recorder_node --ros-args --params-file config/recorder.yaml``
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile

from robust_offload.core import checks
from robust_offload.analysis.bag import flush, project_typestore
from robust_offload.contract.topics import TOPIC_TYPES
from robust_offload.ros import topics
from robust_offload.ros.guard import Guarded
from robust_offload.ros.node_main import run_node
from robust_offload.ros.parameters import Param, declare_parameters

MIN_DEPTH = 10  # a recorder keeps a little more history than the small contract depths


def message_class(msgtype: str):
    """The rclpy message class of a rosbag2 type name ("pkg/msg/Name")."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def default_bag_path() -> Path:
    return Path("bags") / time.strftime("robust_offload_%Y%m%d_%H%M%S")


def _full_topic(name: str) -> str:
    return name if name.startswith("/") else f"{topics.PREFIX}/{name}"


PARAMETERS = {
    "bag_path": Param("", "output directory (must not exist); '' = "
                          "bags/robust_offload_<timestamp>"),
    "storage": Param("mcap", "rosbag2 storage plugin", choices=("mcap", "sqlite3")),
    "exclude_topics": Param([], "topics not to record, e.g. [/robust_offload/uplink]"),
    "flush_period_s": Param(1.0, "what was received is made durable this often: a killed "
                                 "recorder loses at most this much (analyze reindexes its bag)"),
}


class RecorderNode(Guarded, Node):
    """Writes every project topic it receives into a rosbag2 bag."""

    def __init__(self, **kwargs):
        super().__init__("recorder", **kwargs)
        from rosbags.rosbag2 import StoragePlugin, Writer

        p = declare_parameters(self, PARAMETERS)
        bag_path, storage = p["bag_path"] or str(default_bag_path()), p["storage"]
        exclude = p["exclude_topics"]
        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if not all(isinstance(t, str) for t in exclude):
            checks.fail("parameter", "exclude_topics", exclude, "must be a list of topic names")
        excluded = {_full_topic(t) for t in exclude if t}
        unknown = excluded - set(topics.ALL_TOPICS)
        if unknown:
            self.get_logger().warning(f"exclude_topics: not project topics, ignored: "
                                      f"{sorted(unknown)}")
        self.path = Path(bag_path)
        if self.path.exists():
            raise ValueError(f"bag_path {self.path} already exists (rosbag2 writes a new "
                             f"directory)")
        self.path.parent.mkdir(parents=True, exist_ok=True)

        typestore = project_typestore()
        self.writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self.writer.open()
        self.counts: dict[str, int] = {}
        self._closed = self._failed = False
        for topic in topics.ALL_TOPICS:
            if topic in excluded:
                continue
            msgtype, qos = TOPIC_TYPES[topic], topics.QOS[topic]
            conn = self.writer.add_connection(topic, msgtype, typestore=typestore,
                                              offered_qos_profiles=[topics.rosbags_qos(qos)])
            sub_qos = QoSProfile(history=qos.history, depth=max(qos.depth, MIN_DEPTH),
                                 reliability=qos.reliability, durability=qos.durability)
            self.counts[topic] = 0
            self.create_subscription(message_class(msgtype), topic,
                                     self._writer_callback(topic, conn), sub_qos, raw=True)
        checks.number("parameter", "flush_period_s", p["flush_period_s"], low=0.0,
                      open_low=True)
        self.create_timer(p["flush_period_s"], lambda: self._guarded(flush, self.writer))
        skipped = sorted(set(topics.ALL_TOPICS) & excluded)
        self.get_logger().info(
            f"recording {len(self.counts)} topics to {self.path} ({storage})"
            + (f", excluding {', '.join(skipped)}" if skipped else ""))

    def _guarded(self, action, *args) -> bool:
        """Run a write or flush of the bag; an OSError (a full disk, a lost mount) is one ERROR
        line and stops the recording: the node, and the fleet with it, keeps running."""
        if self._closed:
            return False
        try:
            action(*args)
        except OSError as err:
            self._closed = self._failed = True
            self.get_logger().error(
                f"recording stopped: {err} (bag {self.path}: {sum(self.counts.values())} "
                f"messages written; `robust-offload analyze` reindexes what reached the disk)")
            return False
        return True

    def _writer_callback(self, topic, conn):
        def write(data: bytes) -> None:
            if self._guarded(self.writer.write, conn, self.get_clock().now().nanoseconds, data):
                self.counts[topic] += 1
        return write

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml); safe to call twice."""
        if not self._closed:
            self._closed = True
            self.writer.close()

    def finish(self, executor) -> int:
        """On Ctrl-C / SIGTERM (see run_node): the context is still valid, so what the middleware
        already received is written, then the bag is closed; exit status 1 if closing failed."""
        code = 0
        if rclpy.ok():
            _drain(executor, self)
        try:
            self.close()
        except Exception as err:  # report, but still free the node
            self.get_logger().error(f"closing {self.path} failed: {err}")
            code = 1
        for topic, count in self.counts.items():
            self.get_logger().info(f"{topic}: {count} messages")
        total = sum(self.counts.values())
        if self._failed:
            self.get_logger().error(f"bag {self.path} not closed (recording stopped on an "
                                    f"error): {total} messages written")
            return 1
        self.get_logger().info(f"bag {self.path} closed: {total} messages")
        return code


def _drain(executor, node: RecorderNode, quiet_s: float = 0.3, max_s: float = 5.0) -> None:
    """Write what the subscriptions already hold (e.g. acknowledged just before the signal)."""
    end = time.monotonic() + max_s
    last_total, last_change = -1, time.monotonic()
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
        total = sum(node.counts.values())
        if total != last_total:
            last_total, last_change = total, time.monotonic()
        elif time.monotonic() - last_change >= quiet_s:
            return


def main(args=None) -> int:
    return run_node("recorder", RecorderNode, (ValueError, OSError), args=args,
                    interrupt_build=False)


if __name__ == "__main__":
    sys.exit(main())
