"""Scale: how the fleet's control loop grows with the number of robots.

For each N in ``--sizes`` and each discovery mode in ``--modes`` (multicast; the Fast DDS
discovery server on this host's loopback), starts the planner, the edge (modelled compute) and
the radio (modelled air time, static robots) as processes of this host, and the N modelled robots
in swarm processes (``robust_offload.ros.swarm``, ``--per-swarm`` robots and one DDS
participant each, started ``--stagger`` s apart), then measures

* ``discovery_s``: from the first swarm's start to the first plan with all N robots (planner
  log); when none comes within ``--timeout``, ``most_planned``: the most robots one plan held;
  ``after_last_up_s``: from the last robot node's start (its first log line) to that plan --
  discovery itself, without the processes' start-up (on 2 cores, ten swarms importing torch at
  once take most of a minute);
* ``replan_ms``: after a change of the planner's ``bandwidth_hz`` (a parameter set from a
  fresh process, ``--triggers`` times), until the last robot received the resulting plan (the
  swarms' receipts; one clock: this host); median and max;
* ``plan_bytes``: the serialized size of a plan with all N robots;
* ``planner_cpu``: the planner's CPU time per wall second from the first full plan to the end;
* ``swarm_cpu``: the swarms' CPU time per wall second since their start (cores).

The robots run no frames (their frames wait for a camera topic nobody publishes): the control
loop is measured -- statuses, discovery, planning, plans -- not the edge, which on this 2-core
VM could not take 50 robots' tensors. The band is N x 2 MHz (every size can be served); the
triggers take it down by 10 % and back. The swarm's robot nodes run without parameter
services (N x 6 services would only grow every wait set).
Writes ``scale.csv`` and ``scale.png``.

    venv/bin/python benchmarks/bench_scale.py [--sizes 10 50 100 250] [--out out/scale]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from robust_offload.orchestration.fleet import node_specs  # noqa: E402
from robust_offload.orchestration.runner import (  # noqa: E402
    Fleet,
    discovery_server,
    fleet_environment,
    stop_all,
)
from robust_offload.contract.files import config_dir  # noqa: E402
from robust_offload.analysis.tables import write_csv  # noqa: E402

MODES = ("multicast", "server")
FULL_PLAN = re.compile(r"^\[INFO\] \[(\d+\.\d+)\] \[planner\]: plan #(\d+): (\d+) robots")
ROBOT_UP = re.compile(r"^\[INFO\] \[(\d+\.\d+)\] \[[^\]]+\]: robot \S+: model ")
SHARE_HZ = 2e6
"""Band per robot: B = N x 2 MHz, so that every fleet size can be served (the triggers take B
down by 10 % and back)."""
TICKS = os.sysconf("SC_CLK_TCK")


def services(bandwidth_hz: float) -> dict:
    return {"fleet": {
        "planner": {"params_file": "planner.yaml",
                    "parameters": {"bandwidth_hz": bandwidth_hz, "robot_timeout_s": 10.0}},
        "edge": {"params_file": "edge.yaml", "parameters": {"compute_mode": "modelled"}},
        "radio": {"params_file": "radio.yaml", "parameters": {
            "static": True, "robot_timeout_s": 10.0,
            "update_period_s": 2.0}},             # static: channel states only as heartbeats
        "recorder": {"enabled": False},
        "robots": [{"name": "unused"}]}}


def planner_log_plans(log: Path) -> list[tuple[float, int, int]]:
    """(time, plan id, robots) of every plan in the planner's log."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [(float(m.group(1)), int(m.group(2)), int(m.group(3)))
            for m in map(FULL_PLAN.match, lines) if m]


def planner_log_full(log: Path, n: int) -> tuple[float, int] | None:
    """(time, plan id) of the first plan with all ``n`` robots, from the planner's log."""
    return next(((t, plan) for t, plan, robots in planner_log_plans(log) if robots >= n), None)


def last_robot_up(where: Path) -> float:
    """When the last robot node of the swarms was built (its first log line, wall clock)."""
    return max(float(m.group(1)) for log in (where / "logs").glob("swarm-*.log")
               for m in map(ROBOT_UP.match, log.read_text(errors="replace").splitlines()) if m)


def swarm_cpu(swarms: list[subprocess.Popen], since: float) -> float:
    """The swarm processes' CPU time per wall second since ``since`` (cores)."""
    return sum(cpu_s(p.pid) for p in swarms if p.poll() is None) / (time.time() - since)


