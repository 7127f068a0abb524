"""``robust-offload fleet``: start a fleet's processes without ``ros2 launch``, then analyse.

Starts every node of the fleet description (:func:`robust_offload.fleet.load_fleet`) as a process
with its ``--ros-args``, writes each node's output to ``<out>/logs/<node>.log``, shows progress for
the run's duration, stops everything cleanly (SIGINT, then SIGKILL after a grace period; Ctrl-C
or SIGTERM to the runner does the same early, also while the nodes are still starting), and
analyses the recorded bag.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from robust_offload.fleet import NodeSpec, command_line, load_fleet
from robust_offload.resources import config_dir

STOP_GRACE_S = 10.0
ROBOT_DELAY_S = 8.0
FASTDDS_PROFILE = "fastdds_large_data.xml"


def default_fleet_file() -> Path:
    return config_dir() / "fleet.yaml"


def fleet_environment(out: Path) -> dict:
    """Environment of the fleet's processes: Fast DDS large-data profile, logs under out/."""
    env = dict(os.environ)
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(config_dir() / FASTDDS_PROFILE))
    env.setdefault("ROS_LOG_DIR", str(out / "ros_log"))
    env.setdefault("HOME", str(out))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def with_bag(specs: list[NodeSpec], bag: Path) -> list[NodeSpec]:
    """Point the recorder (if any) at ``bag``."""
    return [replace(s, parameters={**s.parameters, "bag_path": str(bag)})
            if s.executable == "recorder" else s for s in specs]


class Fleet:
    """The running processes of a fleet."""

    def __init__(self, specs: list[NodeSpec], out: Path, env: dict):
        self.specs = specs
        self.out = out
        self.env = env
        self.processes: list[tuple[NodeSpec, subprocess.Popen]] = []

    def start(self, robot_delay_s: float = 0.0):
        """Start the services, then (after ``robot_delay_s``) the robots: the edge host is up
        and has timed its models before robots compete with it for this machine's cores."""
        logs = self.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for spec in sorted(self.specs, key=lambda s: s.executable == "robot"):
            if spec.executable == "robot" and robot_delay_s and not any(
                    p.executable == "robot" for p, _ in self.processes):
                time.sleep(robot_delay_s)
            log = open(logs / f"{spec.label.replace('/', '_')}.log", "w", encoding="utf-8")
            process = subprocess.Popen(command_line(spec), stdout=log, stderr=subprocess.STDOUT,
                                       env=self.env, start_new_session=True)
            self.processes.append((spec, process))

    def dead(self) -> list[str]:
        return [spec.label for spec, p in self.processes if p.poll() is not None]

    def stop(self):
        """SIGINT everything (nodes shut down cleanly, the recorder closes its bag), then force."""
        for _, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        for _, process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_fleet(fleet_file: Path, duration_s: float, bag: Path, out: Path) -> Path:
    """Run the fleet for ``duration_s`` seconds; returns the bag directory."""
    specs = with_bag(load_fleet(fleet_file), bag)
    fleet = Fleet(specs, out, fleet_environment(out))
    print(f"starting {len(specs)} nodes: {', '.join(s.label for s in specs)}")
    print(f"node logs in {out / 'logs'}; bag in {bag}")
    print(f"services first; robots start {ROBOT_DELAY_S:.0f} s later")
    # SIGTERM (systemd, docker, timeout) acts as Ctrl-C; SIGINT is handled explicitly too, since
    # a runner started from a background job inherits it ignored (a plain `kill -INT` must work)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        fleet.start(ROBOT_DELAY_S)
        with tqdm(total=int(duration_s), desc="fleet running", unit="s") as bar:
            for _ in range(int(duration_s)):
                time.sleep(1.0)
                bar.update()
                dead = fleet.dead()
                if dead:
                    bar.write(f"node(s) exited early: {', '.join(dead)} (see their logs)")
                    break
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the fleet")
    finally:
        # A second Ctrl-C / SIGTERM must not cut the stop short (the recorder closes its bag).
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        fleet.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return bag


def _interrupt(signum, frame):
    raise KeyboardInterrupt
