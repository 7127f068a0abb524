"""The one vocabulary for checking input: message format, physical ranges found by name."""

import math

import numpy as np
import pytest

from robust_offload.core import checks
from robust_offload.core.checks import MB_BYTES, InputError


@pytest.mark.parametrize("field, unit", [
    ("deadline_ms", "ms"), ("default_deadline_ms", "ms"), ("edge_var_ms2", "ms^2"),
    ("freq_ghz[1]", "GHz"), ("bandwidth_hz", "Hz"), ("noise_dbm_per_hz", "dBm/Hz"),
    ("output_mb[3]", "MB"), ("path_loss_db", "dB"), ("tx_power_w", "W"), ("distance_m", "m"),
    ("robot_timeout_s", "s"), ("speed_max_mps", "m/s"), ("kappa", "W/(cycle/s)^3"),
    ("robots[0].parameters.risk", ""),
])
def test_every_unit_in_a_name_has_a_range(field, unit):
    assert checks.quantity(field).unit == unit


def test_names_without_a_unit_have_no_range():
    assert checks.quantity("policy") is None
    assert checks.number("src", "seed", 1e300) == 1e300


@pytest.mark.parametrize("field, value, why", [
    ("deadline_ms", 1e308, "outside the plausible range [0, 600000] ms"),
    ("kappa", 1e300, "outside the plausible range [1e-33, 1e-20] W/(cycle/s)^3"),
    ("output_mb[1]", 5e-324, f"must be 0 or at least {1 / MB_BYTES:g} MB"),
    ("risk", 1.0, "outside the plausible range (0, 1)"),
    ("freq_ghz[0]", 50e3, "outside the plausible range [0.001, 100] GHz"),
    ("bandwidth_hz", 4.6e-262, "outside the plausible range [1, 1e+12] Hz"),
    ("deadline_ms", math.nan, "must be finite"),
    ("deadline_ms", "fast", "must be a number"),
    ("deadline_ms", True, "must be a number"),
])
def test_absurd_values_are_one_line_naming_field_and_value(field, value, why):
    with pytest.raises(InputError) as err:
        checks.number("RobotStatus from 'r1'", field, value)
    message = str(err.value)
    assert message == f"RobotStatus from 'r1': field '{field}' = {value!r}: {why}"


def test_plausible_values_pass_and_text_numbers_are_read():
    assert checks.number("f", "deadline_ms", "200") == 200.0
    assert checks.number("f", "output_mb[0]", 0.0) == 0.0
    assert checks.number("f", "output_mb[0]", 1 / MB_BYTES) == 1 / MB_BYTES
    assert checks.whole("f", "min_samples", 20.0) == 20


def test_arrays_check_length_and_every_entry():
    assert checks.array("f", "edge_mean_ms", [1, 2.5, 0]).tolist() == [1.0, 2.5, 0.0]
    with pytest.raises(InputError, match=r"field 'edge_mean_ms' = \[1, 2\]: must have 3 entries "
                                         r"\(one per point\), has 2"):
        checks.array("f", "edge_mean_ms", [1, 2], length=3, length_why="one per point")
    with pytest.raises(InputError, match=r"field 'edge_mean_ms\[1\]' = -1.0: outside"):
        checks.array("f", "edge_mean_ms", np.array([1.0, -1.0]))
    assert checks.array("f", "flops_per_cycle", [None, 2.0], skip_first=True).tolist() == [0, 2]
    with pytest.raises(InputError, match=r"'<20 entries>'"):
        checks.array("f", "edge_mean_ms", [1.0] * 20, length=3)


def test_unknown_keys_are_errors_and_owner_is_named():
    with pytest.raises(InputError) as err:
        checks.mapping("fleet.yaml", "fleet", {"robot": []}, ("robots", "planner"),
                       owner="robots[0]")
    assert str(err.value) == ("fleet.yaml: robots[0]: field 'fleet.robot' = []: unknown key "
                              "(known: planner, robots)")
    assert checks.mapping("f", "x", None, ("a",)) == {}


def test_an_image_shape_is_three_whole_numbers_or_nothing():
    assert checks.image_shape("parameter", "input_shape", []) is None
    assert checks.image_shape("parameter", "input_shape", [1, 8, 8]) == (1, 8, 8)
    assert checks.image_shape("parameter", "input_shape", ["3", "64", "64"]) == (3, 64, 64)
    for bad in ([1, 8], [1, 8, 0], ["x", "8", "8"], [1, 8, 8.5]):
        with pytest.raises(InputError, match="input_shape"):
            checks.image_shape("parameter", "input_shape", bad)
