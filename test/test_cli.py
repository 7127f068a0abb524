"""The robust-offload command: JSON schema, exit codes, evaluate and reproduce outputs."""

import csv
import json
import math

import yaml

from robust_offload.cli import main

from conftest import DEFAULT_SCENARIO, REPO

DEVICE_KEYS = ["name", "partition", "freq_ghz", "bandwidth_hz", "energy_j", "latency_bound_ms"]


def test_plan_json_has_exactly_the_documented_schema(tmp_path, capsys):
    out = tmp_path / "plan.json"
    assert main(["plan", str(DEFAULT_SCENARIO), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert list(data) == ["status", "policy", "total_energy_j", "lower_bound_j",
                          "solve_time_s", "devices", "infeasible_devices", "bound"]
    assert data["status"] == "ok" and data["policy"] == "robust"
    assert [list(d) for d in data["devices"]] == [DEVICE_KEYS] * 4
    assert abs(sum(d["energy_j"] for d in data["devices"]) - data["total_energy_j"]) < 1e-12
    assert "robot_1" in capsys.readouterr().out  # the readable table


def test_plan_infeasible_exit_3_with_reasons(tmp_path, capsys):
    raw = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    raw["profiles_from"] = [str(REPO / "config/profiles/jetson_xavier_nx.yaml")]
    raw["devices"][3]["deadline_ms"] = 20
    path = tmp_path / "tight.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["plan", str(path), "--json", "-"]) == 3
    text = capsys.readouterr().out
    data = json.loads(text[text.index("{"):])
    assert data["status"] == "infeasible"
    assert [d["name"] for d in data["infeasible_devices"]] == ["robot_4"]
    assert set(data["infeasible_devices"][0]) == {"name", "reason", "min_risk"}
    assert len(data["devices"]) == 3


def test_every_policy_runs_from_the_cli(capsys):
    for policy in ("robust", "worst-case", "pccp"):
        assert main(["plan", str(DEFAULT_SCENARIO), "--policy", policy]) == 0
        assert f"policy {policy} (cantelli bound): status ok" in capsys.readouterr().out


def test_exhaustive_limit_is_a_clear_error(capsys):
    code = main(["plan", str(DEFAULT_SCENARIO), "--policy", "exhaustive",
                 "--exhaustive-limit", "100"])
    assert code == 2
    assert "above the limit of 100" in capsys.readouterr().err


def test_evaluate_writes_rates(tmp_path, capsys):
    out = tmp_path / "rates.csv"
    assert main(["evaluate", str(DEFAULT_SCENARIO), "--samples", "5000", "--bound", "cantelli",
                 "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 * 4
    assert {r["distribution"] for r in rows} == {"gaussian", "lognormal", "gamma", "two-point"}
    assert "VIOLATED" not in capsys.readouterr().out


def test_evaluate_compares_every_bound_honestly(tmp_path):
    """Each bound holds where its assumption does (unimodal: the three unimodal laws; gaussian:
    normal times) and is reported VIOLATED where it does not (the two-point law that makes
    Cantelli tight); the narrower the margin, the less energy."""
    out = tmp_path / "rates.csv"
    assert main(["evaluate", str(DEFAULT_SCENARIO), "--samples", "40000", "--csv",
                 str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["bound"] for r in rows} == {"cantelli", "unimodal", "gaussian"}

    def statuses(bound, laws):
        return {r["status"] for r in rows if r["bound"] == bound and r["distribution"] in laws}

    unimodal_laws = ("gaussian", "lognormal", "gamma")
    assert "VIOLATED" not in statuses("cantelli", unimodal_laws + ("two-point",))
    assert "VIOLATED" not in statuses("unimodal", unimodal_laws)
    for row in (r for r in rows if r["bound"] == "gaussian" and r["distribution"] == "gaussian"):
        # exact for normal times: the plan's constraint is tight, so the rate is eps itself
        # (within 4 standard errors; a CI verdict at equality says VIOLATED 2.5 % of the time)
        risk, n = float(row["risk"]), int(row["samples"])
        assert abs(float(row["rate"]) - risk) <= 4 * math.sqrt(risk * (1 - risk) / n), row
    assert statuses("unimodal", ("two-point",)) == {"VIOLATED"}
    energy = {(r["bound"], r["device"]): float(r["energy_j"]) for r in rows}
    for device in {r["device"] for r in rows}:
        assert (energy["gaussian", device] < energy["unimodal", device]
                < energy["cantelli", device])


def test_reproduce_quick_writes_every_figure(tmp_path):
    assert main(["reproduce", str(tmp_path), "--quick"]) == 0
    for name in ("fig09_pccp_iterations", "fig10_convergence", "fig11_runtime",
                 "fig12_energy_vs_devices", "fig13_14_energy_risk_deadline",
                 "fig13_14_violation", "bounds_energy_violation"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
        assert len((tmp_path / f"{name}.csv").read_text().splitlines()) > 2
    savings = list(csv.DictReader((tmp_path / "savings_vs_worst_case.csv").open()))
    assert {r["model"] for r in savings} == {"AlexNet", "ResNet152"}
    bounds = list(csv.DictReader((tmp_path / "bounds_energy_violation.csv").open()))
    for model in ("AlexNet", "ResNet152"):
        for eps in ("0.02", "0.08"):
            rows = {r["bound"]: r for r in bounds if r["model"] == model and r["risk"] == eps}
            # the narrower the margin, the less energy; a fleet a bound cannot serve (NaN) is
            # served by the narrower ones
            energy = [float(rows[b]["energy_j"]) for b in ("gaussian", "unimodal", "cantelli")]
            energy = [e if math.isfinite(e) else math.inf for e in energy]
            assert math.isfinite(energy[0]) and energy == sorted(energy)
            for bound in ("cantelli", "unimodal"):         # both hold for lognormal times
                if math.isfinite(float(rows[bound]["energy_j"])):
                    assert float(rows[bound]["max_violation_lognormal"]) <= float(eps)


def test_unwritable_output_is_one_line(capsys, tmp_path):
    target = tmp_path / "missing-dir" / "plan.json"
    assert main(["plan", str(DEFAULT_SCENARIO), "--json", str(target)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and err.count("\n") == 1


def test_fleet_on_namespaces_without_root_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path):
    import os

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["fleet", "--hosts", "netns", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "need root" in err, err
    assert not any(tmp_path.iterdir())                   # nothing was started


def test_shaped_air_time_on_one_host_is_one_line_and_exit_2(capsys, tmp_path):
    assert main(["fleet", "--air-time", "shaped", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "air_time' = 'shaped'" in err and "hosts netns" in err, err
    assert not any(tmp_path.iterdir())
