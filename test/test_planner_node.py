"""The planner node as a real process over real DDS, driven by fake robots from this process.

Every test starts `python -m robust_offload.ros.planner_node --ros-args --params-file ...` on its
own ROS_DOMAIN_ID (localhost discovery only) and talks to it with a test-side rclpy node.
"""

import itertools
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")
rclpy = pytest.importorskip("rclpy")

from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from robust_offload.ros import topics  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOMAINS = itertools.count(61)   # one ROS domain per planner process (61..79)
TIMEOUT_S = 40.0                # generous: 2 shared cores
HEARTBEAT_S = 0.2
BANDWIDTH_HZ = 10e6

ALEX = dict(profile="alexnet_nx_cpu", model="alexnet", deadline_ms=180.0, risk=0.05,
            kappa=0.8e-27, freq_min_ghz=0.1, freq_max_ghz=1.2, tx_power_w=1.0)
RESNET = dict(profile="resnet152_nx_gpu", model="resnet152", deadline_ms=150.0, risk=0.05,
              kappa=2.8e-27, freq_min_ghz=0.2, freq_max_ghz=0.8, tx_power_w=1.0)


def loss_db(distance_m):
    return 38.0 + 30.0 * math.log10(distance_m)


def node_env(domain):
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0")
    env.setdefault("HOME", "/tmp")
    env.setdefault("ROS_LOG_DIR", "/tmp/roslog")
    return env


