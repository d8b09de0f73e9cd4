"""Export the tagged cells of notebooks into the minimx package.

A code cell whose first line is `#| export minimx/nd.py` is appended, in notebook order, to
that module. Modules may collect cells from several chapters (chapter order). Each package
folder gets an `__init__.py` that imports its modules in the order they first appear and
re-exports the names a module lists in `__all__`. The notebooks are the only source: every
file written here starts by saying so.

This file needs nothing but nbformat and the notebook format (core/notebook_format.py): the
student edition ships a copy of both, with which a student's own notebooks of earlier
chapters build the minimx a later chapter imports.
"""
import ast
import re
import shutil
import textwrap
from pathlib import Path

import nbformat

from core.assembly import extend_all, generate_imports, merge_methods, with_provenance
from core.notebook_format import HIDDEN_BEGIN, export_target, nbgrader_metadata, without_solution_markers

PACKAGE_DOCS = {
    'minimx': 'minimx: a miniature MXNet 1.x on numpy, built chapter by chapter in the course.',
    'minimx/nd': ('minimx.nd -- MXNet-style n-dimensional arrays over numpy buffers (chapter 1; the '
                  'convolution and pooling operators join in chapters 9 and 10). One namespace, as '
                  "MXNet's `mx.nd`, gathered from modules that each hold one idea; "
                  '`minimx.ndarray` is its second name.'),
}
# Second names of a module, as MXNet has them (`mxnet.ndarray is mxnet.nd`): the alias module
# replaces itself by the module it names, so both names are one module object.
ALIASES = {
    'minimx/ndarray.py': ('minimx.nd', "minimx.ndarray -- MXNet's long name for minimx.nd: "
                                      '`from mxnet import ndarray as nd` works.'),
}
# Packages that stand for one MXNet module split into files that read in one sitting: their
# __init__ gathers every public name, so `nd.zeros` and `nd.NDArray` work as in MXNet.
SPLIT_PACKAGES = {'minimx/nd'}
# Modules whose `__all__` the root re-exports, as MXNet's top level does (`mx.cpu()`, `mx.gpu()`);
# the root imports every other module by name only (`mx.autograd.record`).
ROOT_REEXPORTS = {'context'}
_CHAPTER = re.compile(r'^# Chapter (\d+)\b', re.M)
_SECTION = re.compile(r'^## (\d+\.\d+ .*)$', re.M)
_EXERCISE = re.compile(r'^### (Exercise \d+\b.*?)(?: \(\d+ points?\))?\s*$', re.M)


def exported_cells(notebook_path):
    """(target module path, code, where) for every exported cell of one notebook, in order;
    `where` is the chapter, section and (for an answer cell) exercise the cell belongs to."""
    nb = nbformat.read(str(notebook_path), as_version=4)
    docs = dict(nb.metadata.get('course', {}).get('module_docs', {}))     # docstrings of split-off modules
    cells, where = [], {}
    for cell in nb.cells:
        if cell.cell_type == 'markdown':
            where = _heading_context(cell.source, where)
            continue
        if cell.cell_type != 'code':
            continue
        target, rest = export_target(cell.source)
        if target is None:
            continue
        if not target.startswith('minimx/') or not target.endswith('.py') or '..' in target:
            raise ValueError(f'{notebook_path.name}: cell {cell.get("id")} exports to {target!r}; '
                             f'targets must be modules inside minimx/')
        if HIDDEN_BEGIN in rest:
            raise ValueError(f'{notebook_path.name}: exported cell {cell.get("id")} contains hidden tests')
        here = {k: v for k, v in where.items() if k != 'exercise' or nbgrader_metadata(cell).get('solution')}
        if target in docs:
            cells.append((target, '"""' + textwrap.fill(docs.pop(target), 96) + '\n"""', {}))
        cells.append((target, without_solution_markers(rest).strip('\n'), here))
    return cells


def _heading_context(markdown, where):
    """The chapter / section / exercise a markdown cell's headings leave us in."""
    where = dict(where)
    for line in markdown.split('\n'):
        for key, pattern in (('chapter', _CHAPTER), ('section', _SECTION), ('exercise', _EXERCISE)):
            found = pattern.match(line)
            if found:
                where[key] = int(found.group(1)) if key == 'chapter' else found.group(1).strip()
                if key != 'exercise':
                    where.pop('exercise', None)
                if key == 'chapter':
                    where.pop('section', None)
    return where


def package_files(chapter_list):
    """{relative path: text} of the whole package built from these chapters' solution notebooks."""
    from core.chapters import ROOT
    return assemble([(ch.source.relative_to(ROOT).as_posix(), exported_cells(ch.source)) for ch in chapter_list])


