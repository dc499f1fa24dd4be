"""launch/pipeline.launch.py with the real `ros2 launch`, and the package files it relies on.

The launch tests run the real launch / launch_ros (../shared/ros-wheels) on this checkout's
launch file against stand-in executables that record their command line, then let rclpy
compute each node's effective parameters from exactly those arguments: what the nodes would
get, without starting them (the slow tests in test_ros_launch.py start them for real).
"""
import ast
import importlib
import pathlib
import re
import sys

import pytest

from helpers.ros_cli import ROOT, fake_prefix, missing_ros_cli, ros2, ros_env

EXECUTABLES = ['camera_source', 'mask_node', 'hmr_node', 'slam_node', 'fusion_node', 'hri_node']


def _console_scripts():
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == 'console_scripts':
                    return {s.value.split('=')[0].strip(): s.value.split('=')[1].strip() for s in v.elts}
    raise AssertionError('setup.py has no console_scripts')


def _launch(tmp_path, *args: str) -> dict[str, list[str]]:
    """Run `ros2 launch` against stand-ins; {executable: its arguments}."""
    reason = missing_ros_cli()
    if reason:
        pytest.skip(reason)
    prefix = fake_prefix(tmp_path, EXECUTABLES)
    proc = ros2(ros_env(prefix=prefix), 'launch', 'onlinehmr_ros', 'pipeline.launch.py', *args, timeout=120)
    assert 'process has died' not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    out = {}
    for f in (prefix / 'args').iterdir():
        out[f.name.split('.')[0]] = f.read_text().splitlines()
    return out


def _effective_parameters(argv: list[str]) -> tuple[str, dict]:
    """(fully qualified node name, parameters) that rclpy gives a node started with ``argv``."""
    import rclpy
    from rclpy.node import Node
    context = rclpy.context.Context()
    rclpy.init(args=['node', *argv], context=context)
    try:
        node = Node('unnamed', context=context, automatically_declare_parameters_from_overrides=True)
        params = {name: p.value for name, p in node.get_parameters_by_prefix('').items()}
        name = node.get_fully_qualified_name()
        node.destroy_node()
        return name, params
    finally:
        rclpy.shutdown(context=context)


def test_launch_starts_the_composed_runners_nodes_with_installed_executables(tmp_path):
    from onlinehmr_ros.nodes.compose import NODES, OPTIONAL_NODES
    from onlinehmr_ros.nodes.executables import EXECUTABLES as ENTRY_MODULES
    started = _launch(tmp_path, 'input:=video.avi')
    assert sorted(started) == sorted(exe for name, (exe, _, _) in NODES.items() if name not in OPTIONAL_NODES)
    assert sorted(_launch(tmp_path / 'all', 'input:=video.avi', 'hri:=true')) == sorted(
        exe for exe, _, _ in NODES.values())
    scripts = _console_scripts()
    for name, (exe, module, _) in NODES.items():
        assert scripts[exe] == f'onlinehmr_ros.nodes.executables:{exe}', f'{exe}: {scripts[exe]}'
        assert ENTRY_MODULES[exe] == module, f'{exe} runs {ENTRY_MODULES[exe]}, the composed runner {module}'
    assert 'camera_source' not in _launch(tmp_path / 'b', 'use_camera_source:=false')


@pytest.mark.parametrize('namespace', ['', 'cam1'])
def test_launch_arguments_win_over_the_params_file_in_any_namespace(tmp_path, namespace):
    """The issue's bug: `input:=` lost to the file's `camera_source: input: ""` (dict written under /**)."""
    import yaml
    params = yaml.safe_load((ROOT / 'config' / 'pipeline.yaml').read_text())
    params['/**/camera_source']['ros__parameters'].update(input='from_file.avi', hfov_deg=75.0)
    params['/**/mask']['ros__parameters']['soft_mask']['sigma_px'] = 7.5
    custom = tmp_path / 'custom.yaml'
    custom.write_text(yaml.safe_dump(params))
    started = _launch(tmp_path, *([f'namespace:={namespace}'] if namespace else []), f'params_file:={custom}',
                      'input:=Megamind.avi',
                      'rate_mode:=lockstep', 'max_frames:=12', 'world_frame:=map', 'use_sim_time:=true',
                      'camera_frame:=front_optical', 'body_model_type:=open')
    ns = f'/{namespace}' if namespace else ''
    effective = {}
    for exe, argv in started.items():
        name, values = _effective_parameters(argv)
        effective[name] = values
    assert sorted(effective) == sorted(f'{ns}/{n}' for n in ('camera_source', 'mask', 'hmr', 'slam', 'fusion'))
    cam = effective[f'{ns}/camera_source']
    assert cam['input'] == 'Megamind.avi' and cam['rate_mode'] == 'lockstep' and cam['max_frames'] == 12
    assert cam['frame_id'] == 'front_optical' and cam['hfov_deg'] == 75.0        # the file still applies
    assert cam['wait_for_nodes'] == ['mask', 'hmr', 'slam']
    # the first image also waits for the connections between the nodes (hri not started: not waited for)
    assert cam['wait_for_graph'] == ['human/soft_mask: mask -> slam', 'human/camera_humans: hmr -> slam, fusion',
                                     'slam/camera_pose_state: slam -> fusion']
    assert effective[f'{ns}/mask']['soft_mask.sigma_px'] == 7.5
    for n in ('slam', 'fusion'):
        assert effective[f'{ns}/{n}']['world_frame'] == 'map'
    for values in effective.values():
        assert values['use_sim_time'] is True and values['body_model.type'] == 'open'
    # arguments left empty do not override the file or the nodes' defaults
    assert 'world_frame' not in _effective_parameters(_launch(tmp_path / 'empty', 'input:=x')['slam_node'])[1]


