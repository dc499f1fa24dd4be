"""Mutation testing of core modules: does the test suite notice when the code is wrong?

``python scripts/mutation_test.py [--per-module N] [--seed S] [--json out/mutation.json]``

For each module below, parses it, finds the operators a slip of the keyboard changes
(comparisons ``<``/``<=``/``>``/``>=``/``==``/``!=``, arithmetic ``+``/``-``/``*``/``/``, unary
minus, ``and``/``or``, numeric constants 0/1/2 and 0.5) and, for up to ``N`` of them chosen with
a fixed seed, writes the module with that one change into a scratch copy of the package and runs
the module's tests (``pytest -x -q``, ``-m "not slow"``). A mutant *survives* when every test
still passes: either a test is missing or the change does not alter behaviour (an equivalent
mutant). Prints one line per mutant and a summary; nothing in the source tree is modified.

mutmut / cosmic-ray would do the same with more operators; this script needs nothing beyond
the standard library and pytest, and keeps the run short on a 2-core machine.
"""
from __future__ import annotations

import argparse
import ast
import json
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: module -> the tests that cover it
TARGETS = {
    'onlinehmr_ros/core/mask/soft_mask.py': ['test/test_human_mask.py', 'test/test_slam_soft_mask_ema.py'],
    'onlinehmr_ros/core/common/geometry.py': ['test/test_geometry.py'],
    'onlinehmr_ros/eval/benchmark.py': ['test/test_benchmark.py'],
    'onlinehmr_ros/core/io/images.py': ['test/test_images.py', 'test/test_compressed_transport.py', 'test/test_convert.py',
                                        'test/test_tf_and_recording.py'],
    'onlinehmr_ros/core/common/tf_tree.py': ['test/test_tf_tree.py'],
}

_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_CONST = {0: 1, 1: 0, 2: 3, 0.5: 0.25}


def mutation_sites(tree: ast.AST) -> list[tuple[int, str]]:
    """(index in ast.walk order, description) of every mutable node."""
    sites = []
    for i, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _CMP:
            sites.append((i, f'{type(node.ops[0]).__name__} -> {_CMP[type(node.ops[0])].__name__}'))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            sites.append((i, f'{type(node.op).__name__} -> {_BIN[type(node.op)].__name__}'))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            sites.append((i, 'drop unary minus'))
        elif isinstance(node, ast.BoolOp):
            sites.append((i, f'{type(node.op).__name__} -> {"Or" if isinstance(node.op, ast.And) else "And"}'))
        elif (isinstance(node, ast.Constant) and type(node.value) in (int, float)
              and not isinstance(node.value, bool) and node.value in _CONST):
            sites.append((i, f'constant {node.value!r} -> {_CONST[node.value]!r}'))
    return sites


def mutate(source: str, index: int) -> tuple[str, int]:
    """The source with the node at ``index`` (ast.walk order) mutated, and its line number."""
    tree = ast.parse(source)
    for i, node in enumerate(ast.walk(tree)):
        if i != index:
            continue
        if isinstance(node, ast.Compare):
            node.ops[0] = _CMP[type(node.ops[0])]()
        elif isinstance(node, ast.BinOp):
            node.op = _BIN[type(node.op)]()
        elif isinstance(node, ast.BoolOp):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif isinstance(node, ast.Constant):
            node.value = _CONST[node.value]
        line = node.lineno
        if isinstance(node, ast.UnaryOp):       # replace -x by x: swap the node in its parent
            for parent in ast.walk(tree):
                for field, value in ast.iter_fields(parent):
                    if value is node:
                        setattr(parent, field, node.operand)
                    elif isinstance(value, list):
                        for k, item in enumerate(value):
                            if item is node:
                                value[k] = node.operand
        return ast.unparse(tree), line
    raise IndexError(index)


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def run(per_module: int, seed: int, timeout_s: float) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory(prefix='mutants_') as tmp:
        work = pathlib.Path(tmp) / 'tree'
        shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns('.venv', '.git', 'build', 'out', '__pycache__',
                                                                   '*.egg-info'), symlinks=True)
        for module, tests in TARGETS.items():
            src = (ROOT / module).read_text()
            tree = ast.parse(src)
            doc = _docstring_lines(tree)
            sites = [s for s in mutation_sites(tree)]
            rng = random.Random(f'{seed}:{module}')
            chosen = sorted(rng.sample(sites, min(per_module, len(sites))))
            for index, what in chosen:
                mutated, line = mutate(src, index)
                if line in doc:
                    continue
                (work / module).write_text(mutated)
                t0 = time.monotonic()
                try:
                    r = subprocess.run([sys.executable, '-m', 'pytest', '-x', '-q', '-m', 'not slow', '-p', 'no:cacheprovider',
                                        *tests], cwd=work, capture_output=True, text=True, timeout=timeout_s)
                    killed = r.returncode != 0
                    outcome = 'killed' if killed else 'SURVIVED'
                except subprocess.TimeoutExpired:
                    killed, outcome = True, 'killed (timeout)'
                finally:
                    (work / module).write_text(src)
                results.append({'module': module, 'line': line, 'mutation': what, 'outcome': outcome,
                                'code': src.splitlines()[line - 1].strip(), 's': round(time.monotonic() - t0, 1)})
                print(f'{outcome:<17} {module}:{line:<5} {what:<28} {results[-1]["code"][:70]}', flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--per-module', type=int, default=12, help='mutants per module (chosen with --seed)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--timeout', type=float, default=300.0, help='seconds per mutant test run')
    ap.add_argument('--json', default='', help='write the results here')
    args = ap.parse_args(argv)
    results = run(args.per_module, args.seed, args.timeout)
    survived = [r for r in results if r['outcome'] == 'SURVIVED']
    print(f'\n{len(results)} mutants, {len(results) - len(survived)} killed, {len(survived)} survived '
          f'({100.0 * (len(results) - len(survived)) / max(len(results), 1):.0f} % mutation score)')
    if args.json:
        pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
