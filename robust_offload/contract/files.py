"""Where the package's files are: installed (share/robust_offload of the environment) or in a
source checkout. The one place that knows the layout; the shipped planner profiles are
:data:`DEFAULT_PROFILE_FILE` and its neighbours.

Why the single-package build needs care: rosidl generates ``robust_offload/msg`` into the
installed package while the hand-written modules come from this tree, so code run from a
checkout must import the installed package (``PYTHONSAFEPATH=1`` in the scripts, and the node
executables drop the current directory from ``sys.path``); CMakeLists.txt installs the sources
over the generated package.
"""

from __future__ import annotations

import sys
from pathlib import Path

from robust_offload.contract.topics import PACKAGE

SOURCE_ROOT = Path(__file__).resolve().parents[2]

SHIPPED_PROFILES = next(
    (path for path in (SOURCE_ROOT / PACKAGE / "data", SOURCE_ROOT / "config" / "profiles")
     if path.is_dir()),
    SOURCE_ROOT / PACKAGE / "data")
"""Directory of the shipped profile files: package data when installed, config/profiles in a
source checkout."""

DEFAULT_PROFILE_FILE = SHIPPED_PROFILES / "jetson_xavier_nx.yaml"
"""The profiles used when none are named: Jetson Xavier NX robots (Sec. VI), edge measured on an
NVIDIA H100."""

PAPER_PROFILE_FILE = SHIPPED_PROFILES / "paper_rtx4080.yaml"
"""The paper's setting (``reproduce``): the same robots, edge derived for its RTX 4080."""


def profile_file(path: str | Path | None = None) -> Path:
    """``path``, or :data:`DEFAULT_PROFILE_FILE` when it is None or "" (a node's default)."""
    return Path(path) if path else DEFAULT_PROFILE_FILE


def share_dirs() -> list[Path]:
    """Candidate share/robust_offload directories: the ament index's, the environment's, and
    the source checkout's root (which has msg/, config/, launch/ at the same places)."""
    found = []
    try:
        from ament_index_python.packages import get_package_share_directory

        found.append(Path(get_package_share_directory(PACKAGE)))
    except Exception:  # not installed, or no ament index
        pass
    return [*found, Path(sys.prefix) / "share" / PACKAGE, SOURCE_ROOT]


def find_dir(name: str, pattern: str = "*") -> Path | None:
    """The first ``<share>/<name>`` (installed first, then the checkout) holding ``pattern``."""
    for share in share_dirs():
        path = share / name
        if path.is_dir() and any(path.glob(pattern)):
            return path
    return None


def config_dir() -> Path:
    """config/ (parameter YAML, fleet files, Fast DDS profile)."""
    return find_dir("config", "*.yaml") or SOURCE_ROOT / "config"
