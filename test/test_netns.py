"""Hosts as network namespaces (robust_offload/orchestration/netns.py): reachability over the
bridge, tc shaping at the rate asked, DDS across namespaces, and nothing left behind. Needs
root (CI has)."""

import os
import subprocess
import sys

import pytest

from robust_offload.orchestration.discovery import client_environment, server_process
from robust_offload.orchestration.runner import stop_all
from robust_offload.orchestration.netns import Network, NetnsError, require_root

from conftest import REPO
from helpers import assert_within

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
LISTEN_S = 30.0
"""How long the DDS listener listens: far longer than discovery takes where it works (the
seconds to the first message are printed), so hearing nothing in it is the control's result."""
DDS_PROBE = """
import sys, time
import rclpy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("probe_" + sys.argv[1])
if sys.argv[1] == "talker":                 # until it is stopped
    publisher = node.create_publisher(String, "/netns_probe", 10)
    while True:
        publisher.publish(String(data="across"))
        rclpy.spin_once(node, timeout_sec=0.1)
else:
    got, start = [], time.monotonic()
    first = None
    node.create_subscription(String, "/netns_probe", got.append, 10)
    while time.monotonic() < start + float(sys.argv[2]) and len(got) < 5:
        rclpy.spin_once(node, timeout_sec=0.1)
        first = first or (got and time.monotonic() - start)
    print(len(got), got[0].data if got else "")
    print(f"first message {first:.2f} s after the listener's start" if got else
          f"no message in {sys.argv[2]} s", file=sys.stderr)
"""


def made_by(prefix: str) -> list[str]:
    """The links and namespaces of this host named by a network's ``prefix`` (other tests may
    make and remove their own meanwhile)."""
    return [line for argv in (["ip", "-o", "link"], ["ip", "netns", "list"])
            for line in subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
            if prefix in line]


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
    with Network() as net:
        robot, edge = net.add_host("robot_1/robot"), net.add_host("edge")
        assert robot.address != edge.address and robot.netns != edge.netns
        assert send(robot, edge, 100_000)[0] == 100_000
        assert made_by(net.prefix)
    assert made_by(net.prefix) == []


def test_a_failed_step_removes_what_was_made():
    net = Network()
    net.add_host("a")
    with pytest.raises(NetnsError, match="ip netns add"):
        net.add_host("x" * 300)                  # no such namespace name
    assert made_by(net.prefix) == []


def test_a_shaped_link_carries_the_rate_it_was_given_to_its_destination_only():
    """1 MiB over 8 Mbit/s to the edge takes 1.05 s (tc htb; no netem in this kernel); at 16
    Mbit/s half that; the same MiB to another host is not held back. Never faster than the
    rate; slower by at most protocol overhead (20 %) plus scheduling slack, which a loaded host
    stretches, but a transfer held to either rate would still exceed."""
    size = 1 << 20
    with Network() as net:
        robot, edge, planner = (net.add_host(label) for label in ("robot", "edge", "planner"))
        for rate_bps in (8e6, 16e6):                       # then a rate change
            net.shape(robot, rate_bps, to=edge.address)
            received, seconds = send(robot, edge, size)
            ideal_s = 8 * size / rate_bps
            assert received == size
            assert seconds >= 0.9 * ideal_s, seconds
            assert_within(f"1 MiB at {rate_bps / 1e6:g} Mbit/s", seconds, 1.2 * ideal_s,
                          0.3 * ideal_s)
        assert_within("1 MiB to an unshaped destination", send(robot, planner, size)[1], 0.0,
                      0.1 * ideal_s)                       # 16 Mbit/s would take 10x that


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
            listener.command([sys.executable, "-c", DDS_PROBE, "listener", str(LISTEN_S)]),
            env=env, stdout=subprocess.PIPE, text=True)
        speaker = subprocess.Popen(talker.command([sys.executable, "-c", DDS_PROBE, "talker"]),
                                   env=env, stdout=subprocess.DEVNULL)
        try:
            assert listening.communicate(timeout=LISTEN_S + 120)[0].split() == heard
        finally:
            speaker.kill()
            speaker.wait()
            stop_all(servers)


def test_require_root_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NetnsError, match="need root"):
        require_root()
