"""Policies on the same model: robust = exhaustive optimum, feasibility, bounds, infeasibility."""

import dataclasses

import numpy as np
import pytest
from helpers import assert_plan_feasible
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robust_offload.core.generate import random_fleet
from robust_offload.core.policies import PolicyError, plan
from robust_offload.core.problem import build_problem, worst_case_margin_s
from robust_offload.core.checks import InputError
from robust_offload.core.scenario import Device, Scenario, load_scenario

from conftest import DEFAULT_SCENARIO

MIXES = [("alexnet_nx_cpu",), ("resnet152_nx_gpu",), ("alexnet_nx_cpu", "resnet152_nx_gpu")]


def small_fleet(profiles, seed):
    rng = np.random.default_rng(seed)
    return random_fleet(profiles, int(rng.integers(1, 4)), seed=seed,
                        bandwidth_hz=float(rng.choice([1e6, 3e6, 10e6, 30e6])),
                        deadline_ms=(100, 300), risk=(0.01, 0.2), mix=MIXES[seed % 3])


def test_default_scenario_plan_is_feasible_and_tight():
    scenario = load_scenario(DEFAULT_SCENARIO)
    result = plan(scenario)
    assert result.status == "ok"
    assert_plan_feasible(build_problem(scenario), result)
    # bandwidth is always worth having: the budget is used up
    used = sum(d.bandwidth_hz for d in result.devices)
    assert used == pytest.approx(scenario.bandwidth_hz, rel=1e-9)
    assert result.lower_bound_j <= result.total_energy_j * (1 + 1e-12)


@pytest.mark.parametrize("seed", range(24))
def test_robust_matches_exhaustive(profiles, seed):
    scenario = small_fleet(profiles, seed)
    ours, optimum = plan(scenario, "robust"), plan(scenario, "exhaustive")
    assert ours.status == optimum.status
    if not optimum.devices:
        return
    assert ours.total_energy_j <= optimum.total_energy_j * (1 + 1e-6)
    assert ours.lower_bound_j <= optimum.total_energy_j * (1 + 1e-9)
    assert_plan_feasible(build_problem(scenario), ours)


def test_identical_robots_tied_at_the_price(profiles):
    """Identical devices switch together at one price: the rounding must still be optimal."""
    device = Device("r", "alexnet_nx_cpu", 1e-10, 1.0, 0.8e-27, 0.1, 1.2, 200.0, 0.05)
    devices = [Device(f"r{i}", *list(device.__dict__.values())[1:]) for i in range(4)]
    for bandwidth in (0.5e6, 1e6, 2e6, 4e6):
        scenario = Scenario(bandwidth, -174.0, profiles, devices)
        ours, optimum = plan(scenario), plan(scenario, "exhaustive")
        assert ours.total_energy_j <= optimum.total_energy_j * (1 + 1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(1, 40), seed=st.integers(0, 10_000),
       bandwidth=st.floats(2e5, 5e7), deadline=st.floats(60, 400), risk=st.floats(0.005, 0.5),
       mix=st.sampled_from(MIXES))
def test_plans_always_satisfy_every_constraint(profiles, count, seed, bandwidth, deadline,
                                               risk, mix):
    scenario = random_fleet(profiles, count, seed, bandwidth_hz=bandwidth, deadline_ms=deadline,
                            risk=risk, mix=mix)
    result = plan(scenario)
    assert len(result.devices) + len(result.infeasible_devices) == count
    assert_plan_feasible(build_problem(scenario), result)
    if result.devices:
        assert result.gap <= 1e-5


def test_large_fleet_is_feasible_with_tiny_gap(profiles):
    scenario = random_fleet(profiles, 300, 7, bandwidth_hz=250e6, deadline_ms=(150, 250),
                            risk=(0.02, 0.08), mix=MIXES[2])
    result = plan(scenario)
    assert result.status == "ok"
    assert_plan_feasible(build_problem(scenario), result)
    assert result.gap <= 1e-5


