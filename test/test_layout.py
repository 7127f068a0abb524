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
