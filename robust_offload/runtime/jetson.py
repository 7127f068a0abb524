"""Local execution on a real Jetson: real DVFS, real timing, measured or modelled energy."""

from __future__ import annotations

import time

from robust_offload.core.model import local_energy_j, local_time_s
from robust_offload.core.scenario import Profile
from robust_offload.hw.emulated import EmulatedRun


class MeasuredDevice:
    """Runs blocks 1..m for real at the frequency a Jetson DVFS backend applied.

    The time is measured; the energy is read from an INA3221 ``meter``
    (:class:`robust_offload.hw.power.EnergyMeter`) when given, else the model's kappa (w/g) f^2.
    """

    def __init__(self, dvfs, profile: Profile, kappa: float, meter=None):
        self.dvfs, self.profile, self.kappa, self.meter = dvfs, profile, kappa, meter
        self.applied_ghz = dvfs.freq_range_ghz[1]

    def describe(self) -> str:
        energy = "INA3221 measured" if self.meter else "modelled kappa (w/g) f^2"
        return f"{self.dvfs.describe()}; real timing, {energy} energy"

    @property
    def freq_range_ghz(self):
        return self.dvfs.freq_range_ghz

    def set_freq_ghz(self, freq_ghz: float) -> float:
        self.applied_ghz = self.dvfs.set_freq_ghz(freq_ghz)
        return self.applied_ghz

    def restore(self):
        self.dvfs.restore()

    def run_blocks(self, m: int, work=None) -> EmulatedRun:
        if work is None:
            raise ValueError("a real Jetson runs the DNN: compute_mode must be 'real'")
        freq = self.applied_ghz
        gcycles = self.profile.local_gcycles[m]
        start = time.perf_counter()
        if self.meter is None:
            output = work()
            energy = float(local_energy_j(self.kappa, gcycles, freq))
        else:
            with self.meter.measure() as measured:
                output = work()
            energy = measured.energy_j
        wall = time.perf_counter() - start
        return EmulatedRun(partition=m, freq_ghz=freq, mean_s=float(local_time_s(gcycles, freq)),
                           target_s=wall, wall_s=wall, energy_j=energy, mode="measured",
                           overrun=False, output=output)
