"""One vocabulary for checking input -- files, messages and node parameters alike.

One error type (:class:`InputError`), one message format::

    <source>: [<owner>: ]field '<field>' = <value>: <why>

and the plausible physical range of every quantity, stated once with its unit. Units live in
names (``deadline_ms``, ``bandwidth_hz``, ``freq_ghz``...), so a field's range is found from its
name: a few quantities by their own name (``risk``, ``kappa``...), all others by their unit
suffix. Ranges are wide -- they admit every real robot, radio and DNN we can imagine, from a
microcontroller to a data centre -- and exist to stop values that are finite but absurd
(a deadline of 1e308 ms, a feature tensor of 5e-324 MB) before they reach the planner.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

MB_BYTES = 2**20
"""The paper's "MB" is 2^20 bytes (0.574 MB is one 3x224x224 float32 image)."""


class InputError(ValueError):
    """An input value is missing or invalid; the message is one line naming the source, the
    field and the value. ``key`` (source and field, without the value) tells repeats of one
    kind of error apart from others, e.g. to throttle their warnings."""

    key: str = ""


@dataclass(frozen=True)
class Range:
    """The plausible values of one quantity; ``smallest`` > 0 also forbids non-zero values
    below it (e.g. a size under one byte)."""

    low: float
    high: float
    unit: str
    open_low: bool = False
    open_high: bool = False
    smallest: float = 0.0

    def why_not(self, value: float) -> str | None:
        """None when ``value`` is plausible, else the reason (names the range and unit)."""
        unit = f" {self.unit}" if self.unit else ""
        if (value < self.low or (self.open_low and value == self.low) or value > self.high
                or (self.open_high and value == self.high)):
            left, right = "([" [not self.open_low], ")]" [not self.open_high]
            return f"outside the plausible range {left}{self.low:g}, {self.high:g}{right}{unit}"
        if 0 < value < self.smallest:
            return f"must be 0 or at least {self.smallest:g}{unit}"
        return None


# Quantities with a range of their own (looked up by the field's name).
NAMED = {
    "risk": Range(0.0, 1.0, "", open_low=True, open_high=True),  # epsilon, P(T > D)
    "kappa": Range(1e-33, 1e-20, "W/(cycle/s)^3"),           # Jetson NX CPU 0.8e-27, GPU 2.8e-27
    "channel_gain": Range(1e-25, 1.0, ""),                   # linear; 38+30log10(1 km) = 1.6e-13
    "flops_per_cycle": Range(1e-3, 1e5, "FLOP/cycle"),       # g_m of eq. (10)
    "local_gflops": Range(0.0, 1e6, "GFLOP"),                # w_m
    "profile_tolerance": Range(0.0, 1e3, ""),                # relative change
    "min_samples": Range(1.0, 1e9, "samples"),
    "sample_counts": Range(0.0, 1e15, "samples"),
}

# Every other quantity by its unit suffix (longest suffix first).
BY_UNIT = {
    "_dbm_per_hz": Range(-300.0, 0.0, "dBm/Hz"),             # N0 (thermal noise -174)
    "_ms2": Range(0.0, 3.6e11, "ms^2"),                      # variances: sigma up to 10 min
    "_ghz": Range(1e-3, 100.0, "GHz"),                       # DVFS frequencies
    "_mps": Range(0.0, 1e3, "m/s"),
    "_hz": Range(1.0, 1e12, "Hz"),                           # bandwidth, rates
    "_ms": Range(0.0, 6e5, "ms"),                            # times: up to 10 min
    "_mb": Range(0.0, 1e4, "MB", smallest=1.0 / MB_BYTES),   # sizes: 0 or >= 1 byte
    "_db": Range(0.0, 300.0, "dB"),                          # path loss, hysteresis
    "_w": Range(1e-9, 1e3, "W"),                             # transmit power
    "_m": Range(0.0, 1e6, "m", open_low=True),               # distances
    "_s": Range(0.0, 1e7, "s"),                              # periods, timeouts
}


