"""A trained network on the running fleet: the digits CNN (examples/digits, user code outside the
package) trained here, its profile measured by `robust-offload profile`, an image player
publishing the held-out digits as a best-effort camera, robots and edge loading the trained
weights. The robots' answers are the network's own, offloaded and local frames alike; a robot
whose edge loaded other weights does not offload."""

import sys

import numpy as np
import pytest

msg = pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")
pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn")
pytest.importorskip("safetensors")

from scipy.stats import binomtest  # noqa: E402

from robust_offload.cli import main  # noqa: E402
from robust_offload.contract.topics import FAILED, ROBOT_STATUS  # noqa: E402

import test_system  # noqa: E402
from conftest import REPO  # noqa: E402
from helpers import BagTail  # noqa: E402
from test_system import WAIT_S, description  # noqa: E402

run_fleet = test_system.run_fleet   # the fixture

EXAMPLE = REPO / "examples" / "digits"
sys.path.append(str(REPO))           # the example's training code, as a team's own would be
sys.path.append(str(EXAMPLE))        # its model module, as the nodes import it

from examples.digits import evaluate, train  # noqa: E402
from examples.digits.digits_cnn import MEAN, STD  # noqa: E402

MODEL = "digits_cnn:digits_cnn"      # <module>:<factory> on the nodes' PYTHONPATH
PROFILE = "digits_cnn_cpu"
RATE_HZ = 5.0
ANSWERS = 20                          # answered camera frames per robot


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The network trained (seeded), its profile measured, and the offline answer to each
    held-out image."""
    out = tmp_path_factory.mktemp("digits")
    result = train.train(out, seed=0)
    profile = out / "profile.yaml"
    assert main(["profile", "--model", MODEL, "--weights", str(result.weights),
                 "--input-shape", "1", "8", "8", "--repeats", "10", "--warmup", "2",
                 "--freqs", "1.5", "--name", PROFILE, "--output", str(profile)]) == 0
    model = evaluate.load_digits_model(result.weights)
    with np.load(result.heldout) as heldout:
        images, labels = heldout["images"], heldout["labels"]
    inputs = evaluate.camera_inputs(images, evaluate.digits_preprocessing(model))
    predicted = model.source(inputs).argmax(dim=1).numpy()
    return result, profile, predicted, labels


def digits_fleet(trained, edge_weights):
    result, profile, _, _ = trained
    robot = {"model": MODEL, "profile": PROFILE, "profiles_file": str(profile),
             "weights": str(result.weights), "input_shape": [1, 8, 8], "compute_mode": "real",
             "image_topic": "/camera/image_raw", "image_resize": 8, "image_mean": list(MEAN),
             "image_std": list(STD), "labels_file": str(result.labels), "top_k": 3,
             "rate_hz": RATE_HZ, "deadline_ms": 200.0, "risk": 0.1, "freq_min_ghz": 0.1,
             "freq_max_ghz": 1.5, "plan_wait_s": 20.0, "edge_timeout_s": 2.0}
    # kappa: local compute costs robot_1 more than sending the image (it offloads at m = 0),
    # robot_2 less (it runs the whole network)
    robots = [{"name": name, "params_file": "robot.yaml",
               "parameters": {**robot, "kappa": kappa}}
              for name, kappa in (("robot_1", 1e-21), ("robot_2", 0.8e-27))]
    raw = description(robots, edge={"params_file": "edge.yaml", "parameters": {
        "compute_mode": "real", "profiles_file": str(profile),
        "model_weights": [f"{MODEL}={edge_weights}"],
        "model_input_shapes": [f"{MODEL}=1,8,8"]}})
    raw["fleet"]["planner"]["parameters"]["profiles_file"] = str(profile)
    raw["fleet"]["cameras"] = [{"name": "camera", "parameters": {
        "source": str(result.heldout), "image_topic": "/camera/image_raw",
        "rate_hz": 2 * RATE_HZ, "loop": True, "frame_id_index": True}}]
    return raw


def answered(fleet, robot_id):
    """(image index, executed_on, top-1 class id, its name) of the robot's answered camera
    frames."""
    return [(int(f.image_header.frame_id.rsplit("/", 1)[1]), f.executed_on,
             int(f.class_ids[0]), f.class_names[0])
            for f in fleet.frames(robot_id)
            if f.executed_on != FAILED and "/" in f.image_header.frame_id]


def test_a_trained_network_answers_on_the_fleet_offloaded_and_local(run_fleet, trained):
    result, _, predicted, labels = trained
    fleet = run_fleet(163, digits_fleet(trained, result.weights), PYTHONPATH=str(EXAMPLE))
    # the robots start after the services; then ANSWERS frames at RATE_HZ, with slack
    fleet.wait_for(lambda: min(len(answered(fleet, r)) for r in ("robot_1", "robot_2"))
                   >= ANSWERS and any(on == "edge" for _, on, _, _ in answered(fleet, "robot_1")),
                   "answers from both robots, robot_1's offloaded",
                   timeout_s=WAIT_S + 3 * ANSWERS / RATE_HZ)
    fleet.stop()
    for robot_id, where in (("robot_1", "edge"), ("robot_2", "local")):
        answers = answered(fleet, robot_id)
        assert any(on == where for _, on, _, _ in answers), (robot_id, answers[:5])
        for index, _, class_id, name in answers:       # the network's own answer, by name
            assert class_id == predicted[index] and name == str(class_id), (robot_id, index)
        agree = sum(class_id == labels[index] for index, _, class_id, _ in answers)
        interval = binomtest(agree, len(answers)).proportion_ci(0.95, method="exact")
        assert interval.low <= result.accuracy <= interval.high, (robot_id, agree, answers)
        offloaded = sum(on == "edge" for _, on, _, _ in answers)
        print(f"{robot_id}: {agree}/{len(answers)} answers agree with the labels (95 % CI "
              f"{interval.low:.3f}-{interval.high:.3f}; offline {result.accuracy:.4f}), "
              f"{offloaded} offloaded, {len(answers) - offloaded} local")


def test_a_robot_does_not_offload_to_an_edge_with_other_weights(run_fleet, trained, tmp_path):
    other = train.train(tmp_path / "other", seed=1).weights
    fleet = run_fleet(164, digits_fleet(trained, other), PYTHONPATH=str(EXAMPLE))
    statuses = BagTail(fleet.bag, (ROBOT_STATUS,))
    try:
        fleet.wait_for(lambda: any("other weights" in status.edge_note
                                   for _, status in statuses.messages(ROBOT_STATUS)
                                   if status.robot_id == "robot_1"),
                       "robot_1's status saying its edge runs other weights")
        fleet.wait_for(lambda: len(answered(fleet, "robot_1")) >= ANSWERS,
                       "robot_1's answers", timeout_s=WAIT_S + 3 * ANSWERS / RATE_HZ)
    finally:
        statuses.close()
    fleet.stop()
    assert {on for _, on, _, _ in answered(fleet, "robot_1")} == {"local"}
