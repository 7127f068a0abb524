"""The nodes' parameters as Markdown, from their own ``Param`` tables (so the docs cannot drift).

    python -m robust_offload.ros.parameters_doc > docs/parameters.md

test_parameters_doc.py checks that docs/parameters.md is what this prints.
"""

from __future__ import annotations

import importlib
import sys

from robust_offload.ros.managed import MANAGED
from robust_offload.ros.parameters import Param

NODES = (("planner", "robust_offload.ros.planner_node", True),
         ("edge", "robust_offload.ros.edge_node", True),
         ("robot", "robust_offload.ros.robot_node", False),
         ("radio", "robust_offload.ros.radio_node", False),
         ("recorder", "robust_offload.ros.recorder_node", False),
         ("image_player", "robust_offload.ros.image_player_node", False))
"""(node, module, lifecycle node?): each module has a PARAMETERS table."""


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(param: Param) -> str:
    value = param.default
    if isinstance(value, str):
        return f"`'{value}'`" if value else "`''`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`".replace("True", "true").replace("False", "false")


def node_table(name: str, parameters: dict[str, Param]) -> str:
    """One node's parameters: name, default, changeable at runtime, description (choices)."""
    lines = [f"### `{name}`", "", "| parameter | default | runtime | description |",
             "|---|---|---|---|"]
    for key, param in parameters.items():
        text = param.description + (f" (one of: {', '.join(param.choices)})"
                                    if param.choices else "")
        lines.append(f"| `{key}` | {_default(param)} | {'yes' if param.dynamic else ''} | "
                     f"{_cell(text)} |")
    return "\n".join(lines)


def document() -> str:
    """docs/parameters.md: every node's table."""
    parts = ["# Node parameters", "",
             "Generated from the nodes' `PARAMETERS` tables by `python -m "
             "robust_offload.ros.parameters_doc > docs/parameters.md` (a test checks it). Set "
             "them in a params file (`config/<node>.yaml`, `ros__parameters:`), in the fleet "
             "file's `parameters:`, or with `-p name:=value`. Values are checked at start "
             "(one ERROR line and exit 2 for a bad one); `runtime: yes` parameters can be "
             "changed with `ros2 param set`. Units are in the names.", ""]
    for name, module, lifecycle in NODES:
        table = dict(importlib.import_module(module).PARAMETERS)
        if lifecycle:
            table["managed"] = MANAGED
        parts += [node_table(name, table), ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(document())
