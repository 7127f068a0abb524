"""The whole system as real processes over real DDS: planner, edge, radio, recorder, robots.

Each test runs its own fleet on its own ROS_DOMAIN_ID, started by the same runner as
`robust-offload fleet`, and checks the recorded bag with `analyze`. Robots and edge use the time
model (compute_mode: modelled) so that the timing is not at the mercy of this 2-core machine; the
tests wait for what the fleet does (its frames and plans as the recorder writes them), not for a
fixed time.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from robust_offload.analysis.analyze import analyze
from robust_offload.contract.topics import FRAMES, PLAN
from robust_offload.orchestration.fleet import command_line, node_specs
from robust_offload.orchestration.runner import Fleet, fleet_environment, with_bag

from conftest import REPO, wait_for_frames
from helpers import BagTail, parameter, wait_until

CONFIG = REPO / "config"
WAIT_S = 180.0     # gives up on an event that does not come (start-up on a loaded host)
ROBOT = {"compute_mode": "modelled", "rate_hz": 4.0, "risk": 0.1, "plan_wait_s": 20.0,
         "edge_timeout_s": 2.0}


def robot(name, **parameters):
    return {"name": name, "params_file": "robot.yaml",
            "parameters": {"model": "alexnet", "profile": "alexnet_nx_cpu",
                           "deadline_ms": 220.0, **ROBOT, **parameters}}


def description(robots, **services):
    fleet = {"planner": {"params_file": "planner.yaml",
                         "parameters": {"bandwidth_hz": 20e6, "robot_timeout_s": 2.0}},
             "edge": {"params_file": "edge.yaml", "parameters": {"compute_mode": "modelled"}},
             "radio": {"params_file": "radio.yaml", "parameters": {"static": True}},
             "recorder": {"params_file": "recorder.yaml"},
             "robots": robots}
    fleet.update(services)
    return {"fleet": fleet}


class RunningFleet:
    """A fleet of processes for one test; stopped (and its bag closed) by ``stop``."""

    def __init__(self, tmp_path: Path, domain: int, raw: dict, **env_vars):
        self.bag = tmp_path / "bag"
        specs = with_bag(node_specs(raw, CONFIG, "test fleet"), self.bag)
        env = fleet_environment(tmp_path)
        env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                   **env_vars)
        self.fleet = Fleet(specs, tmp_path, env)
        self.tail = BagTail(self.bag, (FRAMES, PLAN))
        self.fleet.start(robot_delay_s=3.0)

    def wait_for_frames(self, count: int, timeout_s: float) -> dict[str, int]:
        robots = [s.parameters["robot_id"] for s in self.fleet.specs if s.executable == "robot"]
        return wait_for_frames(int(self.fleet.env["ROS_DOMAIN_ID"]), robots, count, timeout_s)

    def process(self, label):
        return next((spec, p) for spec, p in self.fleet.processes if spec.label == label)

    def frames(self, robot_id: str, since: float = 0.0) -> list:
        """``robot_id``'s frame records in the bag so far, produced after ``since`` (wall
        clock)."""
        return [msg for _, msg in self.tail.messages(FRAMES) if msg.robot_id == robot_id
                and msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 > since]

    def streak(self, robot_id: str, where: str, count: int, since: float = 0.0) -> bool:
        """Whether ``robot_id``'s last ``count`` frames after ``since`` all ran on ``where``."""
        mine = self.frames(robot_id, since)
        return len(mine) >= count and all(f.executed_on == where for f in mine[-count:])

    def plans(self, since: float = 0.0) -> list[dict[str, float]]:
        """The plans recorded after ``since`` (wall clock): robot -> share of each feasible
        decision."""
        return [{d.robot_id: d.bandwidth_hz for d in plan.devices if d.feasible}
                for t, plan in self.tail.messages(PLAN) if t > since]

    def wait_for(self, condition, what: str, timeout_s: float = WAIT_S):
        assert wait_until(condition, timeout_s, poll_s=0.25), \
            f"not within {timeout_s:g} s: {what} (reading the bag: {self.tail.error or 'ok'})"

    def stop(self):
        self.fleet.stop()
        self.tail.close()
        return analyze(self.bag, self.bag.parent / "analysis")


def summary(rows, name):
    return next(r for r in rows if r["robot_id"] == name)


@pytest.fixture
def run_fleet(tmp_path):
    fleets = []

    def start(domain, raw, **env_vars):
        fleets.append(RunningFleet(tmp_path, domain, raw, **env_vars))
        return fleets[-1]

    yield start
    for running in fleets:
        running.fleet.stop()
        running.tail.close()


