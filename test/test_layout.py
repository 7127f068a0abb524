"""The house rules that code review would otherwise have to remember."""

import ast
from pathlib import Path

import robust_offload

PACKAGE_DIR = Path(robust_offload.__file__).resolve().parent


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_core_is_only_the_math():
    """core/ imports nothing of the project outside core/ (and no ROS at all)."""
    for path in sorted((PACKAGE_DIR / "core").glob("*.py")):
        for module in _imports(path):
            assert not module.startswith(("rclpy", "robust_offload.ros")), (path.name, module)
            if module.startswith("robust_offload"):
                assert module.startswith("robust_offload.core"), (path.name, module)


def test_runtime_and_math_never_import_ros():
    for folder in ("core", "runtime", "dnn", "hw"):
        for path in sorted((PACKAGE_DIR / folder).rglob("*.py")):
            for module in _imports(path):
                assert not module.startswith(("rclpy", "robust_offload.ros", "robust_offload.msg",
                                              "std_msgs", "sensor_msgs")), (path, module)


def test_the_readme_topic_table_is_the_contract():
    """Every topic of the contract is a row of the README's topic table, with its type and its
    QoS as the nodes create them."""
    import re

    from robust_offload.contract import topics

    own = {topics.own_channel("robot_id"): topics.OWN_CHANNEL_QOS,
           topics.own_results("robot_id"): topics.OWN_RESULTS_QOS}
    kinds = {**topics.TOPIC_TYPES,
             topics.own_channel("robot_id"): topics.TOPIC_TYPES[topics.CHANNEL_STATE],
             topics.own_results("robot_id"): topics.TOPIC_TYPES[topics.FRAMES]}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = {}
    for line in readme.split("## Nodes and topics", 1)[1].split("\n## ", 1)[0].splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        names = re.findall(r"`([^`]+)`", cells[0]) if line.startswith("| `") else []
        for name in names:
            name = name.replace("<robot_id>", "robot_id")
            rows[name if name.startswith(topics.PREFIX + "/") or name == topics.DIAGNOSTICS
                 else topics.PREFIX + name] = (cells[1].split()[0], cells[3])
    expected = {**topics.QOS, **own}
    assert set(rows) == set(expected)
    for topic, (kind, qos) in rows.items():
        assert qos == str(expected[topic]), topic
        assert kinds[topic].endswith("/" + kind), topic


def test_the_math_looks_up_no_files():
    """core/ reads the files it is given; where the shipped ones are is contract/files.py's."""
    for path in sorted((PACKAGE_DIR / "core").glob("*.py")):
        assert "__file__" not in path.read_text(), path.name


FLOORS = {"core": 0, "contract": 1, "dnn": 1, "hw": 1, "runtime": 2, "orchestration": 2,
          "analysis": 2, "msg": 2, "research": 3, "ros": 3, "cli": 4}
"""The house from the bottom up: a folder imports only from floors below its own (msg: the
messages rosidl generates)."""


def test_every_import_runs_down_the_floors():
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).parts
        if parts[0] in ("msg", "__init__.py"):
            continue
        room = parts[0].removesuffix(".py")
        for module in _imports(path):
            if module.startswith("robust_offload."):
                target = module.split(".")[1]
                assert target == room or FLOORS[target] < FLOORS[room], (path, module)