def assemble(sources, how='`./course build`', advice='edit the notebook(s) and rebuild'):
    """{relative path: text} of the package from [(source label, [(target, code), ...]), ...],
    in that order."""
    modules = {}                       # target -> list of (source label, code), in order
    for label, cells in sources:
        for target, code, *where in cells:          # (target, code) from an older exports file
            modules.setdefault(target, []).append((label, with_provenance(code, where[0] if where else {})))
    texts = {target: extend_all(merge_methods(target, '\n\n'.join(code for _, code in parts)))
             for target, parts in modules.items()}
    labels = {target: {src for src, _ in parts} for target, parts in modules.items()}
    texts = generate_imports(texts, labels)
    files = {}
    for target, parts in modules.items():
        names = ', '.join(dict.fromkeys(src for src, _ in parts))
        header = (f'# GENERATED by {how} from {names}. Do not edit this file:\n'
                  f'# {advice}.\n')
        files[target] = header + re.sub(r'\n{4,}', '\n\n\n', texts[target].strip('\n')) + '\n'
    files.update(_alias_files(files, how))
    files.update(_init_files(files, how))
    return dict(sorted(files.items()))


def _alias_files(modules, how):
    """The alias modules whose target is part of this package."""
    files = {}
    for alias, (target, doc) in ALIASES.items():
        if any(path == target.replace('.', '/') + '.py' or path.startswith(target.replace('.', '/') + '/')
               for path in modules):
            files[alias] = (f'# GENERATED by {how}: a second name for {target}. Do not edit.\n'
                            f'"""{doc}"""\nimport sys\n\nimport {target}\n\n'
                            f'sys.modules[__name__] = {target}\n')
    return files


def _init_files(modules, how='`./course build`'):
    """An __init__.py for every package folder, importing its modules in order of appearance."""
    packages = {}
    for target in modules:
        parts = Path(target).parts
        for depth in range(1, len(parts)):
            pkg = '/'.join(parts[:depth])
            child = parts[depth] if depth < len(parts) - 1 else Path(parts[depth]).stem
            packages.setdefault(pkg, [])
            if child not in packages[pkg]:
                packages[pkg].append(child)
    files = {}
    for pkg, children in packages.items():
        exported = set()            # a name two modules import (MXNetError) is re-exported once
        lines = [f'# GENERATED by {how} from the order of the notebooks\' exports. Do not edit.',
                 f'"""{PACKAGE_DOCS.get(pkg, pkg.replace("/", ".") + " (part of minimx).")}"""']
        for child in children:
            lines.append(f'from . import {child}')
            if pkg == 'minimx' and child not in ROOT_REEXPORTS:   # names live in the modules (autograd.record)
                continue
            names = [n for n in _public_names(modules.get(f'{pkg}/{child}.py'), split=pkg in SPLIT_PACKAGES)
                     if n not in exported]
            exported.update(names)
            if names:
                lines.append(f'from .{child} import {", ".join(names)}')
        files[f'{pkg}/__init__.py'] = '\n'.join(lines) + '\n'
    return files


def _public_names(source, split=False):
    """The names in a module's `__all__`, if it defines one as a literal list. A module of a
    package split from one module (minimx/nd/) without `__all__`: every public name it binds,
    except modules it imports, so the package keeps the one module's namespace."""
    if source is None:
        return []
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets):
            return list(ast.literal_eval(node.value))
    if not split:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            continue
        if isinstance(node, ast.ImportFrom):
            found = [a.asname or a.name for a in node.names] if (node.module or '').startswith('minimx') else []
        elif isinstance(node, ast.ClassDef):
            found = [node.name]
        elif isinstance(node, ast.FunctionDef):        # not a property a module attaches to a class
            found = [] if any(getattr(d, 'id', None) == 'property' for d in node.decorator_list) else [node.name]
        else:
            found = [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
            found = found if isinstance(node, (ast.Assign, ast.AnnAssign)) else []
        names += [n for n in found if not n.startswith('_') and n not in names]
    return names


def write_package(files, dest_root):
    """Replace `dest_root/minimx` with exactly `files` (paths relative to dest_root)."""
    dest_root = Path(dest_root)
    shutil.rmtree(dest_root / 'minimx', ignore_errors=True)
    for rel, text in files.items():
        path = dest_root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding='utf-8')


def write_if_changed(path, text):
    """Write a generated page only when its text changed, so an unchanged build touches no file
    (and the site builder re-reads nothing). Returns the path."""
    path = Path(path)
    if not path.exists() or path.read_text(encoding='utf-8') != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding='utf-8')
    return path


def read_package(dest_root):
    """{relative path: text} of the minimx package under `dest_root` (for staleness checks)."""
    dest_root = Path(dest_root)
    return {p.relative_to(dest_root).as_posix(): p.read_text(encoding='utf-8')
            for p in sorted((dest_root / 'minimx').rglob('*.py'))}
