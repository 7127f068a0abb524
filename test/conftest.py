"""Shared fixtures: the shipped profiles and small random fleets."""

from pathlib import Path

import pytest

from robust_offload.core.scenario import SHIPPED_PROFILES, load_profiles

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "config" / "scenarios" / "default.yaml"


@pytest.fixture(scope="session")
def profiles():
    return load_profiles(SHIPPED_PROFILES / "jetson_xavier_nx.yaml")
