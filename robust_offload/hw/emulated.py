"""Emulated DVFS and local inference timing, for machines without Jetson sysfs (tests, laptops).

:class:`EmulatedDvfs` keeps a frequency in software. :class:`EmulatedDevice` adds the profile's
timing model: blocks 1..m take w_m / (g_m f) plus Gaussian noise of variance v_m^loc, either by
padding the real computation with sleep ("padded") or, without a computation, by only applying
the modelled delay ("modelled"). Energies are the model's kappa (w/g) f^2, never measured.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robust_offload.core.model import local_energy_j, local_time_s
from robust_offload.core.scenario import Profile
from robust_offload.hw.dvfs import DvfsBackend, snap_freq_ghz
from robust_offload.hw.errors import LOG

MIN_TIME_FRACTION = 0.2
"""A sampled local time is clipped at this fraction of its mean (no negative times)."""

SPIN_S = 2e-4
"""The last part of a pad is busy-waited: time.sleep overshoots by up to ~0.1 ms."""


def sleep_until(deadline: float) -> None:
    """Wait until ``time.perf_counter()`` reaches ``deadline``: sleep, then spin the rest."""
    remaining = deadline - time.perf_counter()
    if remaining > SPIN_S:
        time.sleep(remaining - SPIN_S)
    while time.perf_counter() < deadline:
        pass


class EmulatedDvfs(DvfsBackend):
    """A software clock: any frequency in ``freq_range_ghz``, or snapped up to ``grid_ghz``.

    grid_ghz: the frequencies a device offers (sorted on input); None (default) for a
    continuous range. Starts at ``initial_ghz`` (default the highest), which restore() returns to.
    """

    name = "emulated"

    def __init__(self, freq_range_ghz: tuple[float, float],
                 grid_ghz: Sequence[float] | None = None, initial_ghz: float | None = None):
        low, high = (float(f) for f in freq_range_ghz)
        if not 0 < low <= high or not math.isfinite(high):
            raise ValueError(f"freq_range_ghz = {freq_range_ghz!r}: need 0 < f_min <= f_max")
        self._continuous = grid_ghz is None
        if self._continuous:
            self._freqs_ghz = [low, high]
        else:
            self._freqs_ghz = sorted(float(f) for f in grid_ghz if low <= f <= high)
            if not self._freqs_ghz:
                raise ValueError(f"grid_ghz = {list(grid_ghz)!r}: no frequency in "
                                 f"[{low:g}, {high:g}] GHz")
        self._initial = self._snap(high if initial_ghz is None else initial_ghz)
        self._freq = self._initial
        self._log_created()

    def _snap(self, freq_ghz: float) -> float:
        return snap_freq_ghz(freq_ghz, self._freqs_ghz, self._continuous,
                             f"{self.name} freq_range_ghz")

    def available_freqs_ghz(self) -> list[float]:
        return list(self._freqs_ghz)

    def set_freq_ghz(self, freq_ghz: float) -> float:
        self._freq = self._snap(freq_ghz)
        return self._freq

    def current_freq_ghz(self) -> float:
        return self._freq

    def restore(self) -> None:
        self._freq = self._initial

    def _grid_text(self) -> str:
        grid = "continuous" if self._continuous else f"{len(self._freqs_ghz)}-step grid"
        return f"{self._freqs_ghz[0]:g}-{self._freqs_ghz[-1]:g} GHz {grid}"

    def describe(self) -> str:
        return f"{self.name} (no Jetson sysfs; software clock, {self._grid_text()})"


@dataclass(frozen=True)
class EmulatedRun:
    """One emulated local inference of blocks 1..m.

    mode: "padded" (the real work ran and was padded to the target) or "modelled" (no work;
    only the modelled delay was applied). overrun: the work alone took longer than the target
    (no padding then). energy_j is the model's kappa (w/g) f^2; wall_s the measured time.
    """

    partition: int
    freq_ghz: float
    mean_s: float
    target_s: float
    wall_s: float
    energy_j: float
    mode: str
    overrun: bool
    output: Any = None


class EmulatedDevice(EmulatedDvfs):
    """A Jetson stand-in: the emulated clock plus the profile's local time and energy model.

    profile: the inference profile (w_m, g_m, v_m^loc); kappa: energy coefficient (W/(cycle/s)^3);
    seed: of the time noise. Other arguments as :class:`EmulatedDvfs`.
    """

    def __init__(self, profile: Profile, kappa: float, freq_range_ghz: tuple[float, float],
                 seed: int | None = None, grid_ghz: Sequence[float] | None = None,
                 initial_ghz: float | None = None):
        self.profile = profile
        self.kappa = float(kappa)
        self._rng = np.random.default_rng(seed)
        self._modes_logged: set[str] = set()
        super().__init__(freq_range_ghz, grid_ghz, initial_ghz)

    def describe(self) -> str:
        return (f"{self.name} (no Jetson sysfs; profile {self.profile.name}, "
                f"kappa {self.kappa:g}, {self._grid_text()}; run_blocks pads real work to the "
                "modelled time, or applies the modelled delay alone)")

    def _check_partition(self, m: int) -> None:
        if not 0 <= m < self.profile.num_points:
            raise ValueError(f"partition {m} outside 0..{self.profile.num_points - 1} of "
                             f"profile {self.profile.name}")

    def mean_time_s(self, m: int) -> float:
        """w_m / (g_m f) at the current frequency, eq. (10)."""
        self._check_partition(m)
        return float(local_time_s(self.profile.local_gcycles[m], self._freq))

    def energy_j(self, m: int) -> float:
        """kappa (w_m / g_m) f^2 at the current frequency, eq. (15)."""
        self._check_partition(m)
        return float(local_energy_j(self.kappa, self.profile.local_gcycles[m], self._freq))

    def sample_time_s(self, m: int) -> float:
        """One draw of the local time of blocks 1..m: mean + N(0, v_m^loc), clipped at
        MIN_TIME_FRACTION of the mean."""
        mean = self.mean_time_s(m)
        std = math.sqrt(self.profile.local_var_ms2[m]) * 1e-3
        return max(mean + std * float(self._rng.standard_normal()), MIN_TIME_FRACTION * mean)

    def run_blocks(self, m: int, work: Callable[[], Any] | None = None) -> EmulatedRun:
        """Run blocks 1..m for the time the profile predicts at the current frequency.

        work: the real computation (e.g. the DNN head); it runs, then the remainder of the
        sampled time is slept ("padded"; overrun=True and no sleep if it took longer). Without
        work only the sampled delay is applied ("modelled"). Its return value is ``output``.
        """
        mode = "modelled" if work is None else "padded"
        if mode not in self._modes_logged:
            self._modes_logged.add(mode)
            LOG.info("DVFS backend: emulated, run_blocks mode %s (%s)", mode,
                     "real work padded to the modelled time" if work else
                     "modelled delay only, no computation")
        mean = self.mean_time_s(m)
        target = self.sample_time_s(m)
        start = time.perf_counter()
        output = None if work is None else work()
        overrun = time.perf_counter() - start > target
        if not overrun:
            sleep_until(start + target)
        wall = time.perf_counter() - start
        return EmulatedRun(partition=m, freq_ghz=self._freq, mean_s=mean, target_s=target,
                           wall_s=wall, energy_j=self.energy_j(m), mode=mode, overrun=overrun,
                           output=output)
