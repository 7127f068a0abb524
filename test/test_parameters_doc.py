"""docs/parameters.md is generated from the nodes' own parameter tables: it says what the nodes
declare, no more and no less."""

import pytest

pytest.importorskip("robust_offload.msg", reason="interfaces are built by `pip install .`")

from conftest import REPO  # noqa: E402
from robust_offload.ros.parameters_doc import document  # noqa: E402


def test_the_parameters_page_is_what_the_nodes_declare():
    page = (REPO / "docs" / "parameters.md").read_text()
    assert page == document(), ("docs/parameters.md is out of date: run python -m "
                                "robust_offload.ros.parameters_doc > docs/parameters.md")