def test_fleet_plans_offloads_and_meets_its_risk(run_fleet):
    fleet = run_fleet(131, description([robot("robot_1"), robot("robot_2", risk=0.05,
                                                                   deadline_ms=250.0)]))
    # 200 frames: a start-up transient and one 2 s stall of a loaded 2-core host cost a robot
    # about 10 misses, which 100 frames at eps 5 % cannot tell from a violation
    fleet.wait_for_frames(200, timeout_s=240)
    rows = fleet.stop()
    for name, risk in (("robot_1", 0.1), ("robot_2", 0.05)):
        row = summary(rows, name)
        assert row["frames"] >= 200, row
        assert row["plans"] >= 1, row                     # every robot got a decision
        assert row["local_share"] < 0.5, row              # features flowed, results came back
        # not VIOLATED: eps inside or above the 95 % interval (200 frames cannot show more)
        assert row["miss_ci_low"] <= risk, row
    topics = _bag_topics(fleet.bag)
    for topic in ("robot_status", "channel_state", "profile", "plan", "uplink", "features",
                  "edge_alive", "frames"):
        assert topics.get(f"/robust_offload/{topic}", 0) > 0, topic


def _bag_topics(bag: Path) -> dict:
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return {t["topic_metadata"]["name"]: t["message_count"]
            for t in info["topics_with_message_count"]}


