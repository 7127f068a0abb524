"""The launch files, run by the real ``ros2 launch`` (launch + launch_ros), as a user runs them.

Each test starts ``ros2 launch robust_offload ...`` as a process of its own, with a PATH that does
not contain the venv (nodes must find their interpreter themselves), waits for frame records on
its own ROS_DOMAIN_ID, stops launch with SIGINT (Ctrl-C) and checks: every node started and
finished cleanly within launch's SIGINT -> SIGTERM grace period (no escalation), no node logged an
error on the way down, and the recorded bag holds the robots' frames and plans. The grace period
is launch's default on an idle host; a loaded one stretches it by its load factor (launch's
``sigterm_timeout``), as it stretches the nodes' shutdown.

Needs the launch tooling: scripts/install installs it from ../shared/wheels, a full ROS 2 install
has it; without either these tests skip. ``launch_ros`` imports ``composition_interfaces``, which
has no wheel: test/standins provides the import.
"""

import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from robust_offload.analysis.analyze import analyze
from robust_offload.contract.topics import PACKAGE

from conftest import REPO, ros_env, wait_for_frames
from helpers import load_factor

ROS2 = Path(sys.executable).with_name("ros2")
pytestmark = pytest.mark.skipif(
    not ROS2.exists() or find_spec("launch_ros") is None,
    reason="ROS 2 launch tooling not installed (scripts/install takes it from ../shared/wheels; "
           "a full ROS 2 install has it)")

SHARE = Path(sys.prefix) / "share" / PACKAGE / "config"
SIGTERM_TIMEOUT_S = 5.0   # launch's default grace period between SIGINT and SIGTERM
ROBOT = {"model": "alexnet", "profile": "alexnet_nx_cpu", "compute_mode": "modelled",
         "rate_hz": 4.0, "deadline_ms": 220.0, "risk": 0.1, "plan_wait_s": 30.0}
# Runs the command with SIGINT at its default: a job started in the background of a
# non-interactive shell (nohup, CI runners) inherits SIGINT ignored, and launch then never sees
# the Ctrl-C that the test sends.
WITH_SIGINT = [sys.executable, "-c", "import os, signal, sys; "
               "signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"]


class Launch:
    """``ros2 launch robust_offload <file> <args>`` as a process; its output goes to a log."""

    def __init__(self, tmp_path: Path, domain: int, launch_file: str, *args: str):
        env = ros_env(domain)
        env.update(PATH="/usr/bin:/bin", AMENT_PREFIX_PATH=sys.prefix,
                   PYTHONPATH=str(REPO / "test" / "standins"))
        env.pop("VIRTUAL_ENV", None)
        self.log = tmp_path / f"{launch_file}.log"
        self.grace_s = round(SIGTERM_TIMEOUT_S * load_factor(), 1)
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [*WITH_SIGINT, str(ROS2), "launch", PACKAGE, launch_file, *args,
                 f"sigterm_timeout:={self.grace_s}"], cwd=tmp_path, env=env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text()

    def interrupt(self) -> float:
        """Ctrl-C: SIGINT to launch (which forwards it to every node); seconds until it exits."""
        start = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=3 * self.grace_s)
        finally:
            self.kill()
        return time.monotonic() - start

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def launch(tmp_path):
    started = []

    def start(domain, launch_file, *args):
        started.append(Launch(tmp_path, domain, launch_file, *args))
        return started[-1]

    yield start
    for item in started:
        item.kill()


def assert_clean_stop(item: Launch, nodes: int, stop_s: float):
    print(f"{item.log.name}: stopped {stop_s:.2f} s after SIGINT (launch's grace period "
          f"{item.grace_s:g} s)")
    text = item.text()
    assert text.count("process started with pid") == nodes, text
    assert text.count("process has finished cleanly") == nodes, text
    assert stop_s < item.grace_s, text
    assert "SIGTERM" not in text and "process has died" not in text, text
    assert "Traceback" not in text and "frame failed" not in text, text
    assert item.process.returncode == 0, text


