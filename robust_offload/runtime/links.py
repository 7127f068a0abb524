"""Air time as real network time: each robot's link to the edge shaped (tc) to its FDMA rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from robust_offload.core import checks
from robust_offload.runtime.fdma import LinkState


@dataclass(frozen=True)
class ShapedLink:
    """Where a robot's uplink can be shaped: its host's network namespace and interface."""

    robot_id: str
    netns: str
    interface: str


def parse_links(entries) -> dict[str, ShapedLink]:
    """Shaped links from "robot_id:netns:interface" texts (the radio node's ``shaped_links``,
    which ``robust-offload fleet --hosts netns`` fills in); a malformed entry raises InputError
    naming it."""
    links = {}
    for index, entry in enumerate(entries):
        parts = str(entry).split(":")
        if len(parts) != 3 or not all(parts):
            checks.fail("parameter", f"shaped_links[{index}]", entry,
                        "must be 'robot_id:netns:interface'")
        links[parts[0]] = ShapedLink(checks.name("parameter", f"shaped_links[{index}]",
                                                 parts[0]), parts[1], parts[2])
    return links


@dataclass
class ShapedUplinks:
    """The air time as real network time: each robot's traffic to the edge is
    limited to the rate eq. (4) gives its planned share and current gain,
    b log2(1 + p h / (b N0)), so a tensor takes its air time on the wire instead of in the
    radio's queue.

    ``shape(netns, interface, to, rate_bps)`` does it
    (:func:`robust_offload.orchestration.netns.shape_link`, tc htb). A robot's link is shaped
    again only when its rate moved by more than ``tolerance`` (relative): mobility changes
    every gain a little at every step.
    """

    links: dict[str, ShapedLink]
    edge_address: str
    shape: Callable[[str, str, str, float], None]
    tolerance: float = 0.02
    rates_bps: dict[str, float] = field(default_factory=dict)

    def update(self, states: list[LinkState]) -> dict[str, float]:
        """Shape the links whose rate changed; returns them with their new rates (bit/s)."""
        changed = {}
        for state in states:
            link, old = self.links.get(state.robot_id), self.rates_bps.get(state.robot_id)
            if link is None or (old is not None
                                and abs(state.rate_bps - old) <= self.tolerance * old):
                continue
            self.shape(link.netns, link.interface, self.edge_address, state.rate_bps)
            self.rates_bps[state.robot_id] = changed[state.robot_id] = state.rate_bps
        return changed


def shaped_uplinks(air_time: str, entries, edge_address: str,
                   shape: Callable[[str, str, str, float], None]) -> ShapedUplinks | None:
    """The radio node's shaping from its parameters: None for ``air_time`` "modelled"; for
    "shaped", the links ``entries`` name (see :func:`parse_links`) towards ``edge_address``."""
    if air_time != "shaped":
        return None
    links = parse_links([entry for entry in entries if entry])
    if not links:
        checks.fail("parameter", "shaped_links", list(entries),
                    "air_time shaped needs every robot's 'robot_id:netns:interface'")
    if not edge_address:
        checks.fail("parameter", "edge_address", edge_address,
                    "air_time shaped needs the edge host's address")
    return ShapedUplinks(links, edge_address, shape)
