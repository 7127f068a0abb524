"""Robot and edge logic without ROS: decisions at frame boundaries, fallback, energy, tails."""

import re
import threading
import time

import numpy as np
import pytest

from robust_offload.core.channel import rate_bps
from robust_offload.core.checks import InputError
from robust_offload.core.model import local_energy_j
from robust_offload.dnn.codec import CodecError, Payload, to_payload
from robust_offload.hw.emulated import EmulatedDevice
from robust_offload.runtime.edge import EdgeRuntime
from robust_offload.runtime.robot import AppliedDecision, EdgeWatch, RobotRuntime, capture_time
from robust_offload.runtime.robot_loop import FrameLoop

from helpers import wait_until

N0 = 10 ** ((-174 - 30) / 10)


def fast_profile(profiles, speedup=100.0):
    """AlexNet's table with times scaled down ``speedup`` times so the tests run quickly."""
    import dataclasses

    alex = profiles["alexnet_nx_cpu"]
    return dataclasses.replace(alex, flops_per_cycle=alex.flops_per_cycle * speedup,
                               local_var_ms2=alex.local_var_ms2 / speedup**2,
                               edge_mean_ms=alex.edge_mean_ms / 10,
                               edge_var_ms2=alex.edge_var_ms2 / 100)


@pytest.fixture
def robot(profiles):
    profile = fast_profile(profiles)
    device = EmulatedDevice(profile, 0.8e-27, (0.1, 1.2), seed=1)
    runtime = RobotRuntime("r1", profile, device, deadline_ms=50.0, risk=0.05,
                           tx_power_w=1.0, noise_dbm_per_hz=-174.0, result_grace_s=0.05)
    runtime.set_channel_gain(1e-10)
    return runtime


def test_decision_applies_at_the_next_frame_and_energy_follows_eq_6(robot):
    first = robot.next_frame(edge_available=True)
    assert first.executed_on == "local" and first.decision.partition == 8  # no plan yet
    robot.set_decision(AppliedDecision(7, 3, 0.6, 2e6))
    frame = robot.next_frame(edge_available=True)
    assert (frame.decision.plan_id, frame.decision.partition) == (7, 3)
    assert frame.decision.freq_ghz == pytest.approx(0.6)
    assert frame.executed_on == "edge" and frame.request_id in robot.pending
    local = local_energy_j(0.8e-27, robot.profile.local_gcycles[3], 0.6)
    assert frame.energy_j == pytest.approx(local)
    payload = robot.uplink_payload(frame)
    assert payload.dtype == "float32" and payload.shape == frame.tensor.shape
    air = payload.data.nbytes * 8 / rate_bps(2e6, 1.0 * 1e-10 / N0)
    assert frame.energy_j == pytest.approx(local + 1.0 * air)
    assert frame.tensor.size * 4 == pytest.approx(robot.profile.output_mb[3] * 2**20, rel=1e-3)


def test_without_the_edge_frames_run_locally_at_fmax(robot):
    robot.set_decision(AppliedDecision(1, 2, 0.3, 1e6))
    frame = robot.next_frame(edge_available=False)
    assert frame.executed_on == "local" and frame.decision.partition == 8
    assert frame.decision.freq_ghz == pytest.approx(1.2)
    record = robot.record(frame, frame.capture_time + frame.local_s)
    assert record["executed_on"] == "local" and record["deadline_met"]
    assert robot.next_frame(edge_available=True).decision.partition == 2  # back on the plan


def test_results_complete_frames_and_silence_expires_them(robot):
    robot.set_decision(AppliedDecision(1, 2, 0.5, 1e6))
    answered = robot.next_frame(True)
    lost = robot.next_frame(True)
    record = robot.complete(answered.request_id, answered.capture_time + 0.03, 1.5,
                            ([42, 7], [0.75, 0.125]))
    assert record["class_id"] == 42 and record["deadline_met"]
    assert record["class_ids"] == [42, 7] and record["scores"] == [0.75, 0.125]
    assert record["total_ms"] == pytest.approx(30.0)
    assert robot.complete(answered.request_id, 0.0, 0.0) is None  # only once
    assert robot.expire(lost.capture_time + 0.09) == []  # deadline 50 ms + grace 50 ms
    (missed,) = robot.expire(lost.capture_time + 0.11)
    assert missed["request_id"] == lost.request_id and not missed["deadline_met"]
    assert robot.pending == {}


def test_online_profile_recovers_g(profiles, clock):
    profile = fast_profile(profiles, speedup=2.0)  # the fake clock: no scheduler delays
    robot = RobotRuntime("r1", profile, EmulatedDevice(profile, 0.8e-27, (0.1, 1.2), seed=1),
                         deadline_ms=500.0, risk=0.05, tx_power_w=1.0, noise_dbm_per_hz=-174.0)
    for point in (2, 5):
        robot.set_decision(AppliedDecision(1, point, 0.8, 1e6))
        for _ in range(30):
            robot.next_frame(True)
    online = robot.online_profile()
    assert online["sample_counts"][2] == 30
    g = robot.profile.flops_per_cycle
    assert online["flops_per_cycle"][5] == pytest.approx(g[5], rel=0.05)
    assert online["flops_per_cycle"][3] == g[3]  # not measured: the table's value


