"""Analysis of a recorded rosbag2 bag (``robust-offload analyze BAG [--out DIR]``).

Reads the per-frame records the robots publish on /robust_offload/frames (InferenceResult) and the
plans on /robust_offload/plan with the rosbags library (no ROS installation needed), and writes:

* ``summary.csv``  one row per robot: frames, deadline misses (failed frames among them, also
  counted apart), miss rate against the robot's epsilon with an exact (Clopper-Pearson) 95 %
  interval, mean energy per inference, mean / p95 / max latency of the frames that did not
  fail, share of frames run locally;
* ``frames.csv``   every frame record, with its time since the start of the bag;
* ``fleet.csv``    frames, plans, and the largest sum of bandwidth shares in use at once;
* ``plans.csv``    every planner decision (one row per robot and plan), with its time;
* ``breakdown.csv`` end-to-end latency broken down (local / uplink / edge) per robot and
  partition point, for the frames offloaded at that point and those run locally;
* ``timeline.png`` partition, frequency, bandwidth and latency (with the deadline) over time;
* ``miss_rate.png`` the miss rate of each robot against its epsilon;
* ``margin_k.png`` the chance margin multiplier k each plan gave each robot (calibrated or not).

Times are the bag's receive times (seconds since the first message of the bag).

The project's message types come from :mod:`robust_offload.analysis.bag` (the recorder uses the same
type store).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from robust_offload.analysis.bag import BagError, project_typestore, reindex
from robust_offload.contract.topics import FAILED
from robust_offload.contract.topics import FRAMES as FRAMES_TOPIC
from robust_offload.contract.topics import PLAN as PLAN_TOPIC
from robust_offload.core import checks
from robust_offload.core.verdict import miss_rate
from robust_offload.analysis.tables import write_csv


FRAME_FIELDS = ("t_s", "robot_id", "request_id", "plan_id", "partition", "freq_ghz",
                "bandwidth_hz", "energy_j", "deadline_ms", "risk", "total_ms", "local_ms",
                "uplink_ms", "edge_ms", "deadline_met", "executed_on", "class_id")
PLAN_FIELDS = ("t_s", "plan_id", "policy", "robot_id", "partition", "freq_ghz", "bandwidth_hz",
               "energy_j", "latency_bound_ms", "deadline_ms", "risk", "feasible", "margin_k")
SUMMARY_FIELDS = ("robot_id", "frames", "misses", "failed", "miss_rate", "risk", "miss_ci_low",
                  "miss_ci_high", "status", "energy_mean_j", "latency_mean_ms",
                  "latency_p95_ms", "latency_max_ms", "local_share", "plans", "switches",
                  "switch_frames", "switch_misses")
SWITCH_WINDOW_S = 2.0
"""Frames this long after a robot changes its partition point (or falls back to local) count
as the switch's transient."""


class AnalysisError(BagError):
    """The bag cannot be analysed (missing, not a bag, no frame records); one-line message."""


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------

def _bag_dir(bag: Path, notes: list[str]) -> Path:
    """The bag directory of ``bag`` (its directory or one of its files); a bag whose recorder
    was killed (no metadata.yaml) is reindexed first
    (:func:`robust_offload.analysis.bag.reindex`)."""
    bag = Path(bag)
    if bag.is_file() and (bag.suffix in (".mcap", ".db3") or bag.name == "metadata.yaml"):
        bag = bag.parent
    if not bag.exists():
        raise AnalysisError(f"{bag}: no such bag")
    if not (bag / "metadata.yaml").is_file():
        try:
            notes.append(f"{bag}: {reindex(bag)}")
        except BagError as err:
            raise AnalysisError(str(err)) from err
    return bag


@dataclass
class BagContents:
    """What :func:`read_bag` found: frame and plan rows, the message count per topic, and the
    messages it could not decode (skipped, counted per topic)."""

    frames: list[dict]
    plans: list[dict]
    counts: dict[str, int]
    undecodable: dict[str, int]


