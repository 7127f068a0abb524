"""Many robots in one process: the ``swarm`` (issue 11, scale).

One process per robot stops at about 120 DDS participants per host and domain, and each robot
process loads its own Python, rclpy and model. The swarm hosts ``--count`` robot nodes (each the
ordinary :class:`robust_offload.ros.robot_node.RobotNode`, with its own namespace, robot_id,
status, channel and frames) in one process and one rclpy context, so one DDS participant; they
share one copy of their model. Every robot gets the process's parameters (``--params-file``,
``-p``: the ``/**`` section of config/robot.yaml); the swarm sets ``robot_id`` and the
namespace ``/<prefix><i>`` for i = first .. first + count - 1.

``--plans-csv FILE`` writes when each robot received each plan (wall clock) and the plan's
serialized size, line by line: what the scale benchmark measures replanning latency and plan size
with.

Run: ``python -m robust_offload.ros.swarm --count 50 --ros-args --params-file config/robot.yaml
-p compute_mode:=modelled -p rate_hz:=0.5``
"""

from __future__ import annotations

import argparse
import csv
import sys
import threading
import time

from rclpy.parameter import Parameter
from rclpy.serialization import serialize_message

from robust_offload.hw.errors import HardwareError
from robust_offload.ros.node_main import run_node
from robust_offload.ros.robot_node import RobotNode


class PlanLog:
    """When each robot received each plan, and each plan's size, written to ``path`` as they
    come (a swarm stopped hard keeps what it logged)."""

    def __init__(self, path: str):
        self.sizes: dict[int, int] = {}
        self._lock = threading.Lock()
        self._file = open(path, "w", newline="", buffering=1)
        self._csv = csv.writer(self._file)
        self._csv.writerow(("robot_id", "plan_id", "received_s", "plan_bytes"))

    def received(self, robot_id: str, plan) -> None:
        now = time.time()
        with self._lock:
            if plan.plan_id not in self.sizes:
                self.sizes[plan.plan_id] = len(serialize_message(plan))
            self._csv.writerow((robot_id, plan.plan_id, now, self.sizes[plan.plan_id]))

    def close(self) -> None:
        self._file.close()


class SwarmRobot(RobotNode):
    """A robot node that also notes when it received each plan."""

    def __init__(self, log: PlanLog | None, **kwargs):
        self.plan_log = log
        super().__init__(**kwargs)

    def on_plan(self, plan, info):
        if self.plan_log is not None:
            self.plan_log.received(self.robot_id, plan)
        super().on_plan(plan, info)


def robots(count: int, first: int, prefix: str, log: PlanLog | None) -> list[SwarmRobot]:
    names = [f"{prefix}{i}" for i in range(first, first + count)]
    # no parameter services: N robots x 6 services would only grow every wait set
    return [SwarmRobot(log, namespace=f"/{name}", start_parameter_services=False,
                       parameter_overrides=[Parameter("robot_id", value=name)])
            for name in names]


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The swarm's own options, and the ROS arguments (``--ros-args`` ...) for every robot."""
    parser = argparse.ArgumentParser(prog="swarm", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="robots in this process")
    parser.add_argument("--first", type=int, default=1, help="index of the first robot")
    parser.add_argument("--prefix", default="robot_", help="robot names: <prefix><index>")
    parser.add_argument("--plans-csv", help="write plan receipts here at exit")
    parser.add_argument("--threads", type=int, default=4, help="executor threads")
    ros = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    args = parser.parse_args(argv[:ros])
    if not 1 <= args.count <= 10000:
        parser.error(f"--count {args.count}: must be 1..10000")
    return args, argv[ros:]


def main(argv=None) -> int:
    args, ros_args = parse(sys.argv[1:] if argv is None else argv)
    log = PlanLog(args.plans_csv) if args.plans_csv else None
    try:
        return run_node("swarm", lambda: robots(args.count, args.first, args.prefix, log),
                        (HardwareError,), threads=args.threads, args=["swarm", *ros_args])
    finally:
        if log is not None:
            log.close()


if __name__ == "__main__":
    sys.exit(main())
