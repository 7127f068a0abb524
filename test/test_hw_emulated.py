"""Emulated DVFS and timing: snapping, the profile's time distribution, energy, run modes."""

import logging

import numpy as np
import pytest

from robust_offload.core.scenario import Profile
from robust_offload.hw import EmulatedDevice, EmulatedDvfs, HardwareError
from robust_offload.hw.emulated import MIN_TIME_FRACTION


def small_profile(var_ms2=(0.0, 0.01, 0.04)) -> Profile:
    """Two blocks: w/g = 2e6 cycles at m = 1 and m = 2, i.e. 2 ms at 1 GHz."""
    return Profile(name="small", output_mb=np.array([0.5, 0.2, 0.001]),
                   local_gflops=np.array([0.0, 0.002, 0.004]),
                   flops_per_cycle=np.array([0.0, 1.0, 2.0]),
                   local_var_ms2=np.array(var_ms2, dtype=float),
                   edge_mean_ms=np.array([1.0, 0.5, 0.0]),
                   edge_var_ms2=np.array([0.01, 0.01, 0.0]))


def test_emulated_dvfs_continuous_and_grid():
    dvfs = EmulatedDvfs((0.2, 1.2))
    assert dvfs.current_freq_ghz() == 1.2
    assert dvfs.set_freq_ghz(0.333) == 0.333
    assert dvfs.available_freqs_ghz() == [0.2, 1.2]
    dvfs.restore()
    assert dvfs.current_freq_ghz() == 1.2
    grid = EmulatedDvfs((0.2, 1.2), grid_ghz=[0.8, 0.2, 0.4, 1.2, 1.6], initial_ghz=0.3)
    assert grid.available_freqs_ghz() == [0.2, 0.4, 0.8, 1.2]
    assert grid.current_freq_ghz() == 0.4
    with grid:
        assert grid.set_freq_ghz(0.41) == 0.8
        assert grid.set_freq_ghz(0.2) == 0.2
    assert grid.current_freq_ghz() == 0.4
    with pytest.raises(HardwareError, match=r"emulated freq_range_ghz: requested frequency "
                                            r"1\.3 GHz is outside the available range"):
        grid.set_freq_ghz(1.3)
    with pytest.raises(ValueError, match="need 0 < f_min <= f_max"):
        EmulatedDvfs((1.0, 0.5))


def test_energy_is_the_model_exactly():
    device = EmulatedDevice(small_profile(), kappa=0.8e-27, freq_range_ghz=(0.5, 2.0))
    device.set_freq_ghz(1.5)
    expected = 0.8e-27 * 2e6 * 1.5e9 ** 2   # kappa (w/g) f^2
    assert device.energy_j(1) == pytest.approx(expected, rel=1e-12)
    assert device.energy_j(0) == 0.0
    assert device.mean_time_s(2) == pytest.approx(2e6 / 1.5e9, rel=1e-12)
    run = device.run_blocks(1)
    assert run.energy_j == pytest.approx(expected, rel=1e-12)
    assert run.freq_ghz == 1.5 and run.partition == 1
    with pytest.raises(ValueError, match="partition 3 outside 0..2 of profile small"):
        device.run_blocks(3)


def test_sampled_times_follow_the_profile_and_seed():
    device = EmulatedDevice(small_profile(), kappa=1e-27, freq_range_ghz=(0.5, 2.0), seed=3)
    device.set_freq_ghz(0.5)   # 4 ms, std 0.2 ms at m = 2
    samples = np.array([device.sample_time_s(2) for _ in range(20000)])
    assert samples.mean() == pytest.approx(4e-3, abs=4 * 0.2e-3 / np.sqrt(20000))
    assert samples.var() == pytest.approx(0.04e-6, rel=0.05)
    again = EmulatedDevice(small_profile(), kappa=1e-27, freq_range_ghz=(0.5, 2.0), seed=3)
    again.set_freq_ghz(0.5)
    assert [again.sample_time_s(2) for _ in range(5)] == list(samples[:5])


def test_sampled_times_are_clipped_at_a_fraction_of_the_mean():
    device = EmulatedDevice(small_profile(var_ms2=(0.0, 4.0, 4.0)), kappa=1e-27,
                            freq_range_ghz=(1.0, 1.0), seed=0)   # mean 2 ms, std 2 ms
    samples = np.array([device.sample_time_s(1) for _ in range(2000)])
    floor = MIN_TIME_FRACTION * 2e-3
    assert samples.min() == pytest.approx(floor)
    assert 0.2 < np.mean(samples == floor) < 0.3   # P(N(0,1) < -0.8) = 0.21


def test_modelled_runs_take_the_profile_time(caplog, clock):
    """On the fake clock (conftest.FakeClock): each run waits its sampled time and not beyond,
    whatever the load of the host."""
    device = EmulatedDevice(small_profile(), kappa=1e-27, freq_range_ghz=(0.5, 2.0), seed=1)
    device.set_freq_ghz(1.0)   # 2 ms, std 0.1 ms at m = 1
    with caplog.at_level(logging.INFO, logger="robust_offload.hw"):
        runs = [device.run_blocks(1) for _ in range(100)]
    assert {run.mode for run in runs} == {"modelled"}
    assert not any(run.overrun for run in runs)
    assert all(run.mean_s == pytest.approx(2e-3) for run in runs)
    targets = np.array([run.target_s for run in runs])
    walls = np.array([run.wall_s for run in runs])
    assert targets.mean() == pytest.approx(2e-3, abs=4 * 0.1e-3 / 10)
    assert np.all(walls >= targets)
    assert np.all(walls - targets < 2e-5)    # the fake clock's ticks of the final busy wait
    assert "run_blocks mode modelled" in caplog.text


def test_padded_run_executes_work_then_pads(clock):
    device = EmulatedDevice(small_profile(var_ms2=(0.0, 0.0, 0.0)), kappa=1e-27,
                            freq_range_ghz=(0.5, 2.0))
    device.set_freq_ghz(0.5)   # 4 ms, no noise
    calls = []

    def head():
        calls.append(clock.now)
        clock.sleep(0.001)     # the real work takes 1 ms
        return "features"

    run = device.run_blocks(1, head)
    assert len(calls) == 1
    assert run.mode == "padded" and run.output == "features" and not run.overrun
    assert run.target_s == pytest.approx(4e-3)
    assert run.wall_s == pytest.approx(4e-3, abs=2e-5)   # padded to the target, not beyond
    assert "pads real work" in device.describe() and "emulated" in device.describe()


def test_overrun_is_reported_and_not_padded(clock):
    device = EmulatedDevice(small_profile(var_ms2=(0.0, 0.0, 0.0)), kappa=1e-27,
                            freq_range_ghz=(0.5, 0.5))   # 4 ms target
    run = device.run_blocks(1, lambda: clock.sleep(0.006))
    assert run.overrun and run.mode == "padded"
    assert run.wall_s == pytest.approx(6e-3, abs=2e-5)   # no sleep after the work
    assert run.target_s == pytest.approx(4e-3)


def test_real_padded_runs_are_at_least_the_target():
    device = EmulatedDevice(small_profile(), kappa=1e-27, freq_range_ghz=(0.5, 2.0), seed=2)
    runs = [device.run_blocks(2, lambda: sum(range(1000))) for _ in range(20)]   # ~1 ms each
    assert all(run.output == 499500 and run.mode == "padded" for run in runs)
    assert all(run.wall_s >= run.target_s or run.overrun for run in runs)
