"""Faults across hosts (issue 11, section 3): the fleet on network-namespace hosts with the air
time on shaped links, supervised as ``robust-offload fleet`` does (respawn), while the edge and
then the planner are SIGKILLed, a robot's link goes down for 5 s, or its rate is cut while the
radio's channel reports lag, or the edge's host is loaded. What each must do is
checked from the bag and the node logs. Needs root (CI has)."""

import csv
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
import pytest
import yaml

from robust_offload.analysis import analyze
from robust_offload.fleet import node_specs
from robust_offload.fleet_runner import Fleet, fleet_environment, netns_environment, on_hosts
from robust_offload.fleet_runner import with_bag
from robust_offload.netns import ip

from test_system import CONFIG, description, robot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

RATE_HZ, DEADLINE_S, BAND_HZ, LAG_S = 4.0, 0.22, 20e6, 2.0
ACTIVE = re.compile(r"^\[INFO\] \[(\d+\.\d+)\] \[edge\]: active")


def supervise(fleet: Fleet, seconds: float, said: list) -> None:
    """What the runner's loop does: restart what may respawn, for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.25)
        fleet.supervise(time.monotonic(), said.append)


def bag_start_s(bag) -> float:
    """The bag's start (wall clock): what the analysis' ``t_s`` counts from."""
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return info["starting_time"]["nanoseconds_since_epoch"] * 1e-9


def frames_by_wall_clock(bag, analysis) -> list[dict]:
    start = bag_start_s(bag)
    with open(analysis / "frames.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [{"done": start + float(r["t_s"]), "robot_id": r["robot_id"],
             "request_id": int(r["request_id"]), "plan_id": int(r["plan_id"]),
             "capture": start + float(r["t_s"]) - float(r["total_ms"]) / 1e3,
             "edge": r["executed_on"] == "edge", "partition": int(r["partition"]),
             "edge_ms": float(r["edge_ms"] or 0.0)} for r in rows]


def kill(fleet: Fleet, label: str) -> float:
    process = next(p for spec, p in fleet.processes if spec.label == label)
    os.killpg(process.pid, signal.SIGKILL)
    return time.time()


@contextmanager
def netns_fleet(tmp_path, domain: int, edge_mode: str = "modelled", **radio):
    """Two robots, the services with a 1 s respawn delay, each on its own host with shaped air
    time; yields the fleet, the network, what the supervisor said and the analysed frames
    (filled in when the block ends: the fleet stopped, the bag analysed)."""
    from robust_offload.netns import Network

    bag = tmp_path / "bag"
    raw = description([robot("robot_1"), robot("robot_2")],
                      planner={"params_file": "planner.yaml",
                               "parameters": {"bandwidth_hz": BAND_HZ, "robot_timeout_s": 2.0},
                               "respawn_delay_s": 1.0},
                      edge={"params_file": "edge.yaml",
                            "parameters": {"compute_mode": edge_mode}, "respawn_delay_s": 1.0},
                      radio={"params_file": "radio.yaml",
                             "parameters": {"static": True, **radio}})
    specs = with_bag(node_specs(raw, CONFIG, "test fleet"), bag)
    env = {**netns_environment(fleet_environment(tmp_path)), "ROS_DOMAIN_ID": str(domain)}
    said, frames = [], []
    with Network() as network:
        specs, command = on_hosts(specs, network)
        fleet = Fleet(specs, tmp_path, env, command)
        fleet.start(robot_delay_s=3.0)
        try:
            yield fleet, network, said, frames
        finally:
            fleet.stop()
    analyze(bag, tmp_path / "analysis")
    frames += frames_by_wall_clock(bag, tmp_path / "analysis")
    assert len({(f["robot_id"], f["request_id"]) for f in frames}) == len(frames)  # none twice
    with open(tmp_path / "analysis" / "fleet.csv", newline="") as f:
        band = float(next(csv.DictReader(f))["band_in_use_max_hz"])
    assert band <= BAND_HZ * (1 + 1e-9), band        # shares in use never above B, faults or not


def test_edge_and_planner_killed_and_respawned_across_hosts(tmp_path):
    with netns_fleet(tmp_path, 139) as (fleet, _, said, frames):
        supervise(fleet, 25.0, said)
        edge_killed = kill(fleet, "edge")
        supervise(fleet, 20.0, said)
        planner_killed = kill(fleet, "planner")
        supervise(fleet, 12.0, said)
    assert said == ["edge exited (status -9): respawning in 1 s", "edge respawned (restart 1)",
                    "planner exited (status -9): respawning in 1 s",
                    "planner respawned (restart 1)"], said
    for name in ("robot_1", "robot_2"):
        mine = [f for f in frames if f["robot_id"] == name]
        check_edge_loss(mine, edge_killed, tmp_path / "logs" / "edge.log")
        check_planner_loss(mine, planner_killed)


def test_a_robots_link_down_for_5_s_and_back(tmp_path):
    """Its frames run locally within one deadline of the edge's last answer; it offloads again
    within 5 s of the link coming back; the other robot keeps offloading throughout."""
    with netns_fleet(tmp_path, 141) as (fleet, network, said, frames):
        supervise(fleet, 25.0, said)
        port = network.hosts["robot_1/robot"].bridge_port
        ip("link", "set", port, "down")
        cut = time.time()
        supervise(fleet, 5.0, said)
        ip("link", "set", port, "up")
        back = time.time()
        supervise(fleet, 12.0, said)
    assert said == []
    mine = [f for f in frames if f["robot_id"] == "robot_1"]
    check_local_in_time(mine, cut)
    resumed = min(f["capture"] for f in mine if f["edge"] and f["capture"] > back)
    assert resumed - back <= 5.0, resumed - back
    other = [f for f in frames if f["robot_id"] == "robot_2" and cut <= f["capture"] <= back]
    assert len(other) >= 15 and sum(f["edge"] for f in other) >= 0.8 * len(other), other


def test_a_robots_rate_cut_while_its_channel_state_lags(tmp_path):
    """robot_1's channel drops 35 dB at 30 s for 15 s: its shaped link slows at once (about
    25x), the radio reports it 2 s late. The planner changes robot_1's decision within the lag
    plus 2 s (for the reported gain, or earlier for the misses that widen its calibrated
    margin); robot_1's misses in between are the price of the late estimate (measured)."""
    with netns_fleet(tmp_path, 143, fades=["robot_1:35:30:15"], report_lag_s=LAG_S) as (
            fleet, _, said, frames):
        supervise(fleet, 50.0, said)
    logs = tmp_path / "logs"
    fade = next(stamp_of(line) for line in (logs / "radio.log").read_text().splitlines()
                if "robot robot_1: scheduled fade" in line)
    reaction = first_change(plans_by_wall_clock(tmp_path / "bag", tmp_path / "analysis"),
                            "robot_1", fade)
    assert reaction - fade <= LAG_S + 2.0, reaction - fade
    mine = [f for f in frames if f["robot_id"] == "robot_1"]
    assert any(f["capture"] > reaction for f in mine)        # frames went on after it


