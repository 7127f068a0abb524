"""Hosts as Linux network namespaces joined by a bridge, links shaped with tc.

A :class:`Network` puts each host (planner, edge, radio, each robot) in its own network namespace
with a veth pair: the namespace end is its only interface (plus ``lo``), the other end sits on
one bridge in the root namespace, and every address is private to that bridge (``10.77.0.0/24``
by default; the bridge is ``.1``). DDS then runs between the hosts over UDP as between machines:
multicast discovery crosses the bridge, and nothing of the fleet is reachable from outside.
:func:`shape_link` limits what a host sends to one address (``tc htb``; this kernel has no
netem), e.g. a robot's uplink to the edge to the rate eq. (4) gives its share and gain.

Everything created is recorded and removed by :meth:`Network.close` (a context manager; also
after a failed step): no namespace, veth or bridge is left (``ip netns list``/``ip link``).
Names carry a per-network prefix, so two networks do not collide. Needs CAP_NET_ADMIN (root):
:func:`require_root` says so in one line.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import subprocess
from dataclasses import dataclass

MAX_IFNAME = 15
"""Linux interface names are at most 15 characters."""

_NETWORKS = itertools.count()
"""Networks made by this process (their names differ by it)."""


class NetnsError(RuntimeError):
    """A namespace, link or qdisc could not be set up; one-line message."""


def require_root() -> None:
    """Raise :class:`NetnsError` unless this process may create namespaces and links."""
    if os.geteuid() != 0:
        raise NetnsError("hosts as network namespaces need root (CAP_NET_ADMIN): run as root, "
                         "or without --hosts netns")


def ip(*args: str) -> str:
    """Run ``ip`` with ``args``; its output, or :class:`NetnsError` naming the command."""
    return _run(["ip", *args])


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


MIN_RATE_BPS = 1e6
"""Floor of a shaped link: a robot left without a share sends no tensors, but one still in
flight when its share ends must not be held for minutes."""
UNSHAPED_RATE = "10gbit"
"""Everything but the shaped destination (statuses, discovery, frames for the recorder)."""


def shape_link(netns: str, interface: str, to: str, rate_bps: float) -> None:
    """Limit the traffic from ``interface`` in ``netns`` to address ``to`` to ``rate_bps``.

    tc htb (this kernel has no netem): class 1:10 at the rate (rate = ceil, a FIFO of 10000
    packets, so a tensor of many IP fragments queues instead of being dropped) for packets to
    ``to``, class 1:20 (the default) unshaped for the rest. The first call on an interface sets
    the tree up, later calls only change the rate (one ``tc`` call). Rates below
    :data:`MIN_RATE_BPS` are raised to it.
    """
    rate = f"{int(max(MIN_RATE_BPS, rate_bps))}bit"
    tc = ["ip", "netns", "exec", netns, "tc"]
    try:
        _run([*tc, "class", "change", "dev", interface, "classid", "1:10", "htb", "rate", rate,
              "ceil", rate])
        return
    except NetnsError:
        pass                                  # not set up yet
    _run([*tc, "qdisc", "replace", "dev", interface, "root", "handle", "1:", "htb", "default",
          "20"])
    _run([*tc, "class", "add", "dev", interface, "parent", "1:", "classid", "1:20", "htb",
          "rate", UNSHAPED_RATE])
    _run([*tc, "class", "add", "dev", interface, "parent", "1:", "classid", "1:10", "htb",
          "rate", rate, "ceil", rate])
    _run([*tc, "qdisc", "add", "dev", interface, "parent", "1:10", "pfifo", "limit", "10000"])
    _run([*tc, "filter", "add", "dev", interface, "parent", "1:", "protocol", "ip", "u32",
          "match", "ip", "dst", f"{to}/32", "flowid", "1:10"])


@dataclass(frozen=True)
class Host:
    """One namespace: its name, its address on the bridge, its interface inside, and the veth
    end on the bridge."""

    label: str
    netns: str
    address: str
    interface: str
    bridge_port: str

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]


class Network:
    """A bridge and the hosts attached to it (see the module docstring)."""

    def __init__(self, prefix: str | None = None, subnet: str = "10.77.0.0/24"):
        require_root()
        self.prefix = prefix or f"ro{os.getpid() % 10000}{next(_NETWORKS) % 100}"
        if len(self.prefix) + 4 > MAX_IFNAME:
            raise NetnsError(f"prefix {self.prefix!r}: at most {MAX_IFNAME - 4} characters")
        self.subnet = ipaddress.ip_network(subnet)
        self._addresses = self.subnet.hosts()
        self.gateway = str(next(self._addresses))
        self.bridge = f"{self.prefix}br"
        self.hosts: dict[str, Host] = {}
        self._created: list[tuple[str, str]] = []      # ("netns" | "link", name), in order
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            self._created.append(("link", self.bridge))
            ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
        except NetnsError:
            self.close()
            raise

    def add_host(self, label: str) -> Host:
        """A new namespace for ``label`` with an address on the bridge, up and routed."""
        index = len(self.hosts)
        host = Host(label, f"{self.prefix}-{index}-{label.replace('/', '_')}",
                    str(next(self._addresses)), "eth0", f"{self.prefix}h{index}")
        peer = f"{self.prefix}p{index}"
        try:
            ip("netns", "add", host.netns)
            self._created.append(("netns", host.netns))
            ip("link", "add", host.bridge_port, "type", "veth", "peer", "name", peer)
            self._created.append(("link", host.bridge_port))
            ip("link", "set", host.bridge_port, "master", self.bridge)
            ip("link", "set", host.bridge_port, "up")
            ip("link", "set", peer, "netns", host.netns)
            inside = ("ip", "netns", "exec", host.netns, "ip")
            _run([*inside, "link", "set", peer, "name", host.interface])
            _run([*inside, "addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev",
                  host.interface])
            _run([*inside, "link", "set", host.interface, "up"])
            _run([*inside, "link", "set", "lo", "up"])
            _run([*inside, "route", "add", "default", "via", self.gateway])
        except NetnsError:
            self.close()
            raise
        self.hosts[label] = host
        return host

    def shape(self, host: Host, rate_bps: float, to: str) -> None:
        """Limit the host's traffic to address ``to`` to ``rate_bps`` (see :func:`shape_link`)."""
        shape_link(host.netns, host.interface, to, rate_bps)

    def block_multicast(self, host: Host) -> None:
        """The bridge stops passing multicast to ``host`` (as on a WiFi network that drops it):
        simple DDS discovery cannot reach it, a discovery server still can."""
        _run(["bridge", "link", "set", "dev", host.bridge_port, "mcast_flood", "off"])

    def close(self) -> None:
        """Remove everything this network created (namespaces take their veth ends along);
        safe to call twice."""
        errors = []
        for kind, name in reversed(self._created):
            try:
                ip("netns", "delete", name) if kind == "netns" else ip("link", "delete", name)
            except NetnsError as err:
                if "Cannot find" not in str(err) and "No such" not in str(err):
                    errors.append(str(err))
        self._created.clear()
        if errors:
            raise NetnsError("; ".join(errors))

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
