"""ROS-free core of onlinehmr_ros (numpy / PyTorch only).

Nothing under this package may import rclpy or any ROS message module; the
test ``test/test_core_is_ros_free.py`` fails if it does.
"""
