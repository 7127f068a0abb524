"""Many robots in one process: the ``swarm``.

One process per robot stops at about 120 DDS participants per host and domain, and each robot
process loads its own Python, rclpy and model. The swarm hosts ``--count`` robot nodes (each the
ordinary :class:`robust_offload.ros.robot_node.RobotNode`, with its own namespace, robot_id,
status, channel and frames) in one process and one rclpy context, so one DDS participant; they
share one copy of their model. Every robot gets the process's parameters (``--params-file``,
``-p``: the ``/**`` section of config/robot.yaml); the swarm sets ``robot_id`` and the
namespace ``/<prefix><i>`` for i = first .. first + count - 1.

Idle robot nodes cost CPU in the executor: 25 nodes of 4 subscriptions and a timer each, 20
messages a second to each, took 23 % of a core on a single-threaded executor and 3 % on rclpy's
EventsExecutor (measured here). So the robots spin on the EventsExecutor (``--executor``). It
cannot give a callback its message info, which a robot's plan check needs (the planner's writer
gid): one plan subscription per process (:class:`PlanFanout`, its own executor thread) hands
each plan to every robot, deserialised once instead of once per robot.

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

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.experimental import EventsExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.serialization import serialize_message

from robust_offload.hw.errors import HardwareError
from robust_offload.msg import OffloadPlan
from robust_offload.ros import topics
from robust_offload.ros.guard import Guarded
from robust_offload.ros.node_main import SPIN_PERIOD_S, run_node
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


class PlanFanout(Guarded, Node):
    """The swarm's one plan subscription: each plan is received and deserialised once per
    process and handed, with its message info (the planner's writer gid, which each robot's
    Gate checks), to every robot's ``on_plan`` in turn; ``log`` notes each robot's receipt.

    It spins on a single-threaded executor of its own (a thread): rclpy's EventsExecutor, which
    runs the robots, cannot give a callback its message info."""

    def __init__(self, name: str, robots: list[RobotNode], log: PlanLog | None):
        super().__init__(name, start_parameter_services=False)
        self.robots, self.log = robots, log
        self.create_subscription(OffloadPlan, topics.PLAN, self.on_plan, topics.PLAN_QOS)
        self._stop = threading.Event()
        self._executor = SingleThreadedExecutor()     # the node only keeps a weak reference
        self._executor.add_node(self)
        self._thread = threading.Thread(target=self._spin, name="plans", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and rclpy.ok():
            self._executor.spin_once(timeout_sec=SPIN_PERIOD_S)

    def on_plan(self, plan: OffloadPlan, info) -> None:
        for robot in self.robots:   # one robot failing on a plan does not keep it from others
            if self.log is not None:
                self.log.received(robot.robot_id, plan)
            robot.guard.run("on_plan", topics.PLAN, robot.on_plan, plan, info)

    def destroy_node(self):
        self._stop.set()
        self._thread.join(timeout=10.0)
        self._executor.shutdown()
        return super().destroy_node()


def build(args: argparse.Namespace, log: PlanLog | None) -> list[Node]:
    """The plan fan-out first (so it stops before the robots it feeds), then the robots."""
    names = [f"{args.prefix}{i}" for i in range(args.first, args.first + args.count)]
    # no parameter services: N robots x 6 services would only grow every wait set
    robots = [RobotNode(subscribe_plans=False, namespace=f"/{name}",
                        start_parameter_services=False,
                        parameter_overrides=[Parameter("robot_id", value=name)])
              for name in names]
    return [PlanFanout(f"swarm_{args.prefix}{args.first}", robots, log), *robots]


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The swarm's own options, and the ROS arguments (``--ros-args`` ...) for every robot."""
    parser = argparse.ArgumentParser(prog="swarm", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="robots in this process")
    parser.add_argument("--first", type=int, default=1, help="index of the first robot")
    parser.add_argument("--prefix", default="robot_", help="robot names: <prefix><index>")
    parser.add_argument("--plans-csv", help="write each robot's plan receipts here")
    parser.add_argument("--executor", choices=("events", "threads"), default="events",
                        help="the robots' executor: rclpy's EventsExecutor, or a threaded one")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of --executor threads (1: single-threaded)")
    ros = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    args = parser.parse_args(argv[:ros])
    if not 1 <= args.count <= 10000:
        parser.error(f"--count {args.count}: must be 1..10000")
    return args, argv[ros:]


def main(argv=None) -> int:
    args, ros_args = parse(sys.argv[1:] if argv is None else argv)
    log = PlanLog(args.plans_csv) if args.plans_csv else None
    try:
        return run_node("swarm", lambda: build(args, log), (HardwareError,),
                        threads=args.threads, args=["swarm", *ros_args],
                        make_executor=EventsExecutor if args.executor == "events" else None)
    finally:
        if log is not None:
            log.close()


if __name__ == "__main__":
    sys.exit(main())