def read_bag(bag: Path, notes: list[str] | None = None) -> BagContents:
    """The frame and plan records of a rosbag2 bag; a message that cannot be decoded (garbage
    published on a topic) is skipped and counted, not fatal. ``notes`` receives what was done
    to make the bag readable. A frame's ``t_s`` is its robot's stamp (when the result was
    produced), not when the recorder got it: records that waited in DDS while a link was down
    keep their time (plans: when recorded)."""
    from rosbags.highlevel import AnyReader

    bag = _bag_dir(bag, notes if notes is not None else [])
    contents = BagContents([], [], {}, defaultdict(int))
    try:
        with AnyReader([bag], default_typestore=project_typestore()) as reader:
            contents.counts = {c.topic: c.msgcount for c in reader.connections}
            start = reader.start_time
            wanted = [c for c in reader.connections if c.topic in (FRAMES_TOPIC, PLAN_TOPIC)]
            # (an empty connection list would mean "all connections" to rosbags)
            for conn, timestamp, data in reader.messages(connections=wanted) if wanted else ():
                try:
                    msg = reader.deserialize(data, conn.msgtype)
                    if conn.topic == FRAMES_TOPIC:
                        rows = [_frame_row(msg, (_produced_ns(msg, timestamp) - start) * 1e-9)]
                    else:
                        rows = _plan_rows(msg, (timestamp - start) * 1e-9)
                    if not all(map(_plausible, rows)):
                        raise ValueError("not a record of this fleet")
                except Exception:  # garbage on the topic, or a forged record: skip and count
                    contents.undecodable[conn.topic] += 1
                    continue
                (contents.frames if conn.topic == FRAMES_TOPIC else contents.plans).extend(rows)
    except AnalysisError:
        raise
    except Exception as err:  # rosbags' reader/type errors: name the bag, no traceback
        raise AnalysisError(f"{bag}: cannot read the bag: {err}") from err
    return contents


STAMP_SKEW_NS = 60 * 10**9
"""A frame's stamp further than this from when the recorder got it is not used (unset, or a
clock far off): the recording time stands in."""


def _produced_ns(msg, recorded_ns: int) -> int:
    """When the robot produced a frame record: its header stamp, unless that is unusable."""
    stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
    return stamp if abs(stamp - recorded_ns) <= STAMP_SKEW_NS else recorded_ns


CHECKED = set(FRAME_FIELDS) - {"t_s", "robot_id", "request_id", "plan_id", "deadline_met",
                               "executed_on", "class_id"}
"""Fields a record must have within their plausible range (``checks``: finite, and within the
range of their unit; a plan's latency bound and margin may be inf or NaN)."""

MAX_POINTS = 4096
"""More partition points than any network has: a larger partition is no real record."""


def _plausible(row: dict) -> bool:
    """A record worth analysing: a robot id that is a name, plausible numbers."""
    try:
        checks.name("record", "robot_id", row["robot_id"])
        for key in CHECKED & set(row):
            if key == "partition":
                checks.whole("record", key, row[key], low=0, high=MAX_POINTS)
            elif row[key] != 0:       # 0: none (a local frame's share, a plan without one)
                checks.number("record", key, row[key])
    except checks.InputError:
        return False
    return math.isfinite(row["t_s"])


def _frame_row(msg, t_s: float) -> dict:
    return {"t_s": t_s, "robot_id": msg.robot_id, "request_id": int(msg.request_id),
            "plan_id": int(msg.plan_id), "partition": int(msg.partition),
            "freq_ghz": float(msg.freq_ghz), "bandwidth_hz": float(msg.bandwidth_hz),
            "energy_j": float(msg.energy_j), "deadline_ms": float(msg.deadline_ms),
            "risk": float(msg.risk), "total_ms": float(msg.total_ms),
            "local_ms": float(msg.local_ms), "uplink_ms": float(msg.uplink_ms),
            "edge_ms": float(msg.edge_ms), "deadline_met": bool(msg.deadline_met),
            "executed_on": msg.executed_on, "class_id": int(msg.class_id)}


def _plan_rows(msg, t_s: float) -> list[dict]:
    return [{"t_s": t_s, "plan_id": int(msg.plan_id), "policy": msg.policy,
             "robot_id": d.robot_id, "partition": int(d.partition), "freq_ghz": float(d.freq_ghz),
             "bandwidth_hz": float(d.bandwidth_hz), "energy_j": float(d.energy_j),
             "latency_bound_ms": float(d.latency_bound_ms), "deadline_ms": float(d.deadline_ms),
             "risk": float(d.risk), "feasible": bool(d.feasible),
             "margin_k": float(getattr(d, "margin_k", math.nan))} for d in msg.devices]


# ------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------

