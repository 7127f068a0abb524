"""The running fleet under each chance bound: miss rate vs eps and energy per inference.

Runs a fleet file (default: config/fleet.yaml) with ``robust-offload fleet`` once per bound and
run, the planner's ``bound`` parameter set each time, and reads every bag's analysis. Writes
``bounds_fleet.csv`` (one row per bound, run and robot: frames, misses, miss rate with its
Clopper-Pearson 95 % interval, eps, verdict, mean energy per inference) and ``bounds_fleet.png``
(miss rate with its interval against eps, per robot and bound) into --out; each run's bag and
analysis (timeline, k_n over time) stay in --out/<bound>_<run>/.

Disturbances: ``--hog-at 120 --hog-for 60`` starts two CPU-hog processes
on this host for that window; ``--fade robot_2:10:150:30`` cuts robot_2's channel gain by 10 dB
from 150 s for 30 s (the radio emulator's ``fades``). With either, ``disturbance.csv`` gives per
run and robot the misses before, during and after each disturbance, and the time from its end
until the robot's rolling miss rate (last ``--recovery-window`` frames) is back under eps.

    venv/bin/python benchmarks/bench_bounds_fleet.py [--bounds cantelli calibrated]
        [--duration 300] [--runs 3] [--hog-at 120 --hog-for 60] [--fade robot_2:10:150:30]
        [--fleet config/fleet.yaml] [--out out/bounds_fleet]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import threading
from pathlib import Path

import yaml
from tqdm import tqdm

from robust_offload.analysis.tables import write_csv

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("bound", "run", "robot_id", "frames", "misses", "miss_rate", "miss_ci_low",
          "miss_ci_high", "risk", "status", "energy_mean_j", "latency_p95_ms", "local_share")
DISTURBANCE_FIELDS = ("bound", "run", "robot_id", "disturbance", "start_s", "end_s",
                      "misses_before", "frames_before", "misses_during", "frames_during",
                      "misses_after", "frames_after", "recovery_s")
HOG = "while True: pass"


def fleet_with_bound(fleet_file: Path, bound: str, out: Path, fades=()) -> Path:
    """A copy of the fleet file (params files made absolute) whose planner uses ``bound`` (and
    whose radio emulator applies ``fades``)."""
    raw = yaml.safe_load(fleet_file.read_text())
    for entry in [*(raw["fleet"].get(s) or {} for s in ("planner", "edge", "radio", "recorder")),
                  *raw["fleet"]["robots"]]:
        if entry.get("params_file"):
            entry["params_file"] = str((fleet_file.parent / entry["params_file"]).resolve())
    planner = raw["fleet"].setdefault("planner", {})
    planner.setdefault("parameters", {})["bound"] = bound
    if fades:
        raw["fleet"].setdefault("radio", {}).setdefault("parameters", {})["fades"] = list(fades)
    path = out / f"fleet_{bound}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def cpu_hogs(count: int, start_s: float, duration_s: float, stop: threading.Event):
    """Start ``count`` busy-loop processes at ``start_s`` for ``duration_s`` (a thread)."""
    def run():
        if stop.wait(start_s):
            return
        hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(count)]
        stop.wait(duration_s)
        for hog in hogs:
            hog.kill()
            hog.wait()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_once(fleet_file: Path, duration: float, out: Path, hog=None) -> list[dict]:
    """One fleet run's summary rows; [] (and a line naming its logs) when the run failed, so
    that one failed run does not lose the others' results."""
    stop = threading.Event()
    hogs = cpu_hogs(2, hog[0], hog[1], stop) if hog else None
    try:
        done = subprocess.run([str(Path(sys.executable).with_name("robust-offload")), "fleet",
                               "--config", str(fleet_file), "--duration", str(duration),
                               "--out", str(out)], stdout=subprocess.DEVNULL)
    finally:
        stop.set()
        if hogs is not None:
            hogs.join()
    if done.returncode != 0:
        tqdm.write(f"run {out.name} failed (exit {done.returncode}): see {out / 'logs'}")
        return []
    with open(out / "analysis" / "summary.csv") as stream:
        return list(csv.DictReader(stream))


def recovery_s(frames: list[dict], end_s: float, risk: float, window: int) -> float:
    """Seconds from ``end_s`` until the miss rate of the last ``window`` frames is <= eps
    (NaN if it never is within the run)."""
    recent = []
    for frame in frames:
        recent = (recent + [frame["missed"]])[-window:]
        if frame["t_s"] >= end_s and len(recent) == window and sum(recent) / window <= risk:
            return max(0.0, frame["t_s"] - end_s)
    return float("nan")


