"""Node parameters, one way for every node: a table of :class:`Param` (default, description,
runtime-changeable or not, allowed values), declared with ranged ``ParameterDescriptor``s and
checked with the input vocabulary of :mod:`robust_offload.core.checks` (ros2/demos style)."""

from __future__ import annotations

from dataclasses import dataclass

from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.node import Node

from robust_offload.core import checks


@dataclass(frozen=True)
class Param:
    """One node parameter: default (its type is the parameter's type), description, whether it
    may change at runtime, and for text parameters the allowed values."""

    default: object
    description: str
    dynamic: bool = False
    choices: tuple = ()


def check_parameter(name: str, value, param: Param):
    """A parameter value checked with the house vocabulary (:mod:`robust_offload.core.checks`):
    the type of its default, its choices, and the plausible range of its unit."""
    default, source = param.default, "parameter"
    if param.choices:
        return checks.choice(source, name, value, param.choices)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            checks.fail(source, name, value, "must be true or false")
        return value
    if isinstance(default, int):
        return checks.whole(source, name, value)
    if isinstance(default, float):
        return checks.number(source, name, value)
    if isinstance(default, str):
        if not isinstance(value, str):
            checks.fail(source, name, value, "must be text")
        return value
    if value is None:             # an empty list override arrives as "not set"
        return []
    if not isinstance(value, (list, tuple)):
        checks.fail(source, name, value, "must be a list")
    return list(value)


def _descriptor(name: str, param: Param, read_only: bool, ranged: bool) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=param.description, read_only=read_only,
                                     dynamic_typing=isinstance(param.default, (int, float, list)))
    bounds = checks.quantity(name)
    if ranged and bounds is not None and isinstance(param.default, float):
        descriptor.floating_point_range = [FloatingPointRange(from_value=bounds.low,
                                                              to_value=bounds.high)]
        descriptor.additional_constraints = bounds.unit
    if param.choices:
        descriptor.additional_constraints = f"one of: {', '.join(param.choices)}"
    return descriptor


def declare_parameters(node: Node, spec: dict[str, Param]) -> dict:
    """The one way a node declares its parameters: each is declared, its value checked
    (:func:`check_parameter`: a bad value is one InputError line), then its descriptor gets the
    plausible range and ``read_only`` unless it is dynamic. Parameters in the node's params file
    that the node does not have are errors (a typo must not fall back to a default silently).
    Returns name -> checked value."""
    values = {}
    for name, param in spec.items():
        first = _descriptor(name, param, read_only=False, ranged=False)  # our check first
        value = node.declare_parameter(name, param.default, first).value
        values[name] = check_parameter(name, value, param)
        final = _descriptor(name, param, read_only=not param.dynamic, ranged=True)
        final.type = node.describe_parameter(name).type   # as declared (rclpy checks it)
        node.set_descriptor(name, final)
    # rclpy keeps a node's overrides (params files, -p) in _parameter_overrides; there is no
    # public accessor, and undeclared overrides are otherwise dropped without a word.
    unknown = sorted(set(getattr(node, "_parameter_overrides", {})) - set(spec)
                     - {"use_sim_time"})
    if unknown:
        checks.fail("parameter", unknown[0], node._parameter_overrides[unknown[0]].value,
                    f"not a parameter of node '{node.get_name()}' (known: "
                    f"{', '.join(sorted(spec))})")
    return values


def changed_parameters(parameters, spec: dict[str, Param]) -> tuple[dict, str]:
    """For ``add_on_set_parameters_callback``: (name -> checked value, "") of the changed
    dynamic parameters, or ({}, reason) when one of them is invalid."""
    changes = {}
    for parameter in parameters:
        param = spec.get(parameter.name)
        if param is None or not param.dynamic:
            continue
        try:
            changes[parameter.name] = check_parameter(parameter.name, parameter.value, param)
        except checks.InputError as err:
            return {}, str(err)
    return changes, ""
