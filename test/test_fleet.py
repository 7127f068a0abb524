"""The launch file and `robust-offload fleet` start the same nodes with the same arguments.

No `launch` / `launch_ros` exist on pip installs, so the launch file is loaded with stand-ins
for those modules that record the Node actions' keyword arguments (the only fake here).
"""

import importlib.util
import os
import re
import sys
import types

import pytest

from robust_offload.core.checks import InputError
from robust_offload.core.scenario import load_profiles
from robust_offload.orchestration.fleet import (
    EXECUTABLES,
    command_line,
    hosting,
    load_fleet,
    node_specs,
    param_text,
)
from robust_offload.orchestration.runner import Fleet

from conftest import REPO

FLEET = REPO / "config" / "fleet.yaml"


class RecordedNode:
    """Stand-in for every launch action/substitution: remembers its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class RecordedLifecycleNode(RecordedNode):
    pass


@pytest.fixture
def launch_module(monkeypatch):
    stand_ins = {
        "launch": {"LaunchDescription": list},
        "launch.actions": {"DeclareLaunchArgument": RecordedNode,
                           "OpaqueFunction": RecordedNode,
                           "SetEnvironmentVariable": RecordedNode, "EmitEvent": RecordedNode,
                           "RegisterEventHandler": RecordedNode},
        "launch.event_handlers": {"OnProcessStart": RecordedNode},
        "launch.events": {"matches_action": lambda action: ("matches", action)},
        "launch.substitutions": {"LaunchConfiguration": RecordedNode},
        "launch.conditions": {"IfCondition": RecordedNode},
        "launch_ros": {},
        "launch_ros.actions": {"Node": RecordedNode, "LifecycleNode": RecordedLifecycleNode},
        "launch_ros.event_handlers": {"OnStateTransition": RecordedNode},
        "launch_ros.events": {},
        "launch_ros.events.lifecycle": {"ChangeState": RecordedNode},
        "lifecycle_msgs": {},
        "lifecycle_msgs.msg": {"Transition": types.SimpleNamespace(TRANSITION_CONFIGURE=1,
                                                                   TRANSITION_ACTIVATE=3)},
        "ament_index_python": {},
        "ament_index_python.packages": {"get_package_share_directory": lambda p: str(REPO)},
    }
    for name, attrs in stand_ins.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    return load_launch_file("fleet")


def load_launch_file(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_launch",
                                                  REPO / f"launch/{name}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _from_command(argv):
    """(executable, name, namespace, params files, overrides) of a command line."""
    module = argv[argv.index("-m") + 1]
    executable = {v: k for k, v in EXECUTABLES.items()}[module]
    rest = argv[argv.index("--ros-args") + 1:]
    pairs = list(zip(rest[::2], rest[1::2]))
    remaps = dict(v.split(":=", 1) for k, v in pairs if k == "-r")
    files = [v for k, v in pairs if k == "--params-file"]
    overrides = dict(v.split(":=", 1) for k, v in pairs if k == "-p")
    return executable, remaps["__node"], remaps.get("__ns", ""), files, overrides


def test_launch_file_and_runner_agree(launch_module):
    actions = launch_module.node_actions(str(FLEET))
    specs = load_fleet(FLEET)
    assert len(actions) == len(specs) == 8
    for action, spec in zip(actions, specs):
        kw = action.kwargs
        executable, name, namespace, files, overrides = _from_command(command_line(spec))
        assert (kw["package"], kw["executable"], kw["name"]) == ("robust_offload", executable,
                                                                 name)
        assert (kw["namespace"] or "") == namespace
        *launch_files, launch_overrides = kw["parameters"]
        assert launch_files == files
        assert {k: param_text(v) for k, v in launch_overrides.items()} == overrides
        assert (kw["respawn"], kw["respawn_delay"]) == (spec.respawn, spec.respawn_delay_s)


def test_keystore_puts_every_node_in_its_enclave(launch_module):
    """SROS2 (keystore:=...): each node gets --enclave /robust_offload/<kind>, as named in
    config/sros2/policy.xml; without a keystore no enclave argument is passed."""
    policy = (REPO / "config" / "sros2" / "policy.xml").read_text()
    secure = launch_module.node_actions(str(FLEET), secure=True)
    for action in secure:
        flag, path = action.kwargs["ros_arguments"]
        assert flag == "--enclave" and path == f"/robust_offload/{action.kwargs['executable']}"
        assert f'<enclave path="{path}">' in policy
    assert all("ros_arguments" not in a.kwargs for a in launch_module.node_actions(str(FLEET)))


def test_managed_launch_brings_planner_and_edge_up_as_lifecycle_nodes(launch_module):
    """managed:=true: planner and edge are LifecycleNodes with managed: true; launch configures
    each when its process starts (a respawn included) and activates it once inactive."""
    actions = launch_module.node_actions(str(FLEET), managed=True)
    nodes = [a for a in actions if "executable" in a.kwargs]
    lifecycle = {a.kwargs["executable"]: a for a in nodes if isinstance(a, RecordedLifecycleNode)}
    assert set(lifecycle) == {"planner", "edge"} and len(nodes) == 8
    for node in lifecycle.values():
        assert node.kwargs["parameters"][-1]["managed"] is True
        assert node.kwargs["namespace"] == ""
    handlers = [a.args[0] for a in actions if not a.kwargs.get("executable")]
    started = {h.kwargs["target_action"].kwargs["executable"]: h.kwargs["on_start"][0]
               for h in handlers if "target_action" in h.kwargs}
    assert {name: e.kwargs["event"].kwargs["transition_id"] for name, e in started.items()} \
        == {"planner": 1, "edge": 1}                                   # configure at start
    activated = {h.kwargs["target_lifecycle_node"].kwargs["executable"]:
                 (h.kwargs["goal_state"], h.kwargs["entities"][0].kwargs["event"]
                  .kwargs["transition_id"]) for h in handlers if "goal_state" in h.kwargs}
    assert activated == {"planner": ("inactive", 3), "edge": ("inactive", 3)}
    plain = launch_module.node_actions(str(FLEET))
    assert not any(isinstance(a, RecordedLifecycleNode) for a in plain) and len(plain) == 8


def test_default_fleet_has_its_documented_node_set():
    specs = load_fleet(FLEET)
    labels = [s.label for s in specs]
    assert labels[:4] == ["planner", "edge", "radio", "recorder"]
    robots = [s for s in specs if s.executable == "robot"]
    assert [s.parameters["model"] for s in robots] == ["alexnet"] * 2 + ["resnet152"] * 2
    assert all(s.parameters["robot_id"] == s.namespace.strip("/") for s in robots)


def test_planner_edge_and_radio_respawn_by_default():
    specs = node_specs({"fleet": {"radio": {"respawn_delay_s": 0.5},
                                  "planner": {"respawn": False},
                                  "robots": [{"name": "a"}, {"name": "b", "respawn": True}]}},
                       REPO)
    respawn = {s.label: (s.respawn, s.respawn_delay_s) for s in specs}
    assert respawn == {"planner": (False, 2.0), "edge": (True, 2.0), "radio": (True, 0.5),
                       "recorder": (False, 2.0), "a/robot": (False, 2.0), "b/robot": (True, 2.0)}
    assert {s.label for s in load_fleet(FLEET) if s.respawn} == {"planner", "edge", "radio"}


EXIT_AT_ONCE = "import sys; sys.exit(3)"
RUN = "import time; time.sleep(60)"


def test_the_runner_respawns_what_may_and_goes_on_without_what_may_not(tmp_path):
    """Real processes under the runner's supervision (each a one-line Python program): the
    'edge' (respawn) exits at once and comes back after its delay, each exit and restart said;
    the 'radio' (here without respawn) exiting is said once and the fleet goes on; the run ends
    when its last robot has exited."""
    specs = node_specs({"fleet": {"edge": {"respawn_delay_s": 0.3},
                                  "radio": {"respawn": False},
                                  "robots": [{"name": "a"}]}}, REPO)
    program = {"edge": EXIT_AT_ONCE, "radio": RUN}
    fleet = Fleet(specs, tmp_path, dict(os.environ),
                  command=lambda spec: [sys.executable, "-c", program.get(spec.label, RUN)])
    said = []
    fleet.start()
    try:
        edge = next(p for s, p in fleet.processes if s.label == "edge")
        edge.wait(timeout=60)                           # it exits at once (its start may not)
        assert fleet.supervise(100.0, said.append)
        assert said == ["edge exited (status 3): respawning in 0.3 s"]
        assert fleet.supervise(100.2, said.append) and len(said) == 1   # not yet
        assert fleet.supervise(100.3, said.append)
        assert said[-1] == "edge respawned (restart 1)" and fleet.restarts == {"edge": 1}
        log = (tmp_path / "logs" / "edge.log").read_text()
        assert "--- respawned (restart 1) ---" in log
        radio = next(i for i, (s, _) in enumerate(fleet.processes) if s.label == "radio")
        fleet.processes[radio][1].kill()
        fleet.processes[radio][1].wait()
        gone = "radio exited (status -9) and does not respawn; the fleet goes on without it"
        assert fleet.supervise(101.0, said.append)               # the robot still runs
        assert gone in said       # (the respawned edge, exiting again, may be said as well)
        assert fleet.supervise(101.1, said.append) and said.count(gone) == 1
        robot = next(p for s, p in fleet.processes if s.executable == "robot")
        robot.kill()
        robot.wait()
        assert not fleet.supervise(102.0, said.append)           # no robot left: the run ends
    finally:
        fleet.stop()
    assert all(p.poll() is not None for _, p in fleet.processes)


def test_overrides_are_ros_args_syntax():
    spec = node_specs({"fleet": {"robots": [{"name": "r1", "parameters": {
        "rate_hz": 2.5, "codec": "int8", "flag": True, "distances": [1.0, 2.0],
        "fades": ["robot_2:10:150:30"]}}]}}, REPO)[-1]
    argv = command_line(spec, python="python3")
    assert argv[:4] == ["python3", "-m", "robust_offload.ros.robot_node", "--ros-args"]
    for expected in ("robot_id:=r1", "rate_hz:=2.5", "codec:=int8", "flag:=true",
                     "distances:=[1.0, 2.0]", "fades:=['robot_2:10:150:30']"):
        assert expected in argv


def test_shared_parameters_reach_every_node_that_needs_them():
    """N0 is set once for the fleet: planner, radio and robots get it, the edge and recorder do
    not; a node's own parameters still win."""
    specs = node_specs({"fleet": {"shared": {"noise_dbm_per_hz": -170.0}, "robots": [
        {"name": "a"}, {"name": "b", "parameters": {"noise_dbm_per_hz": -160.0}}]}}, REPO)
    noise = {s.label: s.parameters.get("noise_dbm_per_hz") for s in specs}
    assert noise == {"planner": -170.0, "edge": None, "radio": -170.0, "recorder": None,
                     "a/robot": -170.0, "b/robot": -160.0}
    assert "noise_dbm_per_hz:=-170.0" in command_line(specs[0], python="python3")
    keyed = node_specs({"fleet": {"shared": {"auth_key_file": "keys/fleet.key"},
                                  "robots": [{"name": "a"}]}}, REPO / "config")
    paths = {s.label: s.parameters.get("auth_key_file") for s in keyed}
    assert paths == {"planner": str(REPO / "config/keys/fleet.key"), "edge": paths["planner"],
                     "radio": None, "recorder": None, "a/robot": paths["planner"]}
    shipped = {s.label: s.parameters.get("noise_dbm_per_hz") for s in load_fleet(FLEET)}
    assert shipped["planner"] == shipped["radio"] == shipped["robot_1/robot"] == -174.0