def test_online_variance_is_the_worst_frequency_not_the_pooled_spread(profiles, clock):
    """AlexNet blocks 1..4 at 0.4 and 0.8 GHz: means 112 and 56 ms, v^loc 63.9 ms^2 at each.
    Pooled, the two means' spread adds about 800 ms^2; eq. (11) keeps the within-frequency
    variance (a single sample at a third frequency is no band)."""
    profile = profiles["alexnet_nx_cpu"]
    robot = RobotRuntime("r1", profile, EmulatedDevice(profile, 0.8e-27, (0.1, 1.2), seed=2),
                         deadline_ms=500.0, risk=0.05, tx_power_w=1.0, noise_dbm_per_hz=-174.0)
    for plan_id, freq in enumerate((0.4, 0.8, 1.2, 0.8)):
        robot.set_decision(AppliedDecision(plan_id, 4, freq, 1e6))
        for _ in range(1 if freq == 1.2 else 60):
            robot.next_frame(True)
    online = robot.online_profile()
    assert online["sample_counts"][4] == 181                 # every frequency's samples
    assert 40.0 < online["var_ms2"][4] < 110.0               # pooled: about 790 ms^2
    assert online["var_ms2"][3] == 0.0                       # not measured


def test_bad_decision_is_refused(robot):
    with pytest.raises(ValueError, match="partition 12"):
        robot.set_decision(AppliedDecision(1, 12, 0.5, 1e6))


EMPTY = Payload("float32", (1,), b"\0\0\0\0")


def test_modelled_edge_times_and_profile(profiles, clock):
    profile = fast_profile(profiles)
    edge = EdgeRuntime("modelled", {"alexnet_nx_cpu": profile}, seed=3)
    times = np.array([edge.serve("alexnet", 2, EMPTY)[1]
                      for _ in range(20)])
    # The waits are drawn from the profile with the runtime's seed: replay the draws (the fake
    # clock makes each wait exactly its draw, to the clock's 1 us reading step).
    mean, std = profile.edge_mean_ms[2] / 1e3, np.sqrt(profile.edge_var_ms2[2]) / 1e3
    targets = np.maximum(0.0, mean + std * np.random.default_rng(3).standard_normal(20))
    np.testing.assert_allclose(times, targets, atol=1e-5)
    assert times.mean() == pytest.approx(mean, rel=0.3)
    stats = edge.edge_profile("alexnet")
    assert stats["sample_counts"][2] == 20
    with pytest.raises(ValueError, match="partition 9"):
        edge.serve("alexnet", 9, EMPTY)
    with pytest.raises(KeyError, match="vgg"):
        edge.serve("vgg", 1, EMPTY)


def test_real_edge_runs_the_tail(profiles):
    torch = pytest.importorskip("torch")
    from robust_offload.dnn.registry import get_model

    model = get_model("alexnet")
    edge = EdgeRuntime("real", profiles, model_loader=lambda name, device: model)
    x = torch.randn(1, 3, 224, 224)
    head = model.head(x, 5)
    payload = to_payload(head, "float16")
    (ids, scores), _ = edge.serve("alexnet", 5, payload, top_k=5)
    top = torch.softmax(model(x).reshape(-1), 0).topk(5)
    assert ids == top.indices.tolist()                      # float16 keeps the order here
    assert scores == pytest.approx(top.values.tolist(), rel=1e-2)
    with pytest.raises(CodecError):
        edge.serve("alexnet", 5, payload._replace(dtype="float32"))  # wrong length


def test_edge_calibration_measures_every_point(profiles):
    pytest.importorskip("torch")
    from robust_offload.dnn.registry import get_model

    edge = EdgeRuntime("real", profiles, model_loader=lambda name, device: get_model(name))
    edge.calibrate("alexnet", repeats=3)
    stats = edge.edge_profile("alexnet")
    assert list(stats["sample_counts"]) == [3] * 8 + [0]
    assert np.all(np.diff(stats["mean_ms"][:8]) < 0)  # fewer blocks left, less time