def test_remaps_transport_and_best_effort_images_follow_the_namespace(tmp_path):
    started = _launch(tmp_path, 'namespace:=front', 'input:=x', 'camera_info_topic:=/drv/info',
                      'image_reliability:=best_effort', 'image_transport:=compressed')
    assert _effective_parameters(started['camera_source'])[1]['transport'] == 'compressed'
    for exe in ('mask_node', 'hmr_node', 'slam_node'):
        argv = started[exe]
        assert 'camera/camera_info:=/drv/info' in argv and not any('camera/image_raw:=' in a for a in argv)
        _, values = _effective_parameters(argv)
        assert values['qos_overrides./front/camera/image_raw.subscription.reliability'] == 'best_effort'
        assert values['qos_overrides./drv/info.subscription.reliability'] == 'best_effort'
        assert values['image_transport'] == 'compressed'


def test_every_console_script_is_importable_and_cmake_parses_it():
    """CMakeLists.txt turns console_scripts into lib/onlinehmr_ros executables with this regex."""
    cmake = (ROOT / 'CMakeLists.txt').read_text()
    assert 'file(STRINGS setup.py _entry_lines REGEX' in cmake
    line_re = re.compile(r"^[ \t]*['\"][a-z_]+ *= *onlinehmr_ros[a-z_.]*:[a-z_]+['\"]")
    lines = [ln for ln in (ROOT / 'setup.py').read_text().splitlines() if line_re.match(ln)]
    scripts = _console_scripts()
    assert len(lines) == len(scripts), 'a console script line does not match the CMake regex'
    for exe, target in scripts.items():
        module, func = target.split(':')
        assert callable(getattr(importlib.import_module(module), func)), f'{exe}: {target} is not callable'


def test_pypi_route_installs_an_executable_per_node_for_ros2_run():
    """`ros2 launch` / `ros2 run` look in <prefix>/lib/onlinehmr_ros/ (make setup links the console scripts)."""
    lib = pathlib.Path(sys.prefix) / 'lib' / 'onlinehmr_ros'
    for exe in EXECUTABLES:
        path = lib / exe
        assert path.is_file() and path.stat().st_mode & 0o111, f'{path} missing or not executable'
        assert path.resolve() == (pathlib.Path(sys.prefix) / 'bin' / exe).resolve()


def test_params_file_names_every_node_in_any_namespace():
    import yaml
    params = yaml.safe_load((ROOT / 'config' / 'pipeline.yaml').read_text())
    from onlinehmr_ros.nodes.compose import NODES
    assert {f'/**/{n}' for n in NODES} <= set(params), f'config/pipeline.yaml lacks sections for {set(NODES)}'
    for name, section in params.items():
        assert 'ros__parameters' in section, f'{name}: not a ROS parameter file section'
        # frame names follow the namespace unless given: the shared file must not pin them
        assert not {'world_frame', 'frame_id', 'person_frame_prefix'} & set(section['ros__parameters']), name


def test_rviz_config_shows_the_outputs():
    import yaml
    cfg = yaml.safe_load((ROOT / 'rviz' / 'onlinehmr.rviz').read_text())
    vm = cfg['Visualization Manager']
    assert vm['Global Options']['Fixed Frame'] == 'world'
    topics = {d['Class'].split('/')[-1]: d.get('Topic', {}).get('Value') for d in vm['Displays']}
    assert topics['MarkerArray'] == '/human/world_mesh'
    assert topics['Path'] == '/slam/path' and topics['PointCloud2'] == '/slam/map'
    assert topics['Image'] == '/human/debug_image' and 'TF' in topics


def test_installed_distribution_ships_the_model_files():
    """`pip install .` (make setup) must install the open body model and the learned checkpoint."""
    import sysconfig
    from importlib.metadata import Distribution
    # the dist-info pip wrote (not a setuptools egg-info a build may leave in the checkout)
    dist_infos = list(pathlib.Path(sysconfig.get_paths()['purelib']).glob('onlinehmr_ros-*.dist-info'))
    assert len(dist_infos) == 1, f'expected one installed onlinehmr_ros distribution, found {dist_infos}'
    installed = {str(f) for f in Distribution.at(dist_infos[0]).files}
    for name in ('onlinehmr_ros/data/open_body_model.npz', 'onlinehmr_ros/data/learned_hmr_landmarks.pt',
                 'onlinehmr_ros/data/OPEN_BODY_MODEL.md'):
        assert name in installed, f'{name} is not installed by setup.py (package_data)'
    shared = {f for f in installed if '/share/onlinehmr_ros/' in f}
    assert any(f.endswith('launch/pipeline.launch.py') for f in shared)
    assert any(f.endswith('config/pipeline.yaml') for f in shared) and any(f.endswith('rviz/onlinehmr.rviz')
                                                                          for f in shared)
