"""Hardware layer: DVFS backends (Jetson CPU cpufreq, Jetson GPU devfreq, emulated) and the
INA3221 power monitor. Plain Python, no ROS imports; every sysfs path takes a ``root``."""

from robust_offload.hw.cpufreq import JetsonCpuDvfs
from robust_offload.hw.devfreq import JetsonGpuDvfs
from robust_offload.hw.dvfs import DvfsBackend
from robust_offload.hw.emulated import EmulatedDevice, EmulatedDvfs, EmulatedRun
from robust_offload.hw.errors import HardwareError
from robust_offload.hw.factory import DVFS_KINDS, make_dvfs
from robust_offload.hw.power import EnergyMeter, Measurement, PowerMonitor, make_power_monitor

__all__ = [
    "DVFS_KINDS",
    "DvfsBackend",
    "EmulatedDevice",
    "EmulatedDvfs",
    "EmulatedRun",
    "EnergyMeter",
    "HardwareError",
    "JetsonCpuDvfs",
    "JetsonGpuDvfs",
    "Measurement",
    "PowerMonitor",
    "make_dvfs",
    "make_power_monitor",
]
