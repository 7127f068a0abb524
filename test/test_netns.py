"""Hosts as network namespaces (robust_offload/netns.py): reachability over the bridge, tc
shaping at the rate asked, DDS across namespaces, and nothing left behind. Needs root (CI has)."""

import os
import subprocess
import sys

import pytest

from robust_offload.discovery import client_environment, server_process
from robust_offload.fleet_runner import stop_all
from robust_offload.netns import Network, NetnsError, require_root

from conftest import REPO

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

SINK = """
import socket, sys, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 5000))
server.listen(1)
print("ready", flush=True)
conn, _ = server.accept()
first = None
received = 0
while chunk := conn.recv(65536):
    first = first or time.monotonic()
    received += len(chunk)
print(received, time.monotonic() - first)
"""
SOURCE = """
import socket, sys
s = socket.create_connection((sys.argv[1], 5000), timeout=10)
s.sendall(b"x" * int(sys.argv[2]))
s.close()
"""
DDS_PROBE = """
import sys, time
import rclpy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("probe_" + sys.argv[1])
end = time.monotonic() + 30.0
if sys.argv[1] == "talker":
    publisher = node.create_publisher(String, "/netns_probe", 10)
    while time.monotonic() < end:
        publisher.publish(String(data="across"))
        rclpy.spin_once(node, timeout_sec=0.1)
else:
    got = []
    node.create_subscription(String, "/netns_probe", got.append, 10)
    while time.monotonic() < end and len(got) < 5:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(len(got), got[0].data if got else "")
"""


def state() -> tuple[str, str]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return links, spaces


def send(sender, receiver, size: int) -> tuple[int, float]:
    """Bytes received and seconds from the first to the last, sending ``size`` bytes."""
    sink = subprocess.Popen(receiver.command([sys.executable, "-c", SINK]),
                            stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "ready"
    subprocess.run(sender.command([sys.executable, "-c", SOURCE, receiver.address, str(size)]),
                   check=True, timeout=60)
    received, seconds = sink.communicate(timeout=60)[0].split()
    return int(received), float(seconds)


def test_hosts_reach_each_other_and_nothing_is_left_behind():
    before = state()
    with Network() as net:
        robot, edge = net.add_host("robot_1/robot"), net.add_host("edge")
        assert robot.address != edge.address and robot.netns != edge.netns
        assert send(robot, edge, 100_000)[0] == 100_000
        assert state() != before
    assert state() == before


def test_a_failed_step_removes_what_was_made():
    before = state()
    net = Network()
    net.add_host("a")
    with pytest.raises(NetnsError, match="ip netns add"):
        net.add_host("x" * 300)                  # no such namespace name
    assert state() == before


def test_a_shaped_link_carries_the_rate_it_was_given_to_its_destination_only():
    """1 MiB over 8 Mbit/s to the edge takes 1.05 s (tc htb; no netem in this kernel); at 16
    Mbit/s half that; the same MiB to another host is not held back."""
    with Network() as net:
        robot, edge, planner = (net.add_host(label) for label in ("robot", "edge", "planner"))
        net.shape(robot, 8e6, to=edge.address)
        received, seconds = send(robot, edge, 1 << 20)
        assert received == 1 << 20
        assert 0.9 <= seconds / (8 * (1 << 20) / 8e6) <= 1.5, seconds
        net.shape(robot, 16e6, to=edge.address)            # a rate change
        assert 0.9 <= send(robot, edge, 1 << 20)[1] / (8 * (1 << 20) / 16e6) <= 1.5
        assert send(robot, planner, 1 << 20)[1] < 0.25 * seconds


@pytest.mark.parametrize("discovery, multicast, heard", [
    ("simple", True, ["5", "across"]),
    ("simple", False, ["0"]),                # the control: blocked multicast stops discovery
    ("server", False, ["5", "across"]),
])
def test_dds_runs_across_namespaces_over_udp(tmp_path, discovery, multicast, heard):
    """Simple (multicast) discovery, or the Fast DDS discovery server on a third host; with the
    bridge passing no multicast to the talker and the listener, only the server can introduce
    them."""
    env = dict(os.environ, ROS_DOMAIN_ID="97", ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET",
               FASTDDS_BUILTIN_TRANSPORTS="UDPv4", ROS_LOG_DIR=str(tmp_path),
               PYTHONPATH=str(REPO))
    with Network() as net, open(tmp_path / "server.log", "w") as log:
        talker, listener = net.add_host("talker"), net.add_host("listener")
        servers = []
        if discovery == "server":
            server = net.add_host("discovery")
            servers.append(server_process(server.address, log, server.command))
            env = client_environment(env, server.address)
        for host in (talker, listener) if not multicast else ():
            net.block_multicast(host)
        listening = subprocess.Popen(
            listener.command([sys.executable, "-c", DDS_PROBE, "listener"]), env=env,
            stdout=subprocess.PIPE, text=True)
        speaker = subprocess.Popen(talker.command([sys.executable, "-c", DDS_PROBE, "talker"]),
                                   env=env, stdout=subprocess.DEVNULL)
        try:
            assert listening.communicate(timeout=60)[0].split() == heard
        finally:
            speaker.kill()
            speaker.wait()
            stop_all(servers)


def test_require_root_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NetnsError, match="need root"):
        require_root()
