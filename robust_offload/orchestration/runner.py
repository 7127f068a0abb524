"""``robust-offload fleet``: start a fleet's processes without ``ros2 launch``, then analyse.

Starts every node of the fleet description
(:func:`robust_offload.orchestration.fleet.load_fleet`) as a process with its ``--ros-args``,
writes each node's output to ``<out>/logs/<node>.log``, shows progress for the run's duration,
restarts a node that exits when its spec says ``respawn`` (planner, edge and radio by default;
each exit and restart is said; the others go on without a node that does not respawn), stops
everything cleanly (SIGINT, then SIGKILL after a grace period; Ctrl-C or SIGTERM to the runner
does the same early, also while the nodes are still starting), removes the shared memory killed
nodes left (:mod:`robust_offload.orchestration.shm`), and analyses the recorded bag. The run
ends at its duration, on Ctrl-C/SIGTERM, or when no robot runs any more.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from robust_offload.contract.topics import FEATURES
from robust_offload.orchestration.discovery import PORT, client_environment, server_process
from robust_offload.orchestration.fleet import NodeSpec, command_line, load_fleet
from robust_offload.contract.files import config_dir
from robust_offload.orchestration.shm import clean_zombie_segments

STOP_GRACE_S = 10.0
ROBOT_DELAY_S = 8.0
FASTDDS_PROFILE = "fastdds_large_data.xml"
FASTDDS_HOSTS_PROFILE = "fastdds_udp_hosts.xml"


def default_fleet_file() -> Path:
    return config_dir() / "fleet.yaml"


def fleet_environment(out: Path) -> dict:
    """Environment of the fleet's processes: Fast DDS large-data profile, logs under out/."""
    env = dict(os.environ)
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(config_dir() / FASTDDS_PROFILE))
    env.setdefault("ROS_LOG_DIR", str(out / "ros_log"))
    env.setdefault("HOME", str(out))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def with_bag(specs: list[NodeSpec], bag: Path) -> list[NodeSpec]:
    """Point the recorder (if any) at ``bag``."""
    return [replace(s, parameters={**s.parameters, "bag_path": str(bag)})
            if s.executable == "recorder" else s for s in specs]


class Fleet:
    """The running processes of a fleet; restarts the nodes whose spec says ``respawn``."""

    def __init__(self, specs: list[NodeSpec], out: Path, env: dict, command=command_line):
        self.specs = specs
        self.out = out
        self.env = env
        self.command = command                  # NodeSpec -> argv
        self.processes: list[tuple[NodeSpec, subprocess.Popen]] = []
        self.restarts: dict[str, int] = {}
        self._due: dict[int, float] = {}       # process index -> when it is restarted
        self._gone: set[int] = set()           # process indices that exited for good

    def _launch(self, spec: NodeSpec) -> subprocess.Popen:
        """Start one node; its output goes to (is appended to) ``<out>/logs/<node>.log``."""
        logs = self.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{spec.label.replace('/', '_')}.log", "a", encoding="utf-8") as log:
            if spec.label in self.restarts:
                log.write(f"--- respawned (restart {self.restarts[spec.label]}) ---\n")
                log.flush()
            return subprocess.Popen(self.command(spec), stdout=log, stderr=subprocess.STDOUT,
                                    env=self.env, start_new_session=True)

    def start(self, robot_delay_s: float = 0.0):
        """Start the services, then (after ``robot_delay_s``) the robots: the edge host is up
        and has timed its models before robots compete with it for this machine's cores.
        What earlier, killed participants left in /dev/shm is removed first: a port one of
        them never initialised would hang every node in its start
        (:mod:`robust_offload.orchestration.shm`)."""
        clean_zombie_segments()
        for spec in sorted(self.specs, key=lambda s: s.executable == "robot"):
            if spec.executable == "robot" and robot_delay_s and not any(
                    p.executable == "robot" for p, _ in self.processes):
                time.sleep(robot_delay_s)
            self.processes.append((spec, self._launch(spec)))

    def supervise(self, now: float, say=print) -> bool:
        """Restart, ``respawn_delay_s`` after it exited, every node that may respawn (each exit
        and restart is said); a node that may not is said once as it exits, and the others go
        on without it (robots run locally without an edge or planner; a radio or recorder is
        needed by no robot). Returns whether a robot still runs or is about to be restarted:
        the run ends when none does."""
        for index, (spec, process) in enumerate(self.processes):
            if process.poll() is None or index in self._gone:
                continue
            if not spec.respawn:
                self._gone.add(index)
                say(f"{spec.label} exited (status {process.returncode}) and does not respawn; "
                    f"the fleet goes on without it")
            elif index not in self._due:
                self._due[index] = now + spec.respawn_delay_s
                say(f"{spec.label} exited (status {process.returncode}): respawning in "
                    f"{spec.respawn_delay_s:g} s")
            elif now >= self._due[index]:
                del self._due[index]
                clean_zombie_segments()          # what the exited node left in /dev/shm
                self.restarts[spec.label] = self.restarts.get(spec.label, 0) + 1
                self.processes[index] = (spec, self._launch(spec))
                say(f"{spec.label} respawned (restart {self.restarts[spec.label]})")
        return any(spec.executable == "robot" and index not in self._gone
                   for index, (spec, _) in enumerate(self.processes))

    def stop(self, say=print):
        """SIGINT everything (nodes shut down cleanly, the recorder closes its bag), then force;
        then remove what killed nodes left in /dev/shm
        (:mod:`robust_offload.orchestration.shm`; said)."""
        stop_all([process for _, process in self.processes])
        removed = clean_zombie_segments()
        if removed:
            say(f"removed {removed} shared-memory segment(s) of killed DDS participants")