def write_params(path, **overrides):
    params = dict(bandwidth_hz=BANDWIDTH_HZ, robot_timeout_s=2.0, replan_period_s=0.5)
    params.update(overrides)
    lines = ["planner:", "  ros__parameters:"]
    lines += [f"    {key}: {value!r}" if isinstance(value, str) else f"    {key}: {value}"
              for key, value in params.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_planner(tmp_path, domain, **params):
    log = open(tmp_path / "planner.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "robust_offload.ros.planner_node", "--ros-args", "--params-file",
         str(write_params(tmp_path / "planner.yaml", **params))],
        cwd=REPO, env=node_env(domain), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def stop(proc, timeout=15.0):
    """SIGINT, then kill after a timeout; returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class FakeFleet:
    """Test-side node: publishes RobotStatus + ChannelState of fake robots, records plans."""

    def __init__(self, domain, log_path):
        self.log_path = log_path
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node("fake_robots", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.status_pub = self.node.create_publisher(msg.RobotStatus, topics.ROBOT_STATUS,
                                                     topics.STATUS_QOS)
        self.channel_pub = self.node.create_publisher(msg.ChannelState, topics.CHANNEL_STATE,
                                                      topics.STATUS_QOS)
        self.profile_pub = self.node.create_publisher(msg.InferenceProfile, topics.PROFILE,
                                                      topics.STATUS_QOS)
        self.plans = []                 # (receive time, OffloadPlan)
        self.subscribe(self.plans)
        self.robots = {}                # name -> (status fields, path loss dB)
        self.node.create_timer(HEARTBEAT_S, self.heartbeat)

    def subscribe(self, into):
        return self.node.create_subscription(
            msg.OffloadPlan, topics.PLAN, lambda plan: into.append((time.monotonic(), plan)),
            topics.PLAN_QOS)

    def add(self, name, status=ALEX, distance_m=150.0):
        self.robots[name] = (status, loss_db(distance_m))
        self.publish(name)

    def publish(self, name):
        status, loss = self.robots[name]
        self.status_pub.publish(msg.RobotStatus(robot_id=name, edge_available=True, **status))
        self.channel_pub.publish(msg.ChannelState(robot_id=name, path_loss_db=loss))

    def heartbeat(self):
        for name in list(self.robots):
            self.publish(name)

    def log(self):
        return self.log_path.read_text()

    def spin_until(self, condition, what, timeout=TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            self.executor.spin_once(timeout_sec=0.05)
        raise AssertionError(f"timed out waiting for {what}; planner log:\n{self.log()[-3000:]}")

    def plan_with(self, names, after_id=0):
        """Wait for a plan newer than after_id that decides exactly the robots ``names``."""
        def found():
            for _, plan in reversed(self.plans):
                if plan.plan_id > after_id and {d.robot_id for d in plan.devices} == set(names):
                    return plan
            return None
        return self.spin_until(found, f"a plan for {sorted(names)} after #{after_id}")

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """Start a planner on a fresh domain; returns a function (params) -> (proc, FakeFleet)."""
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    started = []

    def start(**params):
        domain = next(DOMAINS)
        proc = start_planner(tmp_path, domain, **params)
        fleet = FakeFleet(domain, tmp_path / "planner.log")
        started.append((proc, fleet))
        return proc, fleet

    yield start
    for proc, fleet in started:
        fleet.close()
        assert stop(proc) == 0, (tmp_path / "planner.log").read_text()[-3000:]


def feasible(plan):
    return {d.robot_id: d for d in plan.devices if d.feasible}


def test_every_robot_late_robot_and_late_subscriber(setup):
    proc, fleet = setup()
    fleet.add("robot_1", ALEX, 120.0)
    fleet.add("robot_2", RESNET, 80.0)
    fleet.add("robot_3", ALEX, 200.0)
    fleet.add("greedy", {**RESNET, "risk": 1e-6, "deadline_ms": 100.0}, 150.0)
    first = fleet.plan_with({"robot_1", "robot_2", "robot_3", "greedy"})
    assert set(feasible(first)) == {"robot_1", "robot_2", "robot_3"}
    greedy = next(d for d in first.devices if d.robot_id == "greedy")
    # eps = 1e-6 cannot be met: degraded (planned at the lowest risk it can reach), not local
    assert not greedy.feasible and greedy.risk == 1e-6
    assert "degraded" in greedy.reason and "planned at risk" in greedy.reason
    assert greedy.bandwidth_hz > 0 and greedy.latency_bound_ms <= greedy.deadline_ms
    assert first.policy == "robust" and first.solve_time_s > 0
    assert first.total_energy_j == pytest.approx(sum(d.energy_j for d in first.devices))
    assert first.lower_bound_j <= first.total_energy_j * (1 + 1e-9)
    for d in feasible(first).values():                  # local (m = M) needs no band
        assert d.latency_bound_ms <= d.deadline_ms * (1 + 1e-9)
        assert (d.bandwidth_hz > 0) == (d.partition < (9 if d.robot_id == "robot_2" else 8))
    assert sum(d.bandwidth_hz for d in first.devices) == pytest.approx(BANDWIDTH_HZ, rel=1e-6)

    fleet.add("robot_4", RESNET, 250.0)                  # joins late
    second = fleet.plan_with({"robot_1", "robot_2", "robot_3", "robot_4", "greedy"},
                             first.plan_id)
    assert set(feasible(second)) == {"robot_1", "robot_2", "robot_3", "robot_4"}
    assert sum(d.bandwidth_hz for d in second.devices) == pytest.approx(BANDWIDTH_HZ, rel=1e-6)
    assert "plan #" in fleet.log() and "robots" in fleet.log()

    late = []                                            # a subscriber that joins late
    fleet.subscribe(late)
    fleet.spin_until(lambda: late, "the last plan on a late subscriber")
    newest = max(plan.plan_id for _, plan in fleet.plans)
    assert late[-1][1].plan_id == newest >= second.plan_id
    assert {d.robot_id for d in late[-1][1].devices} == {d.robot_id for d in second.devices}


def test_silent_robot_is_dropped_and_its_bandwidth_freed(setup):
    proc, fleet = setup()
    for i, (status, distance) in enumerate([(ALEX, 100.0), (RESNET, 150.0), (ALEX, 220.0)]):
        fleet.add(f"robot_{i + 1}", status, distance)
    full = fleet.plan_with({"robot_1", "robot_2", "robot_3"})
    assert sum(d.bandwidth_hz for d in full.devices) == pytest.approx(BANDWIDTH_HZ, rel=1e-6)
    del fleet.robots["robot_2"]                          # stops publishing
    rest = fleet.plan_with({"robot_1", "robot_3"}, full.plan_id)
    assert sum(d.bandwidth_hz for d in rest.devices) == pytest.approx(BANDWIDTH_HZ, rel=1e-6)
    before = {d.robot_id: d.bandwidth_hz for d in full.devices}
    assert all(d.bandwidth_hz > before[d.robot_id] for d in rest.devices)
    assert "robot 'robot_2' dropped" in fleet.log()


def set_parameter(fleet, name, value):
    client = fleet.node.create_client(SetParameters, "/planner/set_parameters")
    fleet.spin_until(lambda: client.service_is_ready(), "the planner's parameter service")
    if isinstance(value, str):
        pvalue = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    else:
        pvalue = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    future = client.call_async(SetParameters.Request(parameters=[Parameter(name=name,
                                                                           value=pvalue)]))
    fleet.spin_until(future.done, f"setting {name}")
    return future.result().results[0]


def test_bandwidth_and_policy_change_at_runtime(setup):
    proc, fleet = setup()
    fleet.add("robot_1", ALEX, 120.0)
    fleet.add("robot_2", RESNET, 90.0)
    first = fleet.plan_with({"robot_1", "robot_2"})
    assert set_parameter(fleet, "bandwidth_hz", 20e6).successful
    wider = fleet.plan_with({"robot_1", "robot_2"}, first.plan_id)
    assert sum(d.bandwidth_hz for d in wider.devices) == pytest.approx(20e6, rel=1e-6)
    assert wider.total_energy_j < first.total_energy_j
    refused = set_parameter(fleet, "policy", "fastest")
    assert not refused.successful and "must be one of robust" in refused.reason
    assert not set_parameter(fleet, "bandwidth_hz", -1.0).successful
    assert not set_parameter(fleet, "hysteresis_db", 3.0).successful     # read at start only
    assert set_parameter(fleet, "policy", "exhaustive").successful
    exact = fleet.spin_until(lambda: next((p for _, p in reversed(fleet.plans)
                                           if p.policy == "exhaustive"), None),
                             "a plan of the exhaustive policy")
    assert exact.total_energy_j == pytest.approx(wider.total_energy_j, rel=1e-5)
    assert set_parameter(fleet, "bound", "unimodal").successful           # a narrower margin
    after = len(fleet.plans)
    narrower = fleet.spin_until(lambda: next((p for _, p in fleet.plans[after:]), None),
                                "a plan with the unimodal bound")
    assert narrower.total_energy_j < exact.total_energy_j
    assert not set_parameter(fleet, "bound", "chernoff").successful


def test_malformed_messages_are_logged_and_ignored(setup):
    proc, fleet = setup()
    fleet.add("robot_1", ALEX, 120.0)
    fleet.add("robot_2", ALEX, 180.0)
    first = fleet.plan_with({"robot_1", "robot_2"})
    fleet.channel_pub.publish(msg.ChannelState(robot_id="robot_1", channel_gain=float("nan")))
    fleet.spin_until(lambda: "'channel_gain' = nan" in fleet.log(), "the NaN warning")
    fleet.profile_pub.publish(msg.InferenceProfile(
        source="robot_2", model="alexnet", flops_per_cycle=[1.0, 2.0, 3.0], var_ms2=[1.0] * 9,
        sample_counts=[100] * 9))
    fleet.spin_until(lambda: "'flops_per_cycle'" in fleet.log(), "the wrong-length warning")
    lines = fleet.log().splitlines()
    nan_line = next(line for line in lines if "'channel_gain' = nan" in line)
    assert "WARN" in nan_line and "robot_1" in nan_line
    length_line = next(line for line in lines if "'flops_per_cycle'" in line)
    assert "WARN" in length_line and "must have 9 entries" in length_line and "has 3" in length_line
    assert proc.poll() is None
    # still serving on the last good state: a valid change replans
    fleet.robots["robot_1"] = (ALEX, loss_db(60.0))
    fleet.publish("robot_1")
    second = fleet.plan_with({"robot_1", "robot_2"}, first.plan_id)
    assert second.plan_id > first.plan_id
    assert all(math.isfinite(d.bandwidth_hz) for d in second.devices)
    assert "Traceback" not in fleet.log()


@pytest.mark.parametrize("params, fragment", [
    (dict(bandwidth_hz=-5.0), "'bandwidth_hz' = -5.0: outside the plausible range [1, 1e+12] Hz"),
    (dict(policy="fastest"), "'policy' = 'fastest': must be one of robust, "),
    (dict(min_samples=0), "'min_samples' = 0.0: outside the plausible range [1, 1e+09] samples"),
    (dict(deadline=100.0), "field 'deadline' = 100.0: not a parameter of node 'planner'"),
    (dict(default_deadline_ms=1e308), "'default_deadline_ms' = 1e+308: outside the plausible"),
    (dict(profiles_file="/nonexistent.yaml"), "/nonexistent.yaml: cannot read"),
])
def test_bad_parameter_exits_2(tmp_path, params, fragment):
    proc = start_planner(tmp_path, next(DOMAINS), **params)
    try:
        assert proc.wait(TIMEOUT_S) == 2
    finally:
        stop(proc)
    output = (tmp_path / "planner.log").read_text()
    errors = [line for line in output.splitlines() if line.strip()]
    assert len(errors) == 1 and "ERROR" in errors[0] and fragment in errors[0], output


@pytest.mark.parametrize("content, fragment", [
    (None, "Error opening YAML file"),                                  # no such file
    ("planner:\n  ros__parameters: [1, 2\n", "Couldn't parse params file"),
    ("planner:\n  paramters:\n    bandwidth_hz: 5.0e6\n", "Couldn't parse params file"),
])
def test_bad_params_file_is_one_error_line_and_exit_2(tmp_path, content, fragment):
    path = tmp_path / "planner.yaml"
    if content is not None:
        path.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "robust_offload.ros.planner_node", "--ros-args", "--params-file",
         str(path)], cwd=REPO, env=node_env(next(DOMAINS)), capture_output=True, text=True,
        timeout=TIMEOUT_S)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and fragment in output, output
    assert any("[planner]" in line and fragment in line for line in output.splitlines())


def test_a_second_robot_with_the_same_id_is_detected_and_ignored(setup):
    """Two participants publishing RobotStatus for one robot_id: the planner keeps the first
    one's requirements (no flipping between them) and warns about the other."""
    proc, fleet = setup()
    fleet.add("robot_1", ALEX, 120.0)
    first = fleet.plan_with({"robot_1"})
    twin = fleet.node.create_publisher(msg.RobotStatus, topics.ROBOT_STATUS, topics.STATUS_QOS)
    other = dict(ALEX, deadline_ms=400.0)
    twins = []

    def publish_twin():
        twins.append(msg.RobotStatus(robot_id="robot_1", **other))
        twin.publish(twins[-1])
    fleet.node.create_timer(0.3, publish_twin)
    fleet.spin_until(lambda: "already used by another participant" in fleet.log(),
                     "the duplicate robot_id warning")
    warned = len(twins)                  # then more statuses of both, more plans
    fleet.spin_until(lambda: len(twins) >= warned + 6, "six more statuses of the twin")
    assert all(d.deadline_ms == first.devices[0].deadline_ms
               for _, plan in fleet.plans for d in plan.devices)
    assert proc.poll() is None


def test_diagnostics_show_each_robots_health(setup):
    """/diagnostics (diagnostic_msgs, 1 Hz): a robot over its eps is ERROR with its miss rate,
    a degraded robot WARN with the reason; frame records also measure the overhead."""
    from diagnostic_msgs.msg import DiagnosticArray

    proc, fleet = setup()
    fleet.add("robot_1", ALEX, 120.0)
    fleet.add("greedy", {**RESNET, "risk": 1e-6, "deadline_ms": 100.0}, 150.0)
    plan = fleet.plan_with({"robot_1", "greedy"})
    mine = next(d for d in plan.devices if d.robot_id == "robot_1")
    frames = fleet.node.create_publisher(msg.InferenceResult, topics.FRAMES, topics.RESULT_QOS)
    arrays = []
    fleet.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, arrays.append,
                                   topics.STATUS_QOS)
    for i in range(40):                                   # 20 misses in 40 frames, eps 5 %
        frames.publish(msg.InferenceResult(
            robot_id="robot_1", request_id=i, deadline_met=i % 2 == 0, executed_on="edge",
            partition=mine.partition, bandwidth_hz=mine.bandwidth_hz, uplink_ms=30.0,
            total_ms=100.0, deadline_ms=180.0, risk=0.05))

    def statuses():
        for array in reversed(arrays):
            found = {s.name: s for s in array.status}
            if found.get("robust_offload/robot_1") is not None and \
                    {v.key: v.value for v in found["robust_offload/robot_1"].values
                     }.get("frames") == "40":
                return found
        return None
    found = fleet.spin_until(statuses, "/diagnostics with robot_1's 40 frames")
    robot, greedy = found["robust_offload/robot_1"], found["robust_offload/greedy"]
    values = {v.key: v.value for v in robot.values}
    assert robot.level == b"\x02" and values["verdict"] == "VIOLATED"
    assert values["miss rate"] == "0.5000"
    # the partition of robot_1's decision in force: the misses widen its calibrated margin,
    # and a replan may move it from the one its frames were sent with
    def planned():      # (that plan may be spun after the /diagnostics that names it)
        return {str(d.partition) for _, p in fleet.plans for d in p.devices
                if d.robot_id == "robot_1"}
    fleet.spin_until(lambda: values["partition"] in planned(),
                     f"a plan of robot_1 at partition {values['partition']}")
    assert greedy.level == b"\x01" and "degraded" in greedy.message


