"""The Fast DDS discovery server for ``robust-offload fleet --discovery server``.

With ``discovery: multicast`` (DDS's simple discovery) every participant announces itself to
every other by multicast; with ``server`` one ``fast-discovery-server`` process (shipped in the
ROS 2 wheels) is the meeting point: each node is pointed at it with ``ROS_DISCOVERY_SERVER``
(ROS 2's "Using Fast DDS Discovery Server as discovery protocol" tutorial) and exchanges its
endpoints with it only, so no multicast is needed.

The wheel's binary finds its libraries only with ``LD_LIBRARY_PATH`` set to the venv's ``lib/``
and the ``ros_fastdds.libs`` directory beside the Python packages; :func:`server_process` does
that.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

PORT = 11811
"""The discovery server's default UDP port."""
SERVER_MODE = "42"
"""The binary's sub-command for "run a server" (what ``fastdds discovery`` passes it)."""


class DiscoveryError(RuntimeError):
    """The discovery server could not be found or started; one-line message."""


def server_binary() -> Path:
    """``fast-discovery-server`` of this interpreter's environment."""
    path = Path(sys.executable).with_name("fast-discovery-server")
    if not path.exists():
        raise DiscoveryError(f"no fast-discovery-server beside {sys.executable}: install the "
                             "ROS 2 Fast DDS wheels (scripts/install)")
    return path


def library_path() -> str:
    """``LD_LIBRARY_PATH`` with the Fast DDS libraries of the wheels in front."""
    purelib = Path(sysconfig.get_paths()["purelib"])
    found = [str(Path(sys.prefix) / "lib"), *map(str, sorted(purelib.glob("ros_fastdds*.libs")))]
    return os.pathsep.join([*found, *filter(None, [os.environ.get("LD_LIBRARY_PATH")])])


def client_environment(env: dict, address: str, port: int = PORT) -> dict:
    """``env`` for a node that discovers through the server at ``address``."""
    return {**env, "ROS_DISCOVERY_SERVER": f"{address}:{port}"}


def server_process(address: str, log, wrap=lambda argv: argv, port: int = PORT):
    """Start the server listening on ``address``:``port`` (``wrap`` puts the command on a host,
    e.g. into a network namespace); its output goes to ``log``."""
    argv = wrap([str(server_binary()), SERVER_MODE, "-l", address, "-p", str(port)])
    env = {**os.environ, "LD_LIBRARY_PATH": library_path()}
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    try:
        process.wait(timeout=1.0)               # one that cannot start exits at once
    except subprocess.TimeoutExpired:
        return process
    raise DiscoveryError(f"fast-discovery-server exited with status {process.returncode} "
                         f"(see {getattr(log, 'name', 'its log')})")
