"""The core must never import rclpy or ROS message modules (STYLE.md, rule 1)."""
import ast
import pathlib
import subprocess
import sys

CORE = pathlib.Path(__file__).resolve().parent.parent / 'onlinehmr_ros' / 'core'
#: ROS-free packages besides core/ (the evaluation harness and the training of the learned HMR)
ALSO_ROS_FREE = (CORE.parent / 'eval', CORE.parent / 'training')
FORBIDDEN_ROOTS = {'rclpy', 'rosidl_runtime_py', 'std_msgs', 'sensor_msgs', 'geometry_msgs',
                   'visualization_msgs', 'nav_msgs', 'diagnostic_msgs', 'tf2_ros', 'tf2_msgs', 'hri_msgs',
                   'builtin_interfaces', 'rosgraph_msgs'}


def _imported_roots(path: pathlib.Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno


def test_core_sources_import_no_ros():
    files = sorted(CORE.rglob('*.py')) + sorted(p for d in ALSO_ROS_FREE for p in d.rglob('*.py'))
    assert files, f'no core sources found under {CORE}'
    offending = []
    for path in files:
        for module, line in _imported_roots(path):
            root = module.split('.')[0]
            if root in FORBIDDEN_ROOTS or module.startswith('onlinehmr_ros.msg') \
                    or module.startswith('onlinehmr_ros.ros') or module.startswith('onlinehmr_ros.nodes'):
                offending.append(f'{path.relative_to(CORE.parent.parent)}:{line} imports {module}')
    assert not offending, 'core must stay ROS-free:\n' + '\n'.join(offending)


def test_importing_every_core_module_loads_no_rclpy():
    """Catches indirect imports (a core module importing a helper that imports rclpy)."""
    modules = ['onlinehmr_ros.' + '.'.join(p.relative_to(CORE.parent).with_suffix('').parts)
               for d in (CORE,) + ALSO_ROS_FREE for p in sorted(d.rglob('*.py')) if p.name != '__init__.py']
    code = ('import importlib, sys\n'
            f'for m in {modules!r}:\n    importlib.import_module(m)\n'
            'bad = sorted(m for m in sys.modules if m.split(".")[0] in ' + repr(FORBIDDEN_ROOTS) + ')\n'
            'print("\\n".join(bad)); sys.exit(1 if bad else 0)\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=CORE.parent.parent, timeout=600)
    assert proc.returncode == 0, f'core modules pulled in ROS modules:\n{proc.stdout}{proc.stderr}'