def quantity(field: str) -> Range | None:
    """The plausible range of a field, from its name (``freq_ghz[1]`` -> ``_ghz``)."""
    name = re.sub(r"\[.*\]$", "", field).rsplit(".", 1)[-1].removeprefix("default_")
    if name in NAMED:
        return NAMED[name]
    for suffix in sorted(BY_UNIT, key=len, reverse=True):
        if name.endswith(suffix):
            return BY_UNIT[suffix]
    return None


SHOW_CHARS = 40
"""Text longer than this is cut in error messages (with its length), so that one hostile value
cannot flood a log line."""


def show(value):
    """A value as error messages show it (long arrays and long text abbreviated)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and len(value) > 12:
        return f"<{len(value)} entries>"
    if isinstance(value, (str, bytes)) and len(value) > SHOW_CHARS:
        return _Shown(f"{value[:SHOW_CHARS]!r}... ({len(value)} characters)")
    return value


class _Shown(str):
    """Text already in the form an error message shows (its repr is itself)."""

    def __repr__(self) -> str:
        return str(self)


def fail(source: str, field: str, value, why: str, owner: str = "") -> NoReturn:
    """Raise the one-line :class:`InputError` of the house format."""
    where = f"{owner}: " if owner else ""
    error = InputError(f"{source}: {where}field '{field}' = {show(value)!r}: {why}")
    error.key = f"{source}: {where}{field.split('[')[0]}"
    raise error


def as_float(value) -> float | None:
    """A number as float; also strings like '10.0e6' that YAML 1.1 leaves as text. None for
    anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def number(source: str, field: str, value, *, low=None, high=None, open_low=False,
           open_high=False, owner: str = "") -> float:
    """A finite number within [low, high] (open ends where asked) and within the plausible
    range of its quantity (none for names without a unit)."""
    result = as_float(value)
    if result is None:
        fail(source, field, value, "must be a number", owner)
    if not math.isfinite(result):
        fail(source, field, value, "must be finite", owner)
    if low is not None and (result < low or (open_low and result == low)):
        fail(source, field, result, f"must be {'>' if open_low else '>='} {low:g}", owner)
    if high is not None and (result > high or (open_high and result == high)):
        fail(source, field, result, f"must be {'<' if open_high else '<='} {high:g}", owner)
    bounds = quantity(field)
    why = bounds.why_not(result) if bounds else None
    if why:
        fail(source, field, result, why, owner)
    return result


def whole(source: str, field: str, value, **bounds) -> int:
    """A whole number (an integer-valued float such as 20.0 is accepted)."""
    result = number(source, field, value, **bounds)
    if result != int(result):
        fail(source, field, value, "must be a whole number", bounds.get("owner", ""))
    return int(result)


def array(source: str, field: str, values, *, length: int | None = None, length_why: str = "",
          owner: str = "", skip_first: bool = False, **bounds) -> np.ndarray:
    """A non-empty list of numbers, each checked like :func:`number` as ``field[m]``; with
    ``length``, exactly that many (``length_why`` says why). ``skip_first``: entry 0 may be
    None/unused (e.g. g_0: nothing runs locally at m = 0) and is returned as 0."""
    if isinstance(values, np.ndarray):
        values = values.reshape(-1).tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") or not len(values):
        fail(source, field, values, "must be a non-empty list of numbers", owner)
    values = list(values)
    if length is not None and len(values) != length:
        why = f" ({length_why})" if length_why else ""
        fail(source, field, values, f"must have {length} entries{why}, has {len(values)}", owner)
    result = np.zeros(len(values))
    for m, item in enumerate(values):
        if m == 0 and skip_first and (item is None or as_float(item) == 0):
            continue
        result[m] = number(source, f"{field}[{m}]", item, owner=owner, **bounds)
    return result


def counts(source: str, field: str, values, **options) -> np.ndarray:
    """A list of sample counts: whole numbers >= 0."""
    result = array(source, field, values, low=0.0, **options)
    for m, item in enumerate(result):
        if item != int(item):
            fail(source, f"{field}[{m}]", float(item), "must be a whole number",
                 options.get("owner", ""))
    return result.astype(np.int64)


def choice(source: str, field: str, value, allowed, owner: str = "") -> str:
    """One of ``allowed`` (strings)."""
    if value not in allowed:
        fail(source, field, value, f"must be one of {', '.join(map(str, allowed))}", owner)
    return value


