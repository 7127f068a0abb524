"""Scenario files: YAML schema, validation and the in-memory scenario.

A scenario holds the shared uplink (bandwidth, noise), the inference profiles (one per DNN and
device hardware, arrays indexed by partition point m = 0..M) and the devices (robots).
Every malformed value raises :class:`ScenarioError` with one line naming the file, the device or
profile, the field and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from robust_offload.core.channel import (
    gain_from_path_loss_db,
    noise_w_per_hz,
    path_loss_db_from_distance,
)

SHIPPED_PROFILES = next(
    (path for path in (Path(__file__).resolve().parents[1] / "data",
                       Path(__file__).resolve().parents[2] / "config" / "profiles")
     if path.is_dir()),
    Path(__file__).resolve().parents[1] / "data")
"""Directory of the shipped profile files: package data when installed, config/profiles in a
source checkout."""

MB_BYTES = 2**20
"""The paper's "MB" is 2^20 bytes (0.574 MB is one 3x224x224 float32 image)."""


class ScenarioError(ValueError):
    """A scenario (or profile) value is missing or invalid; the message is one line."""


@dataclass(frozen=True)
class Profile:
    """Inference profile of one DNN on one device hardware (Sec. IV, Tables III-IV).

    All arrays have length M + 1 (partition points m = 0..M).

    output_mb: d_m, data sent at point m (m = 0 raw input, m = M result), MB = 2^20 bytes.
    local_gflops: w_m, GFLOPs of blocks 1..m (0 at m = 0).
    flops_per_cycle: g_m of eq. (10) (ignored at m = 0).
    local_var_ms2: v_m^loc of eq. (11), variance of the local time of blocks 1..m.
    edge_mean_ms / edge_var_ms2: mean and variance of the edge time of blocks m+1..M (0 at m = M).
    local_excess_ms: optional, worst-case policy only: largest observed local time minus its mean
        (over the frequency sweep), so the local-time upper bound is w/(g f) + local_excess_ms.
    edge_max_ms: optional, worst-case policy only: largest observed edge time of blocks m+1..M.
    """

    name: str
    output_mb: np.ndarray
    local_gflops: np.ndarray
    flops_per_cycle: np.ndarray
    local_var_ms2: np.ndarray
    edge_mean_ms: np.ndarray
    edge_var_ms2: np.ndarray
    local_excess_ms: np.ndarray | None = None
    edge_max_ms: np.ndarray | None = None

    @property
    def num_points(self) -> int:
        """M + 1, the number of partition points."""
        return len(self.output_mb)

    @property
    def local_gcycles(self) -> np.ndarray:
        """w_m / g_m in 1e9 cycles (0 at m = 0), the numerator of eq. (10)."""
        cycles = np.zeros(self.num_points)
        cycles[1:] = self.local_gflops[1:] / self.flops_per_cycle[1:]
        return cycles


@dataclass(frozen=True)
class Device:
    """One robot: its profile, radio and DVFS range, deadline D_n and risk level eps_n."""

    name: str
    profile: str
    channel_gain: float
    tx_power_w: float
    kappa: float
    freq_min_ghz: float
    freq_max_ghz: float
    deadline_ms: float
    risk: float


@dataclass(frozen=True)
class Scenario:
    """Everything the planner needs: shared uplink, profiles and devices."""

    bandwidth_hz: float
    noise_dbm_per_hz: float
    profiles: dict[str, Profile]
    devices: list[Device] = field(default_factory=list)

    @property
    def noise_w_per_hz(self) -> float:
        """N0 in W/Hz."""
        return float(noise_w_per_hz(self.noise_dbm_per_hz))


PROFILE_ARRAYS = ("output_mb", "local_gflops", "flops_per_cycle", "local_var_ms2",
                  "edge_mean_ms", "edge_var_ms2")
OPTIONAL_ARRAYS = ("local_excess_ms", "edge_max_ms")
NON_NEGATIVE = {"output_mb", "local_gflops", "local_var_ms2", "edge_mean_ms", "edge_var_ms2",
                "local_excess_ms", "edge_max_ms"}