def disturbance_rows(out: Path, windows: dict, risks: dict, window: int) -> list[dict]:
    """Misses before/during/after each disturbance window, and the recovery time, per robot."""
    with open(out / "analysis" / "frames.csv") as stream:
        frames = [{"robot_id": r["robot_id"], "t_s": float(r["t_s"]),
                   "missed": r["deadline_met"] != "True"} for r in csv.DictReader(stream)]
    rows = []
    for robot in sorted({f["robot_id"] for f in frames}):
        mine = sorted((f for f in frames if f["robot_id"] == robot), key=lambda f: f["t_s"])
        for name, (start, end) in windows.items():
            phases = {"before": [f for f in mine if f["t_s"] < start],
                      "during": [f for f in mine if start <= f["t_s"] < end],
                      "after": [f for f in mine if f["t_s"] >= end]}
            row = {"robot_id": robot, "disturbance": name, "start_s": start, "end_s": end,
                   "recovery_s": recovery_s(mine, end, risks[robot], window)}
            for phase, part in phases.items():
                row[f"misses_{phase}"] = sum(f["missed"] for f in part)
                row[f"frames_{phase}"] = len(part)
            rows.append(row)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.subplots()
    labels = sorted({(r["robot_id"], r["bound"], r["run"]) for r in rows})
    for x, (robot, bound, run) in enumerate(labels):
        r = next(r for r in rows if (r["robot_id"], r["bound"], r["run"]) == (robot, bound, run))
        rate, low, high = (100 * float(r[k]) for k in ("miss_rate", "miss_ci_low",
                                                       "miss_ci_high"))
        ax.errorbar([x], [rate], yerr=[[rate - low], [high - rate]], fmt="o", capsize=4,
                    color="tab:blue" if bound == "cantelli" else "tab:green")
        ax.scatter([x], [100 * float(r["risk"])], marker="_", s=400, color="tab:red", zorder=3)
    ax.set_xticks(range(len(labels)), [f"{r}\n{b} #{n}" for r, b, n in labels], fontsize=7)
    ax.set_ylabel("deadline misses (%), red: eps")
    ax.set_title("miss rate with its Clopper-Pearson 95 % interval, per robot and bound")
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bounds", nargs="+", default=["cantelli", "calibrated"])
    parser.add_argument("--duration", type=float, default=180.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--fleet", type=Path, default=REPO / "config" / "fleet.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bounds_fleet")
    parser.add_argument("--hog-at", type=float, help="start two CPU hogs at this time (s)")
    parser.add_argument("--hog-for", type=float, default=60.0, help="for this long (s)")
    parser.add_argument("--fade", action="append", default=[],
                        help="robot_id:dB:start_s:duration_s channel drop (repeatable)")
    parser.add_argument("--recovery-window", type=int, default=40,
                        help="frames of the rolling miss rate for the recovery time")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    hog = (args.hog_at, args.hog_for) if args.hog_at is not None else None
    windows = {"cpu hogs": (hog[0], hog[0] + hog[1])} if hog else {}
    for fade in args.fade:
        robot, _, start, length = fade.split(":")
        windows[f"fade {robot}"] = (float(start), float(start) + float(length))
    rows, disturbed, failed = [], [], []
    jobs = [(bound, run) for run in range(1, args.runs + 1) for bound in args.bounds]
    for bound, run in tqdm(jobs, desc="fleet runs", unit="run"):
        fleet = fleet_with_bound(args.fleet, bound, args.out, args.fade)
        out = args.out / f"{bound}_{run}"
        summary = run_once(fleet, args.duration, out, hog)
        failed += [out.name] if not summary else []
        rows += [{"bound": bound, "run": run, **{k: row[k] for k in FIELDS[2:]}}
                 for row in summary]
        if windows and summary:
            risks = {row["robot_id"]: float(row["risk"]) for row in summary}
            disturbed += [{"bound": bound, "run": run, **row}
                          for row in disturbance_rows(out, windows, risks, args.recovery_window)]
    write_csv(args.out / "bounds_fleet.csv", rows, FIELDS)
    plot(rows, args.out / "bounds_fleet.png")
    for r in rows:
        print(f"{r['bound']:<11} #{r['run']} {r['robot_id']:<8} {int(r['frames']):>5} frames "
              f"miss {100 * float(r['miss_rate']):5.2f} % [{100 * float(r['miss_ci_low']):.2f}, "
              f"{100 * float(r['miss_ci_high']):.2f}] eps {100 * float(r['risk']):.0f} % "
              f"{r['status']:<9} E {1e3 * float(r['energy_mean_j']):.2f} mJ")
    if disturbed:
        write_csv(args.out / "disturbance.csv", disturbed, DISTURBANCE_FIELDS)
        for r in disturbed:
            print(f"{r['bound']:<11} #{r['run']} {r['robot_id']:<8} {r['disturbance']:<14} "
                  f"misses before {r['misses_before']}/{r['frames_before']} during "
                  f"{r['misses_during']}/{r['frames_during']} after "
                  f"{r['misses_after']}/{r['frames_after']}, back under eps after "
                  f"{r['recovery_s']:.1f} s")
    if failed:
        print(f"failed runs (not in the tables): {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
