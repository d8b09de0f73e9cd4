"""minimx reads like a library (issue 13): modules that read in one sitting, classes in one piece,
imports instead of guards, and where each definition comes from.

The exporter's rewrites (core/assembly.py) are tested on small modules first, so each rule is
seen to act and to refuse; then the committed package is checked against the same rules."""
import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.assembly import AssemblyError, PROVENANCE, extend_all, generate_imports, merge_methods, with_provenance

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted((ROOT / 'minimx').rglob('*.py'))
LINE_BUDGET = 320          # "about 300": a module a student reads in one sitting


# -- the rewrites, on small modules ---------------------------------------------------------

def test_a_decorated_method_moves_into_its_class_unchanged():
    text = ('class A:\n    def f(self):\n        return 1\n\n\n'
            'def helper():\n    return 2\n\n\n'
            '# defined in chapter 3\n@add_to_class(A)\ndef g(self, k=3):\n    return helper() + k\n\n\n'
            "@add_to_class(A, 'h')\ndef h_impl(self):\n    return 0\n")
    merged = merge_methods('m.py', text)
    tree = ast.parse(merged)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    assert [getattr(f, 'name', None) or f.targets[0].id for f in cls.body] == ['f', 'g', 'h_impl', 'h']
    assert '    # defined in chapter 3\n    def g(self, k=3):\n        return helper() + k' in merged
    assert 'add_to_class' not in merged
    assert 'g = A.g' in merged                      # no __all__: the public name stays bound
    namespace = {}
    exec(merged, namespace)
    assert namespace['A']().g() == 5 and namespace['A']().h() == 0


def test_a_module_with_all_keeps_its_names_to_itself():
    merged = merge_methods('m.py', "__all__ = ['A']\n\n\nclass A:\n    pass\n\n\n@add_to_class(A)\ndef g(self):\n    return 1\n")
    assert 'g = A.g' not in merged


@pytest.mark.parametrize('patch, words', [
    ('A.g = g', 'decorate the function with @add_to_class(A)'),
    ('A.g, A.h = g, g', 'decorate the function with @add_to_class(A)'),
    ('nd.g = g', 'export the cell into the nd package'),
    ('for fn in (g,):\n    setattr(A, fn.__name__, fn)', 'a loop of setattr'),
])
def test_patching_a_class_after_the_fact_is_refused(patch, words):
    with pytest.raises(AssemblyError, match=re.escape(words)):
        merge_methods('m.py', f'class A:\n    pass\n\n\ndef g(self):\n    return 1\n\n\n{patch}\n')


def test_a_moved_method_may_not_need_a_later_name_when_defined():
    text = 'class A:\n    pass\n\n\nLIMIT = 3\n\n\n@add_to_class(A)\ndef g(self, k=LIMIT):\n    return k\n'
    with pytest.raises(AssemblyError, match="needs 'LIMIT'.*defined after class A"):
        merge_methods('m.py', text)


def test_imports_are_generated_from_sibling_modules_and_cycles_refused():
    modules = {'pkg/a.py': 'import numpy as np\n\n\ndef one():\n    return np.ones(1)\n',
               'pkg/b.py': 'def two():\n    return one() + np.zeros(1)\n'}
    labels = {'pkg/a.py': {'nb'}, 'pkg/b.py': {'nb'}}
    out = generate_imports(modules, labels)
    assert 'import numpy as np' in out['pkg/b.py'] and 'from pkg.a import one' in out['pkg/b.py']
    assert out['pkg/a.py'] == modules['pkg/a.py']
    with pytest.raises(AssemblyError, match='which no cell of its notebook defines'):
        generate_imports(modules, {'pkg/a.py': {'nb1'}, 'pkg/b.py': {'nb2'}})
    cyclic = {'pkg/a.py': 'def one():\n    return two()\n', 'pkg/b.py': 'def two():\n    return one()\n'}
    with pytest.raises(AssemblyError, match='import each other'):
        generate_imports(cyclic, labels)


def test_a_name_two_siblings_define_keeps_its_earliest_meaning():
    modules = {'pkg/old.py': 'class Loader:\n    pass\n',
               'pkg/new.py': 'class Loader:\n    pass\n',
               'pkg/helpers.py': 'def load():\n    return Loader()\n'}
    labels = {'pkg/old.py': {'ch04'}, 'pkg/new.py': {'ch11'}, 'pkg/helpers.py': {'ch04', 'ch11'}}
    assert 'from pkg.old import Loader' in generate_imports(modules, labels)['pkg/helpers.py']
    with pytest.raises(AssemblyError, match='both define'):
        generate_imports(modules, {**labels, 'pkg/new.py': {'ch04'}})