def _as_float(value) -> float | None:
    """A YAML number as float; also accepts strings like '10.0e6' that YAML 1.1 leaves as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class _Checker:
    """Builds one-line errors that name the file, the owner (device/profile) and the field."""

    def __init__(self, source: str, owner: str = ""):
        self.source = source
        self.owner = owner

    def fail(self, key: str, value, why: str):
        where = f"{self.owner}: " if self.owner else ""
        raise ScenarioError(f"{self.source}: {where}field '{key}' = {value!r}: {why}")

    def get(self, mapping: dict, key: str):
        if key not in mapping:
            self.fail(key, None, "missing")
        return mapping[key]

    def number(self, mapping: dict, key: str, low=None, high=None, open_low=False,
               open_high=False) -> float:
        value = _as_float(self.get(mapping, key))
        if value is None:
            self.fail(key, mapping[key], "must be a number")
        if not math.isfinite(value):
            self.fail(key, value, "must be finite")
        if low is not None and (value < low or (open_low and value == low)):
            self.fail(key, value, f"must be {'>' if open_low else '>='} {low}")
        if high is not None and (value > high or (open_high and value == high)):
            self.fail(key, value, f"must be {'<' if open_high else '<='} {high}")
        return value

    def array(self, mapping: dict, key: str, length: int | None) -> np.ndarray:
        raw = self.get(mapping, key)
        if not isinstance(raw, list) or not raw:
            self.fail(key, raw, "must be a non-empty list")
        if length is not None and len(raw) != length:
            self.fail(key, raw, f"must have {length} entries (one per partition point), "
                                f"has {len(raw)}")
        values = np.zeros(len(raw))
        for m, item in enumerate(raw):
            if item is None and m == 0 and key in ("local_gflops", "flops_per_cycle"):
                continue
            value = _as_float(item)
            if value is None:
                self.fail(f"{key}[{m}]", item, "must be a number")
            if not math.isfinite(value):
                self.fail(f"{key}[{m}]", item, "must be finite")
            if key in NON_NEGATIVE and value < 0:
                self.fail(f"{key}[{m}]", item, "must be >= 0")
            values[m] = value
        return values


def _parse_profile(name: str, raw, source: str) -> Profile:
    check = _Checker(source, f"profile '{name}'")
    if not isinstance(raw, dict):
        check.fail("profile", raw, "must be a mapping")
    length = len(check.array(raw, "output_mb", None))
    arrays = {key: check.array(raw, key, length) for key in PROFILE_ARRAYS}
    optional = {key: check.array(raw, key, length) for key in OPTIONAL_ARRAYS if key in raw}
    if length < 2:
        check.fail("output_mb", raw["output_mb"], "needs at least two partition points")
    for m in range(1, length):
        if arrays["flops_per_cycle"][m] <= 0:
            check.fail(f"flops_per_cycle[{m}]", raw["flops_per_cycle"][m], "must be > 0")
    if np.any(np.diff(arrays["local_gflops"]) < 0):
        check.fail("local_gflops", raw["local_gflops"], "must be non-decreasing in m")
    if arrays["edge_mean_ms"][-1] != 0 or arrays["edge_var_ms2"][-1] != 0:
        check.fail("edge_mean_ms", raw["edge_mean_ms"], "edge time at m = M must be 0")
    return Profile(name=name, **arrays, **optional)


def _parse_channel_gain(raw: dict, check: _Checker) -> float:
    given = [key for key in ("distance_m", "path_loss_db", "channel_gain") if key in raw]
    if len(given) != 1:
        check.fail("distance_m", given, "give exactly one of distance_m, path_loss_db, "
                                        "channel_gain")
    key = given[0]
    if key == "channel_gain":
        return check.number(raw, key, low=0.0, open_low=True)
    if key == "distance_m":
        return gain_from_path_loss_db(
            path_loss_db_from_distance(check.number(raw, key, low=0.0, open_low=True)))
    return gain_from_path_loss_db(check.number(raw, key))


def _parse_device(index: int, raw, profiles: dict[str, Profile], source: str) -> Device:
    name = raw.get("name") if isinstance(raw, dict) else None
    check = _Checker(source, f"device '{name}'" if name else f"devices[{index}]")
    if not isinstance(raw, dict):
        check.fail("device", raw, "must be a mapping")
    if not isinstance(name, str) or not name:
        check.fail("name", name, "must be a non-empty string")
    profile = check.get(raw, "profile")
    if profile not in profiles:
        check.fail("profile", profile, f"unknown profile (known: {', '.join(sorted(profiles))})")
    freq = check.get(raw, "freq_ghz")
    if not isinstance(freq, list) or len(freq) != 2:
        check.fail("freq_ghz", freq, "must be [f_min, f_max]")
    freq_min = check.number({"freq_ghz[0]": freq[0]}, "freq_ghz[0]", low=0.0, open_low=True)
    freq_max = check.number({"freq_ghz[1]": freq[1]}, "freq_ghz[1]", low=freq_min)
    return Device(
        name=name,
        profile=profile,
        channel_gain=_parse_channel_gain(raw, check),
        tx_power_w=check.number(raw, "tx_power_w", low=0.0, open_low=True),
        kappa=check.number(raw, "kappa", low=0.0, open_low=True),
        freq_min_ghz=freq_min,
        freq_max_ghz=freq_max,
        deadline_ms=check.number(raw, "deadline_ms", low=0.0, open_low=True),
        risk=check.number(raw, "risk", low=0.0, high=1.0, open_low=True, open_high=True),
    )


def parse_profiles(raw, source: str) -> dict[str, Profile]:
    """Validate a ``profiles:`` mapping (name -> arrays) into :class:`Profile` objects."""
    if not isinstance(raw, dict) or not raw:
        _Checker(source).fail("profiles", raw, "must be a non-empty mapping")
    return {str(name): _parse_profile(str(name), body, source) for name, body in raw.items()}


def parse_scenario(raw, source: str = "<scenario>") -> Scenario:
    """Validate a scenario mapping (the parsed YAML) into a :class:`Scenario`."""
    check = _Checker(source)
    if not isinstance(raw, dict):
        check.fail("scenario", type(raw).__name__, "must be a mapping")
    profiles = parse_profiles(check.get(raw, "profiles"), source)
    devices_raw = check.get(raw, "devices")
    if not isinstance(devices_raw, list) or not devices_raw:
        check.fail("devices", devices_raw, "must be a non-empty list")
    devices = [_parse_device(i, d, profiles, source) for i, d in enumerate(devices_raw)]
    names = [d.name for d in devices]
    for name in names:
        if names.count(name) > 1:
            _Checker(source, f"device '{name}'").fail("name", name, "duplicate device name")
    return Scenario(
        bandwidth_hz=check.number(raw, "bandwidth_hz", low=0.0, open_low=True),
        noise_dbm_per_hz=check.number(raw, "noise_dbm_per_hz"),
        profiles=profiles,
        devices=devices,
    )


def read_yaml(path: str | Path):
    """Parse a YAML file; unreadable or malformed files raise a one-line ScenarioError."""
    try:
        with open(path, encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}: malformed YAML{where}: {getattr(err, 'problem', err)}") \
            from err


def load_profiles(path: str | Path) -> dict[str, Profile]:
    """Read and validate a profile file (a YAML mapping with ``profiles:``)."""
    raw = read_yaml(path)
    return parse_profiles(_Checker(str(path)).get(raw if isinstance(raw, dict) else {},
                                                  "profiles"), str(path))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Profiles may also be given as ``profiles_from: [file.yaml, ...]`` (paths relative to the
    scenario) whose ``profiles:`` mappings are merged in before the scenario's own.
    """
    raw = read_yaml(path)
    if isinstance(raw, dict) and "profiles_from" in raw:
        merged = {}
        for ref in raw.pop("profiles_from") or []:
            ref_path = Path(path).parent / ref
            merged.update(_Checker(str(ref_path)).get(read_yaml(ref_path) or {}, "profiles"))
        merged.update(raw.get("profiles") or {})
        raw["profiles"] = merged
    return parse_scenario(raw, str(path))