def test_a_cpu_hog_on_the_edge_host_slows_it_and_the_planner_reacts(tmp_path):
    """Three busy loops on the edge's host (on the edge's core) for 20 s while it runs AlexNet's
    tails for real: each frame's edge time is longer than just before (measured 1.6-1.8x), the
    variance the edge publishes rises, and the planner replans on the edge's measured stats."""
    with netns_fleet(tmp_path, 145, edge_mode="real") as (fleet, network, said, frames):
        for _ in range(120):                  # the edge times its models before it is active
            if any(ACTIVE.match(line) for line in
                   (tmp_path / "logs" / "edge.log").read_text().splitlines()):
                break
            supervise(fleet, 1.0, said)
        supervise(fleet, 30.0, said)      # the edge's window (200 samples at 8 Hz) is full
        edge = network.hosts["edge"]
        # the edge and the hogs share one core (namespaces do not part CPUs; on two cores
        # unpinned hogs slowed the whole fleet and left the edge's tails almost as they were)
        pid = next(p.pid for spec, p in fleet.processes if spec.executable == "edge")
        subprocess.run(["taskset", "-a", "-p", "-c", "1", str(pid)], check=True,
                       stdout=subprocess.DEVNULL)
        hogs = [subprocess.Popen(edge.command(["taskset", "-c", "1", sys.executable, "-c",
                                               "while True: pass"])) for _ in range(3)]
        started = time.time()
        try:
            supervise(fleet, 20.0, said)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        supervise(fleet, 3.0, said)
    # each frame's edge time over the edge's own calibrated mean at its point (the robots may
    # move to another point meanwhile)
    heartbeats = edge_heartbeats(tmp_path / "bag")
    calibrated = heartbeats[0][1]
    ratio = [(f["capture"], f["edge_ms"] / calibrated[f["partition"]]) for f in frames
             if f["edge"]]
    before = [r for t, r in ratio if started - 10.0 < t < started]
    during = [r for t, r in ratio if started + 2.0 < t < started + 20.0]
    assert len(before) >= 20 and len(during) >= 20, (before, during)
    assert np.mean(during) > 1.3 * np.mean(before), (before, during)
    # the variance the edge publishes (at the point it serves most) rises: measured 1.5-4x
    published = [(t, var) for t, _, var in heartbeats]
    before_var = [v for t, v in published if t < started][-1]
    during_var = [v for t, v in published if started + 5.0 < t < started + 20.0]
    assert during_var and max(during_var) > 1.2 * before_var, (before_var, during_var)
    # the planner reacts: it replans on the edge's new stats (what that costs is small here,
    # within the plans' noise: the robots' local part dominates a 220 ms deadline)
    reasons = [m.group(1) for line in (tmp_path / "logs" / "planner.log").read_text().splitlines()
               if (m := re.search(r"planned in [^[]*\[(.*)\]$", line))
               and started < stamp_of(line) < started + 20.0]
    assert any("edge_" in why for why in reasons), reasons


