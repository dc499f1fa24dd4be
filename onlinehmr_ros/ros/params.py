"""Declaring ROS parameters with descriptors, concisely and uniformly."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from onlinehmr_ros.core.body_model import BodyModelConfig


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


def declare_body_model_params(node: Node) -> BodyModelConfig:
    """The body-model parameters shared by every node that needs the model."""
    return BodyModelConfig(
        type=declare(node, 'body_model.type', 'open', 'Body model.', read_only=True, choices=('open', 'smpl', 'smplx')),
        path=declare(node, 'body_model.path', '', 'Folder with the SMPL / SMPL-X model files (smpl, smplx only).',
                     read_only=True) or None,
        gender=declare(node, 'body_model.gender', 'neutral', 'Body model gender.', read_only=True,
                       choices=('neutral', 'male', 'female')),
        num_betas=declare(node, 'body_model.num_betas', 10, 'Number of shape coefficients.', read_only=True,
                          min_value=1, max_value=300))
