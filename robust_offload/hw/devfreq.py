"""Jetson GPU DVFS through the Linux devfreq sysfs interface (min_freq = max_freq pinning).

The GPU's devfreq node is found among ``<root>/sys/class/devfreq/*`` by its device tree node:
``device/of_node/name`` or ``device/of_node/compatible`` or the directory name must contain a
Jetson GPU name (gp10b TX2, gv11b Xavier, ga10b Orin); other devfreq nodes (host1x engines,
memory controller) are ignored.
"""

from __future__ import annotations

from pathlib import Path

from robust_offload.hw.dvfs import DvfsBackend, snap_freq_ghz
from robust_offload.hw.errors import LOG, HardwareError
from robust_offload.hw.sysfs import (
    NOT_JETSON_HINT,
    read_int,
    read_ints,
    read_text,
    write_min_max,
)

DEVFREQ_DIR = Path("sys/class/devfreq")
GPU_NAMES = ("gv11b", "ga10b", "gp10b")
HZ_PER_GHZ = 1e9


def node_names(node: Path) -> list[str]:
    """Names that identify a devfreq node: of_node name, compatible strings, directory name."""
    names = [node.name]
    of_node = node / "device" / "of_node"
    for attr in ("name", "compatible"):
        path = of_node / attr
        if path.is_file():
            names += [part for part in read_text(path).split("\x00") if part]
    return names


def find_gpu_node(root: Path) -> Path:
    """The devfreq directory of the Jetson GPU under ``root``."""
    devfreq = root / DEVFREQ_DIR
    nodes = sorted(devfreq.glob("*"))
    matches = [node for node in nodes
               if any(gpu in name for name in node_names(node) for gpu in GPU_NAMES)]
    if not matches:
        seen = ", ".join(node.name for node in nodes) or "none"
        raise HardwareError(f"{devfreq}: no GPU devfreq node (of_node name containing "
                            f"{'/'.join(GPU_NAMES)}; nodes: {seen}); {NOT_JETSON_HINT}")
    if len(matches) > 1:
        LOG.warning("several GPU devfreq nodes (%s); using %s",
                    ", ".join(node.name for node in matches), matches[0].name)
    return matches[0]


class JetsonGpuDvfs(DvfsBackend):
    """GPU clock of a Jetson, pinned by writing the devfreq ``min_freq`` and ``max_freq`` (Hz)
    to one entry of ``available_frequencies``; ``restore`` writes the original pair back."""

    name = "jetson-gpu"

    def __init__(self, root: str | Path = "/"):
        self.root = Path(root)
        self.node = find_gpu_node(self.root)
        table = self.node / "available_frequencies"
        self._freqs_ghz = [hz / HZ_PER_GHZ for hz in read_ints(table)]
        self._saved: tuple[int, int] | None = None
        self._log_created()

    def available_freqs_ghz(self) -> list[float]:
        return list(self._freqs_ghz)

    def set_freq_ghz(self, freq_ghz: float) -> float:
        where = str(self.node / "available_frequencies")
        hz = round(snap_freq_ghz(freq_ghz, self._freqs_ghz, False, where) * HZ_PER_GHZ)
        min_path, max_path = self.node / "min_freq", self.node / "max_freq"
        if self._saved is None:
            self._saved = (read_int(min_path), read_int(max_path))
        try:
            write_min_max(min_path, max_path, hz, hz)
        except HardwareError:
            self._restore_after_failure("a failed write")
            raise
        return hz / HZ_PER_GHZ

    def current_freq_ghz(self) -> float:
        """``cur_freq`` of the GPU node."""
        return read_int(self.node / "cur_freq") / HZ_PER_GHZ

    def restore(self) -> None:
        if self._saved is None:
            return
        write_min_max(self.node / "min_freq", self.node / "max_freq", *self._saved)
        self._saved = None

    def describe(self) -> str:
        return (f"{self.name} (devfreq {self.node.name}, {self._freqs_ghz[0]:g}-"
                f"{self._freqs_ghz[-1]:g} GHz, {len(self._freqs_ghz)} steps, root {self.root})")
