"""Shared fixtures: the shipped profiles and small random fleets."""

import os
from pathlib import Path

import pytest

from robust_offload.core.scenario import SHIPPED_PROFILES, load_profiles

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "config" / "scenarios" / "default.yaml"


@pytest.fixture(scope="session")
def profiles():
    return load_profiles(SHIPPED_PROFILES / "jetson_xavier_nx.yaml")


def ros_env(domain_id: int) -> dict:
    """Environment for node subprocesses of a test: its own DDS domain on this host only."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
               HOME=env.get("HOME") or "/tmp", ROS_LOG_DIR=env.get("ROS_LOG_DIR") or "/tmp/roslog",
               PYTHONUNBUFFERED="1")
    return env
