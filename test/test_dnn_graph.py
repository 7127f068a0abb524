"""Graph-found cuts: bitwise-exact splits of torchvision's classifiers, the kept-cut rule, model
references (torchvision:, module:factory, .pt2), weights files and fingerprints, and the one-line
errors of each."""

import json
import math
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from torch import nn  # noqa: E402

from robust_offload.cli import main  # noqa: E402
from robust_offload.dnn import codec, get_model  # noqa: E402
from robust_offload.dnn.graph import GraphCut, TraceError, keep_cuts  # noqa: E402
from robust_offload.dnn.registry import UnknownModelError  # noqa: E402
from robust_offload.dnn.weights import WeightsError  # noqa: E402

torch.set_num_threads(2)

SMALL = (3, 64, 64)
MATRIX = ["alexnet", "resnet18", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large",
          "efficientnet_b0", "regnet_y_400mf", "convnext_tiny", "densenet121", "googlenet",
          "vit_b_16"]


def _input(shape, batch=2, seed=1):
    return torch.randn((batch, *shape), generator=torch.Generator().manual_seed(seed))


@pytest.mark.filterwarnings("ignore:The default weight initialization of GoogleNet")
@pytest.mark.parametrize("name", MATRIX)
def test_every_kept_cut_is_bitwise_exact(name):
    shape = (3, 224, 224) if name == "vit_b_16" else SMALL
    model = get_model(f"torchvision:{name}", input_shape=shape)
    x = _input(shape)
    full = model.reference(x)
    assert 1 <= model.num_blocks - 1 <= 16 and model.cuts_found >= model.num_blocks - 1
    for m in range(model.num_blocks + 1):
        z = model.head(x, m)
        assert tuple(z.shape[1:]) == model.output_shape(m)
        assert torch.equal(model.tail(z, m), full), f"{name}: point {m} {model.point_names[m]}"
    points = model.points()
    total = points[-1].head_gflops
    assert total > 0
    for p in points:
        assert p.head_gflops + p.tail_gflops == pytest.approx(total)
        assert p.bytes == {c: codec.encoded_bytes(p.shape, c, header=False)
                           for c in codec.CODECS}
    cuts = points[1:-1]
    assert all(c.bytes["float32"] < points[0].bytes["float32"] for c in cuts)
    for a in cuts:  # no kept cut is dominated by another kept point
        assert not any(b is not a and b.head_gflops <= a.head_gflops
                       and b.bytes["float32"] <= a.bytes["float32"] for b in points[:-1])


def test_resnet18_cuts_are_its_stage_boundaries():
    model = get_model("torchvision:resnet18", input_shape=SMALL)
    assert model.point_names == ["input", "layer2.0", "layer3.0", "layer4.0", "flatten",
                                 "output"]
    assert model.cuts_found == 22  # stem, maxpool, 8 blocks (x2: the add and its ReLU), ...
    assert [p.shape for p in model.points()] == [SMALL, (128, 8, 8), (256, 4, 4), (512, 2, 2),
                                                 (512,), (1000,)]
    heads = [p.head_param_bytes for p in model.points()]
    assert heads[0] == 0 and heads == sorted(heads)
    params = sum(t.numel() * 4 for t in (*model.source.parameters(), *model.source.buffers())
                 if t.dtype == torch.float32)
    assert heads[-1] == params + 8 * 20  # + the 20 BatchNorms' int64 batch counters


def test_flops_are_two_per_multiply_add():
    model = get_model("torchvision:alexnet", input_shape=(3, 224, 224),
                      cuts=["features.1"])
    conv1 = 2 * 64 * 55 * 55 * 3 * 11 * 11  # FlopCounterMode: no bias adds, ReLU free
    assert model.points()[1].head_gflops == pytest.approx(conv1 / 1e9, rel=1e-12)
    assert model.point_names == ["input", "features.1", "output"]


def _cut(name, index, flops, elements):
    return GraphCut(name, None, index, (elements,), flops)


