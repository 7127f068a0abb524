"""INA3221 power monitor (Jetson on-board rails) and an energy meter integrating its readings.

Two sysfs layouts exist:

* iio (JetPack 4, e.g. Xavier NX): ``<root>/sys/bus/iio/devices/iio:deviceN/`` whose ``name``
  contains ina3221, with ``in_power{0,1,2}_input`` in mW and the rail names in
  ``rail_name_{i}`` or ``in_voltage{i}_label``;
* hwmon (JetPack 5/6, Orin): ``<root>/sys/class/hwmon/hwmonN/`` whose ``name`` is ina3221, with
  ``in{1,2,3}_input`` in mV, ``curr{1,2,3}_input`` in mA and ``in{1,2,3}_label``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from robust_offload.hw.errors import LOG, HardwareError
from robust_offload.hw.sysfs import read_int, read_text

IIO_DIR = Path("sys/bus/iio/devices")
HWMON_DIR = Path("sys/class/hwmon")


@dataclass(frozen=True)
class PowerChannel:
    """One rail: either a power file (mW) or a voltage (mV) and a current (mA) file."""

    power_mw: Path | None = None
    voltage_mv: Path | None = None
    current_ma: Path | None = None

    def read_w(self) -> float:
        """Power in watts, read from the files now."""
        if self.power_mw is not None:
            return read_int(self.power_mw) / 1e3
        return read_int(self.voltage_mv) * read_int(self.current_ma) / 1e6


def _label(device: Path, candidates: list[str], default: str) -> str:
    for name in candidates:
        if (device / name).is_file():
            return read_text(device / name)
    return default


def _iio_channels(root: Path) -> dict[str, PowerChannel]:
    channels = {}
    for device in sorted((root / IIO_DIR).glob("iio:device*")):
        if not (device / "name").is_file() or "ina3221" not in read_text(device / "name"):
            continue
        for i in range(3):
            power = device / f"in_power{i}_input"
            if power.is_file():
                label = _label(device, [f"rail_name_{i}", f"in_voltage{i}_label"], f"channel{i}")
                channels[_unique(channels, label, device)] = PowerChannel(power_mw=power)
    return channels


def _hwmon_channels(root: Path) -> dict[str, PowerChannel]:
    channels = {}
    for device in sorted((root / HWMON_DIR).glob("hwmon*")):
        if not (device / "name").is_file() or read_text(device / "name") != "ina3221":
            continue
        for i in (1, 2, 3):
            voltage, current = device / f"in{i}_input", device / f"curr{i}_input"
            if voltage.is_file() and current.is_file():
                label = _label(device, [f"in{i}_label"], f"in{i}")
                channels[_unique(channels, label, device)] = PowerChannel(
                    voltage_mv=voltage, current_ma=current)
    return channels


def _unique(channels: dict, label: str, device: Path) -> str:
    """The rail label, qualified by its device directory when another device has it too."""
    return label if label not in channels else f"{label}@{device.name}"


class PowerMonitor:
    """Named power rails of the INA3221 monitors found under a sysfs root."""

    def __init__(self, channels: dict[str, PowerChannel], layout: str, root: Path):
        self.channels = dict(channels)
        self.layout = layout
        self.root = root

    def rails(self) -> list[str]:
        """Rail names (e.g. VDD_IN, VDD_CPU_GPU_CV, VDD_SOC) in device/channel order."""
        return list(self.channels)

    def read_power_w(self, rail: str) -> float:
        """Instantaneous power of ``rail`` in watts (re-reads the sysfs files)."""
        if rail not in self.channels:
            raise HardwareError(f"power rail {rail!r}: unknown (rails: {', '.join(self.rails())})")
        return self.channels[rail].read_w()

    def describe(self) -> str:
        """One line: layout and rails."""
        return f"ina3221 {self.layout} (rails {', '.join(self.rails())}, root {self.root})"


def make_power_monitor(root: str | Path = "/") -> PowerMonitor:
    """The INA3221 monitor under ``root``: the iio layout if present, else hwmon."""
    root = Path(root)
    for layout, find in (("iio", _iio_channels), ("hwmon", _hwmon_channels)):
        channels = find(root)
        if channels:
            monitor = PowerMonitor(channels, layout, root)
            LOG.info("power monitor: %s", monitor.describe())
            return monitor
    raise HardwareError(f"{root / IIO_DIR}, {root / HWMON_DIR}: no INA3221 power monitor "
                        "found; this is probably not a Jetson (energy then comes from the "
                        "emulated model)")


@dataclass
class Measurement:
    """Result of one :meth:`EnergyMeter.measure` block, filled in when the block ends."""

    energy_j: float = 0.0
    duration_s: float = 0.0
    times_s: list[float] = field(default_factory=list, repr=False)
    powers_w: list[float] = field(default_factory=list, repr=False)

    @property
    def mean_power_w(self) -> float:
        """Average power over the block in watts."""
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0


class EnergyMeter:
    """Samples one rail every ``period_s`` in a background thread and integrates it (trapezoid).

    ``with meter.measure() as m: infer()`` then ``m.energy_j`` (J) and ``m.duration_s`` (s):
    samples are taken at the start, every period and at the end of the block.
    """

    def __init__(self, monitor: PowerMonitor, rail: str, period_s: float = 0.005):
        if not period_s > 0:
            raise ValueError(f"period_s = {period_s!r}: must be > 0")
        monitor.read_power_w(rail)  # fail now on an unknown rail or unreadable file
        self.monitor, self.rail, self.period_s = monitor, rail, period_s

    def _sample(self, into: Measurement) -> None:
        now = time.perf_counter()
        into.powers_w.append(self.monitor.read_power_w(self.rail))
        into.times_s.append(now)

    @contextmanager
    def measure(self) -> Iterator[Measurement]:
        """Context manager yielding a :class:`Measurement`, complete once the block exits."""
        result = Measurement()
        stop = threading.Event()
        errors: list[HardwareError] = []

        def sample_loop():
            while not stop.wait(self.period_s):
                try:
                    self._sample(result)
                except HardwareError as err:
                    errors.append(err)
                    return

        self._sample(result)
        thread = threading.Thread(target=sample_loop, name="energy-meter", daemon=True)
        thread.start()
        try:
            yield result
        finally:
            stop.set()
            thread.join()
        if errors:
            raise errors[0]
        self._sample(result)
        times, powers = result.times_s, result.powers_w
        result.duration_s = times[-1] - times[0]
        result.energy_j = sum((times[k + 1] - times[k]) * (powers[k + 1] + powers[k]) / 2
                              for k in range(len(times) - 1))
