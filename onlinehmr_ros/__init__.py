"""onlinehmr_ros: online, world-grounded human mesh recovery for ROS 2.

Layout (README, "Layout"):
    onlinehmr_ros.core      numpy/PyTorch algorithms, one sub-package per stage, never imports rclpy
    onlinehmr_ros.eval      metrics, evaluation, synthetic sequences (ROS-free)
    onlinehmr_ros.training  training of the learned HMR (ROS-free, never imported by the nodes)
    onlinehmr_ros.ros       message conversion, fast Marker encoding, TF, recording (rclpy)
    onlinehmr_ros.nodes     one thin rclpy Node per stage + the composed runner
    onlinehmr_ros.msg       generated from msg/*.msg by rosidl (installed by CMake)
"""
# The generated module onlinehmr_ros.msg is installed by CMake into the
# interpreter's site-packages (colcon: next to this file; PyPI path: into the
# virtual environment). When this package is imported from a source checkout
# (tests, `python -m`), extend the package path over every `onlinehmr_ros`
# directory on sys.path so that onlinehmr_ros.msg is found there too.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
