"""The image player without ROS: .npz files and image folders as frames, in order, looping."""

import numpy as np
import pytest

from robust_offload.core.checks import InputError
from robust_offload.runtime.image_player import ImagePlayer, load_source


def _npz(path, images, **extra):
    np.savez(path, images=images, **extra)
    return str(path)


def test_npz_grey_images_play_in_order_with_their_labels(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 6), dtype=np.uint8)
    player = ImagePlayer.of(_npz(tmp_path / "d.npz", images, labels=np.array([7, 1, 4])))
    frames = [player.next() for _ in range(3)]
    assert [f.index for f in frames] == [0, 1, 2] and [f.label for f in frames] == [7, 1, 4]
    for frame, image in zip(frames, images):
        assert frame.encoding == "mono8" and frame.step == 6
        assert frame.pixels.tobytes() == image.tobytes()
    assert player.next() is None and player.done


def test_colour_images_are_rgb8_and_loop_starts_over(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    player = ImagePlayer.of(_npz(tmp_path / "c.npz", images), loop=True)
    frames = [player.next() for _ in range(5)]
    assert [f.index for f in frames] == [0, 1, 0, 1, 0]
    assert frames[1].encoding == "rgb8" and frames[1].step == 15 and frames[1].label is None
    assert frames[3].pixels.tobytes() == images[1].tobytes()
    assert not player.done


def test_a_folder_of_png_and_jpg_plays_in_name_order(tmp_path):
    import torch
    from torchvision.io import encode_jpeg, encode_png

    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (1, 6, 7), dtype=np.uint8)
    colour = rng.integers(0, 256, (3, 5, 4), dtype=np.uint8)
    (tmp_path / "b.png").write_bytes(encode_png(torch.from_numpy(grey)).numpy().tobytes())
    (tmp_path / "a.png").write_bytes(encode_png(torch.from_numpy(colour)).numpy().tobytes())
    (tmp_path / "c.JPG").write_bytes(encode_jpeg(torch.from_numpy(colour)).numpy().tobytes())
    (tmp_path / "notes.txt").write_text("not an image")
    images, labels = load_source(str(tmp_path))
    assert labels is None and len(images) == 3
    assert images[0].tobytes() == colour.transpose(1, 2, 0).tobytes()
    assert images[1].tobytes() == grey.transpose(1, 2, 0).tobytes()
    assert images[2].shape == (5, 4, 3)


@pytest.mark.parametrize("make, field", [
    (lambda d: str(d / "missing.npz"), "source"),
    (lambda d: str(d), "source"),                                   # a folder without images
    (lambda d: _npz(d / "f.npz", np.zeros((2, 4, 4), np.float32)), "images"),
    (lambda d: _npz(d / "c.npz", np.zeros((2, 4, 4, 2), np.uint8)), "images"),
    (lambda d: _npz(d / "l.npz", np.zeros((2, 4, 4), np.uint8), labels=np.arange(3)), "labels"),
])
def test_bad_sources_are_one_line_naming_the_field(tmp_path, make, field):
    with pytest.raises(InputError, match=f"field '{field}'") as err:
        load_source(make(tmp_path))
    assert "\n" not in str(err.value)


def test_a_file_that_does_not_decode_is_named(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png"):
        load_source(str(tmp_path))
