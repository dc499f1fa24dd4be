"""ROS-side helpers: message conversion, fast Marker CDR, TF, recording (rclpy allowed here)."""
