"""The swarm (robust_offload/ros/swarm.py): many robot nodes in one process, each its own robot
for the planner; its options; its plan receipts."""

import csv
import signal
import subprocess
import sys

import pytest

from robust_offload.ros.swarm import parse

from conftest import REPO, ros_env, wait_for_frames

CONFIG = REPO / "config"


def test_options_and_ros_arguments_are_split():
    args, ros = parse(["--count", "3", "--first", "7", "--ros-args", "-p", "rate_hz:=2.0"])
    assert (args.count, args.first, args.prefix) == (3, 7, "robot_")
    assert ros == ["--ros-args", "-p", "rate_hz:=2.0"]
    with pytest.raises(SystemExit):
        parse(["--count", "0"])


@pytest.mark.parametrize("executor", ["events", "threads"])
def test_three_robots_in_one_process_are_planned_and_run(tmp_path, executor):
    """On either executor: the robots' plans come through the swarm's one plan subscription."""
    env = ros_env(172)
    planner = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.planner_node", "--ros-args", "--params-file",
         str(CONFIG / "planner.yaml"), "-p", "discovery_s:=1.0"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    receipts = tmp_path / "plans.csv"
    swarm = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.swarm", "--count", "3", "--first", "4",
         "--executor", executor, "--plans-csv", str(receipts), "--ros-args", "--params-file",
         str(CONFIG / "robot.yaml"), "-p", "compute_mode:=modelled", "-p", "plan_wait_s:=5.0"],
        env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        names = ["robot_4", "robot_5", "robot_6"]
        assert min(wait_for_frames(172, names, 3, timeout_s=90).values()) >= 3
    finally:
        for process in (swarm, planner):
            process.send_signal(signal.SIGINT)
        assert swarm.wait(timeout=30) == 0
        planner.wait(timeout=30)
    with open(receipts, newline="") as f:
        rows = list(csv.DictReader(f))
    by_plan = {}
    for row in rows:
        by_plan.setdefault(row["plan_id"], set()).add(row["robot_id"])
        assert int(row["plan_bytes"]) > 0
    assert set(names) in by_plan.values()       # one plan reached all three robots
