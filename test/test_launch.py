"""launch/pipeline.launch.py against a small stand-in of the launch API (launch is not on PyPI).

Checks: every executable it names is a console script of setup.py (and so an executable
CMake installs for `ros2 run`), every parameter file it uses exists, and its node set is the
one-process runner's (onlinehmr_ros.nodes.compose.NODES).
"""
import ast
import importlib.util
import pathlib
import re
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(_Recorded):
    def __init__(self, name):
        super().__init__(name)
        self.name = name


class FindPackageShare(_Recorded):
    def __init__(self, package):
        super().__init__(package)
        self.package = package


class PathJoinSubstitution(_Recorded):
    def __init__(self, parts):
        super().__init__(parts)
        self.parts = parts


class Node(_Recorded):
    pass


class DeclareLaunchArgument(_Recorded):
    def __init__(self, name, default_value=None, description=''):
        super().__init__(name)
        self.name, self.default_value, self.description = name, default_value, description


class IfCondition(_Recorded):
    pass


class LaunchDescription(_Recorded):
    def __init__(self, entities):
        super().__init__(entities)
        self.entities = entities


@pytest.fixture
def launch_description(monkeypatch):
    stand_ins = {
        'launch': {'LaunchDescription': LaunchDescription},
        'launch.actions': {'DeclareLaunchArgument': DeclareLaunchArgument},
        'launch.conditions': {'IfCondition': IfCondition},
        'launch.substitutions': {'LaunchConfiguration': LaunchConfiguration,
                                 'PathJoinSubstitution': PathJoinSubstitution},
        'launch_ros': {},
        'launch_ros.actions': {'Node': Node},
        'launch_ros.substitutions': {'FindPackageShare': FindPackageShare},
    }
    for name, attrs in stand_ins.items():
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location('pipeline_launch', ROOT / 'launch' / 'pipeline.launch.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def _console_scripts():
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and k.value == 'console_scripts':
                    return {s.value.split('=')[0].strip(): s.value.split('=')[1].strip() for s in v.elts}
    raise AssertionError('setup.py has no console_scripts')


def _resolve(sub, arguments):
    """Resolve a substitution against the package source tree (share/ == the repository)."""
    if isinstance(sub, str):
        return sub
    if isinstance(sub, LaunchConfiguration):
        return _resolve(arguments[sub.name].default_value, arguments)
    if isinstance(sub, FindPackageShare):
        assert sub.package == 'onlinehmr_ros'
        return str(ROOT)
    if isinstance(sub, PathJoinSubstitution):
        return str(pathlib.Path(*[_resolve(p, arguments) for p in sub.parts]))
    raise AssertionError(f'unexpected substitution {sub!r}')


def test_launch_file_matches_package_and_composed_runner(launch_description):
    from onlinehmr_ros.nodes.compose import NODES
    entities = launch_description.entities
    arguments = {e.name: e for e in entities if isinstance(e, DeclareLaunchArgument)}
    nodes = [e for e in entities if isinstance(e, Node)]
    scripts = _console_scripts()
    assert {n.kwargs['name'] for n in nodes} == set(NODES)
    for n in nodes:
        name, exe = n.kwargs['name'], n.kwargs['executable']
        assert n.kwargs['package'] == 'onlinehmr_ros'
        assert exe in scripts, f'launch names executable {exe}, not a console script in setup.py'
        assert NODES[name][0] == exe, f'node {name}: launch runs {exe}, the composed runner {NODES[name][0]}'
        module, func = scripts[exe].split(':')
        assert module == NODES[name][1] and func == 'main'
        files = [p for p in n.kwargs['parameters'] if not isinstance(p, dict)]
        assert files, f'node {name} gets no parameter file'
        for f in files:
            assert pathlib.Path(_resolve(f, arguments)).is_file(), f'{name}: parameter file {f} missing'
        for p in n.kwargs['parameters']:
            if isinstance(p, dict):
                for v in p.values():
                    if isinstance(v, LaunchConfiguration):
                        assert v.name in arguments, f'{name} uses undeclared launch argument {v.name}'
    camera = next(n for n in nodes if n.kwargs['name'] == 'camera_source')
    assert isinstance(camera.kwargs['condition'], IfCondition)


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


def test_params_file_names_every_node():
    import yaml
    params = yaml.safe_load((ROOT / 'config' / 'pipeline.yaml').read_text())
    from onlinehmr_ros.nodes.compose import NODES
    assert set(NODES) <= set(params), f'config/pipeline.yaml lacks sections for {set(NODES) - set(params)}'
    for name, section in params.items():
        assert 'ros__parameters' in section, f'{name}: not a ROS parameter file section'


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