def test_calibration_keeps_the_quietest_round(profiles):
    """The first round runs while the host is busy (blocks 30x slower): the profile it seeds
    comes from a quiet round, not from the busy one or a mix. (A loaded host only lengthens the
    quiet rounds' sleeps: far less than what tells a mix from them.)"""
    torch = pytest.importorskip("torch")
    busy_s, quiet_s, blocks, rounds = 0.03, 0.001, 2, 3

    class Model:
        """Two blocks that sleep, slowly during the first round's passes (2 warm-up + 3)."""
        device, input_shape, num_blocks = torch.device("cpu"), (1,), blocks

        def __init__(self):
            self.calls = 0
            self.blocks = [self.block] * blocks

        def block(self, z):
            self.calls += 1
            time.sleep(busy_s if self.calls <= 5 * blocks else quiet_s)
            return z

    model = Model()
    edge = EdgeRuntime("real", profiles, model_loader=lambda name, device: model)
    edge.calibrate("alexnet", repeats=3, rounds=rounds)
    stats = edge.edge_profile("alexnet")
    assert list(stats["sample_counts"]) == [3, 3, 0] and model.calls == 5 * blocks * rounds
    quiet_ms, busy_ms = blocks * quiet_s * 1e3, blocks * busy_s * 1e3
    mix_ms = (busy_ms + (rounds - 1) * quiet_ms) / rounds      # the mean over all rounds
    print(f"point 0: {stats['mean_ms'][0]:.2f} ms (quiet {quiet_ms:g}, mix {mix_ms:.1f}, busy "
          f"{busy_ms:g} ms)")
    assert quiet_ms <= stats["mean_ms"][0] < (quiet_ms + mix_ms) / 2   # quiet blocks only


def test_camera_images_become_normalised_model_inputs():
    pytest.importorskip("torch")
    from robust_offload.dnn.preprocess import image_tensor

    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 255                                    # pure red
    tensor = image_tensor(rgb.tobytes(), 48, 64, "rgb8", 64 * 3)
    assert tuple(tensor.shape) == (1, 3, 224, 224)
    assert float(tensor[0, 0].mean()) == pytest.approx((1 - 0.485) / 0.229, rel=1e-5)
    bgr = image_tensor(rgb[..., ::-1].copy().tobytes(), 48, 64, "bgr8", 64 * 3)
    assert np.allclose(bgr.numpy(), tensor.numpy())
    with pytest.raises(ValueError, match="'data' has 9215 bytes"):
        image_tensor(rgb.tobytes()[:-1], 48, 64, "rgb8", 64 * 3)
    with pytest.raises(ValueError, match="encoding"):
        image_tensor(rgb.tobytes(), 48, 64, "yuv422", 64 * 3)


def test_images_keep_their_aspect_ratio_and_fit_the_models_input():
    """Shorter side resized, then the centre cropped (torchvision's order): a wide image's red
    centre fills the input, its blue sides do not reach it."""
    torch = pytest.importorskip("torch")
    from robust_offload.dnn.preprocess import Preprocessing, image_tensor

    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, :, 2] = 255                                   # blue ...
    wide[:, 100:200] = (255, 0, 0)                        # ... with a red centre square
    tensor = image_tensor(wide.tobytes(), 100, 300, "rgb8", 300 * 3)
    red = Preprocessing()(torch.tensor([255, 0, 0], dtype=torch.uint8)[:, None, None]
                          .expand(3, 224, 224))
    assert tuple(tensor.shape) == (1, 3, 224, 224) and torch.allclose(tensor, red, atol=1e-5)
    # a one-channel model: its own size and statistics, from a mono8 image of that size
    digits = Preprocessing((1, 8, 8), 8, (0.5,), (0.5,))
    mono = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    got = image_tensor(mono.tobytes(), 8, 8, "mono8", 8, digits)
    assert torch.allclose(got[0, 0], torch.from_numpy((mono / 255 - 0.5) / 0.5).float(),
                          atol=1e-6)


def test_a_models_preprocessing_and_the_parameters_that_replace_it():
    from robust_offload.dnn.preprocess import Preprocessing

    class Small:
        input_shape = (1, 28, 28)

    assert Preprocessing.of(Small()) == Preprocessing((1, 28, 28), 32, (0.5,), (0.5,))
    assert Preprocessing.of() == Preprocessing((3, 224, 224), 256)
    assert Preprocessing.of(Small(), 40, [0.1], [0.3]) == Preprocessing((1, 28, 28), 40, (0.1,),
                                                                         (0.3,))
    for resize, mean, std, field in ((20, (), (), "image_resize"),
                                     (0, [0.1, 0.2], (), "image_mean"),
                                     (0, (), [0.0], "image_std[0]")):
        with pytest.raises(InputError, match=re.escape(f"field '{field}'")):
            Preprocessing.of(Small(), resize, mean, std)


def test_compressed_images_decode_to_the_raw_images_input():
    """A png (lossless) gives exactly the raw image's input, a jpeg nearly; other formats and
    data that do not decode are one line naming the field."""
    torch = pytest.importorskip("torch")
    from torchvision.io import encode_jpeg, encode_png

    from robust_offload.dnn.preprocess import Preprocessing, compressed_image, raw_image

    rgb = np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8)
    raw = raw_image(rgb.tobytes(), 60, 80, "rgb8", 80 * 3)
    png = encode_png(raw).numpy().tobytes()
    assert torch.equal(compressed_image(png, "png"), raw)
    smooth = raw_image(np.full((60, 80, 3), 90, np.uint8).tobytes(), 60, 80, "rgb8", 240)
    jpeg = encode_jpeg(smooth, quality=95).numpy().tobytes()
    step = Preprocessing()
    assert torch.allclose(step(compressed_image(jpeg, "rgb8; jpeg compressed bgr8")),
                          step(smooth), atol=0.05)
    with pytest.raises(ValueError, match="field 'format'"):
        compressed_image(png, "tiff")
    with pytest.raises(ValueError, match="field 'data'.*does not decode"):
        compressed_image(png[:40], "png")


