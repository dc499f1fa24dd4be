"""An rclpy node in its own context and ROS domain, spun in a daemon thread.

A probe of a graph whose nodes run in other processes, used by the tests and bench/bench_graph.py:
subclasses create their subscriptions on ``self.node``, then call :meth:`BackgroundNode.start`.
"""
from __future__ import annotations

import threading


class BackgroundNode:
    def __init__(self, name: str, domain_id: int, namespace: str = ''):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, namespace=namespace or None, context=self.context)
        self.lock = threading.Lock()
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)

    def start(self) -> None:
        """Spin in the background (call once the subscriptions exist)."""
        self.thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except Exception:   # the context went away at close()
                break

    def close(self) -> None:
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        if self.thread.is_alive():
            self.thread.join(timeout=5)
