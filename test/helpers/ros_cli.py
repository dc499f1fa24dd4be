"""Running the real `ros2` command line (launch, run, param, topic) from plain pytest.

`launch_testing` 3.7.1 breaks pytest 9 collection (ros2/launch#979), so the tests start
`ros2 launch` with subprocess.Popen in a new session and signal the whole process group, as
a terminal's Ctrl-C does (the group gets SIGINT, and launch forwards one more to each node).
The real launch / launch_ros / ros2cli wheels come from ../shared/ros-wheels (`make setup`
installs them when that folder exists); without them these tests skip and say so.
"""
from __future__ import annotations

import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = pathlib.Path(sys.executable).parent
ROS2 = VENV_BIN / 'ros2'
MEGAMIND = pathlib.Path('/usr/share/doc/opencv-doc/examples/data/Megamind.avi')
VTEST = pathlib.Path('/usr/share/doc/opencv-doc/examples/data/vtest.avi')


def missing_ros_cli() -> str:
    """Why the real ros2 CLI cannot be used here ('' when it can)."""
    import importlib.util
    if not ROS2.is_file():
        return f'no {ROS2}: the launch/ros2cli wheels of ../shared/ros-wheels are not installed (make setup)'
    for module in ('launch', 'launch_ros', 'ros2launch', 'ros2param', 'ros2topic', 'ros2run'):
        if importlib.util.find_spec(module) is None:
            return f'python module {module} missing: install ../shared/ros-wheels (make setup)'
    return ''


def ros_env(domain_id: int | None = None, prefix: pathlib.Path | None = None) -> dict[str, str]:
    """Environment of a ros2 process: its own ROS domain, localhost only, this venv's ament prefix."""
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(domain_id if domain_id is not None else free_domain_id())
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    prefixes = ([str(prefix)] if prefix else []) + [sys.prefix]
    env['AMENT_PREFIX_PATH'] = os.pathsep.join(prefixes)
    env['PATH'] = f'{VENV_BIN}{os.pathsep}{env.get("PATH", "")}'
    env['PYTHONUNBUFFERED'] = '1'
    env['RCUTILS_COLORIZED_OUTPUT'] = '0'
    env.pop('PYTHONPATH', None)          # the installed package, not the checkout (pytest's pythonpath)
    return env


def free_domain_id() -> int:
    """A ROS domain for one test (102..232 with FastDDS defaults; conftest's runs use 1..100)."""
    return random.Random(f'{os.getpid()}-{time.monotonic_ns()}').randint(102, 232)


def ros2(env: dict, *args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run `ros2 <args>` (no daemon where the verb supports it) and return the completed process."""
    proc = subprocess.run([str(ROS2), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'ros2 {" ".join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}')
    return proc


class Launched:
    """`ros2 launch onlinehmr_ros pipeline.launch.py ARGS` in its own session; stop() like Ctrl-C."""

    def __init__(self, env: dict, args: list[str], log_path: pathlib.Path):
        self.env = env
        self.log_path = log_path
        self._log = open(log_path, 'w')
        self.proc = subprocess.Popen([str(ROS2), 'launch', 'onlinehmr_ros', 'pipeline.launch.py', *args], env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.returncode: int | None = None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors='replace')

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log())
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise AssertionError(f'{pattern!r} not in the launch output after {timeout} s:\n{self.log()[-6000:]}')

    def died(self) -> list[str]:
        """Lines where launch reports a node that exited on its own with an error."""
        return [ln for ln in self.log().splitlines() if 'process has died' in ln]

    def stop(self, timeout: float = 60.0, double: bool = True) -> int:
        """SIGINT to the process group (a terminal's Ctrl-C; launch forwards another one to each node)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            if double:
                time.sleep(0.05)
                try:
                    os.killpg(self.proc.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.returncode = self.proc.wait()
        self._log.close()
        return self.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def fake_prefix(tmp: pathlib.Path, executables: list[str]) -> pathlib.Path:
    """An ament prefix holding onlinehmr_ros with this checkout's launch/ and config/ and stand-in executables.

    Each stand-in writes its command line (one argument per line) to ``<prefix>/args/<exe>.<pid>``
    and exits: `ros2 launch` then runs the real launch file, and the test reads exactly what
    each node would have been started with.
    """
    prefix = tmp / 'prefix'
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages').mkdir(parents=True)
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'onlinehmr_ros').touch()
    share = prefix / 'share' / 'onlinehmr_ros'
    share.mkdir()
    for d in ('launch', 'config'):
        shutil.copytree(ROOT / d, share / d)
    (prefix / 'args').mkdir()
    lib = prefix / 'lib' / 'onlinehmr_ros'
    lib.mkdir(parents=True)
    for exe in executables:
        script = lib / exe
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{prefix}/args/{exe}.$$"\n')
        script.chmod(0o755)
    return prefix