def test_provenance_comments_sit_above_each_definition():
    code = '@deco\ndef f():\n    pass\n\n\nclass C:\n    def m(self):\n        pass\n\nX = 1\n'
    out = with_provenance(code, {'chapter': 4, 'section': '4.2 Softmax', 'exercise': 'Exercise 1 — `f`'})
    lines = out.split('\n')
    assert lines[0] == '# defined in chapter 4, section 4.2 Softmax (Exercise 1 — `f`)' and lines[1] == '@deco'
    assert PROVENANCE.match(lines[lines.index('class C:') - 1])
    assert sum(1 for ln in lines if PROVENANCE.match(ln)) == 2       # not the method, not X


# -- the committed package -------------------------------------------------------------------

@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_reads_in_one_sitting(path):
    lines = path.read_text(encoding='utf-8').count('\n')
    assert lines <= LINE_BUDGET, f'{path.relative_to(ROOT)} has {lines} lines (budget {LINE_BUDGET}): split it along a concept'


@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_classes_come_in_one_piece_and_imports_are_not_guarded(path):
    text = path.read_text(encoding='utf-8')
    tree = ast.parse(text)
    assert "__name__ != '__main__'" not in text
    for node in tree.body:
        if isinstance(node, ast.Assign):
            assert not any(isinstance(t, ast.Attribute) for t in node.targets), ast.unparse(node)
        if isinstance(node, ast.For):
            assert not any(isinstance(n, ast.Call) and getattr(n.func, 'id', None) == 'setattr' for n in ast.walk(node))
        if isinstance(node, ast.FunctionDef):
            attached = [d for d in node.decorator_list if isinstance(d, ast.Call) and getattr(d.func, 'id', '') == 'add_to_class']
            classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
            # a method still decorated is a fluent twin of another module's class, never its own
            assert not any(ast.unparse(d.args[0]) in classes for d in attached), f'{path.name}: {node.name}'


@pytest.mark.parametrize('path', [p for p in MODULES if p.name != '__init__.py' and p != ROOT / 'minimx' / 'ndarray.py'],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_definition_says_where_the_book_defines_it(path):
    lines = path.read_text(encoding='utf-8').split('\n')
    tree = ast.parse('\n'.join(lines))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            assert PROVENANCE.match(lines[first - 2]), f'{path.name}: {node.name} has no provenance line'


@pytest.mark.parametrize('module', sorted({'.'.join(p.relative_to(ROOT).with_suffix('').parts).removesuffix('.__init__')
                                           for p in MODULES}))
def test_each_module_imports_on_its_own(module):
    """Generated imports form no cycle that only works in one import order."""
    run = subprocess.run([sys.executable, '-c', f'import {module}'], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


def test_mxnet_names_and_operators_live_in_nd():
    from minimx import nd
    import minimx.ndarray
    assert minimx.ndarray is nd and nd.Convolution.__module__ == 'minimx.nd.convolution'
    assert nd.Pooling.__module__ == 'minimx.nd.pooling' and nd.NDArray.__module__ == 'minimx.nd.ndarray'
    from minimx.base import MXNetError
    assert nd.MXNetError is MXNetError


def test_classes_a_later_chapter_adds_join_the_modules_all():
    first = "__all__ = ['A']\n\n\nclass A:\n    pass\n"
    later = first + "\n\nclass B(A):\n    pass\n\n\nclass _Hidden:\n    pass\n\n\nShort = B\n"
    namespace = {}
    exec(extend_all(later), namespace)
    assert namespace['__all__'] == ['A', 'B', 'Short']
    assert extend_all(first) == first
    assert extend_all('class A:\n    pass\n') == 'class A:\n    pass\n'      # no __all__: every name is public


def declared_names(tree):
    """The names a module lists in `__all__` (its literal and every `__all__ += [...]`), or None."""
    names = None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, 'target', None)]
        if any(getattr(t, 'id', None) == '__all__' for t in targets):
            names = (names or set()) | set(ast.literal_eval(node.value))
    return names


@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_module_with_all_lists_every_public_class_it_defines(path):
    """`from minimx.gluon.nn import *` must give Conv2D, as MXNet's does: a chapter that adds a
    class to a module with `__all__` adds its name there too (`__all__ += [...]`)."""
    tree = ast.parse(path.read_text(encoding='utf-8'))
    declared = declared_names(tree)
    if declared is None:
        return
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith('_')}
    assert not classes - declared, f'{path.name}: classes missing from __all__: {sorted(classes - declared)}'
    module = importlib.import_module('.'.join(path.relative_to(ROOT).with_suffix('').parts).removesuffix('.__init__'))
    assert not declared - set(dir(module)), f'{path.name}: __all__ names what it lacks: {sorted(declared - set(dir(module)))}'
