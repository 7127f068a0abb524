"""Soak: the fleet on network-namespace hosts for a long run (needs root).

Runs ``robust-offload fleet --hosts netns`` (shaped air time) for ``--minutes`` and samples every
node's resident memory and thread count (``/proc/<pid>/status``) every ``--every`` seconds. From
the bag: results lost (offloaded frames never answered: recorded at their expiry with no edge
time), and each robot's miss rate per window against its ε with a 95 % Clopper–Pearson interval.

Writes ``resources.csv`` (t_s, node, rss_mb, threads), ``windows.csv`` (robot, window, frames,
misses, miss rate, interval, ε, lost), ``soak.png``; prints per node RSS at 5 min and at the end,
the growth per hour in between, and threads first/last.

    venv/bin/python benchmarks/bench_soak.py [--minutes 30] [--every 15] [--window 300]
        [--config config/fleet.yaml] [--out out/soak] [--tables-only]
"""

from __future__ import annotations

import argparse
import csv
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tqdm import tqdm  # noqa: E402

from robust_offload.core.verdict import miss_rate  # noqa: E402
from robust_offload.analysis.tables import write_csv  # noqa: E402

SETTLED_S = 300.0
"""Memory is compared from here on (models loaded, windows full)."""


def children(pid: int) -> dict[int, str]:
    """Node processes under ``pid`` (by parent id), named as the runner names them."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    nodes = {}
    for child, parent in parents.items():
        if parent == pid:
            try:
                argv = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            nodes[child] = label(argv)
    return nodes


def label(argv: list[bytes]) -> str:
    text = " ".join(a.decode(errors="replace") for a in argv)
    node = re.search(r"__node:=(\S+)", text)
    ns = re.search(r"__ns:=/(\S+)", text)
    return "/".join(filter(None, [ns and ns.group(1), node and node.group(1)])) or text[:40]


def status(pid: int) -> tuple[float, int] | None:
    """(RSS MB, threads) of a process, None if it is gone."""
    try:
        text = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return None
    rss = int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024
    return rss, int(re.search(r"Threads:\s+(\d+)", text).group(1))


def sample(runner: subprocess.Popen, minutes: float, every: float) -> list[dict]:
    rows, start = [], time.monotonic()
    with tqdm(total=int(minutes * 60), desc="soak", unit="s") as bar:
        while runner.poll() is None:
            time.sleep(every)
            t = time.monotonic() - start
            for pid, name in children(runner.pid).items():
                if (got := status(pid)) is not None:
                    rows.append({"t_s": round(t, 1), "node": name, "rss_mb": round(got[0], 1),
                                 "threads": got[1]})
            bar.update(min(int(t) - bar.n, bar.total - bar.n))
    return rows


def windows(frames_csv: Path, window_s: float) -> list[dict]:
    with open(frames_csv, newline="") as f:
        frames = list(csv.DictReader(f))
    groups = defaultdict(list)
    for f in frames:
        groups[(f["robot_id"], int(float(f["t_s"]) // window_s))].append(f)
    rows, most = [], max(len(group) for group in groups.values())
    for (robot, index), group in sorted(groups.items()):
        if len(group) < most / 2:              # the run's last seconds: not a window
            continue
        measured = miss_rate(sum(f["deadline_met"] != "True" for f in group), len(group),
                             float(group[-1]["risk"]))
        lost = sum(f["executed_on"] == "edge" and float(f["edge_ms"]) == 0.0 for f in group)
        rows.append({"robot_id": robot, "window_start_s": index * window_s,
                     "frames": len(group), "misses": measured.misses,
                     "miss_rate": measured.rate, "ci_low": measured.ci_low,
                     "ci_high": measured.ci_high, "risk": measured.risk,
                     "status": measured.status, "lost": lost})
    return rows


def growth(resources: list[dict]) -> list[dict]:
    """Per node: RSS at SETTLED_S and at the end, growth per hour in between, threads at
    SETTLED_S, at the end and the most in between."""
    out = []
    for node in sorted({r["node"] for r in resources}):
        mine = [r for r in resources if r["node"] == node]
        settled = [r for r in mine if r["t_s"] >= SETTLED_S] or mine
        hours = max((settled[-1]["t_s"] - settled[0]["t_s"]) / 3600, 1e-9)
        out.append({"node": node, "rss_settled_mb": settled[0]["rss_mb"],
                    "rss_end_mb": mine[-1]["rss_mb"], "rss_max_mb": max(r["rss_mb"] for r in mine),
                    "growth_mb_per_h": (settled[-1]["rss_mb"] - settled[0]["rss_mb"]) / hours,
                    "threads_settled": settled[0]["threads"], "threads_last": mine[-1]["threads"],
                    "threads_max": max(r["threads"] for r in settled)})
    return out


def plot(resources: list[dict], rows: list[dict], path: Path) -> None:
    fig, (a, b, c) = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    for node in sorted({r["node"] for r in resources}):
        mine = [r for r in resources if r["node"] == node]
        t = [r["t_s"] / 60 for r in mine]
        a.plot(t, [r["rss_mb"] for r in mine], label=node)
        b.plot(t, [r["threads"] for r in mine], label=node)
    for robot in sorted({r["robot_id"] for r in rows}):
        mine = [r for r in rows if r["robot_id"] == robot]
        t = [(r["window_start_s"]) / 60 for r in mine]
        line = c.plot(t, [100 * r["miss_rate"] for r in mine], "o-", label=robot)[0]
        c.fill_between(t, [100 * r["ci_low"] for r in mine], [100 * r["ci_high"] for r in mine],
                       color=line.get_color(), alpha=0.15)
        c.axhline(100 * mine[0]["risk"], color=line.get_color(), ls=":", lw=1)
    a.set(ylabel="RSS [MB]", title="Soak on namespace hosts (shaped air time)")
    b.set(ylabel="threads")
    c.set(ylabel="miss rate per window [%]\n(dotted: eps; band: 95 % CI)",
          xlabel="minutes since the fleet started (windows by bag time)")
    a.legend(fontsize=7, ncol=2)
    c.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=15.0, help="sampling period (s)")
    parser.add_argument("--window", type=float, default=300.0, help="miss-rate window (s)")
    parser.add_argument("--config", help="fleet file (default: config/fleet.yaml)")
    parser.add_argument("--out", default="out/soak")
    parser.add_argument("--tables-only", action="store_true",
                        help="redo the tables and plot of the run already in --out")
    args = parser.parse_args()
    out = Path(args.out)
    if args.tables_only:
        with open(out / "resources.csv", newline="") as f:
            resources = [{**r, "t_s": float(r["t_s"]), "rss_mb": float(r["rss_mb"]),
                          "threads": int(r["threads"])} for r in csv.DictReader(f)]
        return report(resources, out, args.window)
    argv = [str(Path(sys.executable).with_name("robust-offload")), "fleet", "--hosts", "netns",
            "--duration", str(args.minutes * 60), "--out", str(out / "run"), "--bag",
            str(out / "run" / "bag")]
    if args.config:
        argv += ["--config", args.config]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "runner.log", "w") as log:
        runner = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            resources = sample(runner, args.minutes, args.every)
        except KeyboardInterrupt:             # stop the fleet too (it tears its hosts down)
            runner.send_signal(signal.SIGINT)
            runner.wait()
            raise SystemExit("interrupted: the fleet was stopped")
    if runner.returncode != 0:
        raise SystemExit(f"the fleet run failed (status {runner.returncode}): {out / 'runner.log'}")
    return report(resources, out, args.window)


def report(resources: list[dict], out: Path, window_s: float) -> int:
    """Tables, plot and summary of a soak run in ``out``."""
    rows = windows(out / "run" / "analysis" / "frames.csv", window_s)
    summary = growth(resources)
    write_csv(out / "resources.csv", resources)
    write_csv(out / "windows.csv", rows)
    write_csv(out / "growth.csv", summary)
    plot(resources, rows, out / "soak.png")
    for r in summary:
        print(f"{r['node']:<16} RSS {r['rss_settled_mb']:7.1f} MB at {SETTLED_S / 60:g} min -> "
              f"{r['rss_end_mb']:7.1f} MB at the end ({r['growth_mb_per_h']:+.1f} MB/h), threads "
              f"{r['threads_settled']} -> {r['threads_last']} (max {r['threads_max']})")
    print(f"results lost: {sum(r['lost'] for r in rows)} of {sum(r['frames'] for r in rows)} "
          f"frames")
    print(f"wrote {out}/resources.csv, windows.csv, growth.csv, soak.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
