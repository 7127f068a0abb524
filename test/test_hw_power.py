"""INA3221 readings in the iio and hwmon layouts, and the energy meter's integration. The meter's
tests wait for its background thread's samples, not for a fixed time: on a loaded host the thread
samples less often, and the checks follow the samples it took."""

import threading
import time
from pathlib import Path

import pytest

from robust_offload.hw import EnergyMeter, HardwareError, make_power_monitor

from helpers import wait_until

PERIOD_S = 0.002      # the meter's sampling period in these tests
SAMPLES = 10          # background samples waited for per phase of a measurement


def write_files(directory: Path, files: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in files.items():
        (directory / name).write_text(f"{value}\n")
    return directory


def iio_device(root: Path, index: int, name: str, files: dict) -> Path:
    return write_files(root / f"sys/bus/iio/devices/iio:device{index}", {"name": name, **files})


@pytest.fixture
def iio_root(tmp_path):
    """Xavier NX, JetPack 4: ina3221x with rail_name_N; plus a decoy IMU with a power file."""
    iio_device(tmp_path, 0, "bmi088", {"in_power0_input": 999})
    iio_device(tmp_path, 1, "ina3221x", {
        "rail_name_0": "VDD_IN", "rail_name_1": "VDD_CPU_GPU_CV", "rail_name_2": "VDD_SOC",
        "in_power0_input": 4512, "in_power1_input": 1230, "in_power2_input": 1402,
        "in_current0_input": 903, "in_voltage0_input": 5000})
    return tmp_path


@pytest.fixture
def hwmon_root(tmp_path):
    """Orin, JetPack 5: hwmon ina3221 with mV / mA files and labels; plus a decoy sensor."""
    write_files(tmp_path / "sys/class/hwmon/hwmon0", {"name": "acpitz", "temp1_input": 40000})
    write_files(tmp_path / "sys/class/hwmon/hwmon1", {
        "name": "ina3221",
        "in1_label": "VDD_GPU_SOC", "in1_input": 5000, "curr1_input": 1200,
        "in2_label": "VDD_CPU_CV", "in2_input": 4992, "curr2_input": 250,
        "in3_label": "VIN_SYS_5V0", "in3_input": 5008, "curr3_input": 625,
        "in4_input": 0})
    return tmp_path


def test_iio_layout_rail_names_and_milliwatts(iio_root):
    monitor = make_power_monitor(iio_root)
    assert monitor.layout == "iio"
    assert monitor.rails() == ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]
    assert monitor.read_power_w("VDD_IN") == pytest.approx(4.512)
    assert monitor.read_power_w("VDD_SOC") == pytest.approx(1.402)


def test_iio_layout_with_voltage_labels(tmp_path):
    iio_device(tmp_path, 0, "ina3221", {"in_voltage0_label": "VDD_IN", "in_power0_input": 3000,
                                        "in_power1_input": 700})
    monitor = make_power_monitor(tmp_path)
    assert monitor.rails() == ["VDD_IN", "channel1"]
    assert monitor.read_power_w("channel1") == pytest.approx(0.7)


def test_hwmon_layout_power_is_millivolts_times_milliamps(hwmon_root):
    monitor = make_power_monitor(hwmon_root)
    assert monitor.layout == "hwmon"
    assert monitor.rails() == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]
    assert monitor.read_power_w("VDD_GPU_SOC") == pytest.approx(6.0)
    assert monitor.read_power_w("VDD_CPU_CV") == pytest.approx(1.248)
    assert monitor.read_power_w("VIN_SYS_5V0") == pytest.approx(3.13)
    assert "hwmon" in monitor.describe() and "VDD_CPU_CV" in monitor.describe()


def test_two_monitors_with_the_same_label_are_told_apart(hwmon_root):
    write_files(hwmon_root / "sys/class/hwmon/hwmon2", {
        "name": "ina3221", "in1_label": "VDD_GPU_SOC", "in1_input": 1000, "curr1_input": 1000})
    monitor = make_power_monitor(hwmon_root)
    assert monitor.read_power_w("VDD_GPU_SOC") == pytest.approx(6.0)
    assert monitor.read_power_w("VDD_GPU_SOC@hwmon2") == pytest.approx(1.0)