def test_jetson_robot_runs_real_work_at_the_applied_frequency(tmp_path, profiles):
    """A robot on a (temporary) Jetson sysfs tree: real DVFS writes, measured time, model energy."""
    from test_hw_dvfs import cpu_policy_files, write_files

    from robust_offload.runtime.device import MeasuredDevice, make_local_device

    write_files(tmp_path / "sys/devices/system/cpu/cpufreq/policy0", cpu_policy_files("0 1"))
    profile = fast_profile(profiles)
    device = make_local_device("jetson-cpu", profile, 0.8e-27, (0.1, 1.2), sysfs_root=tmp_path)
    assert isinstance(device, MeasuredDevice) and device.meter is None
    pytest.importorskip("torch")

    class Head:  # stands in for the DNN: its "head" output shows that the real work ran
        input_shape = (3, 8, 8)

        @staticmethod
        def head(x, m):
            return np.ones(m)

    robot = RobotRuntime("j1", profile, device, model=Head(), compute_mode="real",
                         deadline_ms=100.0, risk=0.05, tx_power_w=1.0, noise_dbm_per_hz=-174.0)
    robot.set_decision(AppliedDecision(1, 3, 0.7, 1e6))
    frame = robot.next_frame(edge_available=True)
    setspeed = tmp_path / "sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed"
    assert setspeed.read_text().strip() == "729600"         # 0.7 GHz snapped up, in kHz
    assert frame.decision.freq_ghz == pytest.approx(0.7296)
    assert list(frame.tensor) == [1.0, 1.0, 1.0]             # the real head ran
    gcycles = profile.local_gcycles[3]
    assert frame.energy_j == pytest.approx(local_energy_j(0.8e-27, gcycles, 0.7296))
    with pytest.raises(ValueError, match="compute_mode"):
        device.run_blocks(3)
    device.restore()
    assert (tmp_path / "sys/devices/system/cpu/cpufreq/policy0/scaling_governor"
            ).read_text().strip() == "schedutil"


def test_a_local_frame_answers_with_the_models_top_k_named_by_the_labels(profiles):
    """A frame the robot runs whole answers with the model's own top-k (softmax scores, best
    first), names from the labels, and the camera image's header; a failed frame answers
    nothing."""
    torch = pytest.importorskip("torch")
    from robust_offload.dnn.registry import get_model

    model = get_model("alexnet")
    profile = fast_profile(profiles)
    device = EmulatedDevice(profile, 0.8e-27, (0.1, 1.2), seed=1)
    labels = tuple(f"class {n}" for n in range(1000))
    robot = RobotRuntime("r1", profile, device, model=model, compute_mode="real",
                         deadline_ms=500.0, risk=0.05, tx_power_w=1.0, noise_dbm_per_hz=-174.0,
                         top_k=3, labels=labels)
    image = torch.randn(1, 3, 224, 224)
    frame = robot.next_frame(False, image=image, source=(12, 345, "camera_optical"))
    record = robot.record(frame, frame.capture_time + 0.1)
    top = torch.softmax(model(image).reshape(-1), 0).topk(3)
    assert record["class_ids"] == top.indices.tolist()
    assert record["class_id"] == record["class_ids"][0]
    assert record["scores"] == pytest.approx(top.values.tolist())
    assert record["class_names"] == [f"class {n}" for n in record["class_ids"]]
    assert record["image_header"] == (12, 345, "camera_optical")
    failed = robot.fail(None, frame.capture_time, frame.capture_time + 0.1, (13, 0, "c"))
    assert failed["class_ids"] == [] and failed["class_id"] == -1
    assert failed["image_header"] == (13, 0, "c")


def test_answers_from_the_network_and_labels_files_are_checked(tmp_path):
    from robust_offload.dnn.answer import checked, read_labels

    assert checked("result", [3, 1], [0.5, 0.25]) == ([3, 1], [0.5, 0.25])
    for ids, scores, field in (([3], [0.5, 0.2], "class_ids"), ([-1], [0.5], "class_ids[0]"),
                               ([2], [float("nan")], "scores[0]"), ([2], [1.5], "scores[0]")):
        with pytest.raises(InputError, match=re.escape(f"field '{field}'")):
            checked("result", ids, scores)
    labels = tmp_path / "labels.txt"
    labels.write_text("zero\none\n\ntwo\n")
    assert read_labels(str(labels), 3) == ["zero", "one", "two"]
    with pytest.raises(InputError, match="names 3 classes, the model has 10"):
        read_labels(str(labels), 10)
    with pytest.raises(InputError, match="labels_file.*cannot be read"):
        read_labels(str(tmp_path / "missing.txt"))