def test_a_status_flood_does_not_push_real_robots_out_of_plans(setup):
    """1000 status messages a second from one participant: the flooding robot's statuses are
    dropped unread (rate limit, O(1) per message) and planning happens on the timer, not per
    message: the real robots stay in every plan."""
    timeout_s = 1.0
    proc, fleet = setup(robot_timeout_s=timeout_s)
    fleet.add("robot_1", ALEX, 120.0)
    fleet.add("robot_2", RESNET, 150.0)
    fleet.add("flooder", ALEX, 200.0)
    first = fleet.plan_with({"robot_1", "robot_2", "flooder"})
    spam = msg.RobotStatus(robot_id="flooder", edge_available=True, **ALEX)
    # the flood: ~1000 a second beside the 5 Hz heartbeats, for 8 robot timeouts and at least
    # 3000 statuses (a loaded host sends them more slowly: then it lasts longer)
    sent, end = 0, time.monotonic() + 8 * timeout_s
    while time.monotonic() < end or sent < 3000:
        for _ in range(20):
            fleet.status_pub.publish(spam)
        sent += 20
        fleet.executor.spin_once(timeout_sec=0.02)
    later = [plan for _, plan in fleet.plans if plan.plan_id > first.plan_id]
    assert all({"robot_1", "robot_2"} <= {d.robot_id for d in plan.devices} for plan in later)
    log = fleet.log()
    assert "dropped: no status" not in log, log[-3000:]
    assert "robot 'flooder' sends statuses more often than every 0.1 s" in log, log[-3000:]


