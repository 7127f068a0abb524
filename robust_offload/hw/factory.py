"""make_dvfs: one entry point that builds the DVFS backend named by a kind string."""

from __future__ import annotations

from robust_offload.hw.cpufreq import JetsonCpuDvfs
from robust_offload.hw.devfreq import JetsonGpuDvfs
from robust_offload.hw.dvfs import DvfsBackend
from robust_offload.hw.emulated import EmulatedDevice, EmulatedDvfs

DVFS_KINDS = ("jetson-cpu", "jetson-gpu", "emulated")


def make_dvfs(kind: str, **kwargs) -> DvfsBackend:
    """The DVFS backend of ``kind``; keyword arguments go to its constructor.

    "jetson-cpu": :class:`JetsonCpuDvfs` (root, cpus); "jetson-gpu": :class:`JetsonGpuDvfs`
    (root); "emulated": :class:`EmulatedDevice` when a ``profile`` is given (profile, kappa,
    freq_range_ghz, seed, grid_ghz, initial_ghz), else :class:`EmulatedDvfs` (freq_range_ghz,
    grid_ghz, initial_ghz). The backend logs which one is active at INFO.
    """
    if kind == "jetson-cpu":
        return JetsonCpuDvfs(**kwargs)
    if kind == "jetson-gpu":
        return JetsonGpuDvfs(**kwargs)
    if kind == "emulated":
        return EmulatedDevice(**kwargs) if "profile" in kwargs else EmulatedDvfs(**kwargs)
    raise ValueError(f"unknown DVFS backend {kind!r} (known: {', '.join(DVFS_KINDS)})")
