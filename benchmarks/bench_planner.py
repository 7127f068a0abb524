"""Planner benchmark: solve time, energy and gap to the dual bound versus fleet size.

Runs on one core (affinity pinned, BLAS threads 1). Mixed AlexNet/ResNet152 fleets in the
paper's cell, bandwidth scaled with N (10 MHz per 12 devices), deadlines 150-250 ms, risk
0.02-0.08. robust for every N; pccp for N <= 30; exhaustive for N <= 4.

    venv/bin/python benchmarks/bench_planner.py [--repeats 3] [--csv out/bench.csv]
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402

from tqdm import tqdm  # noqa: E402

from robust_offload.core.generate import random_fleet  # noqa: E402
from robust_offload.core.policies import plan  # noqa: E402
from robust_offload.contract.files import DEFAULT_PROFILE_FILE
from robust_offload.core.scenario import load_profiles  # noqa: E402
from robust_offload.analysis.tables import write_csv  # noqa: E402

SIZES = (2, 3, 4, 10, 30, 100, 300, 1000)
LIMITS = {"robust": 1000, "pccp": 30, "exhaustive": 4}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per point (median)")
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    profiles = load_profiles(DEFAULT_PROFILE_FILE)
    jobs = [(n, p) for n in SIZES for p, limit in LIMITS.items() if n <= limit]
    rows = []
    for count, policy in tqdm(jobs, desc="benchmark"):
        fleet = random_fleet(profiles, count, seed=count, bandwidth_hz=10e6 * count / 12,
                             deadline_ms=(150, 250), risk=(0.02, 0.08),
                             mix=("alexnet_nx_cpu", "resnet152_nx_gpu"))
        repeats = 1 if policy == "pccp" and count > 10 else args.repeats
        results = [plan(fleet, policy) for _ in range(repeats)]
        result = results[-1]
        rows.append({"devices": count, "policy": policy,
                     "solve_time_s": statistics.median(r.solve_time_s for r in results),
                     "energy_j": result.total_energy_j, "lower_bound_j": result.lower_bound_j,
                     "gap_pct": 100 * result.gap, "planned": len(result.devices)})
    print(f"\n{'N':>5} {'policy':<11}{'time (s)':>10}{'energy (J)':>13}{'bound (J)':>13}"
          f"{'gap %':>9}")
    for r in rows:
        print(f"{r['devices']:>5} {r['policy']:<11}{r['solve_time_s']:>10.4f}"
              f"{r['energy_j']:>13.6f}{r['lower_bound_j']:>13.6f}{r['gap_pct']:>9.5f}")
    if args.csv:
        write_csv(args.csv, rows)


if __name__ == "__main__":
    main()
