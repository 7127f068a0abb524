"""Jetson DVFS backends against temporary sysfs trees: files, units, snapping, restore, errors."""

import builtins
import logging
from pathlib import Path

import pytest

from robust_offload.hw import (
    EmulatedDevice,
    EmulatedDvfs,
    HardwareError,
    JetsonCpuDvfs,
    JetsonGpuDvfs,
    make_dvfs,
)
from robust_offload.hw import sysfs
from robust_offload.runtime.device import make_local_device
from test_hw_emulated import small_profile

CPU_TABLE_KHZ = [115200, 422400, 729600, 1190400, 1907200]
GPU_TABLE_HZ = [114750000, 318750000, 522750000, 828750000, 1109250000, 1377000000]


def write_files(directory: Path, files: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in files.items():
        (directory / name).write_text(f"{value}\n")
    return directory


def read(path: Path) -> str:
    return path.read_text().strip()


def cpu_policy_files(cpus: str, table=CPU_TABLE_KHZ, governor="schedutil") -> dict:
    files = {"related_cpus": cpus, "affected_cpus": cpus,
             "cpuinfo_min_freq": table[0], "cpuinfo_max_freq": table[-1],
             "scaling_available_frequencies": " ".join(map(str, table)) + " ",
             "scaling_available_governors": "interactive conservative ondemand userspace "
                                            "powersave performance schedutil",
             "scaling_governor": governor, "scaling_min_freq": table[0],
             "scaling_max_freq": table[-1], "scaling_cur_freq": table[-1],
             "scaling_setspeed": "<unsupported>" if governor != "userspace" else table[2]}
    return files


@pytest.fixture
def cpu_root(tmp_path):
    """Two policies like a Jetson with two clusters: cpus 0-3 and cpus 4-5."""
    base = tmp_path / "sys/devices/system/cpu/cpufreq"
    write_files(base / "policy0", cpu_policy_files("0 1 2 3"))
    write_files(base / "policy4", cpu_policy_files("4 5"))
    return tmp_path


def policy(root: Path, name: str) -> Path:
    return root / "sys/devices/system/cpu/cpufreq" / name


def snapshot(directory: Path) -> dict:
    return {path.name: read(path) for path in directory.iterdir() if path.is_file()}


@pytest.fixture
def deny_write(monkeypatch):
    """deny_write(path): writing ``path`` fails with EACCES, as for a non-root user. chmod 0o444
    does not stop root (the tests may run as root), so sysfs's open is also replaced."""
    denied = set()

    def fake_open(file, mode="r", *args, **kwargs):
        if Path(file) in denied and ("w" in mode or "a" in mode):
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(sysfs, "open", fake_open, raising=False)

    def deny(path: Path):
        path.chmod(0o444)
        denied.add(path)
    return deny


# --- Jetson CPU (cpufreq) ---------------------------------------------------------------------

def test_cpu_writes_userspace_and_khz_snapped_up(cpu_root):
    dvfs = JetsonCpuDvfs(root=cpu_root, cpus=[0])
    assert dvfs.available_freqs_ghz() == [k / 1e6 for k in CPU_TABLE_KHZ]
    assert dvfs.set_freq_ghz(0.5) == pytest.approx(0.7296)
    p0 = policy(cpu_root, "policy0")
    assert read(p0 / "scaling_governor") == "userspace"
    assert read(p0 / "scaling_setspeed") == "729600"
    assert dvfs.set_freq_ghz(1.1904) == pytest.approx(1.1904)  # exact entry stays
    assert read(p0 / "scaling_setspeed") == "1190400"
    assert dvfs.set_freq_ghz(1.9072 + 1e-9) == pytest.approx(1.9072)  # float round-off at top
    assert read(p0 / "scaling_setspeed") == "1907200"
    # the other cluster is not touched
    assert read(policy(cpu_root, "policy4") / "scaling_governor") == "schedutil"
    assert read(policy(cpu_root, "policy4") / "scaling_setspeed") == "<unsupported>"


def test_cpu_request_for_one_cpu_drives_its_whole_policy(cpu_root):
    dvfs = JetsonCpuDvfs(root=cpu_root, cpus=[5])
    assert dvfs.cpus == [4, 5]
    dvfs.set_freq_ghz(0.4)
    assert read(policy(cpu_root, "policy4") / "scaling_setspeed") == "422400"
    assert read(policy(cpu_root, "policy0") / "scaling_governor") == "schedutil"


def test_cpu_request_spanning_policies_sets_every_cpu(cpu_root):
    dvfs = JetsonCpuDvfs(root=cpu_root, cpus=[2, 4])
    assert dvfs.cpus == [0, 1, 2, 3, 4, 5]
    dvfs.set_freq_ghz(1.0)
    for name in ("policy0", "policy4"):
        assert read(policy(cpu_root, name) / "scaling_governor") == "userspace"
        assert read(policy(cpu_root, name) / "scaling_setspeed") == "1190400"


def test_cpu_default_is_all_policies_and_common_table(cpu_root):
    (policy(cpu_root, "policy4") / "scaling_available_frequencies").write_text(
        "115200 422400 1190400 1907200 2201600\n")
    dvfs = JetsonCpuDvfs(root=cpu_root)
    assert dvfs.cpus == [0, 1, 2, 3, 4, 5]
    assert dvfs.available_freqs_ghz() == [0.1152, 0.4224, 1.1904, 1.9072]
    assert dvfs.set_freq_ghz(0.5) == pytest.approx(1.1904)  # 0.7296 is not common


def test_cpu_restore_puts_back_governor_and_limits(cpu_root):
    p0 = policy(cpu_root, "policy0")
    (p0 / "scaling_max_freq").write_text("1190400\n")  # e.g. limits set by nvpmodel
    (p0 / "scaling_min_freq").write_text("422400\n")
    before = snapshot(p0)
    dvfs = JetsonCpuDvfs(root=cpu_root, cpus=[0])
    dvfs.set_freq_ghz(1.9)
    assert read(p0 / "scaling_max_freq") == "1907200"  # widened so setspeed is not clamped
    assert read(p0 / "scaling_setspeed") == "1907200"
    dvfs.set_freq_ghz(0.1152)
    assert read(p0 / "scaling_min_freq") == "115200"
    assert read(p0 / "scaling_setspeed") == "115200"
    dvfs.restore()
    after = snapshot(p0)
    after.pop("scaling_setspeed")  # '<unsupported>' cannot be written back: governor decides
    before.pop("scaling_setspeed")
    assert after == before


def test_cpu_restore_setspeed_when_governor_was_userspace(tmp_path):
    files = cpu_policy_files("0 1", governor="userspace")
    write_files(policy(tmp_path, "policy0"), files)
    with JetsonCpuDvfs(root=tmp_path) as dvfs:
        dvfs.set_freq_ghz(0.2)
        assert read(policy(tmp_path, "policy0") / "scaling_setspeed") == "422400"
    assert read(policy(tmp_path, "policy0") / "scaling_setspeed") == str(CPU_TABLE_KHZ[2])


def test_cpu_context_manager_restores_on_exception(cpu_root):
    before = snapshot(policy(cpu_root, "policy0"))
    with pytest.raises(KeyError):
        with JetsonCpuDvfs(root=cpu_root, cpus=[0]) as dvfs:
            dvfs.set_freq_ghz(0.7)
            assert read(policy(cpu_root, "policy0") / "scaling_governor") == "userspace"
            raise KeyError("inference failed")
    after = snapshot(policy(cpu_root, "policy0"))
    assert after.pop("scaling_setspeed") == "729600"
    before.pop("scaling_setspeed")
    assert after == before


def test_cpu_without_table_uses_cpuinfo_range_in_khz(cpu_root):
    for name in ("policy0", "policy4"):
        (policy(cpu_root, name) / "scaling_available_frequencies").unlink()
    dvfs = JetsonCpuDvfs(root=cpu_root, cpus=[0])
    assert dvfs.available_freqs_ghz() == [0.1152, 1.9072]
    assert dvfs.set_freq_ghz(0.5) == 0.5
    assert read(policy(cpu_root, "policy0") / "scaling_setspeed") == "500000"
    with pytest.raises(HardwareError, match=r"cpuinfo_max_freq: requested frequency 2\.5 GHz"):
        dvfs.set_freq_ghz(2.5)


def test_cpu_per_cpu_directory_layout(tmp_path):
    base = tmp_path / "sys/devices/system/cpu"
    write_files(base / "cpu0/cpufreq", cpu_policy_files("0 1"))
    write_files(base / "cpu1/cpufreq", cpu_policy_files("0 1"))  # same policy, seen twice
    write_files(base / "cpu2/cpufreq", cpu_policy_files("2"))
    dvfs = JetsonCpuDvfs(root=tmp_path, cpus=[1])
    assert dvfs.cpus == [0, 1]
    dvfs.set_freq_ghz(0.3)
    assert read(base / "cpu0/cpufreq/scaling_setspeed") == "422400"
    assert read(base / "cpu2/cpufreq/scaling_setspeed") == "<unsupported>"


@pytest.mark.parametrize("freq", [0.1, 1.95, float("nan")])
def test_cpu_out_of_range_raises_and_writes_nothing(cpu_root, freq):
    before = snapshot(policy(cpu_root, "policy0"))
    dvfs = JetsonCpuDvfs(root=cpu_root, cpus=[0])
    with pytest.raises(HardwareError) as err:
        dvfs.set_freq_ghz(freq)
    message = str(err.value)
    assert "policy0/scaling_available_frequencies" in message
    assert f"requested frequency {freq:g} GHz" in message
    assert "[0.1152, 1.9072] GHz" in message and "\n" not in message
    assert snapshot(policy(cpu_root, "policy0")) == before


def test_cpu_permission_denied_names_path_and_leaves_nothing_pinned(cpu_root, deny_write):
    p0 = policy(cpu_root, "policy0")
    before = snapshot(p0)
    deny_write(p0 / "scaling_setspeed")
    dvfs = JetsonCpuDvfs(root=cpu_root, cpus=[0])
    with pytest.raises(HardwareError) as err:
        dvfs.set_freq_ghz(0.7)
    message = str(err.value)
    assert f"run as root or grant write access to {p0 / 'scaling_setspeed'}" in message
    assert "permission denied" in message and "\n" not in message
    assert snapshot(p0) == before  # the governor written before the failure is restored


def test_cpu_failure_in_second_policy_restores_the_first(cpu_root, deny_write):
    before = snapshot(policy(cpu_root, "policy0"))
    deny_write(policy(cpu_root, "policy4") / "scaling_governor")
    dvfs = JetsonCpuDvfs(root=cpu_root)
    with pytest.raises(HardwareError, match="policy4/scaling_governor: permission denied"):
        dvfs.set_freq_ghz(1.0)
    after = snapshot(policy(cpu_root, "policy0"))
    assert after.pop("scaling_setspeed") == "1190400"
    before.pop("scaling_setspeed")
    assert after == before


def test_cpu_missing_file_says_which_and_suggests_emulated(cpu_root):
    (policy(cpu_root, "policy0") / "scaling_governor").unlink()
    dvfs = JetsonCpuDvfs(root=cpu_root, cpus=[0])
    with pytest.raises(HardwareError) as err:
        dvfs.set_freq_ghz(0.7)
    message = str(err.value)
    assert str(policy(cpu_root, "policy0") / "scaling_governor") + ": missing" in message
    assert "probably not a Jetson" in message and "emulated" in message


def test_cpu_no_cpufreq_at_all(tmp_path):
    with pytest.raises(HardwareError, match="no cpufreq policy found.*probably not a Jetson"):
        JetsonCpuDvfs(root=tmp_path)


def test_cpu_unknown_cpu_and_missing_userspace_governor(cpu_root):
    with pytest.raises(HardwareError, match=r"no policy lists cpu 7 .*\[0, 1, 2, 3, 4, 5\]"):
        JetsonCpuDvfs(root=cpu_root, cpus=[7])
    (policy(cpu_root, "policy0") / "scaling_available_governors").write_text("schedutil\n")
    with pytest.raises(HardwareError, match="scaling_available_governors: the 'userspace'"):
        JetsonCpuDvfs(root=cpu_root, cpus=[0])


# --- Jetson GPU (devfreq) ---------------------------------------------------------------------

def devfreq_node(root: Path, name: str, of_name: str | None, table, compatible=None) -> Path:
    node = write_files(root / "sys/class/devfreq" / name, {
        "available_frequencies": " ".join(map(str, table)), "min_freq": table[0],
        "max_freq": table[-1], "cur_freq": table[-1], "governor": "nvhost_podgov"})
    of_node = node / "device/of_node"
    of_node.mkdir(parents=True)
    if of_name is not None:
        (of_node / "name").write_bytes(of_name.encode() + b"\x00")
    if compatible is not None:
        (of_node / "compatible").write_bytes(b"\x00".join(c.encode() for c in compatible)
                                             + b"\x00")
    return node


@pytest.fixture
def gpu_root(tmp_path):
    """Decoy devfreq nodes (engines, memory) around a GPU node named only in its of_node."""
    devfreq_node(tmp_path, "13e10000.host1x:nvdla0", "nvdla0", [100000000, 1100000000])
    devfreq_node(tmp_path, "15340000.vic", "vic", [115200000, 1036800000])
    devfreq_node(tmp_path, "17000000.gpu", "gv11b", GPU_TABLE_HZ)
    devfreq_node(tmp_path, "2c60000.external-memory-controller", "emc", [204000000])
    return tmp_path


def gpu_node(root: Path) -> Path:
    return root / "sys/class/devfreq/17000000.gpu"


def test_gpu_found_by_of_node_name_among_decoys(gpu_root):
    dvfs = JetsonGpuDvfs(root=gpu_root)
    assert dvfs.node == gpu_node(gpu_root)
    assert dvfs.available_freqs_ghz() == [hz / 1e9 for hz in GPU_TABLE_HZ]
    assert "17000000.gpu" in dvfs.describe()


@pytest.mark.parametrize("name, of_name, compatible", [
    ("17000000.ga10b", None, None),                       # Orin, directory name only
    ("17000000.gpu", "gpu", ["nvidia,ga10b", "nvidia,gpu"]),  # JetPack 6: compatible string
    ("17000000.gp10b", "gp10b", None),                   # TX2
])
def test_gpu_found_by_directory_name_or_compatible(tmp_path, name, of_name, compatible):
    devfreq_node(tmp_path, "15340000.vic", "vic", [115200000])
    devfreq_node(tmp_path, name, of_name, GPU_TABLE_HZ, compatible)
    assert JetsonGpuDvfs(root=tmp_path).node.name == name


def test_gpu_pins_min_and_max_in_hz(gpu_root):
    dvfs = JetsonGpuDvfs(root=gpu_root)
    assert dvfs.set_freq_ghz(0.5) == pytest.approx(0.52275)
    node = gpu_node(gpu_root)
    assert read(node / "min_freq") == "522750000"
    assert read(node / "max_freq") == "522750000"
    assert read(node / "governor") == "nvhost_podgov"  # the governor is left alone
    for decoy in ("15340000.vic", "13e10000.host1x:nvdla0"):
        assert read(gpu_root / "sys/class/devfreq" / decoy / "min_freq") != "522750000"


def test_gpu_write_order_never_has_min_above_max(gpu_root, monkeypatch):
    node = gpu_node(gpu_root)
    writes = []
    original = sysfs.write_text

    def recording_write(path, value):
        original(path, value)
        writes.append((Path(path).name, int(value)))
        assert int(read(node / "min_freq")) <= int(read(node / "max_freq"))

    monkeypatch.setattr(sysfs, "write_text", recording_write)
    dvfs = JetsonGpuDvfs(root=gpu_root)
    dvfs.set_freq_ghz(0.5)
    dvfs.set_freq_ghz(1.0)   # raising: max first
    assert writes[-2:] == [("max_freq", 1109250000), ("min_freq", 1109250000)]
    dvfs.set_freq_ghz(0.2)   # lowering: min first
    assert writes[-2:] == [("min_freq", 318750000), ("max_freq", 318750000)]
    dvfs.restore()
    assert writes[-2:] == [("min_freq", GPU_TABLE_HZ[0]), ("max_freq", GPU_TABLE_HZ[-1])]
    assert read(node / "min_freq") == str(GPU_TABLE_HZ[0])
    assert read(node / "max_freq") == str(GPU_TABLE_HZ[-1])


def test_gpu_restores_originals_also_on_exception(gpu_root):
    node = gpu_node(gpu_root)
    (node / "min_freq").write_text("318750000\n")
    (node / "max_freq").write_text("828750000\n")
    with pytest.raises(RuntimeError, match="boom"):
        with make_dvfs("jetson-gpu", root=gpu_root) as dvfs:
            dvfs.set_freq_ghz(1.3)
            assert read(node / "max_freq") == "1377000000"
            raise RuntimeError("boom")
    assert (read(node / "min_freq"), read(node / "max_freq")) == ("318750000", "828750000")


def test_gpu_permission_denied_restores_what_was_written(gpu_root, deny_write):
    node = gpu_node(gpu_root)
    deny_write(node / "max_freq")
    dvfs = JetsonGpuDvfs(root=gpu_root)
    with pytest.raises(HardwareError) as err:
        dvfs.set_freq_ghz(0.5)   # min is written first, then max fails
    assert f"run as root or grant write access to {node / 'max_freq'}" in str(err.value)
    assert read(node / "min_freq") == str(GPU_TABLE_HZ[0])
    assert read(node / "max_freq") == str(GPU_TABLE_HZ[-1])


def test_gpu_out_of_range_and_missing(gpu_root, tmp_path):
    dvfs = JetsonGpuDvfs(root=gpu_root)
    with pytest.raises(HardwareError, match=r"17000000.gpu/available_frequencies: requested "
                                            r"frequency 1\.5 GHz is outside .*1\.377\] GHz"):
        dvfs.set_freq_ghz(1.5)
    with pytest.raises(HardwareError, match=r"0\.1 GHz is outside"):
        dvfs.set_freq_ghz(0.1)
    assert read(gpu_node(gpu_root) / "min_freq") == str(GPU_TABLE_HZ[0])
    (gpu_node(gpu_root) / "cur_freq").unlink()
    with pytest.raises(HardwareError, match="cur_freq: missing; this is probably not a Jetson"):
        dvfs.current_freq_ghz()
    devfreq_node(tmp_path / "other", "15340000.vic", "vic", [115200000])
    with pytest.raises(HardwareError, match=r"no GPU devfreq node .*nodes: 15340000\.vic\).*"
                                            "emulated"):
        JetsonGpuDvfs(root=tmp_path / "other")


def test_gpu_current_freq_reads_cur_freq(gpu_root):
    (gpu_node(gpu_root) / "cur_freq").write_text("828750000\n")
    assert JetsonGpuDvfs(root=gpu_root).current_freq_ghz() == pytest.approx(0.82875)


# --- factory ----------------------------------------------------------------------------------

def test_make_dvfs_kinds_and_logging(cpu_root, gpu_root, caplog):
    with caplog.at_level(logging.INFO, logger="robust_offload.hw"):
        assert isinstance(make_dvfs("jetson-cpu", root=cpu_root), JetsonCpuDvfs)
        assert isinstance(make_dvfs("jetson-gpu", root=gpu_root), JetsonGpuDvfs)
        assert type(make_dvfs("emulated", freq_range_ghz=(0.1, 1.2))) is EmulatedDvfs
        device = make_local_device("emulated", small_profile(), 1e-27, (0.5, 2.0))
        assert isinstance(device, EmulatedDevice)
    messages = [r.getMessage() for r in caplog.records if r.name == "robust_offload.hw"]
    assert messages[0].startswith("DVFS backend: jetson-cpu (cpufreq policy0, policy4")
    assert messages[1].startswith("DVFS backend: jetson-gpu (devfreq 17000000.gpu")
    assert messages[2].startswith("DVFS backend: emulated (no Jetson sysfs")
    assert messages[3].startswith("DVFS backend: emulated (no Jetson sysfs; profile small")
    with pytest.raises(ValueError, match="unknown DVFS backend 'jetson-dla'.*emulated"):
        make_dvfs("jetson-dla")