def test_plan_entries_become_decisions_or_local_fallback(robot):
    assert robot.apply_plan(1, []) is None and not robot.has_plan()   # not in the first plan
    assert robot.apply_plan(2, [(3, 0.6, 2e6, True, "")]) is None
    assert robot.next_frame(True).decision.partition == 3
    assert "infeasible" in robot.apply_plan(3, [(0, 0.0, 0.0, False, "deadline")])
    assert robot.next_frame(True).decision.partition == 8
    # degraded: infeasible at its eps, but the planner sent the decision of its lowest risk
    assert "degraded" in robot.apply_plan(4, [(5, 0.9, 3e6, False, "degraded: risk 0.06")])
    assert robot.next_frame(True).decision == AppliedDecision(4, 5, 0.9, 3e6)
    for entry, why in [((3, float("nan"), 2e6, True, ""), "'freq_ghz' = nan: must be finite"),
                       ((3, 50.0, 2e6, True, ""), "'freq_ghz' = 50.0: must be <= 1.2"),
                       ((3, 0.0, 2e6, True, ""), "'freq_ghz' = 0.0: must be >= 0.1"),
                       ((3, 0.6, -1.0, True, ""), "'bandwidth_hz' = -1.0: outside"),
                       ((12, 0.6, 2e6, True, ""), "'partition' = 12.0: must be <= 8")]:
        robot.apply_plan(1, [(3, 0.6, 2e6, True, "")])
        assert why in robot.apply_plan(4, [entry])          # refused: local, still recorded
        frame = robot.next_frame(True)
        assert frame.decision == AppliedDecision(4, 8, 1.2, 0.0) and frame.executed_on == "local"
    assert "no decision" in robot.apply_plan(6, [])
    assert robot.next_frame(True).decision == AppliedDecision(6, 8, 1.2, 0.0)


def test_unusable_image_stamps_are_replaced_by_the_robot_clock():
    now = 1.8e9
    assert capture_time(now - 0.2, now) == now - 0.2
    assert capture_time(0.0, now) == now                  # a zero stamp (else total_ms = 1.8e12)
    assert capture_time(now + 3600.0, now) == now         # a clock far off
    assert capture_time(float("nan"), now) == now


def test_edge_watch_falls_back_after_lost_frames_and_comes_back():
    watch = EdgeWatch(timeout_s=3.0, max_missed=3)
    assert not watch.available(10.0)                     # never heard
    watch.heard(10.0)
    assert watch.available(12.9) and not watch.available(13.0)
    assert not watch.lost(2, 11.0) and watch.available(11.0)
    assert watch.lost(1, 11.0) and not watch.available(13.5)   # 3 in a row: local for 3 s
    watch.heard(14.0)
    assert watch.available(14.0)
    watch.lost(2, 14.0)
    watch.answered(14.1)
    assert not watch.lost(2, 14.0)                       # the run was broken by an answer


def test_edge_watch_goes_local_one_deadline_after_the_last_sign_of_life():
    watch = EdgeWatch(timeout_s=3.0, max_missed=3)
    watch.heard(10.0)
    assert not watch.overdue(10.15, deadline_s=0.18)     # heard 150 ms ago: not silent yet
    assert watch.overdue(10.2, deadline_s=0.18) and not watch.available(10.2)
    assert not watch.overdue(10.3, deadline_s=0.18)      # one fallback per silence
    watch.answered(10.4)                                 # a late result: it is alive
    assert watch.available(10.4)
    assert watch.overdue(10.7, deadline_s=0.18)
    watch.heard(11.0)                                    # its heartbeat ends the fallback
    assert watch.available(11.0)
    watch.alive(11.1)                                    # alive signal: it answers others
    assert not watch.overdue(11.25, deadline_s=0.18) and watch.available(11.25)


def test_frame_loop_sends_no_second_frame_into_a_silent_edge(robot, monkeypatch):
    """The edge dies with a frame in flight: one deadline after its last sign of life the next
    frame runs locally (not max_missed frames later), and the first result or heartbeat
    brings offloading back."""
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    sent, published, warnings = [], [], []
    loop = FrameLoop(robot, EdgeWatch(3.0, 3), rate_hz=10.0, plan_wait_s=0.0,
                     send=sent.append, publish=published.append, warn=warnings.append,
                     error=warnings.append)
    robot.set_decision(AppliedDecision(1, 3, 0.6, 2e6))
    loop.heard()
    loop.one_frame()
    assert len(sent) == 1                                # offloaded; its result never comes
    now[0] += 0.04                                       # within the 50 ms deadline
    loop.one_frame()
    assert len(sent) == 2 and not warnings
    now[0] += 0.02                                       # 60 ms of silence, frame 1 overdue
    loop.one_frame()
    assert len(sent) == 2 and published[-1]["executed_on"] == "local"
    assert len(warnings) == 1 and "no sign of the edge" in warnings[0]
    loop.result(sent[1].request_id, 1.0, ([7], [0.5]))   # a (late) answer: the edge is alive
    now[0] += 0.01
    loop.one_frame()
    assert len(sent) == 3