def test_infeasible_devices_are_reported_and_the_rest_planned(profiles):
    fine = Device("fine", "alexnet_nx_cpu", 1e-10, 1.0, 0.8e-27, 0.1, 1.2, 200.0, 0.05)
    hopeless = Device("hopeless", "resnet152_nx_gpu", 1e-13, 1.0, 2.8e-27, 0.2, 0.8, 30.0,
                      0.01)
    result = plan(Scenario(10e6, -174.0, profiles, [fine, hopeless]))
    assert result.status == "infeasible"
    assert [d.name for d in result.devices] == ["fine"]
    (bad,) = result.infeasible_devices
    assert bad.name == "hopeless" and "deadline" in bad.reason
    assert bad.min_risk is None  # 30 ms is below ResNet152's mean time at any risk


def test_min_risk_is_the_threshold_of_feasibility(profiles):
    def alone(risk):
        device = Device("d", "alexnet_nx_cpu", 1e-11, 1.0, 0.8e-27, 0.1, 1.2, 150.0, risk)
        return plan(Scenario(2e6, -174.0, profiles, [device]))

    (report,) = alone(0.01).infeasible_devices
    assert 0.01 < report.min_risk < 1
    assert alone(report.min_risk * 1.01).status == "ok"
    assert alone(report.min_risk * 0.99).status == "infeasible"


def test_bandwidth_shortage_admits_the_most_devices(profiles):
    devices = [Device(f"r{i}", "alexnet_nx_cpu", 1e-10, 1.0, 0.8e-27, 0.1, 1.2, 150.0, 0.05)
               for i in range(6)]
    scenario = Scenario(2e6, -174.0, profiles, devices)  # each needs >= 0.56 MHz
    result = plan(scenario)
    assert result.status == "infeasible"
    assert len(result.devices) == 3 and len(result.infeasible_devices) == 3
    assert_plan_feasible(build_problem(scenario), result)


def test_worst_case_meets_upper_bounds(profiles):
    scenario = random_fleet(profiles, 6, 3, bandwidth_hz=10e6, deadline_ms=220, risk=0.05,
                            mix=MIXES[2])
    result = plan(scenario, "worst-case")
    assert result.status == "ok"
    assert_plan_feasible(build_problem(scenario, worst_case_margin_s), result)


def test_worst_case_needs_upper_bounds(profiles):
    bare = {name: p.__class__(**{**p.__dict__, "local_excess_ms": None})
            for name, p in profiles.items()}
    scenario = random_fleet(bare, 2, 0)
    with pytest.raises(InputError, match="local_excess_ms"):
        plan(scenario, "worst-case")


def test_exhaustive_refuses_above_its_limit(profiles):
    scenario = random_fleet(profiles, 8, 0, bandwidth_hz=30e6)
    with pytest.raises(PolicyError, match="partition vectors"):
        plan(scenario, "exhaustive")


def test_pccp_is_feasible_and_never_beats_the_optimum(profiles):
    scenario = random_fleet(profiles, 3, 5, bandwidth_hz=5e6, deadline_ms=220, risk=0.04)
    paper, optimum = plan(scenario, "pccp"), plan(scenario, "exhaustive")
    assert paper.status == "ok"
    assert_plan_feasible(build_problem(scenario), paper)
    assert paper.total_energy_j >= optimum.total_energy_j * (1 - 1e-9)
    assert paper.stats["pccp_iterations"] and all(i >= 1 for i in paper.stats["pccp_iterations"])
    trajectory = paper.stats["objective"]
    assert all(b <= a * (1 + 1e-6) for a, b in zip(trajectory, trajectory[1:]))


@pytest.mark.parametrize("bandwidth", [1.0, 1e5, 2e6, 1e7])
def test_profile_that_sends_nothing_at_m_equals_M(profiles, bandwidth):
    """With d_M = 0 running all blocks locally needs no bandwidth: both regimes are optimal."""
    alexnet = profiles["alexnet_nx_cpu"]
    output = alexnet.output_mb.copy()
    output[-1] = 0.0
    local = {**profiles, "alex_local": dataclasses.replace(alexnet, name="alex_local",
                                                           output_mb=output)}
    devices = [Device(f"r{i}", "alex_local" if i % 2 else "alexnet_nx_cpu", 10 ** (-10 - i),
                      1.0, 0.8e-27, 0.1, 1.2, 300.0, 0.05) for i in range(3)]
    scenario = Scenario(bandwidth, -174.0, local, devices)
    ours, optimum = plan(scenario), plan(scenario, "exhaustive")
    assert ours.status == optimum.status
    assert ours.total_energy_j <= optimum.total_energy_j * (1 + 1e-6)
    assert_plan_feasible(build_problem(scenario), ours)


