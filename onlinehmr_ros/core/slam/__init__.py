"""Masked incremental monocular SLAM (Branch 2 of OnlineHMR), ROS-free."""
