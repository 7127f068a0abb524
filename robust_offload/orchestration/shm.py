"""Zombie Fast DDS shared-memory files: what a killed node leaves in ``/dev/shm``.

Every DDS participant on a host maps a shared-memory segment (64 MiB with the large-data profile
``config/fastdds_large_data.xml``) and port files in ``/dev/shm``. A node that exits cleanly
removes them; one that is killed (SIGKILL, a crash, the runner's forced stop) leaves them behind,
and tmpfs keeps them in RAM: measured here, 215 such segments (5.2 GB) had piled up over a day of
fault tests. The runner removes them with eProsima's own cleaner (``fastdds shm clean``, shipped
with the Fast DDS wheel), which deletes only files whose owner's lock is gone: segments of
participants still running, on any domain, are left alone.

One more thing a killed participant can leave is worse than RAM: a port file it created but was
killed before initialising (size 0). Every participant that later opens that port spins in
boost::interprocess for ever, on any domain: found here when a 250-robot swarm was stopped while
starting, every later node of the host (CI's included) hung in ``rclpy.create_node``. eProsima's
cleaner keeps such a port (it sees its mutex in use); :func:`remove_unfinished_ports` removes it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT_S = 30.0
SHM_DIR = Path("/dev/shm")
UNFINISHED_AGE_S = 10.0
"""A port file still empty this long after it was created was never initialised (creating one
takes microseconds): its creator was killed."""


def cleaner() -> Path | None:
    """The ``fastdds`` tool of this interpreter's environment (None if it has none)."""
    path = Path(sys.prefix) / "tools" / "fastdds" / "fastdds.py"
    return path if path.exists() else None


def remove_unfinished_ports(shm_dir: Path = SHM_DIR, age_s: float = UNFINISHED_AGE_S) -> list[str]:
    """Remove the port files (and their mutexes) that were created but never initialised: empty
    for longer than ``age_s`` (see the module docstring); returns their names."""
    removed = []
    for port in shm_dir.glob("fastdds_port*"):
        try:
            info = port.stat()
        except FileNotFoundError:                # removed by its owner meanwhile
            continue
        if re.fullmatch(r"fastdds_port\d+", port.name) and info.st_size == 0 \
                and time.time() - info.st_mtime > age_s:
            port.unlink(missing_ok=True)
            (shm_dir / f"sem.{port.name}_mutex").unlink(missing_ok=True)
            removed.append(port.name)
    return removed


def clean_zombie_segments() -> int | None:
    """Remove the shared-memory segments and ports of participants that are gone, and ports
    never initialised; returns how many segments were removed (None when this environment has
    no cleaner or it failed)."""
    if SHM_DIR.is_dir():
        remove_unfinished_ports()
    tool = cleaner()
    if tool is None:
        return None
    # the tool imports its sub-commands from its own directory: not with PYTHONSAFEPATH set
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    try:
        done = subprocess.run([sys.executable, str(tool), "shm", "clean"], capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=True, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+) zombie segments cleaned", done.stdout)
    return int(found.group(1)) if found else None