def test_edge_loss_falls_back_to_local_and_recovers(run_fleet):
    fleet = run_fleet(132, description([robot("robot_1")]))
    fleet.wait_for(lambda: fleet.streak("robot_1", "edge", 20), "20 offloaded frames in a row")
    spec, edge = fleet.process("edge")
    os.killpg(edge.pid, signal.SIGKILL)                   # the edge host disappears
    edge.wait()
    killed = time.time()
    fleet.wait_for(lambda: fleet.streak("robot_1", "local", 10, since=killed),
                   "10 local frames in a row after the edge was killed")
    restarted = subprocess.Popen(command_line(spec), env=fleet.fleet.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    fleet.fleet.processes.append((spec, restarted))
    back = time.time()
    fleet.wait_for(lambda: fleet.streak("robot_1", "edge", 10, since=back),
                   "10 offloaded frames in a row after the edge was restarted")
    fleet.stop()
    where = "".join("E" if f["executed_on"] == "edge" else "L"
                    for f in _frames(fleet.bag.parent / "analysis"))
    # offloading, then (edge gone) a run of local frames, then offloading again
    assert re.search(r"E{20,}.*L{10,}.*E{10,}", where), where


def _frames(analysis: Path) -> list[dict]:
    import csv

    rows = list(csv.DictReader((analysis / "frames.csv").open()))
    return [{"t": float(r["t_s"]), "executed_on": r["executed_on"]} for r in rows]


def test_late_robot_gets_a_plan_and_a_leaving_one_frees_its_bandwidth(run_fleet):
    raw = description([robot("robot_1"), robot("robot_2")])
    fleet = run_fleet(133, raw)
    band_hz = parameter(fleet.process("planner")[0], "bandwidth_hz")
    fleet.wait_for(lambda: any(set(p) == {"robot_1", "robot_2"} for p in fleet.plans()),
                   "a plan for robot_1 and robot_2")
    late = node_specs(description([robot("robot_3")]), CONFIG)[-1]
    joined = subprocess.Popen(command_line(late), env=fleet.fleet.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              start_new_session=True)
    fleet.fleet.processes.append((late, joined))
    fleet.wait_for(lambda: any("robot_3" in p for p in fleet.plans()), "a plan for robot_3")
    _, leaving = fleet.process("robot_2/robot")
    os.killpg(leaving.pid, signal.SIGINT)
    leaving.wait()
    left = time.time()

    def whole_band_to_the_others(plan):
        return set(plan) == {"robot_1", "robot_3"} and \
            sum(plan.values()) == pytest.approx(band_hz)
    fleet.wait_for(lambda: any(map(whole_band_to_the_others, fleet.plans(since=left))),
                   "a plan that gives the whole band to robot_1 and robot_3")
    fleet.stop()
    plans = _plans(fleet.bag.parent / "analysis")
    last = plans[max(plans)]
    assert set(last) == {"robot_1", "robot_3"}            # robot_2 left, robot_3 joined
    assert all(sum(p.values()) <= band_hz * (1 + 1e-9) for p in plans.values())
    # the whole band is handed out again (a plan that grows shares comes in two steps: the
    # first keeps growing shares at their old value, so only the second sums to B)
    assert any(map(whole_band_to_the_others, plans.values()))
    assert any("robot_3" in p for p in plans.values())


def _plans(analysis: Path) -> dict[int, dict[str, float]]:
    import csv

    plans: dict[int, dict[str, float]] = {}
    for row in csv.DictReader((analysis / "plans.csv").open()):
        if row["feasible"] == "True":
            plans.setdefault(int(row["plan_id"]), {})[row["robot_id"]] = \
                float(row["bandwidth_hz"])
    return plans


RUN_MARK = "ROBUST_OFFLOAD_TEST_RUN"
"""Environment variable naming the run a node belongs to (its processes inherit it): another
run of these tests on this host (the same domains) is not this one."""


def _nodes_of_run(run: str) -> list:
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "robust_offload.ros" in " ".join(process.info["cmdline"] or []) and \
                    process.environ().get(RUN_MARK) == run:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.parametrize("sig, when", [(signal.SIGTERM, "frames"), (signal.SIGINT, "starting")])
def test_runner_stops_every_node_and_closes_the_bag_on_a_signal(tmp_path, sig, when):
    """SIGTERM (systemd, docker, timeout) and an early Ctrl-C, while services are still starting,
    stop every node and leave a readable bag; no traceback."""
    domain = 135 if sig == signal.SIGTERM else 136
    fleet_file = tmp_path / "fleet.yaml"
    raw = description([robot("robot_1")])
    for entry in [*raw["fleet"].values()][:-1] + raw["fleet"]["robots"]:
        entry["params_file"] = str(CONFIG / entry["params_file"])
    fleet_file.write_text(yaml.safe_dump(raw))
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               **{RUN_MARK: str(tmp_path)})
    runner = subprocess.Popen(
        [str(Path(sys.executable).with_name("robust-offload")), "fleet", "--config",
         str(fleet_file), "--duration", "120", "--out", str(tmp_path / "out"), "--bag",
         str(tmp_path / "bag")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,   # started as from a background job, which inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        if when == "frames":
            assert wait_for_frames(domain, ["robot_1"], 5, timeout_s=90)["robot_1"] >= 5
        else:   # the recorder has opened the bag; robots start only 8 s after the services
            assert wait_until((tmp_path / "bag").exists, WAIT_S), "the recorder made no bag"
        runner.send_signal(sig)
        output = runner.communicate(timeout=60)[0]
    finally:
        if runner.poll() is None:
            runner.kill()
    assert "Traceback" not in output and "interrupted: stopping the fleet" in output, output
    assert _nodes_of_run(str(tmp_path)) == []
    assert (tmp_path / "bag" / "metadata.yaml").is_file(), output


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_fleet_on_network_namespaces(tmp_path):
    """`robust-offload fleet --hosts netns`: each node on its own host (namespace), DDS over
    UDP across the bridge: robots are planned, offload and are answered as on one host; nothing
    is left behind."""
    from robust_offload.orchestration.runner import netns_environment, on_hosts
    from robust_offload.orchestration.netns import Network

    def made_by(prefix):         # (other tests may make and remove their own meanwhile)
        return [line for argv in (["ip", "-o", "link"], ["ip", "netns", "list"])
                for line in subprocess.run(argv, capture_output=True, text=True).stdout
                .splitlines() if prefix in line]

    def enough(messages):       # what is asserted below, as the recorder writes it
        frames = [m for _, m in messages]
        return all(sum(f.robot_id == name for f in frames) >= 40 and
                   sum(f.robot_id == name and f.executed_on == "edge" for f in frames) >= 20
                   for name in ("robot_1", "robot_2"))

    bag = tmp_path / "bag"
    specs = with_bag(node_specs(description([robot("robot_1"), robot("robot_2")]), CONFIG,
                                "test fleet"), bag)
    env = netns_environment(fleet_environment(tmp_path))
    env["ROS_DOMAIN_ID"] = "137"
    with Network() as network, BagTail(bag, (FRAMES,)) as tail:
        specs, command = on_hosts(specs, network)
        fleet = Fleet(specs, tmp_path, env, command)
        fleet.start(robot_delay_s=3.0)
        try:
            assert wait_until(lambda: enough(tail.messages(FRAMES)), WAIT_S, poll_s=0.5), \
                f"robots' frames not within {WAIT_S:g} s (reading the bag: {tail.error or 'ok'})"
        finally:
            fleet.stop()
        addresses = {h.address for h in network.hosts.values()}
    assert len(addresses) == len(specs)
    rows = analyze(bag, tmp_path / "analysis")
    for name in ("robot_1", "robot_2"):
        row = summary(rows, name)
        assert row["frames"] >= 40 and row["plans"] >= 1, row
        # tensors crossed hosts and results came back; how many is the planner's choice (a robot
        # whose calibrated margin grew after misses may be planned local for a while)
        assert row["frames"] * (1 - row["local_share"]) >= 20, row
    assert made_by(network.prefix) == []
