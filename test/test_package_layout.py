"""The package's shape: no import cycles, and each layer imports only the layers below it.

Every import counts, also the ones inside functions (a lazy import that closes a cycle is a cycle
in the design), except those under ``if TYPE_CHECKING:`` (never executed).

    core/  <-  eval/  <-  training/          (ROS-free; test_core_is_ros_free checks that)
      ^
    ros/  <-  nodes/  <-  cli.py
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / 'onlinehmr_ros'

#: layer -> package prefixes it must not import
FORBIDDEN = {
    'onlinehmr_ros.core': ('onlinehmr_ros.eval', 'onlinehmr_ros.training', 'onlinehmr_ros.ros', 'onlinehmr_ros.nodes',
                           'onlinehmr_ros.cli'),
    'onlinehmr_ros.eval': ('onlinehmr_ros.training', 'onlinehmr_ros.ros', 'onlinehmr_ros.nodes', 'onlinehmr_ros.cli'),
    'onlinehmr_ros.training': ('onlinehmr_ros.ros', 'onlinehmr_ros.nodes', 'onlinehmr_ros.cli'),
    'onlinehmr_ros.ros': ('onlinehmr_ros.training', 'onlinehmr_ros.eval', 'onlinehmr_ros.nodes', 'onlinehmr_ros.cli'),
    'onlinehmr_ros.nodes': ('onlinehmr_ros.training', 'onlinehmr_ros.eval', 'onlinehmr_ros.cli'),
}


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob('*.py')) if 'msg' not in p.relative_to(PKG).parts[:1]}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(node.test):
            for n in node.body:
                lines.update(range(n.lineno, n.end_lineno + 1))
    return lines


def _imports(path: pathlib.Path, name: str, known: set[str]) -> set[str]:
    """Modules of the package that ``path`` imports (a ``from pkg import sub`` counts as ``pkg.sub``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_lines(tree)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    out = set()
    for node in ast.walk(tree):
        if getattr(node, 'lineno', None) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1] + ([base] if base else []))
            targets = [f'{base}.{a.name}' if f'{base}.{a.name}' in known else base for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}      # 1: on the current path, 2: done
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, 'import cycles:\n' + '\n'.join(' -> '.join(c) for c in cycles)


def test_layers_import_only_the_layers_below():
    bad = []
    for module, imported in _graph().items():
        for layer, forbidden in FORBIDDEN.items():
            if module == layer or module.startswith(layer + '.'):
                bad += [f'{module} imports {m}' for m in sorted(imported) if m.startswith(forbidden)]
    assert not bad, 'layering broken:\n' + '\n'.join(bad)


def test_the_checker_sees_imports_inside_functions_and_skips_type_checking(tmp_path, monkeypatch):
    """The test itself: a lazy import is an edge, a TYPE_CHECKING import is not."""
    pkg = tmp_path / 'onlinehmr_ros'
    (pkg / 'core').mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / 'core' / '__init__.py').write_text('')
    (pkg / 'core' / 'a.py').write_text('def f():\n    from onlinehmr_ros.core import b\n')
    (pkg / 'core' / 'b.py').write_text('from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n'
                                       '    from onlinehmr_ros.core.a import f\nfrom onlinehmr_ros.core.c import g\n')
    (pkg / 'core' / 'c.py').write_text('from . import a\ng = 1\n')
    monkeypatch.setattr(__import__(__name__), 'ROOT', tmp_path)
    monkeypatch.setattr(__import__(__name__), 'PKG', pkg)
    graph = _graph()
    assert graph['onlinehmr_ros.core.a'] == {'onlinehmr_ros.core.b'}
    assert graph['onlinehmr_ros.core.b'] == {'onlinehmr_ros.core.c'}
    assert graph['onlinehmr_ros.core.c'] == {'onlinehmr_ros.core.a'}