def stale_after_2_s(robot, warnings):
    """A frame loop at 10 Hz whose robot lets its share go after 2 s without edge or plan,
    sending and publishing nothing, its warnings and errors into ``warnings``."""
    return FrameLoop(robot, EdgeWatch(3.0, 3), rate_hz=10.0, plan_wait_s=0.0,
                     send=lambda frame: None, publish=lambda record: None,
                     warn=warnings.append, error=warnings.append, stale_after_s=2.0)


def test_a_cut_off_robot_lets_its_share_go_until_the_next_plan(robot, monkeypatch):
    """Neither the edge nor a plan heard for stale_after_s: the robot runs locally and reports
    no share (the planner gives a silent robot's share away), until the next plan."""
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    warnings = []
    loop = stale_after_2_s(robot, warnings)
    robot.set_decision(AppliedDecision(1, 3, 0.6, 2e6))
    loop.plan_heard()
    loop.heard()
    loop.one_frame()
    assert robot.share_hz() == 2e6
    now[0] += 1.5
    loop.heard()                                         # the edge's heartbeat: not cut off
    now[0] += 1.9
    loop.one_frame()
    assert robot.share_hz() == 2e6 and not any("share" in w for w in warnings)
    now[0] += 0.2                                        # 2.1 s of silence
    loop.one_frame()
    assert robot.share_hz() == 0.0 and robot.decision.partition == robot.last_point
    assert sum("letting the share go" in w for w in warnings) == 1
    loop.one_frame()                                     # said once
    assert sum("letting the share go" in w for w in warnings) == 1
    robot.apply_plan(2, [(3, 0.6, 3e6, True, "")])      # the plan that re-admits it
    loop.plan_heard()
    loop.one_frame()
    assert robot.share_hz() == 3e6


def test_a_plan_arriving_while_the_share_is_judged_stale_is_not_lost(robot, monkeypatch):
    """The frame thread judges the share stale; before it lets the share go, a plan arrives
    (the robot node's plan callback, on an executor thread: here inside share_hz, which the
    judgement reads). The plan is applied at the next frame, not replaced by "run locally"."""
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    warnings = []
    loop = stale_after_2_s(robot, warnings)
    robot.set_decision(AppliedDecision(1, 3, 0.6, 2e6))
    robot.apply_pending()
    loop.plan_heard()
    now[0] += 5.0                                        # cut off: the share is stale
    share_hz = robot.share_hz

    def plan_arrives_meanwhile():
        loop.plan_heard()
        robot.apply_plan(2, [(4, 0.7, 3e6, True, "")])
        return share_hz()

    monkeypatch.setattr(robot, "share_hz", plan_arrives_meanwhile)
    assert not loop.release_stale_share(now[0]) and not warnings
    robot.apply_pending()
    assert robot.decision == AppliedDecision(2, 4, 0.7, 3e6)
    seen = robot.plans_set()                             # the compare-and-set itself
    robot.apply_plan(3, [(5, 0.8, 1e6, True, "")])
    assert not robot.release_share(seen)                 # a plan came after `seen`
    robot.apply_pending()
    assert robot.decision.plan_id == 3
    assert robot.release_share(robot.plans_set())
    robot.apply_pending()
    assert robot.decision == robot.local_decision(3)


def test_local_device_factory_refuses_what_cannot_work(tmp_path, profiles):
    from robust_offload.hw.emulated import EmulatedDevice
    from robust_offload.hw.errors import HardwareError
    from robust_offload.runtime.device import make_local_device

    profile = fast_profile(profiles)
    assert isinstance(make_local_device("emulated", profile, 1e-27, (0.1, 1.2)), EmulatedDevice)
    with pytest.raises(ValueError, match="emulated device has no rails"):
        make_local_device("emulated", profile, 1e-27, (0.1, 1.2), power_rail="VDD_IN")
    with pytest.raises(ValueError, match="unknown device backend 'tpu'"):
        make_local_device("tpu", profile, 1e-27, (0.1, 1.2))
    with pytest.raises(HardwareError, match="no INA3221 power monitor"):
        make_local_device("jetson-cpu", profile, 1e-27, (0.1, 1.2), power_rail="VDD_IN",
                          sysfs_root=tmp_path)


def test_edge_serves_only_its_models_by_their_exact_names(profiles):
    loaded = []
    edge = EdgeRuntime("real", profiles, model_loader=lambda name, device: loaded.append(name))
    for name in ("ALEXNET", "alexnet\n", " resnet152", "RESNET152", "vgg"):
        with pytest.raises(KeyError, match="is not served here"):
            edge.serve(name, 2, EMPTY)
    assert loaded == []                                  # no model copy was loaded for them