def test_no_monitor_unknown_rail_missing_file(tmp_path, hwmon_root):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(HardwareError, match="no INA3221 power monitor found; this is probably "
                                            "not a Jetson"):
        make_power_monitor(empty)
    monitor = make_power_monitor(hwmon_root)
    with pytest.raises(HardwareError, match="power rail 'VDD_IN': unknown .*VDD_GPU_SOC"):
        monitor.read_power_w("VDD_IN")
    (hwmon_root / "sys/class/hwmon/hwmon1/curr2_input").unlink()
    with pytest.raises(HardwareError, match="curr2_input: missing"):
        monitor.read_power_w("VDD_CPU_CV")


def sampled(m, more: int) -> None:
    """Wait until the meter's thread has taken ``more`` samples beyond those ``m`` has."""
    count = len(m.times_s) + more
    assert wait_until(lambda: len(m.times_s) >= count, 30.0, poll_s=PERIOD_S), len(m.times_s)


def test_energy_meter_integrates_constant_power(iio_root):
    meter = EnergyMeter(make_power_monitor(iio_root), "VDD_IN", period_s=PERIOD_S)
    entered = time.perf_counter()
    with meter.measure() as m:
        inside = time.perf_counter()
        sampled(m, SAMPLES)              # the background thread samples
        done = time.perf_counter()
    left = time.perf_counter()
    # from a sample as the block starts to one as it ends: the whole block, and only it
    assert entered <= m.times_s[0] <= inside and done <= m.times_s[-1] <= left
    assert m.duration_s == pytest.approx(m.times_s[-1] - m.times_s[0], rel=1e-12)
    assert m.energy_j == pytest.approx(4.512 * m.duration_s, rel=1e-9)
    assert m.mean_power_w == pytest.approx(4.512)
    assert len(m.times_s) >= SAMPLES + 2


def test_energy_meter_follows_a_power_step(hwmon_root):
    current = hwmon_root / "sys/class/hwmon/hwmon1/curr1_input"
    meter = EnergyMeter(make_power_monitor(hwmon_root), "VDD_GPU_SOC", period_s=PERIOD_S)
    with meter.measure() as m:    # 6 W, then 2 W (5000 mV x 400 mA)
        sampled(m, SAMPLES)
        switch = time.perf_counter()
        current.write_text("400\n")
        sampled(m, SAMPLES)
    first = switch - m.times_s[0]
    second = m.duration_s - first
    expected = 6.0 * first + 2.0 * second
    # sampling around the step: the last sample stamped before it may already read 2 W, so
    # the two intervals around that sample may be off by up to the step (4 W) over their length
    last = max(i for i, t in enumerate(m.times_s) if t < switch)
    tolerance = 4.0 * (m.times_s[last + 1] - m.times_s[max(last - 1, 0)])
    print(f"energy {m.energy_j:.4f} J, expected {expected:.4f} J +- {tolerance:.4f} J")
    assert m.energy_j == pytest.approx(expected, abs=tolerance)
    assert 4.0 * second > 2 * tolerance      # which tells the step from 6 W throughout


def test_energy_meter_reports_a_read_failure(hwmon_root):
    monitor = make_power_monitor(hwmon_root)
    with pytest.raises(HardwareError, match="unknown"):
        EnergyMeter(monitor, "VDD_IN")
    meter = EnergyMeter(monitor, "VDD_CPU_CV", period_s=0.001)

    def sampling() -> bool:
        return any(t.name == "energy-meter" for t in threading.enumerate())
    with pytest.raises(HardwareError, match="curr2_input: missing"):
        with meter.measure():
            (hwmon_root / "sys/class/hwmon/hwmon1/curr2_input").unlink()
            # the background thread's next sample fails: it stops and keeps the error
            assert wait_until(lambda: not sampling(), 30.0, poll_s=0.001)
