"""Zombie Fast DDS shared-memory files: what a killed node leaves in ``/dev/shm``.

Every DDS participant on a host maps a shared-memory segment (64 MiB with the large-data profile
``config/fastdds_large_data.xml``) and port files in ``/dev/shm``. A node that exits cleanly
removes them; one that is killed (SIGKILL, a crash, the runner's forced stop) leaves them behind,
and tmpfs keeps them in RAM: measured here, 215 such segments (5.2 GB) had piled up over a day of
fault tests. The runner removes them with eProsima's own cleaner (``fastdds shm clean``, shipped
with the Fast DDS wheel), which deletes only files whose owner's lock is gone: segments of
participants still running, on any domain, are left alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TIMEOUT_S = 30.0


def cleaner() -> Path | None:
    """The ``fastdds`` tool of this interpreter's environment (None if it has none)."""
    path = Path(sys.prefix) / "tools" / "fastdds" / "fastdds.py"
    return path if path.exists() else None


def clean_zombie_segments() -> int | None:
    """Remove the shared-memory segments and ports of participants that are gone; returns how
    many segments were removed (None when this environment has no cleaner or it failed)."""
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