def test_edge_workers_serve_in_order_reap_idle_robots_and_cap_the_count():
    from robust_offload.runtime.workers import Workers

    done, lock = [], threading.Lock()

    def handle(item):
        with lock:
            done.append(item)

    workers = Workers(handle, queue_depth=4, idle_s=0.3, max_robots=2)
    try:
        assert workers.submit("a", ("a", 1)) is None and workers.submit("b", ("b", 1)) is None
        assert "refused" in workers.submit("c", ("c", 1))          # the cap: no third thread
        workers.submit("a", ("a", 2))
        assert wait_until(lambda: len(done) == 3, 10.0)
        assert [i for r, i in done if r == "a"] == [1, 2]
        threads = threading.active_count()
        assert wait_until(lambda: workers.robots() == [], 10.0)       # idle: reaped
        assert wait_until(lambda: threading.active_count() <= threads - 2, 10.0)
        assert workers.submit("c", ("c", 2)) is None                 # room again
        assert wait_until(lambda: ("c", 2) in done, 10.0)
    finally:
        workers.stop()


def test_edge_workers_bracket_each_robots_worker_with_started_and_reaped():
    """``started`` runs in the submitting thread before the worker's first item, ``reaped`` in
    the worker's thread after its last one; a robot back after its reap starts anew."""
    from robust_offload.runtime.workers import Workers

    events, lock = [], threading.Lock()

    def note(what):
        def call(arg):
            with lock:
                events.append((what, arg, threading.current_thread().name))
        return call

    workers = Workers(note("item"), queue_depth=4, idle_s=0.2, started=note("started"),
                      reaped=note("reaped"))
    me = threading.current_thread().name
    try:
        workers.submit("a", 1)
        assert wait_until(lambda: len(events) == 3, timeout_s=5.0)    # started, 1, reaped
        workers.submit("a", 2)
        assert wait_until(lambda: len(events) == 6, timeout_s=5.0)
    finally:
        workers.stop()
    assert events == [("started", "a", me), ("item", 1, "edge-a"), ("reaped", "a", "edge-a"),
                      ("started", "a", me), ("item", 2, "edge-a"), ("reaped", "a", "edge-a")]


def test_the_edge_alive_signal_has_news_only_after_results():
    from robust_offload.runtime.edge import Served

    served = Served()
    assert served.news() is None                         # nothing served: no signal
    served.add()
    served.add()
    assert served.news() == 2 and served.news() is None
    served.add()
    assert served.news() == 3


def test_a_silent_camera_does_not_keep_a_robot_on_its_old_share(robot):
    """A plan applies at the next frame; with no image for a while (the camera is silent) it
    applies without one, so the status reports the share of the newest plan (else every robot
    of a camera-less swarm would stay on its first share and the planner re-send the plan to
    all of them every 3 s, 'out of sync')."""
    def silent():
        loop.stop()                                      # one idle turn, then the loop ends
        return None

    loop = FrameLoop(robot, EdgeWatch(3.0, 3), rate_hz=10.0, plan_wait_s=0.0,
                     send=lambda frame: None, publish=lambda record: None,
                     warn=lambda text: None, error=lambda text: None, images=silent)
    robot.set_decision(AppliedDecision(1, 3, 0.6, 2e6))
    loop.heard()
    assert robot.share_hz() == 0.0                       # pending, not in force
    loop.run()
    assert robot.share_hz() == 2e6 and robot.decision.plan_id == 1


def test_throttle_logs_a_kind_once_per_period_and_counts_the_repeats(monkeypatch):
    from robust_offload.runtime.throttle import Throttle

    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    lines = []
    throttle = Throttle(lines.append, period_s=10.0)
    for i in range(4):
        throttle(f"frame {i} failed", key="TypeError")
        throttle("other", key="KeyError")
        now[0] += 3.0
    assert lines == ["frame 0 failed", "other"]           # 9 s: the rest held back
    now[0] += 1.0                                        # 13 s after the first
    throttle("frame 4 failed", key="TypeError")
    assert lines[-1] == "frame 4 failed (3 more since the last report)"


def test_an_edge_worker_survives_failing_items_and_says_so_once():
    from robust_offload.runtime.workers import Workers

    served, errors = threading.Event(), []

    def handle(item):
        if item != "ok":
            raise TypeError(f"cannot serve {item}")
        served.set()

    workers = Workers(handle, queue_depth=4, error=errors.append)
    try:
        for item in ("bad 1", "bad 2", "ok"):
            assert workers.submit("robot_7", item) is None
        assert served.wait(timeout=10.0)                 # the robot is still served
    finally:
        workers.stop()
    (error,) = errors                                    # throttled: once per kind
    assert "robot_7" in error and "TypeError('cannot serve bad 1')" in error


def test_a_result_the_edge_marks_failed_is_recorded_as_a_miss_at_once(robot):
    published = []
    loop = FrameLoop(robot, EdgeWatch(3.0, 2), rate_hz=10.0, plan_wait_s=0.0,
                     send=lambda frame: None, publish=published.append,
                     warn=lambda text: None, error=lambda text: None)
    robot.set_decision(AppliedDecision(1, 3, 0.6, 2e6))
    loop.heard()
    frames = [robot.next_frame(True) for _ in range(2)]
    loop.result(frames[0].request_id, 0.0, failed=True)          # well within the deadline
    (record,) = published
    assert record["executed_on"] == "failed" and not record["deadline_met"]
    assert (record["request_id"], record["plan_id"], record["partition"]) == (
        frames[0].request_id, 1, 3)
    assert frames[0].request_id not in robot.pending             # not expired again later
    loop.result(frames[1].request_id, 0.0, failed=True)          # max_missed failed in a row
    assert not loop.edge_available()                              # an edge that fails: local


