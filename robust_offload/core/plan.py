"""Plans: per-device decisions, infeasible devices, and the JSON/table output of ``plan``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from robust_offload.core.lagrangian import Allocation, PricedProblem
from robust_offload.core.bounds import risk_of
from robust_offload.core.model import (
    latency_bound_s,
    local_time_s,
    offload_time_s,
)
from robust_offload.core.problem import PlanningProblem


@dataclass(frozen=True)
class Decision:
    """What one device does: partition point m, DVFS frequency, bandwidth share."""

    name: str
    partition: int
    freq_ghz: float
    bandwidth_hz: float
    energy_j: float
    latency_bound_ms: float


@dataclass(frozen=True)
class InfeasibleDevice:
    """A device that cannot meet its chance constraint; min_risk is the smallest eps that could
    be met with the bandwidth left for it (None when no risk level helps)."""

    name: str
    reason: str
    min_risk: float | None


@dataclass
class Plan:
    """The outcome of one policy on one scenario."""

    policy: str
    devices: list[Decision]
    infeasible_devices: list[InfeasibleDevice]
    lower_bound_j: float
    solve_time_s: float
    stats: dict = field(default_factory=dict)
    bound: str = "cantelli"

    @property
    def status(self) -> str:
        return "infeasible" if self.infeasible_devices else "ok"

    @property
    def total_energy_j(self) -> float:
        return float(sum(d.energy_j for d in self.devices))

    @property
    def gap(self) -> float:
        """Relative gap between the plan's energy and the certified lower bound."""
        total = self.total_energy_j
        return (total - self.lower_bound_j) / total if total > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "policy": self.policy,
            "total_energy_j": self.total_energy_j,
            "lower_bound_j": self.lower_bound_j,
            "solve_time_s": self.solve_time_s,
            "devices": [asdict(d) for d in self.devices],
            "infeasible_devices": [asdict(d) for d in self.infeasible_devices],
            "bound": self.bound,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def table(self) -> str:
        """Readable table of the plan."""
        lines = [f"{'device':<16}{'m':>3}{'f GHz':>8}{'b kHz':>11}{'E mJ':>10}{'T_bound ms':>12}"]
        for d in self.devices:
            lines.append(f"{d.name:<16}{d.partition:>3}{d.freq_ghz:>8.3f}"
                         f"{d.bandwidth_hz / 1e3:>11.1f}{d.energy_j * 1e3:>10.2f}"
                         f"{d.latency_bound_ms:>12.2f}")
        for d in self.infeasible_devices:
            risk = "none" if d.min_risk is None else f"{d.min_risk:.4g}"
            lines.append(f"{d.name:<16} INFEASIBLE: {d.reason} (smallest feasible risk: {risk})")
        lines.append(f"policy {self.policy} ({self.bound} bound): status {self.status}, "
                     f"total energy "
                     f"{self.total_energy_j:.6g} J, lower bound {self.lower_bound_j:.6g} J "
                     f"(gap {100 * self.gap:.4f} %), solved in {self.solve_time_s * 1e3:.1f} ms")
        if self.stats:
            lines.append("solver: " + ", ".join(f"{key} {_short(value)}"
                                                for key, value in self.stats.items()))
        return "\n".join(lines)


def _short(value) -> str:
    """Compact text of a statistic (numbers to 6 significant digits, lists in brackets)."""
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_short(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def decisions(problem: PlanningProblem, choice, alloc: Allocation) -> list[Decision]:
    """Decisions of every device of ``problem`` at its chosen point, with the eq. (22) bound."""
    rows = np.arange(problem.size)
    out = []
    for n, m in zip(rows, choice):
        freq = alloc.freq_ghz[n, m]
        latency = latency_bound_s(local_time_s(problem.gcycles[n, m], freq), alloc.uplink_s[n, m],
                                  problem.edge_mean_s[n, m], problem.margin_s[n, m])
        out.append(Decision(problem.names[n], int(m), float(freq),
                            float(alloc.bandwidth_hz[n, m]), float(alloc.energy_j[n, m]),
                            float(latency * 1e3)))
    return out


def _min_risk(problem: PlanningProblem, row: int, bandwidth_hz: float) -> float | None:
    """Smallest eps for which some point meets eq. (22) at f_max with ``bandwidth_hz``."""
    p = problem
    mean = (p.gcycles[row] / p.freq_max_ghz[row] + p.edge_mean_s[row]
            + offload_time_s(p.bits[row], bandwidth_hz, p.snr_scale_hz[row]))
    spare = np.where(p.valid[row], p.deadline_s[row] - mean, -np.inf)
    std = p.std_s[row]
    with np.errstate(divide="ignore", invalid="ignore"):
        risks = np.where(spare > 0, np.where(std > 0, risk_of(p.bound, spare / std), 0.0), np.inf)
    best = float(np.min(risks))
    return best if np.isfinite(best) else None


def screen(priced: PricedProblem):
    """Split devices into those that can be planned and those that cannot.

    A device is infeasible when no point meets its constraint even with the whole band B, or
    when the bandwidth the others need leaves too little for it: devices are admitted in order
    of their smallest bandwidth need while the needs fit in B (this admits the most devices).
    Returns (rows kept, list of InfeasibleDevice).
    """
    p = priced.problem
    need = np.min(np.where(priced.feasible, priced.bandwidth_min_hz, np.inf), axis=1)
    kept, dropped, used = [], [], 0.0
    for row in np.argsort(need, kind="stable"):
        if np.isfinite(need[row]) and used + need[row] <= p.bandwidth_hz:
            kept.append(row)
            used += need[row]
        else:
            dropped.append(row)
    infeasible = []
    for row in sorted(dropped):
        left = p.bandwidth_hz - used
        if np.isfinite(need[row]):
            reason = (f"needs at least {need[row]:.4g} Hz of uplink, only {left:.4g} Hz of the "
                      f"{p.bandwidth_hz:.4g} Hz band left for it")
        else:
            reason = ("no partition point meets the deadline at f_max, even with unlimited "
                      "bandwidth")
        infeasible.append(InfeasibleDevice(p.names[row], reason, _min_risk(p, row, left)))
    return np.array(sorted(kept), dtype=int), infeasible
