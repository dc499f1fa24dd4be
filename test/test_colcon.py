"""The colcon route for real: `colcon build` of this package in a new workspace, then `ros2 run` from install/.

What a user with a ROS workspace does (README), against the ROS 2 wheels of this venv instead of
a distro: colcon-common-extensions and ament_cmake_pytest from PyPI (requirements-tools.txt),
BUILD_TESTING left on as colcon leaves it. The node that runs comes from install/ (its Python
package, its generated messages and its `lib/onlinehmr_ros/` executable), not from the venv.
"""
import shutil
import subprocess
import sys
import time

import pytest

from helpers.ros_cli import MEGAMIND, ROOT, VENV_BIN, missing_ros_cli, ros_env

COLCON = VENV_BIN / 'colcon'
#: what a clone holds; build outputs of the checkout stay out of the workspace
IGNORED = shutil.ignore_patterns('.venv', 'build', 'install', 'log', 'out', '.cache', '.git', '__pycache__',
                                 '.pytest_cache', '*.egg-info')


@pytest.mark.slow
@pytest.mark.skipif(not COLCON.is_file(), reason='colcon is not installed (make setup installs requirements-tools.txt)')
@pytest.mark.skipif(bool(missing_ros_cli()), reason=missing_ros_cli() or 'ok')
def test_colcon_build_then_ros2_run_from_install(tmp_path):
    ws = tmp_path / 'ws'
    shutil.copytree(ROOT, ws / 'src' / 'onlinehmr_ros', ignore=IGNORED)
    env = ros_env()
    env['CMAKE_PREFIX_PATH'] = sys.prefix
    t0 = time.monotonic()
    build = subprocess.run([str(COLCON), 'build', '--packages-select', 'onlinehmr_ros', '--event-handlers',
                            'console_cohesion+', '--cmake-args', f'-DPython3_EXECUTABLE={sys.executable}'],
                           cwd=ws, env=env, capture_output=True, text=True, timeout=1200)
    build_s = time.monotonic() - t0
    assert build.returncode == 0, build.stdout[-6000:] + build.stderr[-3000:]
    install = ws / 'install' / 'onlinehmr_ros'
    assert (install / 'lib' / 'onlinehmr_ros' / 'camera_source').is_file()
    assert (install / 'share' / 'onlinehmr_ros' / 'launch' / 'pipeline.launch.py').is_file()

    # as a user: source the workspace, then ros2 run (camera_source imports the generated messages)
    script = (f'source {ws}/install/setup.bash && '
              'python -c "import onlinehmr_ros, onlinehmr_ros.msg as m; print(\'PKG\', onlinehmr_ros.__file__, '
              'm.__file__)" && ros2 pkg prefix onlinehmr_ros && '
              f'ros2 run onlinehmr_ros camera_source --ros-args -p camera_source:input:={MEGAMIND} '
              '-p camera_source:max_frames:=3 -p camera_source:rate_mode:=fixed')
    run = subprocess.run(['bash', '-c', script], cwd=ws, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    pkg_line = next(ln for ln in run.stdout.splitlines() if ln.startswith('PKG '))
    assert all(str(install) in p for p in pkg_line.split()[1:]), f'not the installed package: {pkg_line}'
    assert str(install) in run.stdout, 'ros2 pkg prefix is not the workspace'
    assert 'input ended: 3 frames published' in out, out[-3000:]
    print(f'\ncolcon build {build_s:.0f} s; ros2 run from install/ exited 0 after 3 frames')
