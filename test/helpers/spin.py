"""Spinning an rclpy executor in a test until a condition holds."""
import time


def spin_until(ex, cond, timeout: float = 30.0) -> None:
    """Spin ``ex`` until ``cond()`` is true or ``timeout`` seconds have passed (the caller asserts the outcome)."""
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        ex.spin_once(timeout_sec=0.05)
