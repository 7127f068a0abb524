"""Scenario schema validation: every malformed value is one line naming file, owner, field."""

import copy
import math
import subprocess
import sys

import numpy as np
import pytest
import yaml

from robust_offload.cli import main
from robust_offload.core.checks import InputError
from robust_offload.contract.files import DEFAULT_PROFILE_FILE, PAPER_PROFILE_FILE
from robust_offload.core.scenario import (load_profiles, load_scenario,
                                          parse_scenario, profiles_of)

from conftest import DEFAULT_SCENARIO, REPO


@pytest.fixture
def raw(profiles):
    base = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    base.pop("profiles_from")
    shipped = yaml.safe_load((REPO / "config/profiles/jetson_xavier_nx.yaml").read_text())
    base["profiles"] = shipped["profiles"]
    return base


def test_default_scenario_loads():
    scenario = load_scenario(DEFAULT_SCENARIO)
    assert [d.name for d in scenario.devices] == ["robot_1", "robot_2", "robot_3", "robot_4"]
    assert scenario.profiles["alexnet_nx_cpu"].num_points == 9
    assert scenario.profiles["resnet152_nx_gpu"].num_points == 10


def test_issue_example_numbers_written_as_10_0e6_are_accepted(raw):
    raw["bandwidth_hz"] = "10.0e6"  # what PyYAML makes of an unsigned exponent
    assert parse_scenario(raw).bandwidth_hz == 10e6


def _mutations():
    def device(field, value):
        def change(raw):
            raw["devices"][0][field] = value
        return change, f"device 'robot_1': field '{field}'"

    def profile(field, value):
        def change(raw):
            raw["profiles"]["alexnet_nx_cpu"][field] = value
        return change, f"profile 'alexnet_nx_cpu': field '{field}"

    def drop(field):
        def change(raw):
            del raw["devices"][1][field]
        return change, f"device 'robot_2': field '{field}' = None: missing"

    return {
        "missing deadline": drop("deadline_ms"),
        "risk above 1": device("risk", 1.5),
        "risk zero": device("risk", 0.0),
        "unknown profile": device("profile", "vgg16"),
        "NaN kappa": device("kappa", math.nan),
        "negative power": device("tx_power_w", -1.0),
        "text deadline": device("deadline_ms", "soon"),
        "bad freq range": device("freq_ghz", [1.2]),
        "short array": profile("local_var_ms2", [0, 37.341]),
        "negative variance": profile("local_var_ms2",
                                     [0, -37.341, 43.084, 59.616, 63.942, 74.801, 95.073,
                                      98.876, 105.886]),
        "NaN in array": profile("edge_var_ms2", [math.nan] + [0.0] * 8),
    }


@pytest.mark.parametrize("case", sorted(_mutations()))
def test_malformed_values_are_named(raw, case):
    change, expected = _mutations()[case]
    bad = copy.deepcopy(raw)
    change(bad)
    with pytest.raises(InputError) as err:
        parse_scenario(bad, "fleet.yaml")
    message = str(err.value)
    assert message.startswith("fleet.yaml: ")
    assert expected in message
    assert "\n" not in message


def test_wrong_array_length_names_expected_length(raw):
    raw["profiles"]["resnet152_nx_gpu"]["edge_mean_ms"] = [1.0, 0.0]
    with pytest.raises(InputError, match=r"edge_mean_ms.*must have 10 entries.*has 2"):
        parse_scenario(raw, "x.yaml")


def test_cli_exit_2_one_line_no_traceback(tmp_path, raw, capsys):
    raw["devices"][2]["risk"] = 2
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{path}: device 'robot_3': field 'risk' = 2.0" in err


@pytest.mark.parametrize("text, fragment", [
    ("bandwidth_hz: [1,\n", "malformed YAML"),
    ("- just a list\n", "must be a mapping"),
])
def test_broken_yaml_files(tmp_path, text, fragment):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "robust_offload.cli", "plan", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_missing_file(tmp_path, capsys):
    assert main(["plan", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_profile_file_overrides_only_the_fields_it_names(tmp_path):
    """``profiles_from`` + a profile named again: the paper's RTX 4080 file changes only the edge
    part of the shipped Jetson profiles; a scenario can do the same."""
    shipped = load_profiles(DEFAULT_PROFILE_FILE)
    paper = load_profiles(PAPER_PROFILE_FILE)
    for name in ("alexnet_nx_cpu", "resnet152_nx_gpu"):
        assert np.array_equal(paper[name].local_var_ms2, shipped[name].local_var_ms2)
        assert np.array_equal(paper[name].output_mb, shipped[name].output_mb)
        assert not np.array_equal(paper[name].edge_mean_ms, shipped[name].edge_mean_ms)
    assert paper["resnet152_nx_gpu"].edge_mean_ms[0] == pytest.approx(6.2266)
    raw = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    raw["profiles_from"] = [str(PAPER_PROFILE_FILE)]
    raw["profiles"] = {"alexnet_nx_cpu": {"edge_var_ms2": [0.5] * 8 + [0]}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw))
    merged = load_scenario(path).profiles
    assert merged["alexnet_nx_cpu"].edge_var_ms2[0] == 0.5
    assert merged["alexnet_nx_cpu"].edge_mean_ms[0] == pytest.approx(0.7554)


@pytest.mark.parametrize("body, fragment", [
    ({"profiles_from": ["self.yaml"], "profiles": {}}, "includes itself"),
    ({"profile": {}}, "unknown key"),
    ({"profiles_from": ["missing.yaml"], "profiles": {}}, "cannot read"),
])
def test_bad_profile_files_are_one_line(tmp_path, body, fragment):
    path = tmp_path / "self.yaml"
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(InputError, match=fragment):
        load_profiles(path)


def test_a_profile_names_its_model(raw):
    """A model name with "_" (mobilenet_v3_small) is carried by the profile's ``model:``
    field; without it the name's part before the first "_" is the model."""
    body = copy.deepcopy(raw["profiles"]["alexnet_nx_cpu"])
    raw["profiles"]["mobilenet_v3_small_cpu"] = {**body, "model": "torchvision:mobilenet_v3_small"}
    profiles = parse_scenario(raw).profiles
    assert profiles["mobilenet_v3_small_cpu"].model == "torchvision:mobilenet_v3_small"
    assert profiles["alexnet_nx_cpu"].model == "alexnet"
    assert profiles_of(profiles, "torchvision:mobilenet_v3_small") == ["mobilenet_v3_small_cpu"]
    assert profiles_of(profiles, "mobilenet") == []
    assert profiles_of(profiles, "alexnet") == ["alexnet_nx_cpu"]
    assert profiles_of(["alexnet_nx_cpu", "alexnet_cpu", "resnet152_cpu"], "alexnet") == \
        ["alexnet_cpu", "alexnet_nx_cpu"]
    for bad in ("", " alexnet", 3):
        raw["profiles"]["mobilenet_v3_small_cpu"]["model"] = bad
        with pytest.raises(InputError, match="'model'|model"):
            parse_scenario(raw)
