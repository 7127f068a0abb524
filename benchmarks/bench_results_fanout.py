"""Results fan-out: how many edge messages reach each robot of a fleet running frames.

Starts the edge (``compute_mode: modelled``) as a process of this host and ``--robots``
modelled robots in this process (the swarm's robot nodes, one DDS participant, rclpy's
EventsExecutor). Once the edge's heartbeat is heard, every robot gets one offloading decision
(a plan published here every second: partition ``--partition``; no radio, tensors go straight
to the edge). When every robot got a result of its own, the calls of each robot's result
callback (``on_result``; ``own``: those for the robot itself) and of its edge-alive callback
(``on_alive``, where the robot has one) are counted for ``--window`` seconds. Prints results/s
per robot (median, max), the CPU of the edge and of this process (cores), and appends them as
one CSV row to ``--csv``.

    venv/bin/python benchmarks/bench_results_fanout.py [--robots 50] [--rate-hz 2] [--window 30]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from robust_offload.orchestration.runner import fleet_environment, stop_all
from robust_offload.contract.files import config_dir

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def count_calls(counts: Counter) -> None:
    """Count every call of the robots' result and edge-alive callbacks into ``counts``
    (keys: (robot id, "results" | "own" | "alive")); before the robots subscribe."""
    from robust_offload.ros.robot_node import RobotNode

    def counting(method, kind):
        def callback(self, msg, *rest):
            counts[self.robot_id, kind] += 1
            if kind == "results" and msg.robot_id == self.robot_id:
                counts[self.robot_id, "own"] += 1
            return method(self, msg, *rest)
        return callback

    for name, kind in (("on_result", "results"), ("on_alive", "alive")):
        if hasattr(RobotNode, name):
            setattr(RobotNode, name, counting(getattr(RobotNode, name), kind))


def append_row(path: str, row: dict) -> None:
    """Append ``row`` to the CSV at ``path`` (with a header when the file is new)."""
    new = not Path(path).exists()
    with open(path, "a", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def start_edge(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.edge_node", "--ros-args", "--params-file",
         str(config_dir() / "edge.yaml"), "-p", "compute_mode:=modelled"],
        stdout=open(out / "edge.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)


def plan_for(names: list[str], partition: int):
    from robust_offload.msg import DeviceDecision, OffloadPlan

    return OffloadPlan(plan_id=1, policy="bench", devices=[DeviceDecision(
        robot_id=name, partition=partition, freq_ghz=1.2, bandwidth_hz=2e6, feasible=True)
        for name in names])


def spin_until(executor, condition, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.1)
    return condition()


def measure(args, out: Path) -> dict:
    import rclpy
    from rclpy.experimental import EventsExecutor

    from robust_offload.msg import InferenceProfile, OffloadPlan
    from robust_offload.ros import topics
    from robust_offload.ros.swarm import build

    counts: Counter = Counter()
    count_calls(counts)
    rclpy.init(args=["bench", "--ros-args", "--params-file", str(config_dir() / "robot.yaml"),
                     "-p", "compute_mode:=modelled", "-p", f"rate_hz:={args.rate_hz}",
                     "-p", "plan_wait_s:=600.0", "-p", f"uplink_topic:={topics.FEATURES}"])
    edge = start_edge(out)
    nodes = build(argparse.Namespace(prefix="robot_", first=1, count=args.robots), None)
    robots = nodes[1:]
    names = [robot.robot_id for robot in robots]
    planner = rclpy.create_node("bench_planner")
    heartbeats = []
    planner.create_subscription(InferenceProfile, topics.EDGE_PROFILE, heartbeats.append,
                                topics.EDGE_PROFILE_QOS)
    plans = planner.create_publisher(OffloadPlan, topics.PLAN, topics.PLAN_QOS)
    executor = EventsExecutor()
    for node in (planner, *robots):
        executor.add_node(node)
    try:
        if not spin_until(executor, lambda: heartbeats, args.timeout):
            raise SystemExit(f"no edge heartbeat in {args.timeout:g} s ({out / 'edge.log'})")
        plan = plan_for(names, args.partition)
        planner.create_timer(1.0, lambda: plans.publish(plan))
        plans.publish(plan)
        if not spin_until(executor, lambda: all(counts[n, "own"] for n in names), args.timeout):
            print(f"only {sum(bool(counts[n, 'own']) for n in names)} of {len(names)} robots "
                  f"got a result in {args.timeout:g} s (edge log: {out / 'edge.log'})")
        before, edge0, self0, wall0 = Counter(counts), cpu_s(edge.pid), time.process_time(), \
            time.monotonic()
        spin_until(executor, lambda: False, args.window)
        wall = time.monotonic() - wall0
        edge_cpu, self_cpu = (cpu_s(edge.pid) - edge0) / wall, (time.process_time() - self0) / wall
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        planner.destroy_node()
        stop_all([edge])
        rclpy.shutdown()
    rates = {kind: [(counts[n, kind] - before[n, kind]) / wall for n in names]
             for kind in ("results", "own", "alive")}
    return {"label": args.label, "robots": args.robots, "rate_hz": args.rate_hz, "window_s": wall,
            "results_median": statistics.median(rates["results"]),
            "results_max": max(rates["results"]),
            "own_median": statistics.median(rates["own"]),
            "alive_median": statistics.median(rates["alive"]),
            "edge_cpu": edge_cpu, "robots_cpu": self_cpu}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, default=50)
    parser.add_argument("--rate-hz", type=float, default=2.0, help="frames per second per robot")
    parser.add_argument("--partition", type=int, default=7,
                        help="the planned partition point (AlexNet 7: 0.04 MB tensors)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds counted")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for every robot's first result")
    parser.add_argument("--domain", type=int, default=213, help="ROS_DOMAIN_ID of the run")
    parser.add_argument("--label", default="", help="names the run in the CSV row")
    parser.add_argument("--csv", help="append the row to this CSV")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="bench_results_fanout_"))
    os.environ.update(fleet_environment(out), ROS_DOMAIN_ID=str(args.domain),
                      ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    row = measure(args, out)
    print(f"{row['robots']} robots at {row['rate_hz']:g} Hz, {row['window_s']:.1f} s: results "
          f"per robot {row['results_median']:.1f}/s median, {row['results_max']:.1f}/s max "
          f"(own {row['own_median']:.2f}/s), edge-alive {row['alive_median']:.1f}/s; edge CPU "
          f"{row['edge_cpu']:.2f} cores, robots' process {row['robots_cpu']:.2f} cores")
    if args.csv:
        append_row(args.csv, row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
