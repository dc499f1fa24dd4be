"""Training of the learned causal HMR (ROS-free, never imported by the core or the nodes): data, losses,
the training command, noise calibration, evaluation on rendered sequences."""