def edge_heartbeats(bag) -> list[tuple[float, list[float], float]]:
    """The edge's AlexNet profile heartbeats: (stamp, mean ms per point, variance ms^2 at the
    point it served most). The first is its start-up calibration, before any load."""
    from rosbags.highlevel import AnyReader

    from robust_offload.bag import project_typestore
    from robust_offload.contract import EDGE_PROFILE

    with AnyReader([bag], default_typestore=project_typestore()) as reader:
        wanted = [c for c in reader.connections if c.topic == EDGE_PROFILE]
        out = []
        for conn, _, data in reader.messages(connections=wanted):
            msg = reader.deserialize(data, conn.msgtype)
            if msg.is_edge and msg.model == "alexnet":
                served = max(range(len(msg.sample_counts)), key=msg.sample_counts.__getitem__)
                out.append((msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9,
                            [float(m) for m in msg.mean_ms], float(msg.var_ms2[served])))
    assert out, "no edge profile in the bag"
    return out


def plans_by_wall_clock(bag, analysis) -> list[dict]:
    """Each robot's decisions in the recorded plans, placed at the recorder's clock."""
    start = bag_start_s(bag)
    with open(analysis / "plans.csv", newline="") as f:
        return [{"t": start + float(r["t_s"]), "robot_id": r["robot_id"],
                 "partition": r["partition"], "bandwidth_hz": float(r["bandwidth_hz"] or 0.0)}
                for r in csv.DictReader(f)]


def first_change(plans: list[dict], robot_id: str, after: float) -> float:
    """When the first plan after ``after`` moved ``robot_id`` to another partition point or
    changed its share by more than 20 % (plans retune shares a little all the time)."""
    mine = [p for p in plans if p["robot_id"] == robot_id]
    old = [p for p in mine if p["t"] <= after][-1]
    return next(p["t"] for p in mine if p["t"] > after and (
        p["partition"] != old["partition"]
        or abs(p["bandwidth_hz"] - old["bandwidth_hz"]) > 0.2 * old["bandwidth_hz"]))


def stamp_of(line: str) -> float:
    return float(re.match(r"^\[\w+\] \[(\d+\.\d+)\]", line).group(1))


def check_local_in_time(frames: list[dict], fault: float) -> None:
    """Local within one deadline (plus one frame period) of the edge's last answer before
    ``fault``."""
    last_answer = max(f["done"] for f in frames if f["edge"] and f["done"] < fault)
    first_local = min(f["capture"] for f in frames
                      if not f["edge"] and f["capture"] > last_answer)
    assert first_local - last_answer <= DEADLINE_S + 1 / RATE_HZ + 0.25, first_local - last_answer


def check_edge_loss(frames: list[dict], killed: float, edge_log) -> None:
    """Edge gone: local in time (:func:`check_local_in_time`); back: offloading within 5 s of
    its activation."""
    check_local_in_time(frames, killed)

    active = [float(m.group(1)) for line in edge_log.read_text().splitlines()
              if (m := ACTIVE.match(line))]
    assert len(active) == 2 and active[1] > killed, active
    resumed = min(f["capture"] for f in frames if f["edge"] and f["capture"] > active[1])
    assert resumed - active[1] <= 5.0, resumed - active[1]


def check_planner_loss(frames: list[dict], killed: float) -> None:
    """Planner gone: the robot keeps the decision it had (one plan, not older than its last
    frame's before the kill) and keeps offloading."""
    after = [f for f in frames if killed < f["capture"] < killed + 1.0]
    before = max((f for f in frames if f["capture"] < killed), key=lambda f: f["capture"])
    assert after and len({f["plan_id"] for f in after}) == 1, after
    assert after[0]["plan_id"] >= before["plan_id"] and all(f["edge"] for f in after), after
