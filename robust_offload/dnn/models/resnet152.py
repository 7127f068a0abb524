"""ResNet152 (torchvision) in the paper's 9 blocks (Table IV).

Blocks are cut at bottleneck boundaries (the only clean cuts: inside a bottleneck the skip
connection carries a second tensor). The boundaries minimise the squared error between our
cumulative GFLOPs and the paper's w_2..w_8 (exact dynamic programming over the 50 bottlenecks,
:func:`robust_offload.dnn.split.choose_boundaries`; the test suite re-derives them):

| point | block m contains | output (per sample) |
|---|---|---|
| 1 | conv1 + bn1 + relu (stem) | 64x112x112 |
| 2 | maxpool + layer1[0:3] | 256x56x56 |
| 3 | layer2[0:4] | 512x28x28 |
| 4 | layer2[4:8] | 512x28x28 |
| 5 | layer3[0:10] | 1024x14x14 |
| 6 | layer3[10:19] | 1024x14x14 |
| 7 | layer3[19:28] | 1024x14x14 |
| 8 | layer3[28:36] + layer4[0:1] | 2048x7x7 |
| 9 | layer4[1:3] + avgpool + flatten + fc | 1000 logits |

The paper's smaller sizes at points 2 and 4-8 (0.77, 0.38, 0.19, 0.1 MB) are 1/4 of ours: they
are the bottleneck's narrow inner tensor (e.g. 64x56x56 in layer1), which is not a clean cut.

BatchNorm running statistics are calibrated on one seeded random batch
(:func:`robust_offload.dnn.split.calibrate_batchnorm`): with random weights and the default
statistics the activations grow to ~1e8 by layer3.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from robust_offload.dnn.registry import register_model
from robust_offload.dnn.split import SplitModel, calibrate_batchnorm

PAPER_OUTPUT_MB = [0.574, 3.06, 0.77, 1.53, 0.38, 0.19, 0.19, 0.19, 0.1, 0.001]
PAPER_GFLOPS = [0.0, 0.2392, 1.4864, 3.6585, 5.3099, 9.9984, 13.9389, 17.8794, 21.9228, 23.1064]

BOUNDARIES = (3, 7, 11, 21, 30, 39, 48)
"""Number of bottlenecks (of 3 + 8 + 36 + 3 = 50, in order) run by the end of blocks 2..8."""

_LAYER_SIZES = (("layer1", 3), ("layer2", 8), ("layer3", 36), ("layer4", 3))


def bottleneck_names() -> list[str]:
    """"layer1[0]" ... "layer4[2]": the 50 bottlenecks in order."""
    return [f"{layer}[{i}]" for layer, n in _LAYER_SIZES for i in range(n)]


def _describe(start: int, end: int) -> str:
    """"layer3[0:10]"-style description of bottlenecks start..end-1 (0-based, global)."""
    parts, offset = [], 0
    for layer, n in _LAYER_SIZES:
        lo, hi = max(start, offset), min(end, offset + n)
        if lo < hi:
            parts.append(f"{layer}[{lo - offset}:{hi - offset}]")
        offset += n
    return " + ".join(parts)


def split_resnet(net: torchvision.models.ResNet, boundaries=BOUNDARIES) -> tuple[list, list]:
    """Blocks and descriptions of a torchvision ResNet cut after the stem and at ``boundaries``."""
    bottlenecks = [b for layer, _ in _LAYER_SIZES for b in getattr(net, layer)]
    ends = list(boundaries) + [len(bottlenecks)]
    blocks = [nn.Sequential(net.conv1, net.bn1, net.relu)]
    descriptions = ["conv1 7x7/2 + bn1 + relu (stem)"]
    start = 0
    for k, end in enumerate(ends):
        modules = list(bottlenecks[start:end])
        text = _describe(start, end)
        if k == 0:
            modules.insert(0, net.maxpool)
            text = "maxpool + " + text
        if k == len(ends) - 1:
            modules += [net.avgpool, nn.Flatten(1), net.fc]
            text = (text + " + " if text else "") + "avgpool + flatten + fc"
        blocks.append(nn.Sequential(*modules))
        descriptions.append(text)
        start = end
    return blocks, descriptions


@register_model("resnet152")
def build() -> SplitModel:
    net = torchvision.models.resnet152(weights=None)
    calibrate_batchnorm(net, (3, 224, 224), seed=torch.initial_seed())
    blocks, descriptions = split_resnet(net)
    names = ["stem", *(bottleneck_names()[end - 1] for end in BOUNDARIES)]
    return SplitModel("resnet152", blocks, net, descriptions=descriptions, point_names=names,
                      paper_output_mb=PAPER_OUTPUT_MB, paper_gflops=PAPER_GFLOPS,
                      notes="Points 2 and 4-8: the paper's sizes are the bottleneck's inner "
                            "tensor (1/4 of ours, not a clean cut). Point 9 is 1000 float32 "
                            "logits (0.0038 MB); the paper's 0.001 MB is a class result.")