def cpu_s(pid: int) -> float:
    fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def set_bandwidth(node, value: float) -> float | None:
    """Set the planner's bandwidth_hz; the wall-clock time it was sent (None, said, when the
    planner's parameter service did not take it)."""
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(node, "planner")
    if not client.wait_for_services(timeout_sec=30.0):
        tqdm.write("trigger lost: the planner's parameter services were not found in 30 s")
        return None
    sent = time.time()
    future = client.set_parameters([Parameter("bandwidth_hz", value=value)])
    rclpy.spin_until_future_complete(node, future, timeout_sec=10.0)
    if not future.done() or not all(r.successful for r in future.result().results):
        tqdm.write(f"trigger lost: bandwidth_hz = {value:g} not set ({future.result()})")
        return None
    return sent


def trigger_loop(band_hz: float, count: int, gap_s: float) -> list[float]:
    """Take the band down by 10 % and back, ``count`` changes ``gap_s`` apart; the times they
    were sent (a lost one is said and left out)."""
    import rclpy

    rclpy.init()
    node = rclpy.create_node("bench_scale")
    triggers = []
    try:
        for i in range(count):
            time.sleep(gap_s)
            sent = set_bandwidth(node, band_hz * (0.9 if i % 2 == 0 else 1.0))
            triggers += [sent] if sent is not None else []
        time.sleep(gap_s)
    finally:
        node.destroy_node()
        rclpy.shutdown()
    return triggers


def take_environment(env: dict) -> None:
    """A trigger process's start: the case's environment (before its first participant)."""
    os.environ.update(env)


def run_triggers(env: dict, band_hz: float, args) -> list[float]:
    """:func:`trigger_loop` in a fresh process with the case's environment: Fast DDS reads its
    discovery settings once per process (a node of this one, started after a discovery-server
    case, never found a multicast case's planner)."""
    with multiprocessing.get_context("spawn").Pool(1, take_environment, (env,)) as pool:
        return pool.apply(trigger_loop, (band_hz, args.triggers, args.gap))


def run_case(n: int, mode: str, args, out: Path, domain: int) -> dict:
    where = out / f"{mode}-{n}"
    shutil.rmtree(where, ignore_errors=True)    # logs append: a rerun would read old lines
    env = {**fleet_environment(where), "ROS_DOMAIN_ID": str(domain)}
    band_hz = SHARE_HZ * n
    specs = [s for s in node_specs(services(band_hz), config_dir(), "scale")
             if s.executable != "robot"]
    with ExitStack() as stack:
        if mode == "server":
            env = discovery_server(stack, None, where, env)
        fleet = Fleet(specs, where, env)
        stack.callback(fleet.stop)
        fleet.start()
        time.sleep(args.settle)                       # the edge has timed its models
        started = time.time()
        swarms: list[subprocess.Popen] = []
        stack.callback(stop_all, swarms)
        start_swarms(swarms, n, args, where, env)
        full = None
        while full is None and time.time() - started < args.timeout:
            time.sleep(0.5)
            full = planner_log_full(where / "logs" / "planner.log", n)
        if full is None:
            most = max((robots for *_, robots in planner_log_plans(where / "logs" /
                                                                  "planner.log")), default=0)
            return {"robots": n, "discovery": mode, "discovery_s": float("nan"),
                    "most_planned": most, "swarm_cpu": swarm_cpu(swarms, started)}
        planner = next(p for s, p in fleet.processes if s.executable == "planner")
        cpu0, wall0 = cpu_s(planner.pid), time.time()
        triggers = run_triggers(env, band_hz, args)
        swarms_cpu = swarm_cpu(swarms, started)
        cpu = (cpu_s(planner.pid) - cpu0) / (time.time() - wall0)
    latencies, sizes = replan_latencies(sorted(where.glob("plans-*.csv")), triggers, n)
    return {"robots": n, "discovery": mode, "discovery_s": full[0] - started,
            "after_last_up_s": full[0] - last_robot_up(where),
            "replan_median_ms": float(np.median(latencies)) if latencies else float("nan"),
            "replan_max_ms": max(latencies, default=float("nan")),
            "plan_bytes": max(sizes, default=0), "planner_cpu": cpu,
            "triggers": len(triggers), "answered": len(latencies), "most_planned": n,
            "swarm_cpu": swarms_cpu}


