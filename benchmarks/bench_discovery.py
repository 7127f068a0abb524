"""Discovery on network-namespace hosts: multicast (simple discovery) vs the Fast DDS discovery
server (needs root).

Runs ``robust-offload fleet --hosts netns --discovery MODE`` on a fleet file (default
config/fleet.yaml: four robots) ``--runs`` times per mode and measures, per robot, from the moment
its node is up (its first log line, node and DDS participant created) to

* ``plan_s``: its first frame under a plan (the robot waits for one, ``plan_wait_s``): the
  planner heard its status and it heard the plan;
* ``edge_s``: its first frame answered by the edge (it heard the edge's heartbeat, the edge and
  the radio heard it).

Both include one frame's time. Writes ``discovery.csv`` (one row per run and robot) and
``discovery.png``; prints medians per mode.

    venv/bin/python benchmarks/bench_discovery.py [--runs 2] [--duration 45] [--out out/discovery]
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from tqdm import tqdm  # noqa: E402

from robust_offload.analysis.tables import write_csv  # noqa: E402

MODES = ("multicast", "server")
LOG_STAMP = re.compile(r"^\[\w+\] \[(\d+\.\d+)\]")


def node_up_s(log: Path) -> float:
    """Wall-clock time of a node's first log line."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if match := LOG_STAMP.match(line):
            return float(match.group(1))
    raise SystemExit(f"{log}: no ROS log line (did the node start?)")


def bag_start_s(bag: Path) -> float:
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return info["starting_time"]["nanoseconds_since_epoch"] * 1e-9


def first_times(run: Path) -> list[dict]:
    """Per robot: seconds from node up to its first planned and first edge-answered frame."""
    bag = next(run.glob("bag-*"))
    start = bag_start_s(bag)
    with open(run / "analysis" / "frames.csv", newline="") as f:
        frames = list(csv.DictReader(f))
    rows = []
    for robot in sorted({f["robot_id"] for f in frames}):
        mine = [f for f in frames if f["robot_id"] == robot]
        up = node_up_s(run / "logs" / f"{robot}_robot.log")

        def first(pred, mine=mine, up=up):
            times = [start + float(f["t_s"]) for f in mine if pred(f)]
            return min(times) - up if times else float("nan")

        rows.append({"robot_id": robot, "plan_s": first(lambda f: int(f["plan_id"]) > 0),
                     "edge_s": first(lambda f: f["executed_on"] == "edge")})
    return rows


def plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, key in enumerate(("plan_s", "edge_s")):
        data = [[r[key] for r in rows if r["discovery"] == m and np.isfinite(r[key])]
                for m in MODES]
        ax.boxplot(data, positions=[i * 3 + 1, i * 3 + 2], widths=0.8)
    ax.set_xticks([1, 2, 4, 5], [f"{m}\nfirst plan" for m in MODES] +
                  [f"{m}\nfirst edge answer" for m in MODES], fontsize=8)
    ax.set(ylabel="seconds after the robot's node is up",
           title="Discovery across namespace hosts")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="fleet file (default: config/fleet.yaml)")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--duration", type=float, default=45.0)
    parser.add_argument("--out", default="out/discovery")
    args = parser.parse_args()
    out = Path(args.out)
    runner = Path(sys.executable).with_name("robust-offload")
    rows = []
    cases = [(mode, run) for run in range(args.runs) for mode in MODES]
    for mode, run in tqdm(cases, desc="fleet runs", unit="run"):
        where = out / f"{mode}-{run}"
        shutil.rmtree(where, ignore_errors=True)   # logs append: a rerun would read old lines
        argv = [str(runner), "fleet", "--hosts", "netns", "--discovery", mode, "--duration",
                str(args.duration), "--out", str(where)]
        if args.config:
            argv += ["--config", args.config]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows += [{"discovery": mode, "run": run, **r} for r in first_times(where)]
    write_csv(out / "discovery.csv", rows)
    plot(rows, out / "discovery.png")
    for mode in MODES:
        for key in ("plan_s", "edge_s"):
            values = np.array([r[key] for r in rows if r["discovery"] == mode])
            print(f"{mode:<10} {key}: median {np.nanmedian(values):.2f} s, max "
                  f"{np.nanmax(values):.2f} s ({np.isfinite(values).sum()} robots x runs)")
    print(f"wrote {out / 'discovery.csv'} and {out / 'discovery.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