def test_keep_cuts_drops_dominated_and_spreads_the_rest():
    cuts = [_cut("a", 1, 10, 50), _cut("b", 2, 20, 60), _cut("c", 3, 30, 40),
            _cut("d", 4, 30, 40), _cut("e", 5, 40, 200), _cut("f", 6, 50, 10)]
    # b: a is cheaper and smaller; c/d tie (the later kept); e: larger than the input (100)
    assert [c.name for c in keep_cuts(cuts, 100, 16)] == ["a", "d", "f"]
    many = [_cut(f"k{i}", i, 10 * i, 1000 - i) for i in range(1, 101)]
    kept = keep_cuts(many, 10_000, 4)
    assert [c.head_flops for c in kept] == [200, 400, 600, 800]
    assert keep_cuts(many, 10_000, 0) == []


class Branchy(nn.Module):
    """Data-dependent control flow: symbolic tracing cannot follow it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = Gate()

    def forward(self, x):
        return self.gate(self.conv(x))


class Gate(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


class TwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y, y.mean()


def test_untraceable_and_multi_output_models_are_one_line(tmp_path, monkeypatch):
    module = tmp_path / "usermodels.py"
    module.write_text(textwrap.dedent("""
        import sys
        sys.path.insert(0, %r)
        from test_dnn_graph import Branchy, TwoOut

        def branchy():
            return Branchy()

        def two_out():
            return TwoOut()
    """ % str(__import__("pathlib").Path(__file__).parent)))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TraceError) as err:
        get_model("usermodels:branchy", input_shape=(3, 8, 8))
    text = str(err.value)
    assert "\n" not in text
    assert "module 'gate' (Gate)" in text and "if x.sum() > 0" in text
    with pytest.raises(TraceError, match="output is tuple, not one tensor"):
        get_model("usermodels:two_out", input_shape=(3, 8, 8))


class Tiny(nn.Module):
    input_shape = (1, 16, 16)

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.ReLU(),
                                      nn.Conv2d(8, 4, 3, stride=2), nn.ReLU())
        self.head = nn.Linear(4 * 3 * 3, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "tinymodels.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Tiny(nn.Module):
            input_shape = (1, 16, 16)

            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.ReLU(),
                                              nn.Conv2d(8, 4, 3, stride=2), nn.ReLU())
                self.head = nn.Linear(4 * 3 * 3, 10)

            def forward(self, x):
                return self.head(torch.flatten(self.features(x), 1))

        def tiny():
            return Tiny()

        def shapeless():
            return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_module_factory_reference(user_module):
    model = get_model("tinymodels:tiny")
    assert model.name == "tiny" and model.input_shape == (1, 16, 16)
    # 8x7x7 after features.1 is more than the 1x16x16 input; features.3 and flatten tie
    assert model.point_names == ["input", "flatten", "output"] and model.cuts_found == 5
    x = _input((1, 16, 16))
    for m in range(model.num_blocks + 1):
        assert torch.equal(model.tail(model.head(x, m), m), model.reference(x))
    with pytest.raises(ValueError, match=r"input shape is unknown; give input_shape"):
        get_model("tinymodels:shapeless")
    with pytest.raises(UnknownModelError, match="has no factory 'tinny'; did you mean tiny"):
        get_model("tinymodels:tinny")


def test_exported_program_reference(tmp_path):
    net = Tiny().eval()
    path = tmp_path / "tiny.pt2"
    torch.export.save(torch.export.export(net, (torch.zeros(1, 1, 16, 16),)), path)
    model = get_model(str(path), cuts=None)
    assert model.name == "tiny" and model.input_shape == (1, 16, 16)
    assert model.num_blocks == 2
    x = _input((1, 16, 16), batch=1)
    expected = net(x)
    for m in range(model.num_blocks + 1):
        out = model.tail(model.head(x, m), m)
        assert torch.equal(out, model.reference(x))
        torch.testing.assert_close(out, expected)


def test_weights_files_and_fingerprints(tmp_path):
    from safetensors.torch import save_file

    ref = "torchvision:mobilenet_v3_small"
    seeded = get_model(ref, input_shape=SMALL, seed=1)
    state = seeded.source.state_dict()
    torch.save(state, tmp_path / "w.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "w.safetensors")
    x = _input(SMALL)
    for name in ("w.pt", "w.safetensors"):
        loaded = get_model(ref, weights=tmp_path / name, input_shape=SMALL, seed=7)
        assert torch.equal(loaded.reference(x), seeded.reference(x))  # no re-calibration
        assert loaded.fingerprint == seeded.fingerprint
    other = get_model(ref, input_shape=SMALL, seed=2)
    assert other.fingerprint != seeded.fingerprint and len(seeded.fingerprint) == 16


@pytest.mark.slow  # a second Python process imports torch and torchvision (~40 s here)
def test_fingerprint_is_the_same_in_another_process(user_module, tmp_path):
    model = get_model("tinymodels:tiny", seed=4)
    torch.save(model.source.state_dict(), tmp_path / "tiny.pt")
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from robust_offload.dnn.registry "
            "import get_model; print(get_model('tinymodels:tiny', weights=sys.argv[1])"
            ".fingerprint)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "tiny.pt"),
                          str(user_module)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == model.fingerprint
    assert get_model("tinymodels:tiny", seed=5).fingerprint != model.fingerprint


def test_weights_errors_are_one_line(tmp_path):
    torch.save(get_model("torchvision:resnet18", input_shape=SMALL).source.state_dict(),
               tmp_path / "r18.pt")
    with pytest.raises(WeightsError) as err:
        get_model("torchvision:resnet50", weights=tmp_path / "r18.pt", input_shape=SMALL)
    text = str(err.value)
    assert "\n" not in text and "does not fit 'torchvision:resnet50'" in text
    assert "missing" in text and "mis-shaped (file vs model)" in text \
        and "layer1.0.conv1.weight (64, 64, 3, 3) vs (64, 64, 1, 1)" in text
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"bad.pth: cannot be read as a state_dict"):
        get_model("torchvision:resnet18", weights=tmp_path / "bad.pth", input_shape=SMALL)
    with pytest.raises(WeightsError, match=r"none.pt: not found"):
        get_model("alexnet", weights=tmp_path / "none.pt")


def test_torchvision_weights_come_only_from_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsError) as err:
        get_model("torchvision:resnet18", weights="IMAGENET1K_V1")
    assert f"file resnet18-f37072fd.pth is not in {tmp_path / 'checkpoints'}" in str(err.value)
    (tmp_path / "checkpoints").mkdir()
    state = get_model("torchvision:resnet18", input_shape=SMALL, seed=3).source.state_dict()
    torch.save(state, tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    model = get_model("torchvision:resnet18", weights="DEFAULT")
    assert model.input_shape == (3, 224, 224)              # from the weights' transforms
    assert model.preprocessing.resize_size == 256
    assert torch.equal(model.source.fc.weight, state["fc.weight"])
    with pytest.raises(WeightsError, match="unknown"):
        get_model("torchvision:resnet18", weights="IMAGENET9K")


def test_reference_errors_suggest_close_names():
    with pytest.raises(UnknownModelError, match="did you mean torchvision:mobilenet_v3_small"):
        get_model("torchvision:mobilenet_v3_smal")
    with pytest.raises(UnknownModelError, match="did you mean torchvision:resnet18"):
        get_model("resnet18")
    with pytest.raises(ValueError, match="cut for input 3x224x224"):
        get_model("alexnet", input_shape=(3, 64, 64))
    with pytest.raises(ValueError, match="unknown cut name 'layer2.7'; did you mean"):
        get_model("torchvision:resnet18", input_shape=SMALL, cuts=["layer2.7"])


def test_cuts_cli_json_and_errors(tmp_path, capsys):
    out = tmp_path / "cuts.json"
    assert main(["cuts", "torchvision:mobilenet_v3_small", "--input-shape", "3", "64", "64",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert list(data) == ["model", "cuts"] and data["model"] == "torchvision:mobilenet_v3_small"
    for entry in data["cuts"]:
        assert list(entry) == ["name", "bytes", "head_gflops", "tail_gflops", "max_abs_diff"]
        assert list(entry["bytes"]) == ["float32", "float16", "int8"]
        assert entry["max_abs_diff"] == 0.0
    assert data["cuts"][0]["name"] == "input" and data["cuts"][-1]["name"] == "output"
    assert math.isclose(data["cuts"][-1]["head_gflops"], data["cuts"][0]["tail_gflops"])
    assert "single-tensor cuts kept" in capsys.readouterr().out
    for argv in (["cuts", "torchvision:resnet1"],
                 ["cuts", "torchvision:resnet18", "--weights", str(tmp_path / "x.pt")],
                 ["cuts", "alexnet", "--cut", "features.3"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("robust-offload: error: ") and err.count("\n") == 1