def write_yaml(path: Path, content: dict) -> str:
    path.write_text(yaml.safe_dump(content))
    return str(path)


@pytest.mark.parametrize("managed", [False, True])
def test_fleet_launch_file_runs_the_fleet_file(launch, tmp_path, managed):
    """The fleet file's nodes; with managed:=true planner and edge are lifecycle nodes that
    launch configures and activates (robots are planned and offload only then)."""
    bag = tmp_path / "bag"
    fleet = {"fleet": {
        "planner": {"params_file": str(SHARE / "planner.yaml"),
                    "parameters": {"bandwidth_hz": 20e6}},
        "edge": {"params_file": str(SHARE / "edge.yaml"),
                 "parameters": {"compute_mode": "modelled"}},
        "radio": {"params_file": str(SHARE / "radio.yaml"), "parameters": {"static": True}},
        "recorder": {"params_file": str(SHARE / "recorder.yaml"),
                     "parameters": {"bag_path": str(bag)}},
        "robots": [{"name": name, "params_file": str(SHARE / "robot.yaml"), "parameters": ROBOT}
                   for name in ("rover_a", "rover_b")]}}
    domain = 146 if managed else 141
    item = launch(domain, "fleet.launch.py",
                  f"fleet_file:={write_yaml(tmp_path / 'fleet.yaml', fleet)}",
                  f"managed:={str(managed).lower()}")
    seen = wait_for_frames(domain, ["rover_a", "rover_b"], 10, timeout_s=120)
    assert min(seen.values()) >= 10, (seen, item.text())
    assert_clean_stop(item, 6, item.interrupt())
    rows = {row["robot_id"]: row for row in analyze(bag)}
    assert set(rows) == {"rover_a", "rover_b"}    # the fleet file took effect
    for row in rows.values():
        assert row["frames"] >= 10 and row["plans"] >= 1, row
    if managed:       # they wait unconfigured until launch drives them (managed: true)
        text = item.text()
        assert "[edge]: active" in text and "[planner]: active" in text, text


@pytest.mark.parametrize("radio", [True, False])
def test_edge_and_robot_launch_files(launch, tmp_path, radio):
    """The two-host set-up: edge.launch.py on the edge, robot.launch.py on a robot. With the
    defaults of both (simulated radio) and without the radio emulator (robots send features to
    the edge directly and report their own channel), the robot gets plans and offloads."""
    domain = 142 + radio
    bag = tmp_path / "bag"
    edge_args = [f"params_file:={write_yaml(tmp_path / 'edge.yaml', {'edge': {'ros__parameters': {'compute_mode': 'modelled'}}})}",  # noqa: E501
                 f"recorder_params_file:={write_yaml(tmp_path / 'recorder.yaml', {'recorder': {'ros__parameters': {'bag_path': str(bag)}}})}"]  # noqa: E501
    robot = dict(ROBOT)
    if not radio:
        edge_args.append("use_radio_emulator:=false")
        robot.update(uplink_topic="/robust_offload/features", publish_channel_state=True)
    robot_file = write_yaml(tmp_path / "robot.yaml", {"/**": {"ros__parameters": robot}})
    edge = launch(domain, "edge.launch.py", *edge_args)
    rover = launch(domain, "robot.launch.py", "robot_id:=rover_c", f"params_file:={robot_file}")
    seen = wait_for_frames(domain, ["rover_c"], 10, timeout_s=120)
    assert seen["rover_c"] >= 10, (seen, rover.text(), edge.text())
    assert_clean_stop(rover, 1, rover.interrupt())
    assert_clean_stop(edge, 4 if radio else 3, edge.interrupt())
    (row,) = analyze(bag)
    assert row["robot_id"] == "rover_c" and row["plans"] >= 1, row
    assert row["local_share"] < 0.5, row              # features reached the edge
