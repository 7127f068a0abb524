"""Block models: split exactness at every point, sizes and GFLOPs vs the paper, registry."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from robust_offload.core.checks import MB_BYTES  # noqa: E402
from robust_offload.dnn import codec  # noqa: E402
from robust_offload.dnn.blocks import BLOCKS_MD, model_table  # noqa: E402
from robust_offload.dnn.models import resnet152 as resnet_module  # noqa: E402
from robust_offload.dnn.registry import (UnknownModelError, available_models,  # noqa: E402
                                         get_model, register_model)
from robust_offload.dnn.split import (SplitModel, choose_boundaries,  # noqa: E402
                                      count_block_flops)

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def alexnet():
    return get_model("alexnet", seed=0)


@pytest.fixture(scope="module")
def resnet152():
    return get_model("resnet152", seed=0)


@pytest.fixture(scope="module")
def image():
    return torch.randn((1, 3, 224, 224), generator=torch.Generator().manual_seed(1))


def test_registry():
    assert {"alexnet", "resnet152"} <= set(available_models())
    with pytest.raises(UnknownModelError, match=r"unknown model 'vgg'; available: .*alexnet"):
        get_model("vgg")
    with pytest.raises(ValueError, match="lower-case"):
        register_model("AlexNet")
    with pytest.raises(ValueError, match="already registered"):
        register_model("alexnet")(lambda: None)


def test_get_model_is_seeded_and_restores_rng(alexnet, image):
    state = torch.random.get_rng_state()
    same, other = (get_model("alexnet", seed=s) for s in (0, 1))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(same(image), alexnet(image))
    assert not torch.equal(other(image), alexnet(image))


def test_alexnet_split_is_exact(alexnet):
    x = torch.randn((2, 3, 224, 224), generator=torch.Generator().manual_seed(2))
    full = alexnet.reference(x)
    assert full.shape == (2, 1000)
    for m in range(alexnet.num_blocks + 1):
        z = alexnet.head(x, m)
        assert tuple(z.shape) == (2, *alexnet.output_shape(m))
        z_copy = z.clone()
        out = alexnet.tail(z, m)
        assert torch.equal(z, z_copy), f"tail modified its input at m={m}"
        torch.testing.assert_close(out, full, rtol=0, atol=0)
    assert torch.equal(alexnet.head(x, 0), x)
    assert torch.equal(alexnet(x), full)


def test_resnet152_split_is_exact(resnet152, image):
    full = resnet152.reference(image)
    assert torch.isfinite(full).all() and full.abs().max() < 1e3  # calibrated BatchNorm
    for m in range(resnet152.num_blocks + 1):
        z = resnet152.head(image, m)
        assert tuple(z.shape[1:]) == resnet152.output_shape(m)
        torch.testing.assert_close(resnet152.tail(z, m), full, rtol=1e-5, atol=1e-5)


def test_alexnet_matches_paper_table_iii(alexnet):
    assert alexnet.num_blocks == 8
    shapes = [(3, 224, 224), (64, 55, 55), (64, 27, 27), (192, 27, 27), (192, 13, 13),
              (384, 13, 13), (256, 13, 13), (256, 6, 6), (1000,)]
    assert [alexnet.output_shape(m) for m in range(9)] == shapes
    mb = alexnet.output_mb()
    np.testing.assert_allclose(mb[:8], alexnet.paper_output_mb[:8], atol=0.005)
    assert mb[8] == pytest.approx(4000 / MB_BYTES)  # 1000 logits, not a class id
    gf = alexnet.cumulative_gflops()
    np.testing.assert_allclose(gf[1:8], alexnet.paper_gflops[1:8], atol=2e-4)
    assert gf[8] == pytest.approx(alexnet.paper_gflops[8], rel=0.01)
    assert alexnet.block_gflops().shape == (8,)
    np.testing.assert_allclose(np.cumsum(alexnet.block_gflops()), gf[1:])


def test_resnet152_matches_paper_table_iv(resnet152):
    assert resnet152.num_blocks == 9
    mb = resnet152.output_mb()
    paper = resnet152.paper_output_mb
    for m in (0, 1, 3):
        assert mb[m] == pytest.approx(paper[m], abs=0.005)
    for m in (2, 4, 5, 6, 7, 8):  # paper: the bottleneck's inner tensor, 1/4 of ours
        assert mb[m] / 4 == pytest.approx(paper[m], abs=0.015)
    gf = resnet152.cumulative_gflops()
    np.testing.assert_allclose(gf[1:], resnet152.paper_gflops[1:], atol=0.3)
    assert gf[9] == pytest.approx(resnet152.paper_gflops[9], rel=0.005)


def test_resnet152_boundaries_are_optimal(resnet152):
    """Re-derive the block boundaries from per-bottleneck FLOPs."""
    net = resnet152.source
    bottlenecks = [b for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for b in layer]
    units = [resnet152.blocks[0], net.maxpool, *bottlenecks]
    flops, _ = count_block_flops(units, torch.zeros(1, 3, 224, 224))
    gflops = np.array(flops) / 1e9
    per_unit = [gflops[1] + gflops[2], *gflops[3:]]  # maxpool joins the first bottleneck
    ends = choose_boundaries(per_unit, resnet152.paper_gflops[2:9], base_gflops=gflops[0])
    assert tuple(ends) == resnet_module.BOUNDARIES
    assert len(resnet_module.bottleneck_names()) == 50


def test_choose_boundaries_brute_force():
    import itertools
    rng = np.random.default_rng(0)
    units = rng.uniform(0.1, 1.0, 9)
    targets = np.sort(rng.uniform(0, units.sum(), 3))
    cum = np.concatenate([[0], np.cumsum(units)])
    best = min(itertools.combinations(range(1, 10), 3),
               key=lambda ends: sum((cum[e] - t) ** 2 for e, t in zip(ends, targets)))
    assert tuple(choose_boundaries(units, targets)) == best
    with pytest.raises(ValueError, match="cannot cut 2 units into 3"):
        choose_boundaries([1, 2], [1, 2, 3])


def test_argument_checks(alexnet, image):
    for m in (-1, 9, 1.0, True, "2"):
        with pytest.raises(ValueError, match=r"partition point must be an integer in 0..8"):
            alexnet.head(image, m)
    with pytest.raises(ValueError, match=r"input at point 3 must have shape \(N, 192, 27, 27\)"):
        alexnet.tail(torch.zeros(1, 64, 27, 27), 3)
    with pytest.raises(ValueError, match=r"must have shape \(N, 3, 224, 224\), got \(3, 224"):
        alexnet.head(image[0], 2)
    with pytest.raises(TypeError, match="expected a torch.Tensor"):
        alexnet.tail(np.zeros((1, 1000), np.float32), 8)
    with pytest.raises(ValueError, match="descriptions"):
        SplitModel("x", [torch.nn.Identity()], torch.nn.Linear(1, 1), descriptions=[])


def test_output_bytes(alexnet):
    assert alexnet.output_bytes(1) == 64 * 55 * 55 * 4
    assert alexnet.output_bytes(1, "float16") == 64 * 55 * 55 * 2
    assert alexnet.output_bytes(1, torch.int8, batch=3) == 3 * 64 * 55 * 55
    for name in codec.CODECS:  # the codec names are dtype names
        assert codec.encoded_bytes(alexnet.output_shape(1), name, header=False) \
            == alexnet.output_bytes(1, name)


def test_features_through_codec(alexnet, image):
    full = alexnet.reference(image)
    z = alexnet.head(image, 3)  # an inference tensor
    out = alexnet.tail(codec.decode(codec.encode(z, "float32")), 3)
    assert torch.equal(out, full)
    p = codec.to_payload(z[0], "int8")
    z8 = codec.from_payload(p._replace(data=p.data_array()))
    assert (z8 - z[0]).abs().max() <= p.scale / 2 * 1.001
    out8 = alexnet.tail(z8.unsqueeze(0), 3)
    assert torch.nn.functional.cosine_similarity(out8, full).item() > 0.99


def test_blocks_md_is_current(alexnet, resnet152):
    text = BLOCKS_MD.read_text()
    for model in (alexnet, resnet152):
        assert model_table(model) in text, \
            "BLOCKS.md is stale: run python -m robust_offload.dnn.blocks"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(image):
    cpu = get_model("alexnet", seed=0)
    gpu = get_model("alexnet", seed=0, device="cuda")
    assert gpu.device.type == "cuda"
    expected = cpu(image)
    for m in range(gpu.num_blocks + 1):
        z = gpu.head(image, m)  # moved to the GPU by head
        assert z.device.type == "cuda"
        data = codec.encode(z, "float16")
        out = gpu.tail(codec.decode(data, device="cuda"), m)
        torch.testing.assert_close(out.cpu(), expected, rtol=2e-2, atol=2e-2)
