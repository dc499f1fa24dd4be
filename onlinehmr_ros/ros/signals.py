"""SIGINT / SIGTERM as a request to stop, for the node executables (no rclpy import here).

Stopping with Ctrl-C in a terminal that runs ``ros2 launch`` delivers SIGINT twice to every
node (once from the terminal to the process group, once from launch), and launch follows
with SIGTERM when a node is slow to exit. With rclpy's own handlers the first signal shuts
the context down under a running executor (a take then raises ``Unable to convert call
argument '0' to Python object``) and the second one raises KeyboardInterrupt in the middle
of the clean-up; either way the node exits non-zero. Instead:

* while the entry point still imports its modules (torch, mediapipe: seconds, tens of seconds
  on a busy machine, longer than launch waits before SIGKILL), a signal ends the process at
  once with ``os._exit(0)``: nothing has been created that needs closing, and no exception is
  raised into a half-imported extension (a KeyboardInterrupt inside torch's import left it
  half-initialised and the process aborted at exit);
* from ``rclpy.init`` on, a signal only sets :attr:`StopRequest.requested`; the entry point
  looks at it after building the node and between callbacks: the spin loop returns after the current one, the node (its
  subscriptions first) is destroyed, then the context is shut down;
* from the clean-up on, signals are ignored (SIG_IGN: Python's finalisation puts its own
  handlers back to the default action, so a late Ctrl-C would otherwise kill the process
  with -SIGINT).

A signal in the first few hundred milliseconds of the interpreter, before the entry point
installs the handlers, still has Python's default effect.
"""
from __future__ import annotations

import os
import signal
import sys

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """The state shared by the signal handler and the spin loop (main thread only)."""

    def __init__(self):
        self.requested = False
        self.signal_name = ''
        self.exit_at_once = True      # until the entry point starts creating ROS entities

    def start_ros(self) -> None:
        """From here on a signal is a request checked at safe points (call before rclpy.init)."""
        self.exit_at_once = False

    def install(self) -> 'StopRequest':
        for s in STOP_SIGNALS:
            signal.signal(s, self._on_signal)
        return self

    def ignore_further(self) -> None:
        """The stop is under way: ignore SIGINT and SIGTERM from now on."""
        self.requested = True
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)

    def _on_signal(self, signum, _frame) -> None:
        # No exception (see the module docstring), and no change of dispositions here
        # (a second signal may already be pending at the C level, and Python reports a pending
        # signal whose handler became SIG_IGN as an error).
        self.requested = True
        self.signal_name = self.signal_name or signal.Signals(signum).name
        if self.exit_at_once:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(0)


_STOP: StopRequest | None = None


def stop_request() -> StopRequest:
    """The process's StopRequest, its handlers installed on first use (call from the main thread)."""
    global _STOP
    if _STOP is None:
        _STOP = StopRequest().install()
    return _STOP
