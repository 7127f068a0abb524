"""Checks shared by the planner tests: a plan must satisfy every constraint of problem (9)."""

import numpy as np

from robust_offload.core.model import offload_time_s
from robust_offload.core.problem import PlanningProblem


def assert_plan_feasible(problem: PlanningProblem, plan, rel=1e-9):
    """Bandwidth budget (9d), DVFS range (9g) and the deterministic chance constraint (22)."""
    index = {name: i for i, name in enumerate(problem.names)}
    total_bandwidth = 0.0
    for decision in plan.devices:
        n, m = index[decision.name], decision.partition
        assert problem.valid[n, m]
        f = decision.freq_ghz
        assert problem.freq_min_ghz[n, 0] * (1 - rel) <= f <= problem.freq_max_ghz[n, 0] * (1 + rel)
        assert decision.bandwidth_hz >= 0
        total_bandwidth += decision.bandwidth_hz
        uplink = offload_time_s(problem.bits[n, m], decision.bandwidth_hz,
                                problem.snr_scale_hz[n, 0])
        latency = (problem.gcycles[n, m] / f + uplink + problem.edge_mean_s[n, m]
                   + problem.margin_s[n, m])
        assert latency <= problem.deadline_s[n] * (1 + rel), (decision, latency)
        assert decision.latency_bound_ms == np.float64(latency * 1e3).round(9) or \
            abs(decision.latency_bound_ms - latency * 1e3) < 1e-6
        energy = (problem.energy_coef[n, 0] * problem.gcycles[n, m] * f**2
                  + problem.tx_power_w[n, 0] * uplink)
        assert abs(energy - decision.energy_j) <= 1e-9 * max(energy, 1e-12)
    assert total_bandwidth <= problem.bandwidth_hz * (1 + 1e-12)