def transition(fleet, node: str, transition_id: int) -> bool:
    """Drive a lifecycle transition of ``node`` (its change_state service)."""
    client = fleet.node.create_client(ChangeState, f"/{node}/change_state")
    fleet.spin_until(lambda: client.service_is_ready(), f"{node}'s change_state service")
    future = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
    fleet.spin_until(future.done, f"transition {transition_id} of {node}")
    return future.result().success


def test_a_managed_planner_plans_only_once_a_supervisor_activates_it(setup):
    """managed: true -- the planner waits unconfigured (no plan) until configure and activate
    come from a supervisor (here the test; ros2 lifecycle set or launch in a deployment)."""
    from robust_offload.ros.planner_node import PARAMETERS

    proc, fleet = setup(managed=True)
    fleet.add("robot_1", ALEX, 120.0)
    client = fleet.node.create_client(ChangeState, "/planner/change_state")
    fleet.spin_until(lambda: client.service_is_ready(), "the planner's change_state service")
    # the planner is up: unmanaged, it would plan robot_1 once its discovery time is over
    end = time.monotonic() + PARAMETERS["discovery_s"].default + 10 * HEARTBEAT_S
    while time.monotonic() < end:
        fleet.executor.spin_once(timeout_sec=0.05)
    assert fleet.plans == [] and proc.poll() is None
    assert transition(fleet, "planner", Transition.TRANSITION_CONFIGURE)
    assert transition(fleet, "planner", Transition.TRANSITION_ACTIVATE)
    fleet.plan_with({"robot_1"})
    assert "active" in fleet.log()
