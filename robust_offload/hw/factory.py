"""make_dvfs: one entry point that builds the DVFS backend named by a kind string."""

from __future__ import annotations

from pathlib import Path

from robust_offload.hw.cpufreq import JetsonCpuDvfs
from robust_offload.hw.devfreq import JetsonGpuDvfs
from robust_offload.hw.dvfs import DvfsBackend
from robust_offload.hw.emulated import EmulatedDvfs

DVFS_KINDS = ("jetson-cpu", "jetson-gpu", "emulated")
EMULATED_RANGE_GHZ = (0.1, 1.2)
"""Frequency range of a bare emulated DVFS backend (the Xavier NX CPU's, Table III)."""


def make_dvfs(kind: str, root: str | Path = "/",
              freq_range_ghz: tuple[float, float] = EMULATED_RANGE_GHZ) -> DvfsBackend:
    """The DVFS backend of ``kind``: "jetson-cpu" (cpufreq under ``root``), "jetson-gpu"
    (devfreq under ``root``) or "emulated" (frequencies only, in ``freq_range_ghz``; a robot's
    emulated *device*, which also models time and energy, comes from
    :func:`robust_offload.runtime.device.make_local_device`). The backend logs which one is
    active at INFO."""
    if kind == "jetson-cpu":
        return JetsonCpuDvfs(root=root)
    if kind == "jetson-gpu":
        return JetsonGpuDvfs(root=root)
    if kind == "emulated":
        return EmulatedDvfs(freq_range_ghz)
    raise ValueError(f"unknown DVFS backend {kind!r} (known: {', '.join(DVFS_KINDS)})")