def test_a_frame_that_fails_on_the_robot_gets_a_failed_record_and_one_error_line(robot,
                                                                                  monkeypatch):
    """Every frame gets its record, a failed one too (the planner calibrates on the misses, the
    bag counts them); the error is logged once per kind, not once per frame."""
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    published, errors, frames = [], [], iter(range(3))

    def camera():
        now[0] += 0.1
        if next(frames, None) is None:
            loop.stop()
            return None
        return None, now[0]

    def broken(*args):
        raise RuntimeError("head crashed")

    loop = FrameLoop(robot, EdgeWatch(3.0, 3), rate_hz=10.0, plan_wait_s=0.0,
                     send=lambda frame: None, publish=published.append,
                     warn=lambda text: None, error=errors.append, images=camera)
    robot.set_decision(AppliedDecision(1, 3, 0.6, 2e6))
    loop.heard()
    monkeypatch.setattr(robot, "next_frame", broken)
    loop.run()
    assert len(published) == 3 and len({r["request_id"] for r in published}) == 3
    for record in published:
        assert record["executed_on"] == "failed" and not record["deadline_met"]
        assert (record["plan_id"], record["partition"], record["freq_ghz"],
                record["bandwidth_hz"]) == (1, 3, 0.6, 2e6)    # the decision it was to use
    assert errors == ["frame failed: RuntimeError('head crashed')"]
    del robot.next_frame                                 # frames run again; sending fails
    loop.send = broken
    loop.one_frame()
    assert published[-1]["executed_on"] == "failed" and robot.pending == {}
    assert len(published) == 4 and len(errors) == 1      # the same kind: held back


def test_a_robot_offloads_only_to_an_edge_running_its_weights():
    from robust_offload.runtime.edge_match import EdgeMatch

    match = EdgeMatch("digits_cnn", fingerprint="a1b2")
    assert not match.heartbeat("alexnet", "ffff") and match.note == ""   # another model's
    assert not match.heartbeat("digits_cnn", "c3d4")
    assert "other weights of 'digits_cnn'" in match.note and "c3d4" in match.note
    assert match.heartbeat("digits_cnn", "a1b2") and match.note == ""   # the same weights
    assert match.heartbeat("digits_cnn", "")                           # a modelled edge
    assert EdgeMatch("digits_cnn").heartbeat("digits_cnn", "c3d4")       # a modelled robot


def test_edge_serves_a_model_whose_name_has_underscores(profiles):
    from robust_offload.core.scenario import Profile

    base = profiles["alexnet_nx_cpu"]
    named = {"mobilenet_v3_small_cpu": Profile(**{**base.__dict__,
                                                  "name": "mobilenet_v3_small_cpu",
                                                  "model": "torchvision:mobilenet_v3_small"})}
    edge = EdgeRuntime("modelled", named, seed=0)
    assert edge.models == ["torchvision:mobilenet_v3_small"]
    assert edge.profile_for("torchvision:mobilenet_v3_small") is named["mobilenet_v3_small_cpu"]
    with pytest.raises(KeyError, match="is not served here"):
        edge.serve("mobilenet", 0, EMPTY)


def test_per_model_parameters_name_each_model_once():
    from robust_offload.runtime.edge import per_model

    assert per_model("model_weights", ["none"]) == {}
    assert per_model("model_weights", ["digits:cnn=/w/a.safetensors", "alexnet=IMAGENET1K_V1"]) \
        == {"digits:cnn": "/w/a.safetensors", "alexnet": "IMAGENET1K_V1"}
    for bad in (["alexnet"], ["=w.pt"], ["alexnet=a.pt", "alexnet=b.pt"]):
        with pytest.raises(InputError, match="model_weights"):
            per_model("model_weights", bad)


def test_a_robots_profile_must_be_its_models(profiles):
    from robust_offload.runtime.robot_loop import _check_fit

    class SixBlocks:
        num_blocks = 6

    alexnet = profiles["alexnet_nx_cpu"]
    with pytest.raises(InputError, match="is a profile of 'alexnet', not of the robot's model "
                                         "'resnet152'"):
        _check_fit({"model": "resnet152", "profile": "alexnet_nx_cpu"}, alexnet, None)
    with pytest.raises(InputError, match="has 9 partition points, model 'alexnet' has 7"):
        _check_fit({"model": "alexnet", "profile": "alexnet_nx_cpu"}, alexnet, SixBlocks())
    _check_fit({"model": "alexnet", "profile": "alexnet_nx_cpu"}, alexnet, None)   # modelled
