"""Reading and writing sysfs attribute files, with failures turned into :class:`HardwareError`.

Every path is an ordinary :class:`pathlib.Path`, so tests point the backends at a temporary
directory tree with the sysfs layout (the ``root`` argument of the backends).
"""

from __future__ import annotations

import errno
from pathlib import Path

from robust_offload.hw.errors import HardwareError

NOT_JETSON_HINT = ("this is probably not a Jetson (or the driver is not loaded); "
                   "use the emulated backend: make_dvfs('emulated', ...)")


def _error(path: Path, err: OSError, action: str, access: str) -> HardwareError:
    """The one-line HardwareError of a failed ``action`` ("reading", "writing '5'") on path."""
    if isinstance(err, FileNotFoundError):
        return HardwareError(f"{path}: missing; {NOT_JETSON_HINT}")
    if isinstance(err, PermissionError) or err.errno == errno.EACCES:
        return HardwareError(f"{path}: permission denied {action}; run as root or grant "
                             f"{access} access to {path}")
    return HardwareError(f"{path}: {action} failed: {err.strerror or err}")


def read_text(path: Path) -> str:
    """Content of an attribute file, stripped of whitespace and the device tree's NUL bytes."""
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read().strip().strip("\x00").strip()
    except OSError as err:
        raise _error(path, err, "reading", "read") from err


def read_int(path: Path) -> int:
    """An attribute file holding one integer."""
    text = read_text(path)
    try:
        return int(text)
    except ValueError as err:
        raise HardwareError(f"{path}: expected an integer, found {text!r}") from err


def read_ints(path: Path) -> list[int]:
    """An attribute file holding whitespace-separated integers (a frequency table), sorted."""
    text = read_text(path)
    try:
        values = sorted({int(token) for token in text.split()})
    except ValueError as err:
        raise HardwareError(f"{path}: expected integers, found {text!r}") from err
    if not values:
        raise HardwareError(f"{path}: empty, expected a list of frequencies")
    return values


def write_text(path: Path, value) -> None:
    """Write one value to an attribute file (sysfs takes the whole value in one write)."""
    try:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(f"{value}\n")
    except OSError as err:
        raise _error(path, err, f"writing {value!r}", "write") from err


def write_min_max(min_path: Path, max_path: Path, new_min: int, new_max: int) -> None:
    """Set a [min, max] pair so that the kernel never sees min > max in between.

    With the current pair valid and new_min <= new_max: if new_min exceeds the current max
    (raising), max goes first; otherwise (lowering, or narrowing) min goes first.
    """
    if new_min > read_int(max_path):
        write_text(max_path, new_max)
        write_text(min_path, new_min)
    else:
        write_text(min_path, new_min)
        write_text(max_path, new_max)


def parse_cpu_list(text: str, path: Path) -> frozenset[int]:
    """CPU numbers of a sysfs cpu list: '0 1 2 3' (cpufreq) or '0-3,6' (cpumask lists)."""
    cpus: set[int] = set()
    try:
        for token in text.replace(",", " ").split():
            low, _, high = token.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
    except ValueError as err:
        raise HardwareError(f"{path}: expected a list of CPU numbers, found {text!r}") from err
    return frozenset(cpus)
