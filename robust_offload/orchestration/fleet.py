"""Fleet description -> the node set, shared by the launch file and ``robust-offload fleet``.

``config/fleet.yaml`` describes the nodes once. :func:`node_specs` turns it into a list of
:class:`NodeSpec` (pure function, no ROS import): ``launch/fleet.launch.py`` makes
``launch_ros.actions.Node`` actions of them on machines with a full ROS 2 install, and
:func:`command_line` makes the equivalent ``--ros-args`` command lines for machines without
``ros2 launch`` (pip installs), so both start the same processes with the same parameters.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from robust_offload.core import checks
from robust_offload.core.scenario import read_yaml

# executable (as installed in lib/robust_offload for `ros2 run`) -> Python module
EXECUTABLES = {
    "planner": "robust_offload.ros.planner_node",
    "edge": "robust_offload.ros.edge_node",
    "radio": "robust_offload.ros.radio_node",
    "recorder": "robust_offload.ros.recorder_node",
    "robot": "robust_offload.ros.robot_node",
    "image_player": "robust_offload.ros.image_player_node",
}
SERVICES = ("planner", "edge", "radio", "recorder")
SHARED = {"noise_dbm_per_hz": ("planner", "radio", "robot"),
          "auth_key_file": ("planner", "edge", "robot")}
"""Fleet-wide facts (``fleet.shared`` in a fleet file) and the executables that need them: set
once, given to each of those nodes (a node's own ``parameters`` still win). File paths are
relative to the fleet file."""


RESPAWN = ("planner", "edge", "radio")
"""Node kinds restarted when they exit unless the fleet file says ``respawn: false``. Not the
recorder: its bag directory exists once it started (rosbag2 writes a new one), so a restart
would fail; when it exits the fleet goes on unrecorded (what reached the disk stays readable)."""

RESPAWN_DELAY_S = 2.0
"""Default wait before a node is restarted (``respawn_delay_s``)."""


@dataclass(frozen=True)
class NodeSpec:
    """One node of the fleet: what ``launch_ros.actions.Node`` and a command line both need
    (``respawn``/``respawn_delay_s``: launch_ros's ``respawn``/``respawn_delay``)."""

    executable: str
    name: str
    namespace: str = ""
    params_files: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)
    respawn: bool = False
    respawn_delay_s: float = RESPAWN_DELAY_S

    @property
    def label(self) -> str:
        return f"{self.namespace.strip('/')}/{self.name}".strip("/")


def enclave(spec: NodeSpec) -> str:
    """The node's SROS2 enclave (config/sros2/policy.xml): one per node kind."""
    return f"/robust_offload/{spec.executable}"


def param_text(value) -> str:
    """A parameter override as ``-p name:=value`` text (YAML syntax, like ros2 run)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):       # list items quoted: 'robot_2:10:150:30'
        return "[" + ", ".join("'" + v.replace("'", "''") + "'" if isinstance(v, str)
                               else param_text(v) for v in value) + "]"
    return repr(value)


def command_line(spec: NodeSpec, python: str = sys.executable) -> list[str]:
    """The process command line equivalent to the launch action of ``spec``."""
    argv = [python, "-m", EXECUTABLES[spec.executable], "--ros-args", "-r",
            f"__node:={spec.name}"]
    if spec.namespace:
        argv += ["-r", f"__ns:={spec.namespace}"]
    for path in spec.params_files:
        argv += ["--params-file", path]
    for key, value in spec.parameters.items():
        argv += ["-p", f"{key}:={param_text(value)}"]
    return argv


FLEET_KEYS = (*SERVICES, "cameras", "robots", "shared", "hosting")
HOSTING = {"hosts": ("local", "netns"), "air_time": ("shaped", "modelled"),
           "discovery": ("multicast", "server")}
"""How ``robust-offload fleet`` runs a fleet (``fleet.hosting`` in a fleet file, or its options):
every node a process of this host or each on its own network-namespace host; the air time
modelled by the radio or shaped on the links (namespace hosts only); DDS discovery by multicast
or through a discovery server."""
SERVICE_KEYS = ("enabled", "params_file", "parameters", "respawn", "respawn_delay_s")
ROBOT_KEYS = ("name", "params_file", "parameters", "respawn", "respawn_delay_s")


def _relative_to(base: Path, value):
    """A ``*_file`` parameter of a fleet file: a relative path is relative to the fleet file."""
    return str((base / value).resolve()) if isinstance(value, str) and value else value


def _spec(executable, name, namespace, raw: dict, base: Path, where: str,
          source: str, shared: dict) -> NodeSpec:
    files = raw.get("params_file")
    files = [files] if isinstance(files, str) else list(files or [])
    resolved = []
    for item in files:
        path = (base / item).resolve()
        if not path.is_file():
            checks.fail(source, f"{where}.params_file", item, f"no such file ({path})")
        resolved.append(str(path))
    parameters = {key: _relative_to(base, value) if key.endswith("_file") else value
                  for key, value in checks.mapping(source, f"{where}.parameters",
                                                   raw.get("parameters")).items()}
    fleet_wide = {key: _relative_to(base, value) if key.endswith("_file") else value
                  for key, value in shared.items() if executable in SHARED[key]}
    respawn = raw.get("respawn", executable in RESPAWN)
    if not isinstance(respawn, bool):
        checks.fail(source, f"{where}.respawn", respawn, "must be true or false")
    delay = checks.number(source, f"{where}.respawn_delay_s",
                          raw.get("respawn_delay_s", RESPAWN_DELAY_S), low=0.0, high=3600.0)
    return NodeSpec(executable, name, namespace, tuple(resolved), {**fleet_wide, **parameters},
                    respawn, delay)


def node_specs(description: dict, base_dir: Path, source: str = "fleet.yaml") -> list[NodeSpec]:
    """Every node of a fleet description (see config/fleet.yaml), services first, then robots.

    Services with ``enabled: false`` are left out (e.g. no radio emulator on real radios).
    ``cameras`` (optional) are image players (node ``image_player`` named after each entry's
    ``name``): a recorded data set played as a camera the robots subscribe to.
    ``respawn`` (default: on for :data:`RESPAWN`) restarts a node that exits, after
    ``respawn_delay_s``.
    Each robot runs node ``robot`` in namespace ``/<name>`` with ``robot_id`` = its name.
    ``shared`` parameters (:data:`SHARED`) go to every node that needs them.
    Unknown keys are errors (``robot:`` for ``robots:`` must not run an empty fleet).
    """
    top = checks.mapping(source, "", description, ("fleet",))
    fleet = checks.mapping(source, "fleet", checks.get(source, top, "fleet"), FLEET_KEYS)
    shared = checks.mapping(source, "fleet.shared", fleet.get("shared"), tuple(SHARED))
    specs = []
    for service in SERVICES:
        raw = checks.mapping(source, service, fleet.get(service), SERVICE_KEYS)
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            checks.fail(source, f"{service}.enabled", enabled, "must be true or false")
        if enabled:
            specs.append(_spec(service, service, "", raw, base_dir, service, source, shared))
    specs += _named(fleet, "cameras", "image_player", "", base_dir, source, shared)
    robots = fleet.get("robots")
    if not isinstance(robots, list) or not robots:
        checks.fail(source, "fleet.robots", robots, "must be a non-empty list")
    for spec in _named(fleet, "robots", "robot", "robot", base_dir, source, shared):
        name = spec.namespace.strip("/")
        specs.append(replace(spec, parameters={"robot_id": name, **spec.parameters}))
    return specs


def _named(fleet: dict, key: str, executable: str, node_name: str, base_dir: Path,
           source: str, shared: dict) -> list[NodeSpec]:
    """The specs of a list of named nodes (``robots``: node ``robot`` in namespace ``/<name>``;
    ``node_name`` "": the node itself is named ``<name>``), each name used once."""
    seen, specs = set(), []
    for index, raw in enumerate(fleet.get(key) or []):
        where = f"{key}[{index}]"
        raw = checks.mapping(source, where, raw, ROBOT_KEYS)
        name = checks.name(source, f"{where}.name", raw.get("name"))
        if name in seen:
            checks.fail(source, f"{where}.name", name, f"already the name of one of the {key}")
        seen.add(name)
        specs.append(_spec(executable, node_name or name, f"/{name}" if node_name else "", raw,
                           base_dir, where, source, shared))
    return specs


def hosting(description: dict, source: str = "fleet.yaml", chosen: dict | None = None) -> dict:
    """The fleet's :data:`HOSTING` choices: ``chosen`` (command-line options, None = not
    given) over the file's ``fleet.hosting`` over the defaults (local hosts, multicast; the air
    time shaped on namespace hosts, modelled on one host). Shaped air time on one host is an
    error: there are no links to shape."""
    top = checks.mapping(source, "", description, ("fleet",))
    fleet = checks.mapping(source, "fleet", checks.get(source, top, "fleet"), FLEET_KEYS)
    raw = checks.mapping(source, "fleet.hosting", fleet.get("hosting"), tuple(HOSTING))
    given = {key: (chosen or {}).get(key) or raw.get(key) for key in HOSTING}
    for key, value in given.items():
        if value is not None:
            checks.choice(source, f"fleet.hosting.{key}", value, HOSTING[key])
    hosts = given["hosts"] or "local"
    air_time = given["air_time"] or ("shaped" if hosts == "netns" else "modelled")
    if hosts == "local" and air_time == "shaped":
        checks.fail(source, "fleet.hosting.air_time", air_time,
                    "needs hosts netns (on one host there are no links to shape)")
    return {"hosts": hosts, "air_time": air_time,
            "discovery": given["discovery"] or "multicast"}


def load_fleet(path: str | Path) -> list[NodeSpec]:
    """Node specs of a fleet YAML file; params files are relative to the file."""
    path = Path(path)
    return node_specs(read_yaml(path), path.parent, str(path))
