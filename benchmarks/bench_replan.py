"""Replanning latency of the planner node over real DDS (one machine, localhost discovery).

Starts `python -m robust_offload.ros.planner_node` as a process, publishes RobotStatus +
ChannelState heartbeats (1 Hz) of N fake robots (the fleets of benchmarks/bench_planner.py: mixed
AlexNet / ResNet152 in the paper's cell, B = 10 MHz per 12 robots, seed N), waits for the plan of
all N, then triggers replans by moving one robot's channel gain by 3 dB (beyond the 1 dB
hysteresis) and measures the time from publishing that ChannelState to receiving the new plan,
and the plan's solve_time_s.

    PYTHONPATH=. HOME=/tmp venv/bin/python benchmarks/bench_replan.py [--robots 4 50] [--replans 10]
"""

from __future__ import annotations

import argparse
import copy
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from robust_offload.core.generate import random_fleet
from robust_offload.contract.files import DEFAULT_PROFILE_FILE
from robust_offload.core.scenario import load_profiles
from robust_offload.msg import ChannelState, OffloadPlan, RobotStatus
from robust_offload.ros import topics

REPO = Path(__file__).resolve().parents[1]


def robots(count: int) -> tuple[float, dict[str, tuple[dict, float]]]:
    """bench_planner.py's fleet of ``count`` robots: (B, name -> (status fields, gain))."""
    fleet = random_fleet(load_profiles(DEFAULT_PROFILE_FILE), count,
                         seed=count, bandwidth_hz=10e6 * count / 12, deadline_ms=(150, 250),
                         risk=(0.02, 0.08), mix=("alexnet_nx_cpu", "resnet152_nx_gpu"))
    return fleet.bandwidth_hz, {
        d.name: (dict(profile=d.profile, model=d.profile.split("_")[0], kappa=d.kappa,
                      freq_min_ghz=d.freq_min_ghz, freq_max_ghz=d.freq_max_ghz,
                      tx_power_w=d.tx_power_w, deadline_ms=d.deadline_ms, risk=d.risk),
                 d.channel_gain)
        for d in fleet.devices}


def run(count: int, replans: int, domain: int, timeout: float = 60.0) -> dict:
    bandwidth, fleet = robots(count)
    workdir = Path(tempfile.mkdtemp(prefix="bench_replan_"))
    params = workdir / "planner.yaml"
    params.write_text(f"planner:\n  ros__parameters:\n    bandwidth_hz: {bandwidth}\n"
                      "    hysteresis_db: 1.0\n    robot_timeout_s: 5.0\n")
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONPATH=str(REPO))
    env.setdefault("HOME", "/tmp")
    log = open(workdir / "planner.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "robust_offload.ros.planner_node",
                             "--ros-args", "--params-file", str(params)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    context = Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node("bench_replan", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    # one publisher stands in for N robots: give it N robots' worth of history
    qos = copy.copy(topics.STATUS_QOS)
    qos.depth = max(qos.depth, 4 * count)
    status_pub = node.create_publisher(RobotStatus, topics.ROBOT_STATUS, qos)
    channel_pub = node.create_publisher(ChannelState, topics.CHANNEL_STATE, qos)
    plans: list[tuple[float, OffloadPlan]] = []
    node.create_subscription(OffloadPlan, topics.PLAN,
                             lambda plan: plans.append((time.monotonic(), plan)),
                             topics.PLAN_QOS)

    def publish(name):
        status, gain = fleet[name]
        status_pub.publish(RobotStatus(robot_id=name, **status))
        channel_pub.publish(ChannelState(robot_id=name, channel_gain=gain))

    node.create_timer(1.0, lambda: [publish(name) for name in fleet])

    def wait(condition, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            executor.spin_once(timeout_sec=0.01)
        raise RuntimeError(f"timed out waiting for {what}; log in {workdir}")

    def spin_for(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.01)

    latencies, solve_times = [], []
    try:
        for name in fleet:
            publish(name)
        wait(lambda: plans and len(plans[-1][1].devices) == count, f"the plan of {count} robots")
        spin_for(1.0)                                 # let the start-up plans settle
        names = list(fleet)
        for k in range(replans):
            name = names[k % count]
            status, gain = fleet[name]
            fleet[name] = (status, gain * (2.0 if k % 2 == 0 else 0.5))       # +-3 dB
            last = plans[-1][1].plan_id
            start = time.monotonic()
            channel_pub.publish(ChannelState(robot_id=name, channel_gain=fleet[name][1]))
            received, plan = wait(lambda: next(((t, p) for t, p in plans if p.plan_id > last),
                                               None), "a new plan")
            latencies.append(received - start)
            solve_times.append(plan.solve_time_s)
            spin_for(0.5)                             # space triggers beyond the 0.1 s tick
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return {"robots": count, "replans": len(latencies),
            "latency_ms_median": 1e3 * statistics.median(latencies),
            "latency_ms_max": 1e3 * max(latencies),
            "solve_ms_median": 1e3 * statistics.median(solve_times),
            "overhead_ms_median": 1e3 * statistics.median(
                lat - solve for lat, solve in zip(latencies, solve_times))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", type=int, nargs="+", default=[4, 50])
    parser.add_argument("--replans", type=int, default=10)
    parser.add_argument("--domain", type=int, default=90, help="first ROS_DOMAIN_ID to use")
    args = parser.parse_args(argv)
    print(f"{'N':>4} {'replans':>8} {'latency p50 ms':>15} {'max ms':>8} {'solve p50 ms':>13} "
          f"{'overhead p50 ms':>16}")
    for i, count in enumerate(args.robots):
        r = run(count, args.replans, args.domain + i)
        print(f"{r['robots']:>4} {r['replans']:>8} {r['latency_ms_median']:>15.1f} "
              f"{r['latency_ms_max']:>8.1f} {r['solve_ms_median']:>13.1f} "
              f"{r['overhead_ms_median']:>16.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
