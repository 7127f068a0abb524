"""Train the digits CNN (digits_cnn.py) on scikit-learn's digits, seeded, on the CPU.

    python examples/digits/train.py --out DIR [--seed 0] [--epochs 8]

Writes, in DIR:

* ``digits_cnn.safetensors``: the trained state_dict (safetensors.torch.save_file);
* ``labels.txt``: one class name per line, "0".."9" (the robot's and the edge's ``labels_file``);
* ``heldout.npz``: the held-out images as uint8 0..255 (N, 8, 8) and their ``labels`` (N,);

and prints the held-out top-1 accuracy. The split is fixed (stratified, 30 % held out,
``random_state`` = the seed); the data set's pixel values 0..16 become uint8 images 0..255
(x * 255 / 16, rounded), so the network learns from the same mono8 pixels a camera sends, scaled
and normalised as the robot's preprocessing does (0..1, then MEAN / STD of digits_cnn.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

if __package__ in (None, ""):   # run as a script: the repository root makes examples importable
    sys.path.append(str(Path(__file__).resolve().parents[2]))

from examples.digits.digits_cnn import INPUT_SHAPE, LABELS, MEAN, STD, digits_cnn  # noqa: E402

WEIGHTS = "digits_cnn.safetensors"
LABELS_FILE = "labels.txt"
HELDOUT = "heldout.npz"
HELDOUT_FRACTION = 0.3


@dataclass(frozen=True)
class Trained:
    """What :func:`train` wrote and measured."""

    weights: Path
    labels: Path
    heldout: Path
    accuracy: float
    heldout_count: int
    seconds: float


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as uint8 images 0..255 (N, 8, 8) and int64 labels (N,)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def split(images: np.ndarray, labels: np.ndarray, seed: int):
    """(train images, train labels, held-out images, held-out labels), stratified."""
    from sklearn.model_selection import train_test_split

    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=HELDOUT_FRACTION, random_state=seed, stratify=labels)
    return train_images, train_labels, test_images, test_labels


def model_input(images: np.ndarray):
    """uint8 (N, H, W) images -> the normalised (N, 1, H, W) float32 input (0..1, MEAN, STD)."""
    import torch
    from torchvision.transforms.v2 import functional as F

    pixels = torch.from_numpy(np.ascontiguousarray(images))[:, None]
    return F.normalize(F.to_dtype(pixels, torch.float32, scale=True), list(MEAN), list(STD))


def accuracy(model, inputs, labels) -> float:
    """Top-1 accuracy of ``model`` on ``inputs`` (eval mode, no gradients)."""
    import torch

    model.eval()
    with torch.inference_mode():
        predicted = model(inputs).argmax(dim=1)
    return float((predicted == torch.as_tensor(labels)).double().mean())


def fit(model, inputs, labels, seed: int, epochs: int, batch: int = 64, lr: float = 3e-3):
    """Adam on shuffled mini-batches, the order drawn from a generator seeded with ``seed``."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    targets = torch.as_tensor(labels)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), batch):
            take = order[start:start + batch]
            optimizer.zero_grad()
            loss_fn(model(inputs[take]), targets[take]).backward()
            optimizer.step()
        schedule.step()
    model.eval()
    return model


def train(out_dir, seed: int = 0, epochs: int = 8) -> Trained:
    """Train the network (seeded, deterministic, CPU) and write weights, labels and the
    held-out set into ``out_dir`` (created if missing)."""
    import torch
    from safetensors.torch import save_file

    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_images, train_labels, test_images, test_labels = split(*digit_images(), seed)
    threads = torch.get_num_threads()
    # One thread: every reduction runs in one fixed order, so the CPU ops of this network are
    # deterministic (the tests check the weights) without torch.use_deterministic_algorithms,
    # which imports torch's compiler stack (seconds). And the network is so small that more
    # threads only add synchronisation (on a busy 2-core host two made training 6-10x slower).
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = fit(digits_cnn(), model_input(train_images), train_labels, seed, epochs)
    finally:
        torch.set_num_threads(threads)
    weights = out / WEIGHTS
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    labels_file = out / LABELS_FILE
    labels_file.write_text("".join(f"{name}\n" for name in LABELS))
    heldout = out / HELDOUT
    np.savez(heldout, images=test_images, labels=test_labels)
    held = accuracy(model, model_input(test_images), test_labels)
    return Trained(weights, labels_file, heldout, held, len(test_labels),
                   time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="torch seed and split random_state")
    parser.add_argument("--epochs", type=int, default=8, help="passes over the training set")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    result = train(args.out, args.seed, args.epochs)
    print(f"input {'x'.join(map(str, INPUT_SHAPE))}, {args.epochs} epochs, seed {args.seed}: "
          f"held-out accuracy {result.accuracy:.4f} ({result.heldout_count} images) in "
          f"{result.seconds:.1f} s; wrote {result.weights}, {result.labels}, {result.heldout}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