NAME_MAX_CHARS = 64
"""Longest name (robot id, ...): names become topic names (/robust_offload/channel_state/<id>),
namespaces, thread and file names; 64 keeps every derived topic far below rcl's 247 characters."""

NAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
"""A ROS name token: a letter, then letters, digits and underscores."""


def name(source: str, field: str, value, owner: str = "") -> str:
    """A name that can become part of a topic, a namespace, a file name or a log line: a ROS
    name token (:data:`NAME_TOKEN`) of at most :data:`NAME_MAX_CHARS` characters."""
    if not isinstance(value, str) or not value:
        fail(source, field, value, "must be a non-empty name", owner)
    if len(value) > NAME_MAX_CHARS:
        fail(source, field, value, f"longer than {NAME_MAX_CHARS} characters", owner)
    if not NAME_TOKEN.fullmatch(value):
        fail(source, field, value, "must be a ROS name token (a letter, then letters, digits "
                                   "or '_')", owner)
    return value


TEXT_MAX_CHARS = 256
"""Longest free text (a model reference, a hardware description) a message or file may carry."""


def image_shape(source: str, field: str, values) -> tuple[int, int, int] | None:
    """A model input's (C, H, W): three whole numbers >= 1, given as numbers or text; None
    for an empty list (not given)."""
    if not values:
        return None
    if not isinstance(values, (list, tuple)) or len(values) != 3:
        fail(source, field, values, "needs C, H, W (3 whole numbers)")
    try:
        numbers = [int(v) if isinstance(v, str) else v for v in values]
    except ValueError:
        fail(source, field, list(values), "needs C, H, W (3 whole numbers)")
    return tuple(whole(source, field, v, low=1) for v in numbers)


def text(source: str, field: str, value, owner: str = "", allow_empty: bool = False) -> str:
    """Free text that may end up in a log line: printable (no control characters, no NUL), no
    surrounding whitespace, at most :data:`TEXT_MAX_CHARS` characters."""
    if not isinstance(value, str) or (not value and not allow_empty):
        fail(source, field, value, "must be a non-empty string", owner)
    if len(value) > TEXT_MAX_CHARS:
        fail(source, field, value, f"longer than {TEXT_MAX_CHARS} characters", owner)
    if not value.isprintable() or value != value.strip():
        fail(source, field, value, "must be printable text without surrounding whitespace",
             owner)
    return value


def mapping(source: str, field: str, value, allowed=None, owner: str = "") -> dict:
    """A mapping (None counts as empty); with ``allowed``, unknown keys are errors (a typo
    must not silently fall back to a default)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(source, field, value, "must be a mapping", owner)
    if allowed is not None:
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            prefix = f"{field}." if field else ""
            fail(source, f"{prefix}{unknown[0]}", value[unknown[0]],
                 f"unknown key (known: {', '.join(sorted(allowed))})", owner)
    return value


def get(source: str, mapping_: dict, key: str, owner: str = ""):
    """``mapping_[key]``; a missing key is an error."""
    if key not in mapping_:
        fail(source, key, None, "missing", owner)
    return mapping_[key]


class Checker:
    """The functions above with the source (and owner: a device, a profile) bound, for code
    that checks many fields of one input."""

    def __init__(self, source: str, owner: str = ""):
        self.source, self.owner = source, owner

    def fail(self, field: str, value, why: str) -> NoReturn:
        fail(self.source, field, value, why, self.owner)

    def get(self, mapping_: dict, key: str):
        return get(self.source, mapping_, key, self.owner)

    def number(self, field: str, value, **bounds) -> float:
        return number(self.source, field, value, owner=self.owner, **bounds)

    def array(self, field: str, values, **options) -> np.ndarray:
        return array(self.source, field, values, owner=self.owner, **options)

    def mapping(self, field: str, value, allowed=None) -> dict:
        return mapping(self.source, field, value, allowed, self.owner)

    def text(self, field: str, value, allow_empty: bool = False) -> str:
        return text(self.source, field, value, self.owner, allow_empty)