def _natural_key(text: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def summarize(frames: list[dict]) -> list[dict]:
    """One summary row per robot (sorted by robot id, robot_2 before robot_10)."""
    import numpy as np

    by_robot = defaultdict(list)
    for row in frames:
        by_robot[row["robot_id"]].append(row)
    rows = []
    for robot_id in sorted(by_robot, key=_natural_key):
        group = sorted(by_robot[robot_id], key=lambda r: r["t_s"])
        n = len(group)
        risks = [r["risk"] for r in group if r["risk"] > 0]
        measured = miss_rate(sum(not r["deadline_met"] for r in group), n,
                             risks[-1] if risks else math.nan)
        rows.append({
            "robot_id": robot_id, "frames": n, "misses": measured.misses,
            "failed": sum(r["executed_on"] == FAILED for r in group),
            "miss_rate": measured.rate, "risk": measured.risk, "miss_ci_low": measured.ci_low,
            "miss_ci_high": measured.ci_high, "status": measured.status,
            "energy_mean_j": float(np.mean([r["energy_j"] for r in group])),
            **_latency(group),
            "local_share": sum(r["executed_on"] == "local" for r in group) / n,
            "plans": len({r["plan_id"] for r in group if r["plan_id"]}),
            **switch_transients(group),
        })
    return rows


def _latency(group: list[dict]) -> dict:
    """Mean, p95 and max end-to-end latency of the frames that did not fail (a failed frame's
    total_ms is the time until its failure was known; nan if all failed)."""
    import numpy as np

    latency = np.array([r["total_ms"] for r in group if r["executed_on"] != FAILED])
    if not latency.size:
        return dict.fromkeys(("latency_mean_ms", "latency_p95_ms", "latency_max_ms"), math.nan)
    return {"latency_mean_ms": float(latency.mean()),
            "latency_p95_ms": float(np.percentile(latency, 95)),
            "latency_max_ms": float(latency.max())}


def switch_transients(group: list[dict]) -> dict:
    """A robot's switches (its frame's partition point or where it ran differs from the
    previous frame's; a failed frame is no switch) and the frames and misses within
    SWITCH_WINDOW_S after one."""
    ran = [r for r in group if r["executed_on"] != FAILED]
    switches = [b["t_s"] for a, b in zip(ran, ran[1:])
                if (a["partition"], a["executed_on"]) != (b["partition"], b["executed_on"])]
    after = [r for r in group if any(0.0 <= r["t_s"] - t < SWITCH_WINDOW_S for t in switches)]
    return {"switches": len(switches), "switch_frames": len(after),
            "switch_misses": sum(not r["deadline_met"] for r in after)}


def band_in_use_hz(frames: list[dict]) -> float:
    """The largest sum of bandwidth shares in use at once: from each frame's start (its record's
    time less its total time; a robot applies a plan at a frame boundary), the robot's share is
    that frame's (0 when it runs locally; a failed frame, which may have failed before or
    after sending, leaves it as it was). (By record time instead, two robots switching in the
    same frame period showed one's new share beside the other's old one: 24.1 of 20 MHz.)"""
    in_use, peak = {}, 0.0
    for row in sorted(frames, key=lambda r: r["t_s"] - r["total_ms"] * 1e-3):
        if row["executed_on"] == FAILED:
            continue
        offloaded = row["executed_on"] == "edge"
        in_use[row["robot_id"]] = row["bandwidth_hz"] if offloaded else 0.0
        peak = max(peak, sum(in_use.values()))
    return peak


BREAKDOWN_FIELDS = ("robot_id", "partition", "executed_on", "frames", "miss_rate", "local_ms",
                    "uplink_ms", "edge_ms", "total_ms")


def breakdown(frames: list[dict]) -> list[dict]:
    """Mean latency components per (robot, partition point, where it ran). ``uplink_ms`` is
    everything that is neither local nor edge compute: air time, DDS hops and queues."""
    groups = defaultdict(list)
    for row in frames:
        groups[(row["robot_id"], row["partition"], row["executed_on"])].append(row)
    out = []
    for (robot_id, point, where), group in sorted(
            groups.items(), key=lambda item: (_natural_key(item[0][0]), item[0][1:])):
        n = len(group)
        out.append({"robot_id": robot_id, "partition": point, "executed_on": where, "frames": n,
                    "miss_rate": sum(not r["deadline_met"] for r in group) / n,
                    **{key: sum(r[key] for r in group) / n
                       for key in ("local_ms", "uplink_ms", "edge_ms", "total_ms")}})
    return out


def format_breakdown(rows: list[dict]) -> str:
    """A readable table of :func:`breakdown` rows."""
    lines = [f"{'robot':<14}{'m':>3} {'where':<6}{'frames':>7}{'miss %':>8}{'local':>8}"
             f"{'uplink':>8}{'edge':>8}{'total ms':>10}"]
    for r in rows:
        lines.append(f"{r['robot_id']:<14}{r['partition']:>3} {r['executed_on']:<6}"
                     f"{r['frames']:>7}{100 * r['miss_rate']:>8.1f}{r['local_ms']:>8.1f}"
                     f"{r['uplink_ms']:>8.1f}{r['edge_ms']:>8.1f}{r['total_ms']:>10.1f}")
    return "\n".join(lines)


def format_summary(rows: list[dict]) -> str:
    """A readable table of :func:`summarize` rows."""
    if not rows:
        return "no frame records"
    head = (f"{'robot':<14}{'frames':>7}{'misses':>7}{'failed':>7}{'miss %':>8}{'eps %':>7}"
            f"{'CP95 up %':>10}"
            f"  {'status':<10}{'E mJ':>9}{'mean ms':>9}{'p95 ms':>9}{'local %':>8}")
    lines = [head]
    for r in rows:
        eps = "-" if math.isnan(r["risk"]) else f"{100 * r['risk']:.2f}"
        lines.append(
            f"{r['robot_id']:<14}{r['frames']:>7}{r['misses']:>7}{r['failed']:>7}"
            f"{100 * r['miss_rate']:>8.2f}"
            f"{eps:>7}{100 * r['miss_ci_high']:>10.2f}  {r['status']:<10}"
            f"{1e3 * r['energy_mean_j']:>9.3f}{r['latency_mean_ms']:>9.1f}"
            f"{r['latency_p95_ms']:>9.1f}{100 * r['local_share']:>8.1f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------

def _robot_colours(robot_ids):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {rid: cmap(i % 10) for i, rid in enumerate(robot_ids)}


def plot_timeline(frames: list[dict], plans: list[dict], path: Path) -> None:
    """Partition, frequency, bandwidth and latency (with deadline) of each robot over time."""
    from matplotlib.figure import Figure

    robots = sorted({r["robot_id"] for r in frames} | {r["robot_id"] for r in plans},
                    key=_natural_key)
    colour = _robot_colours(robots)
    t_end = max([r["t_s"] for r in frames] + [r["t_s"] for r in plans], default=0.0)
    fig = Figure(figsize=(10, 10), layout="constrained")
    axes = fig.subplots(4, 1, sharex=True)
    panels = (("partition", 1.0, "partition m"), ("freq_ghz", 1.0, "frequency (GHz)"),
              ("bandwidth_hz", 1e-6, "bandwidth (MHz)"))
    for rid in robots:
        fr = sorted((r for r in frames if r["robot_id"] == rid), key=lambda r: r["t_s"])
        pl = sorted((r for r in plans if r["robot_id"] == rid), key=lambda r: r["t_s"])
        t = [r["t_s"] for r in fr]
        for ax, (key, scale, _) in zip(axes, panels):
            if fr:
                ax.plot(t, [scale * r[key] for r in fr], ".", ms=3, color=colour[rid],
                        label=f"{rid} frames")
            if pl:  # a decision holds until the next plan: draw it to the end of the bag
                ts = [r["t_s"] for r in pl] + [max(t_end, pl[-1]["t_s"])]
                values = [scale * r[key] for r in pl]
                ax.step(ts, values + values[-1:], where="post", ls="--", lw=1,
                        color=colour[rid], label=f"{rid} plan")
        if fr:
            ax = axes[3]
            met = [r for r in fr if r["deadline_met"]]
            late = [r for r in fr if not r["deadline_met"]]
            ax.plot([r["t_s"] for r in met], [r["total_ms"] for r in met], ".", ms=3,
                    color=colour[rid], label=f"{rid}")
            ax.plot([r["t_s"] for r in late], [r["total_ms"] for r in late], "x", ms=5,
                    color=colour[rid])
            ax.step(t, [r["deadline_ms"] for r in fr], where="post", lw=1.2, color=colour[rid],
                    alpha=0.7, label=f"{rid} deadline")
    for ax, (_, _, label) in zip(axes, panels):
        ax.set_ylabel(label)
    axes[3].set_ylabel("latency (ms), x = missed")
    axes[3].set_xlabel("time since start of bag (s)")
    axes[0].set_title("plan (dashed) and applied decision per frame (dots)")
    if robots:
        axes[0].legend(fontsize=7, ncol=2, loc="best")
        axes[3].legend(fontsize=7, ncol=2, loc="best")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)


def plot_miss_rate(rows: list[dict], path: Path) -> None:
    """Miss rate per robot (bars, Clopper-Pearson 95 % interval) against its epsilon (marks)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(5.0, 0.9 * len(rows) + 2), 4), layout="constrained")
    ax = fig.subplots()
    x = list(range(len(rows)))
    rate = [100 * r["miss_rate"] for r in rows]
    err = [[100 * (r["miss_rate"] - r["miss_ci_low"]) for r in rows],
           [100 * (r["miss_ci_high"] - r["miss_rate"]) for r in rows]]
    ax.bar(x, rate, color="tab:blue", alpha=0.7, label="miss rate")
    ax.errorbar(x, rate, yerr=err, fmt="none", ecolor="k", capsize=4,
                label="Clopper-Pearson 95 %")
    ax.scatter(x, [100 * r["risk"] for r in rows], marker="_", s=900, color="tab:red",
               zorder=3, label="epsilon")
    ax.set_xticks(x, [f"{r['robot_id']}\n(n={r['frames']})" for r in rows], fontsize=8)
    ax.set_ylabel("deadline misses (%)")
    ax.set_title("deadline-miss rate vs epsilon")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=110)


def plot_margin(plans: list[dict], path: Path) -> None:
    """The chance margin multiplier k_n of every robot over time (constant unless the planner
    calibrates it from the robots' hits and misses)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.subplots()
    colours = _robot_colours(sorted({p["robot_id"] for p in plans}, key=_natural_key))
    for robot_id, colour in colours.items():
        points = [(p["t_s"], p["margin_k"]) for p in plans     # relaxed decisions included
                  if p["robot_id"] == robot_id and math.isfinite(p["margin_k"])
                  and p["margin_k"] > 0]
        if points:
            ax.step(*zip(*points), where="post", color=colour, label=robot_id)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("margin multiplier k")
    ax.set_title("E[T] + k sd(T) <= D: the margin each plan gave each robot")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def analyze(bag: Path, out: Path | None = None) -> list[dict]:
    """Summarise a recorded bag per robot; write CSVs and PNGs into ``out``.

    ``out`` defaults to ``BAG/analysis``. Returns the summary rows (see :data:`SUMMARY_FIELDS`);
    print them with :func:`format_summary`. Raises :class:`AnalysisError` (one-line message)
    when the bag is missing or unreadable or holds no frame records.
    """
    return analyze_bag(bag, out)[0]


def analyze_bag(bag: Path, out: Path | None = None
                ) -> tuple[list[dict], list[dict], list[str]]:
    """:func:`analyze`, also returning the latency breakdown rows (see :func:`breakdown`) and
    notes on what was skipped or repaired to read the bag."""
    notes: list[str] = []
    bag = _bag_dir(Path(bag), notes)
    contents = read_bag(bag)
    frames, plans = contents.frames, contents.plans
    for topic, count in sorted(contents.undecodable.items()):
        notes.append(f"{bag}: {count} undecodable message(s) on {topic} skipped")
    if not frames:
        seen = ", ".join(f"{t} ({n})" for t, n in sorted(contents.counts.items())) or "none"
        raise AnalysisError(f"{bag}: no frame records on {FRAMES_TOPIC} to analyse "
                            f"(topics in the bag: {seen})")
    rows, parts = summarize(frames), breakdown(frames)
    out = Path(out) if out is not None else bag / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "summary.csv", rows, SUMMARY_FIELDS)
    write_csv(out / "frames.csv", sorted(frames, key=lambda r: r["t_s"]), FRAME_FIELDS)
    write_csv(out / "plans.csv", plans, PLAN_FIELDS)
    write_csv(out / "breakdown.csv", parts, BREAKDOWN_FIELDS)
    write_csv(out / "fleet.csv", [{"frames": len(frames),
                                   "plans": len({p["plan_id"] for p in plans}),
                                   "band_in_use_max_hz": band_in_use_hz(frames)}],
              ("frames", "plans", "band_in_use_max_hz"))
    plot_timeline(frames, plans, out / "timeline.png")
    plot_miss_rate(rows, out / "miss_rate.png")
    plot_margin(plans, out / "margin_k.png")
    return rows, parts, notes
