"""Markdown tables of a ``bench_bounds_fleet.py`` output directory, for the README.

Per run and bound: each robot's miss rate with its Clopper-Pearson 95 % interval against eps
(**VIOLATED** when the whole interval is above eps), the mean energy per inference, the number
of plans and the largest sum of bandwidth shares in use; then the misses pooled over the runs
of each bound, with their interval, and the mean energy per inference.

    venv/bin/python benchmarks/acceptance_tables.py OUT_DIR
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

from robust_offload.core.verdict import miss_rate


def read(path: Path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def cell(misses: int, frames: int, risk: float) -> str:
    verdict = miss_rate(misses, frames, risk)
    text = f"{100 * verdict.rate:.2f} % [{100 * verdict.ci_low:.1f}, {100 * verdict.ci_high:.1f}]"
    return {"VIOLATED": f"{text} **VIOLATED**", "above eps": f"{text} (above ε)"}.get(
        verdict.status, text)


def run_table(rows: list[dict], out: Path) -> list[str]:
    robots = sorted({r["robot_id"] for r in rows})
    risks = {r["robot_id"]: float(r["risk"]) for r in rows}
    lines = ["| run | bound | " + " | ".join(f"{r} (ε {100 * risks[r]:g} %)" for r in robots)
             + " | energy / inference | plans | peak band in use |",
             "|---" * (len(robots) + 5) + "|"]
    for (bound, run), group in sorted(_by(rows, "bound", "run").items(),
                                      key=lambda item: (item[0][1], item[0][0])):
        by_robot = {r["robot_id"]: r for r in group}
        energy = sum(float(r["energy_mean_j"]) for r in group) / len(group)
        fleet = read(out / f"{bound}_{run}" / "analysis" / "fleet.csv")[0]
        lines.append(f"| {run} | {bound} | " + " | ".join(
            cell(int(by_robot[r]["misses"]), int(by_robot[r]["frames"]), risks[r])
            for r in robots)
            + f" | {1e3 * energy:.1f} mJ | {fleet['plans']} | "
              f"{float(fleet['band_in_use_max_hz']) / 1e6:.3f} MHz |")
    return lines


def pooled_table(rows: list[dict]) -> list[str]:
    robots = sorted({r["robot_id"] for r in rows})
    risks = {r["robot_id"]: float(r["risk"]) for r in rows}
    lines = ["| bound (runs pooled) | " + " | ".join(robots) + " | energy / inference |",
             "|---" * (len(robots) + 2) + "|"]
    for bound, group in sorted(_by(rows, "bound").items()):
        pooled = defaultdict(lambda: [0, 0])
        for r in group:
            pooled[r["robot_id"]][0] += int(r["misses"])
            pooled[r["robot_id"]][1] += int(r["frames"])
        energy = sum(float(r["energy_mean_j"]) for r in group) / len(group)
        lines.append(f"| {bound[0]} | " + " | ".join(cell(*pooled[r], risks[r]) for r in robots)
                     + f" | {1e3 * energy:.1f} mJ |")
    return lines


def _by(rows: list[dict], *keys: str) -> dict:
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys)].append(row)
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a bench_bounds_fleet.py --out directory")
    args = parser.parse_args()
    rows = read(args.out / "bounds_fleet.csv")
    print("\n".join(run_table(rows, args.out)))
    print()
    print("\n".join(pooled_table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
