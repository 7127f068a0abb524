"""What a killed DDS participant leaves in /dev/shm is removed; a live one's files are not."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robust_offload.orchestration.fleet import NodeSpec
from robust_offload.orchestration.runner import Fleet
from robust_offload.contract.files import config_dir
from robust_offload.orchestration.shm import clean_zombie_segments

from conftest import ros_env
from helpers import log_has, wait_until

SHM = Path("/dev/shm")
PARTICIPANT = "import rclpy, time; rclpy.init(); node = rclpy.create_node('p'); time.sleep(120)"

pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm")


def segments() -> set[str]:
    return {p.name for p in SHM.glob("fastdds_*") if "port" not in p.name}


def mapped(pid: int) -> set[str]:
    """The Fast DDS segments process ``pid`` has mapped (within a minute of its start): its
    own, and those of the peers it has sent to."""
    def found():
        return {Path(line.split()[-1]).name for line in Path(f"/proc/{pid}/maps").read_text()
                .splitlines() if "/dev/shm/fastdds_" in line and "port" not in line}
    segments = wait_until(found, 60.0, poll_s=0.2)
    assert segments, f"process {pid} mapped no shared-memory segment"
    return segments


def environment(domain: int) -> dict:
    return {**ros_env(domain), "FASTDDS_DEFAULT_PROFILES_FILE":
            str(config_dir() / "fastdds_large_data.xml")}


def participant(domain: int) -> tuple[subprocess.Popen, set[str]]:
    """A DDS participant process with the large-data profile, and its segment files."""
    process = subprocess.Popen([sys.executable, "-c", PARTICIPANT], env=environment(domain),
                               start_new_session=True)
    return process, mapped(process.pid)


def test_a_killed_participants_segment_is_removed_a_live_ones_kept():
    live, kept = participant(173)       # other domains: peers map each other's segments
    killed, left = participant(175)
    try:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
        assert left <= segments()                       # killed: its files stay behind
        assert clean_zombie_segments() >= 1
        assert not left & segments()
        assert kept <= segments()                       # a running participant keeps its own
    finally:
        live.kill()
        live.wait()


def test_stopping_a_fleet_removes_what_its_killed_nodes_left(tmp_path):
    """A node that ignores SIGINT is killed at the end of the stop's grace period; the stop
    then removes its segment and says so."""
    stubborn = PARTICIPANT.replace("time.sleep", "import signal; "
                                   "signal.signal(signal.SIGINT, signal.SIG_IGN); "
                                   "print('ignoring SIGINT', flush=True); time.sleep")
    fleet = Fleet([NodeSpec("stubborn", "stubborn")], tmp_path, environment(174),
                  command=lambda spec: [sys.executable, "-c", stubborn])
    fleet.start()
    left = mapped(fleet.processes[0][1].pid)
    # past rclpy's own SIGINT handling: the node is up and has set its own
    assert wait_until(lambda: log_has(tmp_path / "logs" / "stubborn.log", "ignoring SIGINT"),
                      60.0)
    said = []
    fleet.stop(said.append)
    assert fleet.processes[0][1].returncode == -signal.SIGKILL
    assert left and not left & segments()
    assert len(said) == 1 and "shared-memory segment" in said[0], said


def test_a_port_never_initialised_is_removed_with_its_mutex_a_new_or_used_one_kept(tmp_path):
    """A participant killed while creating a port leaves it empty; every later participant
    opening it spins for ever (a stopped 250-robot swarm hung every later node here, CI's too).
    Empty for over 10 s is never-initialised (creating takes microseconds)."""
    from robust_offload.orchestration.shm import remove_unfinished_ports

    def port(name, size, age_s):
        path = tmp_path / name
        path.write_bytes(b"\0" * size)
        os.utime(path, (time.time() - age_s,) * 2)
        return path

    stuck, mutex = port("fastdds_port7005", 0, 60), port("sem.fastdds_port7005_mutex", 32, 60)
    fresh = port("fastdds_port7007", 0, 1)              # being created right now
    used = port("fastdds_port7009", 4096, 60)
    segment = port("fastdds_0a63df2ddd9896ef_el", 0, 60)   # not a port
    assert remove_unfinished_ports(tmp_path) == ["fastdds_port7005"]
    assert not stuck.exists() and not mutex.exists()
    assert fresh.exists() and used.exists() and segment.exists()


def test_the_cleaner_removes_an_unfinished_port_in_dev_shm():
    stuck = SHM / "fastdds_port65431"
    stuck.touch()
    os.utime(stuck, (time.time() - 60,) * 2)
    try:
        clean_zombie_segments()
        assert not stuck.exists()
    finally:
        stuck.unlink(missing_ok=True)