def test_file_parameters_are_relative_to_the_fleet_file():
    (spec,) = node_specs({"fleet": {"robots": [{"name": "r1", "parameters": {
        "profiles_file": "nets/p.yaml", "labels_file": "/data/labels.txt", "model": "m.pt2"}}]}},
        REPO / "examples")[-1:]
    assert spec.parameters["profiles_file"] == str(REPO / "examples/nets/p.yaml")
    assert spec.parameters["labels_file"] == "/data/labels.txt"
    assert spec.parameters["model"] == "m.pt2"            # not a *_file parameter


def test_cameras_are_image_players_beside_the_robots():
    specs = node_specs({"fleet": {"cameras": [{"name": "front", "parameters": {
        "source": "digits.npz", "rate_hz": 5.0}}], "robots": [{"name": "r1"}]}}, REPO)
    (camera,) = [s for s in specs if s.executable == "image_player"]
    assert camera.label == "front" and camera.parameters == {"source": "digits.npz",
                                                             "rate_hz": 5.0}
    assert specs.index(camera) < [s.label for s in specs].index("r1/robot")


@pytest.mark.parametrize("raw, fragment", [
    ({"fleet": {"shared": {"bandwidth": 1}, "robots": [{"name": "a"}]}},
     "field 'fleet.shared.bandwidth' = 1: unknown key (known: auth_key_file, noise_dbm_per_hz)"),
    ({"fleet": {"robots": [{"name": "r 1"}]}}, "robots[0].name"),
    ({"fleet": {"robots": [{"name": "a"}, {"name": "a"}]}}, "robots[1].name"),
    ({"fleet": {"cameras": [{"name": "cam"}, {"name": "cam"}], "robots": [{"name": "a"}]}},
     "'cameras[1].name' = 'cam': already the name of one of the cameras"),
    ({"fleet": {"planner": {"params_file": "nope.yaml"}}}, "planner.params_file"),
    ({"fleet": {"robots": "r1"}}, "'fleet.robots' = 'r1': must be a non-empty list"),
    ({"fleet": {"robot": [{"name": "r1"}]}}, "field 'fleet.robot' = [{'name': 'r1'}]: unknown key"),
    ({"fleet": {"planner": {"paramters": {}}, "robots": [{"name": "a"}]}},
     "field 'planner.paramters' = {}: unknown key (known: enabled, parameters, params_file, "
     "respawn, respawn_delay_s)"),
    ({"fleet": {"edge": {"respawn": "yes"}, "robots": [{"name": "a"}]}}, "'edge.respawn' = 'yes'"),
    ({"fleet": {"robots": [{"name": "a", "respawn_delay_s": -1}]}},
     "'robots[0].respawn_delay_s' = -1"),
    ({"fleet": {"radio": {"enabled": "no"}, "robots": [{"name": "a"}]}}, "'radio.enabled' = 'no'"),
    ({"fleet": {"robots": [{"name": "a", "deadline_ms": 10}]}}, "'robots[0].deadline_ms' = 10"),
    (None, "field 'fleet' = None: missing"),
])
def test_bad_fleet_descriptions(raw, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)):
        node_specs(raw, REPO / "config", "fleet.yaml")