def start_swarms(swarms: list, n: int, args, where: Path, env: dict) -> None:
    """Start the n robots (into ``swarms``) in swarm processes of at most ``--per-swarm``
    robots each, ``--stagger`` seconds apart; each writes its plan receipts to plans-<k>.csv."""
    for k, first in enumerate(range(1, n + 1, args.per_swarm)):
        if k:
            time.sleep(args.stagger)
        count = min(args.per_swarm, n + 1 - first)
        swarms.append(subprocess.Popen(
            [sys.executable, "-m", "robust_offload.ros.swarm", "--count", str(count),
             "--first", str(first), "--executor", args.swarm_executor,
             "--threads", str(args.swarm_threads),
             "--plans-csv", str(where / f"plans-{k}.csv"), "--ros-args",
             "--params-file", str(config_dir() / "robot.yaml"), "-p", "compute_mode:=modelled",
             "-p", "image_topic:=/bench_scale/no_camera", "-p", "plan_wait_s:=600.0"],
            env=env, stdout=open(where / "logs" / f"swarm-{k}.log", "w"),
            stderr=subprocess.STDOUT, start_new_session=True))


def replan_latencies(receipts: list[Path], triggers: list[float], n: int):
    """Per trigger: from it to the last of the n robots receiving the first plan sent after
    it (ms); and the sizes of plans every robot received (receipts: the swarms' CSV files)."""
    rows = []
    for path in receipts:
        with open(path, newline="") as f:
            rows += [(r["robot_id"], int(r["plan_id"]), float(r["received_s"]),
                      int(r["plan_bytes"])) for r in csv.DictReader(f)]
    by_plan: dict[int, list] = {}
    for robot, plan, t, size in rows:
        by_plan.setdefault(plan, []).append((t, size))
    latencies = []
    for sent in triggers:
        after = sorted((min(t for t, _ in got), plan) for plan, got in by_plan.items()
                       if min(t for t, _ in got) > sent and len(got) >= n)
        if after:
            latencies.append(1e3 * (max(t for t, _ in by_plan[after[0][1]]) - sent))
    sizes = [got[0][1] for got in by_plan.values() if len(got) >= n]
    return latencies, sizes


def plot(rows: list[dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for mode, marker in zip(MODES, "os"):
        sel = [r for r in rows if r["discovery"] == mode]
        n = [r["robots"] for r in sel]
        axes[0].plot(n, [r["discovery_s"] for r in sel], marker=marker, label=mode)
        axes[1].plot(n, [r.get("replan_median_ms", np.nan) for r in sel], marker=marker,
                     label=f"{mode} median")
        axes[1].plot(n, [r.get("replan_max_ms", np.nan) for r in sel], marker=marker, ls=":",
                     label=f"{mode} max")
        axes[2].plot(n, [100 * r.get("planner_cpu", np.nan) for r in sel], marker=marker,
                     label=mode)
    axes[0].set(xlabel="robots", ylabel="s", title="discovery: first plan with all robots")
    axes[1].set(xlabel="robots", ylabel="ms", title="replanning: trigger -> last robot")
    axes[2].set(xlabel="robots", ylabel="% of one core", title="planner CPU")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--triggers", type=int, default=3)
    parser.add_argument("--gap", type=float, default=6.0, help="seconds between triggers")
    parser.add_argument("--settle", type=float, default=8.0, help="services' start-up (s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="discovery limit (s)")
    parser.add_argument("--per-swarm", type=int, default=25,
                        help="robots per swarm process (one DDS participant each)")
    parser.add_argument("--swarm-executor", choices=("events", "threads"), default="events",
                        help="the swarms' executor (swarm --executor)")
    parser.add_argument("--swarm-threads", type=int, default=1,
                        help="threads of --swarm-executor threads")
    parser.add_argument("--stagger", type=float, default=1.0,
                        help="seconds between swarm process starts")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--out", default="out/scale")
    args = parser.parse_args()
    out = Path(args.out)
    rows = []
    cases = [(n, mode) for n in args.sizes for mode in args.modes]
    for index, (n, mode) in enumerate(tqdm(cases, desc="scale cases", unit="case")):
        rows.append(run_case(n, mode, args, out, domain=150 + index))
        tqdm.write(str(rows[-1]))
    # every row's columns: a size that never fully planned has fewer
    write_csv(out / "scale.csv", rows, dict.fromkeys(key for row in rows for key in row))
    plot(rows, out / "scale.png")
    print(f"wrote {out / 'scale.csv'} and {out / 'scale.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
