"""`robust-offload profile` writes a profile the planner accepts, measured on the real model."""

import numpy as np
import pytest

from robust_offload.cli import main
from robust_offload.core.policies import plan
from robust_offload.core.scenario import Device, Scenario, load_profiles

pytest.importorskip("torch")


def test_profile_is_a_valid_planner_profile(tmp_path, capsys):
    out, png = tmp_path / "alex.yaml", tmp_path / "alex.png"
    code = main(["profile", "--model", "alexnet", "--repeats", "4", "--warmup", "1",
                 "--freqs", "1.5", "--output", str(out), "--plot", str(png)])
    assert code == 0
    (name, profile), = load_profiles(out).items()
    assert name == "alexnet_cpu" and profile.num_points == 9
    # sizes and workloads come from the model itself: Table III's 0.74 MB and 0.1407 GFLOPs
    assert profile.output_mb[1] == pytest.approx(64 * 55 * 55 * 4 / 2**20, rel=1e-5)
    assert profile.local_gflops[1] == pytest.approx(0.1407, abs=5e-4)
    # g_m = w_m / (t_m f) at a single frequency: recompute from the reported mean edge/local
    assert np.all(profile.flops_per_cycle[1:] > 0)
    assert np.all(np.diff(profile.edge_mean_ms) <= 1e-9)  # fewer blocks left, less edge time
    assert png.stat().st_size > 10_000
    assert "written to" in capsys.readouterr().out
    device = Device("r", name, 1e-10, 1.0, 0.8e-27, 0.5, 3.0, 400.0, 0.1)
    result = plan(Scenario(10e6, -174.0, {name: profile}, [device]))
    assert result.status == "ok"


def test_unknown_model_is_one_line(capsys, tmp_path):
    assert main(["profile", "--model", "vgg99", "--output", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err
    assert "vgg99" in err and err.count("\n") == 1


def test_head_and_tail_times_split_every_pass():
    from robust_offload.dnn.timing import head_times, tail_times

    blocks = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(head_times(blocks), [[0, 1, 3, 6], [0, 2, 4, 6]])
    np.testing.assert_allclose(tail_times(blocks), [[6, 5, 3, 0], [6, 4, 2, 0]])
    np.testing.assert_allclose(head_times(blocks) + tail_times(blocks),
                               np.repeat(blocks.sum(axis=1, keepdims=True), 4, axis=1))