@pytest.mark.parametrize("name, executables", [
    ("robot", ["robot"]), ("edge", ["planner", "edge", "radio", "recorder"])])
def test_robot_and_edge_launch_files_start_the_documented_nodes(launch_module, name,
                                                                executables):
    description = load_launch_file(name).generate_launch_description()
    nodes = [a.kwargs for a in description if isinstance(a, RecordedNode)
             and "executable" in a.kwargs]
    assert [n["executable"] for n in nodes] == executables
    assert all(n["package"] == "robust_offload" for n in nodes)
    arguments = [a.args[0] for a in description if isinstance(a, RecordedNode) and a.args]
    assert "params_file" in arguments
    for node in nodes:
        assert set(node) >= {"package", "executable", "name", "parameters"}
        assert node["executable"] in EXECUTABLES


@pytest.mark.parametrize("file_hosting, options, expected", [
    (None, {}, ("local", "modelled", "multicast")),
    ({"hosts": "netns"}, {}, ("netns", "shaped", "multicast")),
    ({"hosts": "netns", "air_time": "modelled", "discovery": "server"}, {},
     ("netns", "modelled", "server")),
    ({"hosts": "netns"}, {"hosts": "local"}, ("local", "modelled", "multicast")),  # options win
    (None, {"discovery": "server"}, ("local", "modelled", "server")),
])
def test_hosting_from_the_file_and_the_options(file_hosting, options, expected):
    fleet = {"robots": [{"name": "a"}]}
    if file_hosting:
        fleet["hosting"] = file_hosting
    how = hosting({"fleet": fleet}, "f.yaml", options)
    assert (how["hosts"], how["air_time"], how["discovery"]) == expected


@pytest.mark.parametrize("file_hosting, fragment", [
    ({"hosts": "cloud"}, "'fleet.hosting.hosts' = 'cloud'"),
    ({"air_time": "shaped"}, "'fleet.hosting.air_time' = 'shaped'"),     # no links on one host
    ({"discover": "server"}, "discover"),
])
def test_bad_hosting_is_named(file_hosting, fragment):
    with pytest.raises(InputError, match=re.escape(fragment)):
        hosting({"fleet": {"hosting": file_hosting, "robots": [{"name": "a"}]}}, "f.yaml")


def test_the_mobilenet_example_fleet_plans_with_its_own_profile():
    """examples/mobilenet: a third network's fleet, its profile next to it (relative paths)."""
    specs = load_fleet(REPO / "examples/mobilenet/fleet.yaml")
    robots = [s for s in specs if s.executable == "robot"]
    planner = next(s for s in specs if s.executable == "planner")
    profiles = load_profiles(planner.parameters["profiles_file"])
    assert len(robots) == 3
    for robot in robots:
        profile = profiles[robot.parameters["profile"]]
        assert profile.model == robot.parameters["model"] == "torchvision:mobilenet_v3_small"
        assert robot.parameters["profiles_file"] == planner.parameters["profiles_file"]
