"""Camera images (sensor_msgs/Image and CompressedImage data) -> the 1xCxHxW float32 input of a
split model.

The steps are torchvision's ``ImageClassification`` transform, in its order: resize the shorter
side to ``resize_size`` (bilinear, antialiased), centre-crop to the model's H x W, scale to 0..1,
normalise by ``mean``/``std``. :meth:`Preprocessing.of` takes them from the model (its
torchvision weights' metadata, else its ``input_shape``) unless parameters set them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from robust_offload.core import checks

ENCODINGS = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False), "bgra8": (4, True),
             "mono8": (1, False)}
COMPRESSED = ("jpeg", "png")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_RESIZE = 256          # torchvision's resize for a 224 crop (256 / 224 = 8 / 7)


@dataclass(frozen=True)
class Preprocessing:
    """What turns an image into the model's input: ``input_shape`` (C, H, W), the shorter
    side's size before the centre crop, and per-channel mean and std (C values each)."""

    input_shape: tuple[int, int, int] = (3, 224, 224)
    resize_size: int = IMAGENET_RESIZE
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def of(cls, model=None, resize_size: int = 0, mean=(), std=()) -> Preprocessing:
        """The model's preprocessing (its ``preprocessing`` attribute, e.g. from torchvision
        weights' transforms, else its ``input_shape`` with ImageNet's resize ratio and, for 3
        channels, ImageNet's statistics; 0.5 and 0.5 for one channel), with the given
        parameters in place of its own (0 and () keep them)."""
        own = getattr(model, "preprocessing", None)
        if own is None:
            shape = tuple(getattr(model, "input_shape", cls.input_shape))
            stats = (IMAGENET_MEAN, IMAGENET_STD) if shape[0] == 3 else ((0.5,), (0.5,))
            own = cls(shape, round(min(shape[1:]) * IMAGENET_RESIZE / 224), *stats)
        chosen = replace(own, resize_size=resize_size or own.resize_size,
                         mean=tuple(mean) or own.mean, std=tuple(std) or own.std)
        return chosen.checked()

    def checked(self) -> Preprocessing:
        """Itself, or InputError naming the parameter that does not fit the input."""
        channels, height, width = self.input_shape
        if channels not in (1, 3):
            checks.fail("model", "input_shape", self.input_shape, "needs 1 or 3 channels")
        if self.resize_size < min(height, width):
            checks.fail("parameter", "image_resize", self.resize_size,
                        f"below the model's input {height}x{width}")
        for name, values in (("image_mean", self.mean), ("image_std", self.std)):
            if len(values) != channels:
                checks.fail("parameter", name, list(values), f"needs {channels} values")
        for n, (mean, std) in enumerate(zip(self.mean, self.std)):
            checks.number("parameter", f"image_mean[{n}]", mean)
            checks.number("parameter", f"image_std[{n}]", std, low=0.0, open_low=True)
        return self

    def __call__(self, image):
        """A CxHxW (C 1 or 3) uint8 torch image -> the normalised 1xCxHxW float32 input."""
        import torch
        from torchvision.transforms.v2 import functional as F

        channels, height, width = self.input_shape
        if image.shape[0] != channels:
            image = (F.rgb_to_grayscale(image) if channels == 1
                     else image.expand(3, -1, -1))
        image = F.resize(image, [self.resize_size], antialias=True)
        image = F.center_crop(image, [height, width])
        tensor = F.to_dtype(image, torch.float32, scale=True)
        return F.normalize(tensor, list(self.mean), list(self.std))[None].contiguous()


def raw_image(data, height: int, width: int, encoding: str, step: int):
    """A sensor_msgs/Image's pixels as a CxHxW uint8 torch image (C 1 or 3, RGB order).

    Raises ValueError naming the field and value for an unsupported encoding or a data length
    that does not match height x step.
    """
    import torch

    if encoding not in ENCODINGS:
        raise ValueError(f"image field 'encoding' = {encoding!r}: supported "
                         f"{', '.join(ENCODINGS)}")
    channels, bgr = ENCODINGS[encoding]
    if height <= 0 or width <= 0 or step < width * channels:
        raise ValueError(f"image fields height/width/step = {height}/{width}/{step}: "
                         f"inconsistent for {encoding}")
    buffer = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if buffer.size != height * step:
        raise ValueError(f"image field 'data' has {buffer.size} bytes, height x step = "
                         f"{height * step}")
    pixels = buffer.reshape(height, step)[:, :width * channels].reshape(height, width, channels)
    pixels = pixels[:, :, :3][:, :, ::-1] if bgr else pixels[:, :, :3]
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy())


def compressed_image(data, image_format: str):
    """A sensor_msgs/CompressedImage's pixels (jpeg or png, as image_transport's ``format``
    names them, e.g. "jpeg" or "rgb8; jpeg compressed bgr8") as a CxHxW uint8 torch image.
    ValueError naming the field for another format or data that does not decode."""
    import torch
    from torchvision.io import ImageReadMode, decode_image

    if not any(kind in image_format.lower() for kind in COMPRESSED):
        raise ValueError(f"image field 'format' = {checks.show(image_format)!r}: supported "
                         f"{', '.join(COMPRESSED)}")
    buffer = torch.frombuffer(bytearray(memoryview(data).cast("B")), dtype=torch.uint8)
    try:
        image = decode_image(buffer, mode=ImageReadMode.UNCHANGED)
    except RuntimeError as err:
        raise ValueError(f"image field 'data' ({buffer.numel()} bytes of "
                         f"{checks.show(image_format)!r}) does not decode: "
                         f"{str(err).splitlines()[0]}") from None
    return image[:3] if image.shape[0] >= 3 else image[:1]


def image_tensor(data, height: int, width: int, encoding: str, step: int,
                 preprocessing: Preprocessing = Preprocessing()):
    """A sensor_msgs/Image as the model input :class:`Preprocessing` makes of it."""
    return preprocessing(raw_image(data, height, width, encoding, step))