def stop_all(processes: list[subprocess.Popen]) -> None:
    """SIGINT each process group, then SIGKILL what is still there after the grace period."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def netns_environment(env: dict) -> dict:
    """The fleet's environment for nodes on separate hosts (network namespaces): discovery
    across the subnet, and DDS over UDP only (shared memory would bypass the hosts' links),
    with large socket buffers (config/fastdds_udp_hosts.xml)."""
    return {**env, "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
            "FASTDDS_DEFAULT_PROFILES_FILE": str(config_dir() / FASTDDS_HOSTS_PROFILE)}


def on_hosts(specs: list[NodeSpec], network, air_time: str = "shaped"):
    """Each node in its own namespace of ``network``: the specs to run (with ``air_time``
    "shaped", see :func:`shaped_air`) and the command function that runs them there."""
    hosts = {spec.label: network.add_host(spec.label) for spec in specs}
    print(f"hosts: one network namespace per node on bridge {network.bridge} "
          f"({network.subnet}): " + ", ".join(f"{label} {h.address}"
                                               for label, h in hosts.items()))
    if air_time == "shaped":
        specs = shaped_air(specs, hosts)
    return specs, lambda spec: hosts[spec.label].command(command_line(spec))


def shaped_air(specs: list[NodeSpec], hosts: dict) -> list[NodeSpec]:
    """Air time as network time: robots publish their tensors straight to the edge, and the
    radio shapes each robot host's link to the edge host to the FDMA rate of eq. (4). Without a
    radio or an edge in the fleet there is nothing to shape (specs unchanged)."""
    edge = next((hosts[s.label] for s in specs if s.executable == "edge"), None)
    if edge is None or not any(s.executable == "radio" for s in specs):
        return specs
    links = [f"{s.parameters['robot_id']}:{hosts[s.label].netns}:{hosts[s.label].interface}"
             for s in specs if s.executable == "robot"]
    extra = {"robot": {"uplink_topic": FEATURES},
             "radio": {"air_time": "shaped", "shaped_links": links,
                       "edge_address": edge.address}}
    return [replace(s, parameters={**s.parameters, **extra.get(s.executable, {})})
            for s in specs]


def discovery_server(stack: ExitStack, network, out: Path, env: dict) -> dict:
    """Start the Fast DDS discovery server (on its own host with ``network``, whose bridge then
    passes no multicast to the nodes' hosts; else on this host's loopback), stopped when
    ``stack`` closes; returns ``env`` pointing nodes at it."""
    if network is not None:
        for node_host in list(network.hosts.values()):     # no multicast needed: none passes
            network.block_multicast(node_host)
        host = network.add_host("discovery")
        address, wrap = host.address, host.command
    else:
        address, wrap = "127.0.0.1", lambda argv: argv
    (out / "logs").mkdir(parents=True, exist_ok=True)
    log = stack.enter_context(open(out / "logs" / "discovery_server.log", "a", encoding="utf-8"))
    process = server_process(address, log, wrap)
    stack.callback(stop_all, [process])
    print(f"discovery: Fast DDS discovery server at {address}:{PORT}")
    return client_environment(env, address)


def run_fleet(fleet_file: Path, duration_s: float, bag: Path, out: Path,
              hosts: str = "local", air_time: str = "shaped",
              discovery: str = "multicast") -> Path:
    """Run the fleet for ``duration_s`` seconds; returns the bag directory. ``hosts``: "local"
    (every node a process of this host) or "netns" (each node on its own host: a network
    namespace, DDS over UDP across a bridge; needs root; torn down at the end), where
    ``air_time`` "shaped" makes the air time network time (:func:`shaped_air`) and "modelled"
    keeps the radio's queue. ``discovery``: "multicast" (DDS simple discovery) or "server"
    (:func:`discovery_server`)."""
    specs = with_bag(load_fleet(fleet_file), bag)
    env, command, network = fleet_environment(out), command_line, None
    # SIGTERM (systemd, docker, timeout) acts as Ctrl-C; SIGINT is handled explicitly too, since
    # a runner started from a background job inherits it ignored (a plain `kill -INT` must work)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = ExitStack()                   # what to stop and remove, in reverse order
    try:
        if hosts == "netns":
            from robust_offload.orchestration.netns import Network

            network = stack.enter_context(Network())
            specs, command = on_hosts(specs, network, air_time)
            env = netns_environment(env)
        if discovery == "server":
            env = discovery_server(stack, network, out, env)
        fleet = Fleet(specs, out, env, command)
        stack.callback(fleet.stop)
        print(f"starting {len(specs)} nodes: {', '.join(s.label for s in specs)}")
        print(f"node logs in {out / 'logs'}; bag in {bag}")
        print(f"services first; robots start {ROBOT_DELAY_S:.0f} s later")
        fleet.start(ROBOT_DELAY_S)
        _supervise(fleet, duration_s)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the fleet")
    finally:
        # A second Ctrl-C / SIGTERM must not cut the stop short (the recorder closes its bag).
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        stack.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return bag


def _supervise(fleet: Fleet, duration_s: float) -> None:
    """Let the fleet run for ``duration_s`` (progress bar), restarting what may respawn; end
    early when no robot runs any more."""
    with tqdm(total=int(duration_s), desc="fleet running", unit="s") as bar:
        for _ in range(int(duration_s)):
            time.sleep(1.0)
            bar.update()
            if not fleet.supervise(time.monotonic(), bar.write):
                bar.write("no robot runs any more: stopping the fleet (see their logs)")
                return


def _interrupt(signum, frame):
    raise KeyboardInterrupt
