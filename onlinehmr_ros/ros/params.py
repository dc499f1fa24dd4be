"""Declaring ROS parameters with descriptors, concisely and uniformly."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node



def declare(node: Node, name: str, default: Any, description: str, read_only: bool = False,
            min_value: float | int | None = None, max_value: float | int | None = None,
            choices: tuple[str, ...] = ()) -> Any:
    """Declare one parameter with a descriptor and return its value.

    Args:
        choices: for string parameters, the allowed values (listed in the description and checked).
    Raises:
        ValueError: the value given (YAML or ``-p``) is not one of ``choices``.
    """
    desc = ParameterDescriptor(description=description + (f' One of: {", ".join(choices)}.' if choices else ''),
                               read_only=read_only)
    if min_value is not None and max_value is not None:
        if isinstance(default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(min_value), to_value=float(max_value))]
        elif isinstance(default, int) and not isinstance(default, bool):
            desc.integer_range = [IntegerRange(from_value=int(min_value), to_value=int(max_value), step=1)]
    value = node.declare_parameter(name, default, desc).value
    if choices and value not in choices:
        raise ValueError(f"parameter '{name}' is '{value}'; it must be one of {', '.join(choices)}")
    return value


def _attribute_docs(cls) -> dict[str, str]:
    """Descriptions of a dataclass's fields from the ``Attributes:`` section of its docstring."""
    import inspect
    import re
    docs: dict[str, str] = {}
    text = inspect.getdoc(cls) or ''
    if 'Attributes:' not in text:
        return docs
    names: list[str] = []
    for line in text.split('Attributes:', 1)[1].splitlines():
        m = re.match(r'^\s{2,8}([A-Za-z_][\w, ]*):\s*(.*)$', line)
        if m and all(n.strip().isidentifier() for n in m.group(1).split(',')):
            names = [n.strip() for n in m.group(1).split(',')]
            for n in names:
                docs[n] = m.group(2).strip()
        elif line.strip() and names:
            for n in names:
                docs[n] += ' ' + line.strip()
        elif not line.strip() and docs:
            names = []
    return docs


def declare_config(node: Node, prefix: str, default, read_only: bool = True):
    """Declare every scalar field of a (nested) frozen dataclass config as ``prefix.field`` and build it.

    Descriptions come from the dataclass docstring's ``Attributes:`` section, so
    the core's documentation is what ``ros2 param describe`` shows. bool, int,
    float and str fields become parameters, optional floats and strings (default
    None) too, with 0.0 / '' meaning None; nested dataclasses recurse; fields of other types
    (tuples) keep their default.

    Returns:
        A copy of ``default`` with the parameter values (YAML / ``-p``) applied.
    """
    import dataclasses
    docs = _attribute_docs(type(default))
    changes = {}
    for f in dataclasses.fields(default):
        value = getattr(default, f.name)
        name = f'{prefix}.{f.name}' if prefix else f.name
        if dataclasses.is_dataclass(value):
            changes[f.name] = declare_config(node, name, value, read_only)
        elif isinstance(value, (bool, int, float, str)):
            desc = docs.get(f.name, f'{type(default).__name__}.{f.name}') + f' (default {value!r})'
            changes[f.name] = node.declare_parameter(
                name, value, ParameterDescriptor(description=desc, read_only=read_only)).value
        elif value is None and ('float' in str(f.type) or 'str' in str(f.type)):
            # optional value: ROS parameters have no None, so 0.0 / '' stand for "unset"
            unset = 0.0 if 'float' in str(f.type) else ''
            desc = docs.get(f.name, f'{type(default).__name__}.{f.name}') + f' ({unset!r}: unset)'
            v = node.declare_parameter(name, unset, ParameterDescriptor(description=desc, read_only=read_only)).value
            changes[f.name] = v if v else None
    return dataclasses.replace(default, **changes)
