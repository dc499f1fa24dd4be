"""Evaluation (ROS-free, never imported by the core): metrics, the evaluation harness, timing statistics,
synthetic sequences with exact ground truth."""
