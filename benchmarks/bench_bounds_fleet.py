"""The running fleet under each chance bound: miss rate vs eps and energy per inference.

Runs a fleet file (default: config/fleet.yaml) with ``robust-offload fleet`` once per bound and
run, the planner's ``bound`` parameter set each time, and reads every bag's analysis. Writes
``bounds_fleet.csv`` (one row per bound, run and robot: frames, misses, miss rate with its
Clopper-Pearson 95 % interval, eps, verdict, mean energy per inference) and ``bounds_fleet.png``
(miss rate with its interval against eps, per robot and bound) into --out.

    venv/bin/python benchmarks/bench_bounds_fleet.py [--bounds cantelli calibrated]
        [--duration 180] [--runs 1] [--fleet config/fleet.yaml] [--out out/bounds_fleet]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml
from tqdm import tqdm

from robust_offload.tables import write_csv

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("bound", "run", "robot_id", "frames", "misses", "miss_rate", "miss_ci_low",
          "miss_ci_high", "risk", "status", "energy_mean_j", "latency_p95_ms", "local_share")


def fleet_with_bound(fleet_file: Path, bound: str, out: Path) -> Path:
    """A copy of the fleet file (params files made absolute) whose planner uses ``bound``."""
    raw = yaml.safe_load(fleet_file.read_text())
    for entry in [*(raw["fleet"].get(s) or {} for s in ("planner", "edge", "radio", "recorder")),
                  *raw["fleet"]["robots"]]:
        if entry.get("params_file"):
            entry["params_file"] = str((fleet_file.parent / entry["params_file"]).resolve())
    planner = raw["fleet"].setdefault("planner", {})
    planner.setdefault("parameters", {})["bound"] = bound
    path = out / f"fleet_{bound}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_once(fleet_file: Path, duration: float, out: Path) -> list[dict]:
    subprocess.run([str(Path(sys.executable).with_name("robust-offload")), "fleet", "--config",
                    str(fleet_file), "--duration", str(duration), "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    import csv

    with open(out / "analysis" / "summary.csv") as stream:
        return list(csv.DictReader(stream))


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
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    jobs = [(bound, run) for run in range(1, args.runs + 1) for bound in args.bounds]
    for bound, run in tqdm(jobs, desc="fleet runs", unit="run"):
        fleet = fleet_with_bound(args.fleet, bound, args.out)
        for row in run_once(fleet, args.duration, args.out / f"{bound}_{run}"):
            rows.append({"bound": bound, "run": run, **{k: row[k] for k in FIELDS[2:]}})
    write_csv(args.out / "bounds_fleet.csv", rows, FIELDS)
    plot(rows, args.out / "bounds_fleet.png")
    for r in rows:
        print(f"{r['bound']:<11} #{r['run']} {r['robot_id']:<8} {int(r['frames']):>5} frames "
              f"miss {100 * float(r['miss_rate']):5.2f} % [{100 * float(r['miss_ci_low']):.2f}, "
              f"{100 * float(r['miss_ci_high']):.2f}] eps {100 * float(r['risk']):.0f} % "
              f"{r['status']:<9} E {1e3 * float(r['energy_mean_j']):.2f} mJ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
