"""The trained digits CNN as a robust_offload split model, and its accuracy at every cut.

    python examples/digits/evaluate.py DIR      # DIR: what train.py --out DIR wrote

prints the top-1 accuracy on DIR/heldout.npz of the unsplit network and, for every partition
point m and feature codec, of the split one (robust_offload.research.accuracy). The held-out
uint8 images take the robot's camera path: each 8x8 mono8 image is made a model input by
:func:`robust_offload.dnn.preprocess.image_tensor` with :func:`digits_preprocessing`, what a
robot with ``image_resize: 8``, ``image_mean`` = MEAN and ``image_std`` = STD does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):   # run as a script: the repository root makes examples importable
    sys.path.append(str(Path(__file__).resolve().parents[2]))

from examples.digits.digits_cnn import INPUT_SHAPE, MEAN, STD, digits_cnn  # noqa: E402
from examples.digits.train import HELDOUT, WEIGHTS  # noqa: E402

NAME = "digits_cnn"
FACTORY = "examples.digits.digits_cnn:digits_cnn"
"""The factory's import path, as a model registry would name it."""


def load_digits_model(weights_file):
    """The trained network (weights from a safetensors file) as a SplitModel whose blocks are
    the Sequential's children, input (1, 8, 8)."""
    import torch
    from safetensors.torch import load_file

    from robust_offload.dnn.split import SplitModel

    net = digits_cnn()
    net.load_state_dict(load_file(str(weights_file)))
    net.eval()
    model = SplitModel(NAME, list(net.children()), net, input_shape=net.input_shape,
                       descriptions=[_describe(block) for block in net.children()])
    return model.to(torch.device("cpu"))


def _describe(block) -> str:
    parts = block.children() if len(list(block.children())) else [block]
    return " + ".join(type(part).__name__ for part in parts)


def digits_preprocessing(model):
    """The robot's camera preprocessing for this network: no resize (8 is the input's side),
    the training images' mean and std."""
    from robust_offload.dnn.preprocess import Preprocessing

    return Preprocessing.of(model, resize_size=INPUT_SHAPE[1], mean=MEAN, std=STD)


def camera_inputs(images: np.ndarray, preprocessing):
    """uint8 (N, H, W) mono8 images -> (N, C, H, W) model inputs, each made from the image's
    bytes as a robot makes its input from a sensor_msgs/Image."""
    import torch

    from robust_offload.dnn.preprocess import image_tensor

    images = np.ascontiguousarray(images, dtype=np.uint8)
    height, width = images.shape[1:3]
    return torch.cat([image_tensor(image.tobytes(), height, width, "mono8", width,
                                   preprocessing) for image in images])


def evaluate(directory, codecs=None):
    """The :class:`~robust_offload.research.accuracy.AccuracyTable` of the network trained into
    ``directory`` on its held-out images."""
    from robust_offload.dnn.codec import CODECS
    from robust_offload.research.accuracy import split_accuracy

    directory = Path(directory)
    model = load_digits_model(directory / WEIGHTS)
    with np.load(directory / HELDOUT) as heldout:
        images, labels = heldout["images"], heldout["labels"]
    inputs = camera_inputs(images, digits_preprocessing(model))
    return split_accuracy(model, inputs, labels, codecs or CODECS)


def format_table(table) -> str:
    """The table as aligned text: one line per point, one accuracy column per codec."""
    codecs = list(dict.fromkeys(c.codec for c in table.cuts))
    points = sorted({c.m for c in table.cuts})
    lines = [f"{table.model}: unsplit top-1 accuracy {table.accuracy:.4f} "
             f"({table.correct}/{table.count})",
             "accuracy (payload bytes, largest class-score error against the unsplit network)",
             f"{'m':>2}  " + "  ".join(f"{codec:>26}" for codec in codecs)]
    for m in points:
        cells = [table.cut(m, codec) for codec in codecs]
        lines.append(f"{m:>2}  " + "  ".join(
            f"{c.accuracy:.4f} ({c.payload_bytes:>5} B, {c.max_score_error:7.1e})"
            for c in cells))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    print(format_table(evaluate(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
