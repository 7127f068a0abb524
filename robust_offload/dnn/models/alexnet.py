"""AlexNet (torchvision) in the paper's 8 blocks (Table III).

| point | block m contains | output (per sample) |
|---|---|---|
| 1 | features[0:2]  conv1 11x11/4 + ReLU | 64x55x55 |
| 2 | features[2]    maxpool | 64x27x27 |
| 3 | features[3:5]  conv2 5x5 + ReLU | 192x27x27 |
| 4 | features[5]    maxpool | 192x13x13 |
| 5 | features[6:8]  conv3 3x3 + ReLU | 384x13x13 |
| 6 | features[8:12] conv4 + ReLU + conv5 + ReLU | 256x13x13 |
| 7 | features[12]   maxpool | 256x6x6 |
| 8 | avgpool + flatten + classifier | 1000 logits |
"""

from __future__ import annotations

import torchvision
from torch import nn

from robust_offload.dnn.registry import register_model
from robust_offload.dnn.split import SplitModel

PAPER_OUTPUT_MB = [0.574, 0.74, 0.18, 0.53, 0.12, 0.25, 0.17, 0.04, 0.001]
PAPER_GFLOPS = [0.0, 0.1407, 0.1411, 0.5891, 0.5894, 0.8137, 1.3122, 1.3123, 1.4214]
POINT_NAMES = ["features.1", "features.2", "features.4", "features.5", "features.7",
               "features.11", "features.12"]
"""Points 1..7: the torchvision module whose output is sent."""


@register_model("alexnet")
def build() -> SplitModel:
    net = torchvision.models.alexnet(weights=None)
    f = net.features
    blocks = [f[0:2], f[2:3], f[3:5], f[5:6], f[6:8], f[8:12], f[12:13],
              nn.Sequential(net.avgpool, nn.Flatten(1), net.classifier)]
    descriptions = [
        "features[0:2]: conv1 11x11/4 + ReLU",
        "features[2]: maxpool 3x3/2",
        "features[3:5]: conv2 5x5 + ReLU",
        "features[5]: maxpool 3x3/2",
        "features[6:8]: conv3 3x3 + ReLU",
        "features[8:12]: conv4 3x3 + ReLU + conv5 3x3 + ReLU",
        "features[12]: maxpool 3x3/2",
        "avgpool + flatten + classifier (3 linear layers)",
    ]
    return SplitModel("alexnet", blocks, net, descriptions=descriptions,
                      point_names=POINT_NAMES,
                      paper_output_mb=PAPER_OUTPUT_MB, paper_gflops=PAPER_GFLOPS,
                      notes="Point 8 is 1000 float32 logits (0.0038 MB); the paper's 0.001 MB is "
                            "a class result. Block 8 is 0.117 GFLOPs here vs 0.109 in the paper.")
