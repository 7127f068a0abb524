"""Camera images (sensor_msgs/Image data) -> the 1x3x224x224 float32 input of the split models."""

from __future__ import annotations

import numpy as np

ENCODINGS = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False), "bgra8": (4, True),
             "mono8": (1, False)}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def image_tensor(data, height: int, width: int, encoding: str, step: int, size: int = 224):
    """A normalised NCHW float32 tensor (bilinear resize to ``size``) of an 8-bit image.

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
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    pixels = pixels[:, :, :3][:, :, ::-1] if bgr else pixels[:, :, :3]
    rgb = (pixels.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    tensor = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    return torch.nn.functional.interpolate(tensor, size=(size, size), mode="bilinear",
                                           align_corners=False)
