"""The robot's local compute device: emulated, or real DVFS with real timing.

:func:`make_local_device` is the one factory the robot uses: ``emulated`` (no hardware: the
time model, :class:`~robust_offload.hw.emulated.EmulatedDevice`) or a DVFS backend of
:mod:`robust_offload.hw` (``jetson-cpu`` / ``jetson-gpu``) wrapped in :class:`MeasuredDevice`:
real work at the applied frequency, measured time, and energy from an INA3221 rail when one is
named, else the model's kappa (w/g) f^2.
"""

from __future__ import annotations

import time
from pathlib import Path

from robust_offload.core.model import local_energy_j, local_time_s
from robust_offload.core.scenario import Profile
from robust_offload.hw.emulated import EmulatedDevice, EmulatedRun
from robust_offload.hw.factory import make_dvfs
from robust_offload.hw.power import EnergyMeter, make_power_monitor

BACKENDS = ("emulated", "jetson-cpu", "jetson-gpu")


def make_local_device(backend: str, profile: Profile, kappa: float, freq_range_ghz,
                      seed: int = 0, power_rail: str = "", sysfs_root: str | Path = "/"):
    """The device that runs a robot's blocks 1..m (see the module docstring). ``power_rail``
    names the INA3221 rail whose energy is measured (e.g. VDD_CPU_GPU_CV on a Xavier NX);
    "" models the energy. Hardware problems raise HardwareError (one line)."""
    if backend == "emulated":
        if power_rail:
            raise ValueError(f"power_rail = {power_rail!r}: an emulated device has no rails")
        return EmulatedDevice(profile=profile, kappa=kappa, freq_range_ghz=freq_range_ghz,
                              seed=seed)
    if backend not in BACKENDS:
        raise ValueError(f"unknown device backend {backend!r} (known: {', '.join(BACKENDS)})")
    meter = EnergyMeter(make_power_monitor(sysfs_root), power_rail) if power_rail else None
    return MeasuredDevice(make_dvfs(backend, root=sysfs_root), profile, kappa, meter)


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
