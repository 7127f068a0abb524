"""The digits example end to end on the CPU: seeded training on scikit-learn's digits, then the
held-out accuracy of the split network at every cut and with every feature codec, the images
taking the robot's camera path (uint8 mono8 bytes -> preprocessing -> model input)."""

import sys

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn")
pytest.importorskip("safetensors")

from conftest import REPO  # noqa: E402
from robust_offload.core.checks import InputError  # noqa: E402
from robust_offload.dnn.codec import CODECS  # noqa: E402
from robust_offload.research.accuracy import split_accuracy  # noqa: E402

sys.path.append(str(REPO))   # the example is user code outside the package

from examples.digits import evaluate, train  # noqa: E402

EPOCHS = 5          # enough for >= 0.98 held out; the script's default trains a little longer
MIN_ACCURACY = 0.9
LOSSY_TOLERANCE = 0.05
MIN_AGREEMENT = 0.98   # share of images a lossy codec leaves with the unsplit prediction


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train.train(tmp_path_factory.mktemp("digits"), seed=0, epochs=EPOCHS)


@pytest.fixture(scope="module")
def model(trained):
    return evaluate.load_digits_model(trained.weights)


@pytest.fixture(scope="module")
def table(trained):
    result = evaluate.evaluate(trained.weights.parent)
    print("\n" + evaluate.format_table(result))
    return result


def test_training_is_seeded(tmp_path):
    first = train.train(tmp_path / "a", seed=3, epochs=1)
    second = train.train(tmp_path / "b", seed=3, epochs=1)
    other = train.train(tmp_path / "c", seed=4, epochs=1)
    assert first.weights.read_bytes() == second.weights.read_bytes()
    assert first.weights.read_bytes() != other.weights.read_bytes()


def test_training_writes_weights_labels_and_a_stratified_heldout_set(trained):
    assert trained.labels.read_text().splitlines() == [str(d) for d in range(10)]
    images, labels = train.digit_images()
    assert images.dtype == np.uint8 and images.max() == 255 and images.min() == 0
    with np.load(trained.heldout) as heldout:
        held_images, held_labels = heldout["images"], heldout["labels"]
    assert held_images.dtype == np.uint8 and held_images.shape == (540, 8, 8)
    assert trained.heldout_count == len(held_labels) == 540
    expected = np.bincount(labels) * train.HELDOUT_FRACTION
    assert np.all(np.abs(np.bincount(held_labels) - expected) <= 1)


def test_heldout_accuracy_through_the_robot_camera_path(trained, table):
    assert trained.accuracy >= MIN_ACCURACY
    # train.py's input path and the robot's Preprocessing agree on every image
    assert table.accuracy == trained.accuracy
    assert table.count == 540


def test_every_float32_cut_predicts_what_the_unsplit_network_does(table, model):
    assert {c.m for c in table.cuts} == set(range(model.num_blocks + 1))
    for m in range(model.num_blocks + 1):
        cut = table.cut(m, "float32")
        assert np.array_equal(table.predictions[(m, "float32")], table.reference), m
        assert cut.accuracy == table.accuracy and cut.agreement == 1.0, m
        assert cut.max_score_error == 0.0, m


def test_float16_and_int8_stay_close_to_float32(table, model):
    for cut in table.cuts:
        exact = table.cut(cut.m, "float32").accuracy
        print(f"m={cut.m} {cut.codec}: {cut.accuracy:.4f} (float32 {exact:.4f}, agreement "
              f"{cut.agreement:.4f}, largest score error {cut.max_score_error:.3g})")
        assert abs(cut.accuracy - exact) <= LOSSY_TOLERANCE, cut
        assert cut.agreement >= MIN_AGREEMENT, cut
        if cut.codec != "float32" and cut.m < model.num_blocks:
            assert cut.max_score_error > 0.0, cut        # the codec did round the tensor
    assert {c.codec for c in table.cuts} == set(CODECS)


def test_payload_bytes_are_the_cut_tensor_in_the_codec(table, model):
    last = model.num_blocks
    for cut in table.cuts:
        itemsize = {"float32": 4, "float16": 2, "int8": 1}[cut.codec]
        expected = 0 if cut.m == last else model.output_bytes(cut.m, "uint8") * itemsize
        assert cut.payload_bytes == expected, cut


def test_labels_that_do_not_fit_the_images_are_refused(model):
    import torch

    images = torch.zeros((4, *model.input_shape))
    with pytest.raises(InputError, match="field 'labels'"):
        split_accuracy(model, images, [0, 1, 2])
    with pytest.raises(InputError, match="field 'images'"):
        split_accuracy(model, torch.zeros((4, 1, 9, 9)), [0, 1, 2, 3])