def test_many_identical_robots_close_the_gap_at_the_root(profiles):
    """All 200 robots flip at the same price: the rounding search must find the best split."""
    devices = [Device(f"r{i}", "alexnet_nx_cpu", 1e-10, 1.0, 0.8e-27, 0.1, 1.2, 200.0, 0.05)
               for i in range(200)]
    result = plan(Scenario(200 * 4e6, -174.0, profiles, devices))
    assert result.status == "ok" and result.gap <= 1e-5
    assert result.stats["nodes"] == 1
    assert len({d.partition for d in result.devices}) == 2  # a mix of two points is optimal


def resnet_robots(count, gain=1e-10, spread=0.0):
    """ResNet152 robots at one distance (twins), or gains spread by ``spread`` (relative)."""
    return [Device(f"r{i}", "resnet152_nx_gpu", gain * (1 + spread * i), 1.0, 2.8e-27, 0.2, 0.8,
                   150.0, 0.05) for i in range(count)]


@pytest.mark.parametrize("share_hz", [0.7e6, 0.9e6, 1.7e6])
def test_twin_robots_close_the_gap_the_root_leaves(profiles, share_hz):
    """20 robots equal in every datum leave a gap of ~7e-4 at the root that branching on one
    twin does not close (fixing one twin leaves the dual bound where it was): twins are kept
    in order of their partition points and the middle one is branched on, and the gap closes."""
    scenario = Scenario(20 * share_hz, -174.0, profiles, resnet_robots(20))
    result = plan(scenario)
    assert result.stats["twins"] == 20
    assert result.stats["root_bound"] < result.total_energy_j * (1 - 1e-4)   # a real gap
    assert result.gap <= 1e-5 and result.stats["nodes"] < 50
    assert_plan_feasible(build_problem(scenario), result)


@pytest.mark.parametrize("share_hz", [2.0e6, 2.3e6, 2.6e6])
def test_twins_and_others_match_exhaustive(profiles, share_hz):
    """The order kept among twins loses no optimum (3 twins and a robot nearer the radio)."""
    twins = [Device(f"t{i}", "alexnet_nx_cpu", 1e-9, 1.0, 0.8e-27, 0.1, 1.2, 200.0, 0.05)
             for i in range(3)]
    other = Device("near", "alexnet_nx_cpu", 3e-9, 1.0, 0.8e-27, 0.1, 1.2, 200.0, 0.05)
    scenario = Scenario(4 * share_hz, -174.0, profiles, [twins[0], other, *twins[1:]])
    ours, optimum = plan(scenario), plan(scenario, "exhaustive")
    assert ours.stats["twins"] == 3
    assert ours.total_energy_j <= optimum.total_energy_j * (1 + 1e-6)
    assert ours.lower_bound_j <= optimum.total_energy_j * (1 + 1e-9)
    assert ours.gap <= 1e-5


def test_a_deadline_stops_the_search_after_the_root(profiles):
    """Near-twins (gains 1e-6 apart) cannot be reordered and close no faster than twins did:
    past the deadline the best plan so far comes back, with its certified bound."""
    scenario = Scenario(20 * 0.9e6, -174.0, profiles, resnet_robots(20, spread=1e-6))
    searched = plan(scenario, max_nodes=10)
    assert searched.stats["twins"] == 0 and searched.stats["nodes"] == 10
    assert not searched.stats["deadline_hit"]
    stopped = plan(scenario, deadline=0.0)                # long past
    assert stopped.stats["nodes"] == 1 and stopped.stats["deadline_hit"]
    assert stopped.gap > 1e-5 and stopped.lower_bound_j <= stopped.total_energy_j
    assert_plan_feasible(build_problem(scenario), stopped)
