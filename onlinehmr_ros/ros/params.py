"""ROS parameters with descriptors that do what they say.

Every parameter of a node is either

* **read-only**, with the reason in its description (``ros2 param describe``); ``ros2 param set``
  then fails with ``Trying to set a read-only parameter``; or
* **live**: a set-parameters callback checks a new value (range and type by rclpy from the
  descriptor, ``choices`` and the core's own validation here) and, once accepted, the node sees it:
  ``params[name]`` returns the current value and ``on_change`` hands it to the core.

Ranges in descriptors are enforced by rclpy, also for values given at start-up (YAML, ``-p``,
launch): an out-of-range value is a one-line error, not a silent clamp. Optional settings whose
core default is ``None`` are declared as typed parameters without a value (``ros2 param get``:
"Parameter not set"), never as a ``0.0`` / ``''`` stand-in.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from typing import Any, Callable

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from onlinehmr_ros.core.common.errors import InputError

#: the description's read-only clause for settings the node uses once at start-up
BUILT_AT_START = 'the stage is built once at start-up; restart the node to change it'
#: ... and for frame names
FRAMES_FIXED = 'frame names are fixed while TF clients use them; restart the node to change them'


@dataclasses.dataclass
class _Live:
    choices: tuple = ()
    check: Callable[[Any], None] | None = None        # raises InputError / ValueError to reject
    on_change: Callable[[Any], None] | None = None     # called with the accepted value


@dataclasses.dataclass
class _LiveConfig:
    config: Any                                        # the current (nested) frozen dataclass
    prefix: str
    on_change: Callable[[Any], None]                   # called with the new config


class NodeParameters:
    """Declares a node's parameters and applies run-time changes to the live ones.

    Args:
        node: the node; one ``NodeParameters`` per node (it owns the set-parameters callbacks).
    """

    def __init__(self, node: Node):
        self._node = node
        self._values: dict[str, Any] = {}
        self._live: dict[str, _Live] = {}
        self._configs: dict[str, _LiveConfig] = {}      # live config field name -> its config
        node.add_on_set_parameters_callback(self._check)
        node.add_post_set_parameters_callback(self._apply)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def declare(self, name: str, default: Any, description: str, *, read_only: str = '',
                min_value: float | int | None = None, max_value: float | int | None = None,
                choices: tuple[str, ...] = (), check: Callable[[Any], None] | None = None,
                on_change: Callable[[Any], None] | None = None, value_type: type | None = None) -> Any:
        """Declare one parameter with a descriptor and return its (start-up) value.

        Args:
            default: the default; ``None`` declares a typed parameter without a value
                (``value_type`` float, int, str, bool, list (of floats) or an rclpy ``Parameter.Type``),
                read as None.
            read_only: the reason it cannot change while the node runs ('' = live).
            min_value, max_value: inclusive range (int or float parameters).
            choices: allowed values of a string parameter (listed in the description, checked at
                start-up and on every set).
            check: live parameters: raises InputError / ValueError to reject a new value.
            on_change: live parameters: called with each accepted new value.
        Raises:
            InputError: the start-up value is not one of ``choices`` or fails ``check``.
        """
        text = description + (f' One of: {", ".join(choices)}.' if choices else '')
        if default is None:
            text += ' Not set by default.'
        text += f' Read-only: {read_only}.' if read_only else ' Can be changed at run time.'
        desc = ParameterDescriptor(description=text, read_only=bool(read_only))
        numeric = value_type if default is None else type(default)
        if min_value is not None or max_value is not None:
            lo = min_value if min_value is not None else -1e300
            hi = max_value if max_value is not None else 1e300
            if numeric is float:
                desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi))]
            elif numeric is int:
                desc.integer_range = [IntegerRange(from_value=int(max(lo, -2**63)), to_value=int(min(hi, 2**63 - 1)),
                                                   step=1)]
            else:
                raise TypeError(f'parameter {name}: a range needs an int or float default')
        if default is None:
            kinds = {float: Parameter.Type.DOUBLE, int: Parameter.Type.INTEGER, str: Parameter.Type.STRING,
                     bool: Parameter.Type.BOOL, list: Parameter.Type.DOUBLE_ARRAY}
            kind = value_type if isinstance(value_type, Parameter.Type) else kinds[value_type]
            value = self._node.declare_parameter(name, kind, desc).value
        else:
            value = self._node.declare_parameter(name, default, desc).value
        if value is not None:
            self._validate(name, value, choices, check)
        self._values[name] = value
        if not read_only:
            self._live[name] = _Live(choices, check, on_change)
        return value

    def declare_config(self, prefix: str, default, read_only: str = BUILT_AT_START, live: tuple[str, ...] = (),
                       on_change: Callable[[Any], None] | None = None,
                       ranges: dict[str, tuple[float, float]] | None = None):
        """Declare every scalar field of a (nested) frozen dataclass config as ``prefix.field`` and build it.

        Descriptions come from the dataclass docstring's ``Attributes:`` section, so the core's
        documentation is what ``ros2 param describe`` shows. bool, int, float and str fields become
        parameters, optional ones (default None) typed parameters without a value; nested dataclasses
        recurse; fields of other types (tuples) keep their default.

        Args:
            read_only: the reason shown for fields not in ``live``.
            live: full parameter names (``prefix.field``; others are ignored) that may change while the node runs: a new
                value rebuilds the config (its own validation runs; a failure rejects the value)
                and ``on_change(new_config)`` hands it to the core.
            ranges: full parameter name -> (min, max) put in the descriptor (enforced by rclpy).
        Returns:
            A copy of ``default`` with the parameter values (YAML / ``-p``) applied.
        """
        if live and on_change is None:
            raise TypeError('declare_config: live fields need on_change')
        live = tuple(n for n in live if not prefix or n.startswith(prefix + '.'))
        config = self._declare_fields(prefix, default, read_only, set(live), ranges or {})
        holder = _LiveConfig(config, prefix, on_change) if live else None
        for name in live:
            if name not in self._values:
                raise KeyError(f'declare_config: {name} is not a field of {type(default).__name__}')
            self._configs[name] = holder
        return config

    def _declare_fields(self, prefix: str, default, read_only: str, live: set[str], ranges: dict):
        docs = _attribute_docs(type(default))
        hints = typing.get_type_hints(type(default))
        changes = {}
        for f in dataclasses.fields(default):
            value = getattr(default, f.name)
            name = f'{prefix}.{f.name}' if prefix else f.name
            reason = '' if name in live else read_only
            doc = docs.get(f.name, f'{type(default).__name__}.{f.name}')
            if dataclasses.is_dataclass(value):
                changes[f.name] = self._declare_fields(name, value, read_only, live, ranges)
            elif isinstance(value, (bool, int, float, str)):
                lo, hi = ranges.get(name, (None, None))
                changes[f.name] = self.declare(name, value, f'{doc} (default {value!r})', read_only=reason,
                                               min_value=lo, max_value=hi)
            elif value is None:
                kinds = [t for t in typing.get_args(hints[f.name]) if t in (float, int, str, bool)]
                if len(kinds) == 1:
                    changes[f.name] = self.declare(name, None, doc, read_only=reason, value_type=kinds[0])
        return dataclasses.replace(default, **changes)

    # -- the set-parameters callbacks -------------------------------------------------------------
    def _validate(self, name: str, value, choices=(), check=None) -> None:
        if choices and value not in choices:
            raise InputError(f"parameter '{name}' is '{value}'; it must be one of {', '.join(choices)}")
        if check is not None:
            check(value)

    def _new_configs(self, params: list[Parameter]) -> dict[int, tuple[_LiveConfig, Any]]:
        """The live configs as they would be with ``params`` applied (raises on invalid values)."""
        out: dict[int, tuple[_LiveConfig, Any]] = {}
        for p in params:
            holder = self._configs.get(p.name)
            if holder is None:
                continue
            config = out.get(id(holder), (holder, holder.config))[1]
            path = p.name[len(holder.prefix) + 1:] if holder.prefix else p.name
            out[id(holder)] = (holder, _replace_path(config, path.split('.'), p.value))
        return out

    def _check(self, params: list[Parameter]) -> SetParametersResult:
        try:
            for p in params:
                live = self._live.get(p.name)
                if live is not None:
                    self._validate(p.name, p.value, live.choices, live.check)
            self._new_configs(params)
        except (InputError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply(self, params: list[Parameter]) -> None:
        for holder, config in self._new_configs(params).values():
            holder.config = config
            holder.on_change(config)
        for p in params:
            if p.name in self._values:
                self._values[p.name] = p.value
                live = self._live.get(p.name)
                if live is not None and live.on_change is not None:
                    live.on_change(p.value)


def _replace_path(config, path: list[str], value):
    if len(path) == 1:
        return dataclasses.replace(config, **{path[0]: value})
    return dataclasses.replace(config, **{path[0]: _replace_path(getattr(config, path[0]), path[1:], value)})


def _attribute_docs(cls) -> dict[str, str]:
    """Descriptions of a dataclass's fields from the ``Attributes:`` section of its docstring."""
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
