"""The colcon route: CMakeLists.txt configures, builds and installs the whole package.

No colcon here, so this does what colcon's ament_cmake build does (cmake, build, install)
into a temporary prefix and checks the result a `ros2 run` / `ros2 launch` user relies on.
"""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_full_cmake_install(tmp_path):
    env = dict(os.environ)
    env.setdefault('AMENT_PREFIX_PATH', sys.prefix)
    env.setdefault('CMAKE_PREFIX_PATH', sys.prefix)
    build, prefix = tmp_path / 'build', tmp_path / 'install'
    # the install prefix must hold the interpreter's include dirs (here: the venv), as a workspace's would
    cfg = subprocess.run(['cmake', '-S', str(ROOT), '-B', str(build), f'-DPython3_EXECUTABLE={sys.executable}',
                          f'-DCMAKE_INSTALL_PREFIX={sys.prefix}', '-DBUILD_TESTING=OFF'],
                         capture_output=True, text=True, env=env, timeout=600)
    assert cfg.returncode == 0, cfg.stdout[-3000:] + cfg.stderr[-3000:]
    for cmd in (['cmake', '--build', str(build), '-j2'], ['cmake', '--install', str(build), '--prefix', str(prefix)]):
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    site = next(prefix.glob('lib/python3*/site-packages'))
    pkg = site / 'onlinehmr_ros'
    assert (pkg / 'msg' / '__init__.py').is_file() and (pkg / 'core' / 'common' / 'geometry.py').is_file()
    assert 'extend_path' in (pkg / '__init__.py').read_text(), "rosidl's empty __init__.py replaced ours"
    share = prefix / 'share' / 'onlinehmr_ros'
    for f in ('package.xml', 'launch/pipeline.launch.py', 'config/pipeline.yaml', 'rviz/onlinehmr.rviz',
              'msg/HumanMesh.msg'):
        assert (share / f).is_file(), f
    exes = {p.name for p in (prefix / 'lib' / 'onlinehmr_ros').iterdir()}
    assert {'camera_source', 'mask_node', 'hmr_node', 'slam_node', 'fusion_node', 'onlinehmr_pipeline'} <= exes
    script = (prefix / 'lib' / 'onlinehmr_ros' / 'slam_node').read_text()
    assert 'from onlinehmr_ros.nodes.executables import slam_node' in script
    # the installed copy imports on its own (messages + nodes), as after `source install/setup.bash`
    env2 = dict(env, PYTHONPATH=str(site), AMENT_PREFIX_PATH=f'{prefix}:{sys.prefix}')
    r = subprocess.run([sys.executable, '-c', 'import onlinehmr_ros, onlinehmr_ros.msg, onlinehmr_ros.nodes.compose; '
                        'print(onlinehmr_ros.msg.HumanMesh.__module__, onlinehmr_ros.__file__)'],
                       capture_output=True, text=True, env=env2, cwd=str(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert str(site) in r.stdout
