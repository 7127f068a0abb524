"""Images of a data set, one at a time, as a camera would send them: the image player's work
without ROS (:mod:`robust_offload.ros.image_player_node` publishes them).

A source is either

* an ``.npz`` file with ``images``, uint8 (N, H, W) or (N, H, W, C) with C 1 or 3, and optionally
  ``labels`` (N,), e.g. what ``examples/digits/train.py`` writes as ``heldout.npz``; or
* a folder of ``.png`` / ``.jpg`` / ``.jpeg`` files, played in name order (grey images stay one
  channel, colour ones become RGB; an alpha channel is dropped).

Each :class:`Frame` is HxWxC uint8 pixels with the sensor_msgs/Image encoding of its channel
count (mono8, rgb8), its index in the source and its label (None without labels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robust_offload.core import checks

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ENCODINGS = {1: "mono8", 3: "rgb8"}
"""sensor_msgs/Image encoding of an image by its channel count."""


@dataclass(frozen=True)
class Frame:
    """One image to publish: ``pixels`` (H, W, C) uint8, C-contiguous."""

    index: int
    pixels: np.ndarray
    label: int | None = None

    @property
    def encoding(self) -> str:
        return ENCODINGS[self.pixels.shape[2]]

    @property
    def step(self) -> int:
        """Bytes per row."""
        return self.pixels.shape[1] * self.pixels.shape[2]


def _as_hwc(pixels: np.ndarray, field: str) -> np.ndarray:
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in ENCODINGS or 0 in pixels.shape:
        checks.fail("source", field, f"shape {pixels.shape}", "needs H x W or H x W x C "
                    "with C 1 (mono8) or 3 (rgb8)")
    return np.ascontiguousarray(pixels)


def load_npz(path: Path) -> tuple[list[np.ndarray], list[int] | None]:
    """The images (H, W, C each) and labels (or None) of an .npz file."""
    with np.load(path, allow_pickle=False) as data:
        if "images" not in data:
            checks.fail("source", "images", f"keys {sorted(data.files)}",
                        f"{path} has no 'images' array")
        images = data["images"]
        labels = data["labels"] if "labels" in data else None
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[0] == 0:
        checks.fail("source", "images", f"{images.dtype} of shape {images.shape}",
                    "needs uint8 (N, H, W) or (N, H, W, C), N >= 1")
    frames = [_as_hwc(image, "images") for image in images]
    if labels is None:
        return frames, None
    if labels.shape != (len(frames),) or labels.dtype.kind not in "iu":
        checks.fail("source", "labels", f"{labels.dtype} of shape {labels.shape}",
                    f"needs {len(frames)} integers, one per image")
    return frames, [int(label) for label in labels]


def load_folder(path: Path) -> list[np.ndarray]:
    """The .png / .jpg images of a folder, in name order, as (H, W, C) arrays."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        checks.fail("parameter", "source", str(path),
                    f"folder has no {' / '.join(IMAGE_SUFFIXES)} images")
    frames = []
    for file in files:
        try:
            image = decode_image(read_file(str(file)), mode=ImageReadMode.UNCHANGED)
        except RuntimeError as err:
            reason = re.sub(r"^.*?\.cpp:\d+, ", "", str(err).splitlines()[0])
            checks.fail("source", "image", file.name, f"in {path} does not decode: {reason}")
        image = image[:3] if image.shape[0] >= 3 else image[:1]
        frames.append(_as_hwc(image.permute(1, 2, 0).numpy(), str(file.name)))
    return frames


def load_source(source: str) -> tuple[list[np.ndarray], list[int] | None]:
    """(images, labels or None) of an .npz file or an image folder (see the module docstring)."""
    path = Path(checks.text("parameter", "source", source))
    if path.is_dir():
        return load_folder(path), None
    if path.suffix.lower() == ".npz" and path.is_file():
        return load_npz(path)
    checks.fail("parameter", "source", source,
                "needs an existing .npz file or a folder of png/jpg images")


class ImagePlayer:
    """The frames of a source in order; with ``loop`` it starts over after the last one."""

    def __init__(self, images: list[np.ndarray], labels: list[int] | None = None,
                 loop: bool = False):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} images")
        self.images, self.labels, self.loop = images, labels, loop
        self.position = 0     # frames handed out so far (over every pass)

    @classmethod
    def of(cls, source: str, loop: bool = False) -> ImagePlayer:
        return cls(*load_source(source), loop=loop)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def done(self) -> bool:
        return not self.loop and self.position >= len(self.images)

    def next(self) -> Frame | None:
        """The next frame, None once every frame was played (never with ``loop``)."""
        if self.done:
            return None
        index = self.position % len(self.images)
        self.position += 1
        label = None if self.labels is None else self.labels[index]
        return Frame(index, self.images[index], label)

    def describe(self) -> str:
        shapes = sorted({image.shape for image in self.images})
        shape = ("x".join(map(str, shapes[0])) if len(shapes) == 1
                 else f"{len(shapes)} sizes")
        return (f"{len(self)} images ({shape}, {'labelled' if self.labels else 'no labels'})"
                + (", looping" if self.loop else ""))
