"""Scenario files: YAML schema, validation and the in-memory scenario.

A scenario holds the shared uplink (bandwidth, noise), the inference profiles (one per DNN and
device hardware, arrays indexed by partition point m = 0..M) and the devices (robots).
Every malformed value raises :class:`~robust_offload.core.checks.InputError` with one line naming
the file, the device or profile, the field and the value (the vocabulary of
:mod:`robust_offload.core.checks`, physical ranges included); unknown keys are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from robust_offload.core.checks import Checker, InputError, fail
from robust_offload.core.channel import (
    gain_from_path_loss_db,
    noise_w_per_hz,
    path_loss_db_from_distance,
)

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
    model: the DNN reference the profile is for (``model:`` in YAML, e.g.
        "torchvision:mobilenet_v3_small"); default :func:`model_of` the name.
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
    model: str = ""

    def __post_init__(self):
        if not self.model:
            object.__setattr__(self, "model", model_of(self.name))

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
DEVICE_KEYS = ("name", "profile", "distance_m", "path_loss_db", "channel_gain", "tx_power_w",
               "kappa", "freq_ghz", "deadline_ms", "risk")
SCENARIO_KEYS = ("bandwidth_hz", "noise_dbm_per_hz", "profiles", "devices", "profiles_from")


def _parse_profile(name: str, raw, source: str) -> Profile:
    check = Checker(source, f"profile '{name}'")
    raw = check.mapping("profile", raw, PROFILE_ARRAYS + OPTIONAL_ARRAYS + ("model",))
    model = raw.get("model", "")
    if not isinstance(model, str) or (model and model != model.strip()) or "model" in raw \
            and not model:
        check.fail("model", model, "must be a non-empty model reference without spaces around")
    length = len(check.array("output_mb", check.get(raw, "output_mb")))
    if length < 2:
        check.fail("output_mb", raw["output_mb"], "needs at least two partition points")
    arrays = {key: check.array(key, check.get(raw, key), length=length,
                               length_why="one per partition point",
                               skip_first=key in ("local_gflops", "flops_per_cycle"))
              for key in PROFILE_ARRAYS}
    optional = {key: check.array(key, raw[key], length=length,
                                 length_why="one per partition point")
                for key in OPTIONAL_ARRAYS if key in raw}
    if np.any(np.diff(arrays["local_gflops"]) < 0):
        check.fail("local_gflops", raw["local_gflops"], "must be non-decreasing in m")
    if arrays["edge_mean_ms"][-1] != 0 or arrays["edge_var_ms2"][-1] != 0:
        check.fail("edge_mean_ms", raw["edge_mean_ms"], "edge time at m = M must be 0")
    return Profile(name=name, **arrays, **optional, model=model)


def _parse_channel_gain(raw: dict, check: Checker) -> float:
    given = [key for key in ("distance_m", "path_loss_db", "channel_gain") if key in raw]
    if len(given) != 1:
        check.fail("distance_m", given, "give exactly one of distance_m, path_loss_db, "
                                        "channel_gain")
    key = given[0]
    value = check.number(key, raw[key])
    if key == "channel_gain":
        return value
    if key == "distance_m":
        value = path_loss_db_from_distance(value)
    return gain_from_path_loss_db(value)


def _parse_device(index: int, raw, profiles: dict[str, Profile], source: str) -> Device:
    name = raw.get("name") if isinstance(raw, dict) else None
    check = Checker(source, f"device '{name}'" if name else f"devices[{index}]")
    raw = check.mapping("device", raw, DEVICE_KEYS)
    if not isinstance(name, str) or not name:
        check.fail("name", name, "must be a non-empty string")
    profile = check.get(raw, "profile")
    if profile not in profiles:
        check.fail("profile", profile, f"unknown profile (known: {', '.join(sorted(profiles))})")
    freq = check.get(raw, "freq_ghz")
    if not isinstance(freq, list) or len(freq) != 2:
        check.fail("freq_ghz", freq, "must be [f_min, f_max]")
    freq_min = check.number("freq_ghz[0]", freq[0])
    freq_max = check.number("freq_ghz[1]", freq[1], low=freq_min)
    return Device(
        name=name,
        profile=profile,
        channel_gain=_parse_channel_gain(raw, check),
        tx_power_w=check.number("tx_power_w", check.get(raw, "tx_power_w")),
        kappa=check.number("kappa", check.get(raw, "kappa")),
        freq_min_ghz=freq_min,
        freq_max_ghz=freq_max,
        deadline_ms=check.number("deadline_ms", check.get(raw, "deadline_ms"), low=0.0,
                                 open_low=True),
        risk=check.number("risk", check.get(raw, "risk")),
    )


def parse_profiles(raw, source: str) -> dict[str, Profile]:
    """Validate a ``profiles:`` mapping (name -> arrays) into :class:`Profile` objects."""
    if not isinstance(raw, dict) or not raw:
        fail(source, "profiles", raw, "must be a non-empty mapping")
    return {str(name): _parse_profile(str(name), body, source) for name, body in raw.items()}


def parse_scenario(raw, source: str = "<scenario>") -> Scenario:
    """Validate a scenario mapping (the parsed YAML) into a :class:`Scenario`."""
    check = Checker(source)
    if not isinstance(raw, dict):
        check.fail("scenario", type(raw).__name__, "must be a mapping")
    check.mapping("", raw, SCENARIO_KEYS)
    profiles = parse_profiles(check.get(raw, "profiles"), source)
    devices_raw = check.get(raw, "devices")
    if not isinstance(devices_raw, list) or not devices_raw:
        check.fail("devices", devices_raw, "must be a non-empty list")
    devices = [_parse_device(i, d, profiles, source) for i, d in enumerate(devices_raw)]
    names = [d.name for d in devices]
    for name in names:
        if names.count(name) > 1:
            fail(source, "name", name, "duplicate device name", f"device '{name}'")
    return Scenario(
        bandwidth_hz=check.number("bandwidth_hz", check.get(raw, "bandwidth_hz")),
        noise_dbm_per_hz=check.number("noise_dbm_per_hz", check.get(raw, "noise_dbm_per_hz")),
        profiles=profiles,
        devices=devices,
    )


def model_of(profile_name: str) -> str:
    """The DNN of a profile without a ``model:`` field: profiles are named
    ``<model>_<hardware>`` (alexnet_nx_cpu -> alexnet); a name without "_" is the model
    itself. A model whose name has "_" (mobilenet_v3_small) needs the ``model:`` field."""
    return profile_name.split("_", 1)[0]


def profiles_of(profiles, model: str) -> list[str]:
    """The profiles of ``model``, sorted: ``profiles`` maps names to :class:`Profile` (each
    knows its model) or is an iterable of names (:func:`model_of` applies)."""
    def model_for(name):
        found = profiles.get(name) if isinstance(profiles, dict) else None
        return found.model if isinstance(found, Profile) else model_of(name)

    return sorted(name for name in profiles if model and model_for(name) == model)


def read_yaml(path: str | Path):
    """Parse a YAML file; unreadable or malformed files raise a one-line InputError."""
    try:
        with open(path, encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}: malformed YAML{where}: {getattr(err, 'problem', err)}") \
            from err


def _overlay(base: dict, raw, source: str) -> dict:
    """``raw``'s profiles over ``base``: a profile named in both keeps the base's fields that
    ``raw`` does not give (so a file can change, say, only the edge part of a profile)."""
    merged = dict(base)
    for name, body in Checker(source).mapping("profiles", raw).items():
        old = merged.get(name)
        both = isinstance(old, dict) and isinstance(body, dict)
        merged[name] = {**old, **body} if both else body
    return merged


def _profiles_from(raw: dict, path: str | Path, seen: tuple = ()) -> dict:
    """The raw profiles of the ``profiles_from`` files of ``raw`` (paths relative to
    ``path``), each over the ones before it."""
    merged = {}
    for ref in raw.get("profiles_from") or []:
        ref_path = Path(path).parent / ref
        if ref_path.resolve() in seen:
            fail(str(path), "profiles_from", str(ref), "includes itself")
        ref_raw = read_yaml(ref_path)
        ref_raw = ref_raw if isinstance(ref_raw, dict) else {}
        inner = _profiles_from(ref_raw, ref_path, (*seen, ref_path.resolve()))
        merged = _overlay(inner, ref_raw.get("profiles"), str(ref_path))
    return merged


def load_profiles(path: str | Path) -> dict[str, Profile]:
    """Read and validate a profile file (a YAML mapping with ``profiles:``, optionally over the
    profiles of ``profiles_from: [file.yaml, ...]``); the shipped ones are in
    :mod:`robust_offload.contract.files`."""
    raw = read_yaml(path)
    raw = raw if isinstance(raw, dict) else {}
    Checker(str(path)).mapping("", raw, ("profiles", "profiles_from"))
    base = _profiles_from(raw, path, (Path(path).resolve(),))
    return parse_profiles(_overlay(base, Checker(str(path)).get(raw, "profiles"), str(path)),
                          str(path))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Profiles may also be given as ``profiles_from: [file.yaml, ...]`` (paths relative to the
    scenario) whose ``profiles:`` are merged in before the scenario's own (a profile named
    again keeps the fields the scenario does not give).
    """
    raw = read_yaml(path)
    if isinstance(raw, dict) and "profiles_from" in raw:
        raw["profiles"] = _overlay(_profiles_from(raw, path), raw.get("profiles"), str(path))
        raw.pop("profiles_from")
    return parse_scenario(raw, str(path))
