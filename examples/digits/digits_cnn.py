"""A small CNN for scikit-learn's digits (8x8 grey images of the digits 0-9), written as a team's
own network would be: plain torch, outside the robust_offload package.

The network is one ``nn.Sequential`` whose children are the blocks of a split model, so it has
five partition points besides full offload (m = 0)::

    m  block                                  output (per image)
    1  conv 3x3 (16) + BN + ReLU               16 x 8 x 8
    2  conv 3x3 (32) + BN + ReLU + max pool 2  32 x 4 x 4
    3  conv 3x3 (32) + BN + ReLU + max pool 2  32 x 2 x 2
    4  flatten + linear 128 + ReLU             128
    5  linear 10 (class scores)                10

The input is the data set's own resolution, 1 x 8 x 8: no interpolation between the images
it was trained on and the images a robot sees (a larger camera image is resized and centre
cropped to 8 x 8 by the robot's preprocessing). Pixels are uint8 0..255 scaled to 0..1 and
normalised with :data:`MEAN` / :data:`STD`, the statistics of the training images.
"""

from __future__ import annotations

from torch import nn

INPUT_SHAPE = (1, 8, 8)
"""(C, H, W) of one input image."""
MEAN = (0.3056,)
"""Per-channel mean of the training images' pixels on the 0..1 scale (seed 0's split)."""
STD = (0.3760,)
"""Per-channel standard deviation of the training images' pixels on the 0..1 scale."""
LABELS = tuple(str(d) for d in range(10))
"""Class names, in output order."""


def _conv(in_channels: int, out_channels: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
              nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def digits_cnn() -> nn.Sequential:
    """The untrained network (random weights from torch's RNG); ``input_shape`` = (1, 8, 8)."""
    model = nn.Sequential(
        _conv(1, 16, pool=False),
        _conv(16, 32, pool=True),
        _conv(32, 32, pool=True),
        nn.Sequential(nn.Flatten(), nn.Linear(32 * 2 * 2, 128), nn.ReLU(inplace=True)),
        nn.Linear(128, len(LABELS)),
    )
    model.input_shape = INPUT_SHAPE
    return model
