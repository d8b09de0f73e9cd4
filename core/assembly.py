"""How exported cells become a library a student can read: the exporter's three rewrites.

In a chapter's notebook every cell runs in one namespace, so a cell can use what any earlier
cell defined and can add a method to a class defined cells earlier. A package has neither:
each module must import what it uses, and a class should be read in one piece. So, for each
generated module, in this order:

1. **Provenance.** Every top-level `def` and `class` gets a comment line saying where the book
   defines it: `# defined in chapter 7, section 7.2 ...`. The API appendix reads it.
2. **Methods into their class.** A function decorated `@add_to_class(C)` in the module that
   defines `C` moves, unchanged but indented, to the end of `C`'s body (the decorator line is
   the only line dropped; a method attached under another name is followed by that name,
   `setattr = setattr_all`); in a module without `__all__` a public name stays bound at module
   level too (`reshape = NDArray.reshape`, so `nd.reshape(x, shape)` keeps working). A method added from another module keeps its decorator: it is an
   operation's fluent twin, declared where the operation is (`x.dot(y)` is `nd.dot(x, y)`).
   Patching a class or module by assignment (`Block.forward = forward`, `nd.Pooling = Pooling`)
   is refused with the line to write instead.
3. **Imports.** A name a module uses but does not bind, which a sibling module exported from the
   same notebook binds, is imported from it (or, if the sibling imported it, by the same import
   statement). The imports are written under the module's own; cycles are refused.

Everything here is plain `ast`/`symtable` work on source text: the code inside a definition is
never changed, so what a student reads in the notebook is what stands in the package.
"""
import ast
import builtins
import re
import symtable

PROVENANCE = re.compile(r'^(\s*)# defined in chapter (\d+)')
_BUILTINS = set(dir(builtins)) | {'__name__', '__file__', '__doc__', '__spec__', '__builtins__'}


class AssemblyError(ValueError):
    """A module the exporter cannot turn into a library: says which cell to change, and how."""


def provenance_comment(where, indent=''):
    """The comment line above a definition: chapter, section, and the exercise it answers."""
    text = f'{indent}# defined in chapter {where["chapter"]}'
    if where.get('section'):
        text += f', section {where["section"]}'
    if where.get('exercise'):
        text += f' ({where["exercise"]})'
    return text


def with_provenance(code, where):
    """`code` (one cell) with a provenance comment above each top-level def and class."""
    if not where:
        return code
    lines = code.split('\n')
    starts = [min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
              for node in ast.parse(code).body
              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for start in reversed(starts):
        lines.insert(start, provenance_comment(where))
    return '\n'.join(lines)


# -- 2. methods into their class -------------------------------------------------------------

def _attach_target(decorator):
    """`C` if the decorator is @add_to_class(C) or @add_to_class(C, 'name'), else None."""
    if (isinstance(decorator, ast.Call) and getattr(decorator.func, 'id', None) == 'add_to_class'
            and decorator.args and isinstance(decorator.args[0], ast.Name)):
        return decorator.args[0].id
    return None


def _method_name(node):
    """The name the method gets: add_to_class's second argument, or the function's own."""
    for dec in node.decorator_list:
        if _attach_target(dec) and len(dec.args) > 1 and isinstance(dec.args[1], ast.Constant):
            return dec.args[1].value
    return node.name


def _attached_class(node):
    """`C` if the statement is a def decorated @add_to_class(C), else None."""
    return next((c for c in map(_attach_target, getattr(node, 'decorator_list', [])) if c), None)


def _bound_names(node):
    """Names a top-level statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split('.')[0] for a in node.names}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _refuse_patching(module, tree, classes):
    """Top-level assignments to an attribute of a class or module: the exporter wants decorators."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
                    owner = t.value.id
                    hint = (f'decorate the function with @add_to_class({owner}) instead'
                            if owner in classes else
                            f'export the cell into the {owner} package instead of assigning to it')
                    raise AssemblyError(f'{module}, line {node.lineno}: `{ast.unparse(node)}` patches '
                                        f'{owner} after the fact; {hint}.')
        if isinstance(node, ast.For) and any(isinstance(n, ast.Call) and getattr(n.func, 'id', None) == 'setattr'
                                             for n in ast.walk(node)):
            raise AssemblyError(f'{module}, line {node.lineno}: a loop of setattr(...) attaches methods; '
                                f'decorate each function with @add_to_class(...) instead.')


def merge_methods(module, text):
    """The module's text with each same-module @add_to_class method inside its class."""
    tree = ast.parse(text)
    body = tree.body
    classes = {n.name: n for n in body if isinstance(n, ast.ClassDef)}
    _refuse_patching(module, tree, classes)
    lines = text.split('\n')
    # each statement owns the comment lines right above it (its provenance among them)
    spans, prev_end = [], 0
    for node in body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, 'decorator_list', [])]) - 1
        while start > prev_end and lines[start - 1].lstrip().startswith('#'):
            start -= 1
        spans.append((start, node.end_lineno))
        prev_end = node.end_lineno
    declared = any(isinstance(n, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in n.targets)
                   for n in body)           # a module with __all__ names its public names itself
    binders = {}
    for i, node in enumerate(body):
        for name in _bound_names(node):
            binders.setdefault(name, []).append(i)
    methods = {name: [] for name in classes}     # class -> its moved methods' lines, in order
    replaced = {}                                # statement index -> what stays in its place
    for i, node in enumerate(body):
        owner = _attached_class(node)
        if owner not in classes:
            continue
        _check_early_names(module, node, owner, body, classes[owner])
        start, end = spans[i]
        drop = {k for dec in node.decorator_list if _attach_target(dec) == owner
                for k in range(dec.lineno - 1, dec.end_lineno)}
        method = ['    ' + lines[k] if lines[k].strip() else '' for k in range(start, end) if k not in drop]
        if _method_name(node) != node.name:         # @add_to_class(C, 'setattr') def setattr_all
            method += [f'    {_method_name(node)} = {node.name}']
        methods[owner].append(method)
        public = not declared and not node.name.startswith('_') and _method_name(node) == node.name
        plain = len(node.decorator_list) == 1
        replaced[i] = ([f'{node.name} = {owner}.{node.name}'] if public and plain and binders[node.name] == [i]
                       else None)
    out = []
    for i, node in enumerate(body):
        start, end = spans[i]
        gap = lines[(spans[i - 1][1] if i else 0):start]
        if i in replaced:
            out += gap + replaced[i] if replaced[i] else []
            continue
        out += gap + lines[start:end]
        for method in methods.get(node.name, []) if isinstance(node, ast.ClassDef) else []:
            out += [''] + method
    out += lines[spans[-1][1]:] if body else lines
    return '\n'.join(out)


def extend_all(text):
    """A module whose first chapter lists its names in `__all__` lists the public classes later
    chapters add to it as well, in one `__all__ += [...]` at its end (`from minimx.gluon.nn
    import *` gives Conv2D, as MXNet's does). A notebook cell cannot say it itself: the notebook
    that adds the class has no `__all__` of the module."""
    body = ast.parse(text).body
    declared = [n for n in body if isinstance(n, ast.Assign) and any(getattr(t, 'id', None) == '__all__'
                                                                     for t in n.targets)]
    if not declared:
        return text
    named = set(ast.literal_eval(declared[0].value))
    added = [n.name for n in body if isinstance(n, ast.ClassDef) and not n.name.startswith('_')
             and n.name not in named]
    added += [n.targets[0].id for n in body if isinstance(n, ast.Assign) and len(n.targets) == 1    # SigmoidBCELoss =
              and isinstance(n.targets[0], ast.Name) and isinstance(n.value, ast.Name) and n.value.id in added]
    if not added:
        return text
    return text.rstrip('\n') + f'\n\n\n# the public classes later chapters added to this module\n__all__ += {added!r}\n'


def _check_early_names(module, node, owner, body, cls):
    """A method moved into its class is defined where the class is: its defaults and other
    decorators must only use names bound before the class."""
    early, later = set(_BUILTINS), set()
    for other in body:
        (later if other is cls or later else early).update(_bound_names(other))
    early.add(owner)
    exprs = [d for d in node.decorator_list if _attach_target(d) != owner]
    exprs += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
    for expr in exprs:
        for n in ast.walk(expr):
            if isinstance(n, ast.Name) and n.id not in early and n.id in later:   # else: imported at the top
                raise AssemblyError(f'{module}: method {owner}.{node.name} (line {node.lineno}) needs '
                                    f'{n.id!r} when it is defined, but {n.id} is defined after class '
                                    f'{owner}; define it before the class or compute it in the body.')


# -- 3. imports ---------------------------------------------------------------------------------

def _module_name(path):
    return path[:-len('/__init__.py')].replace('/', '.') if path.endswith('/__init__.py') \
        else path[:-3].replace('/', '.')


def free_names(text, path='<module>'):
    """Global names the module reads but never binds (builtins excluded)."""
    top = symtable.symtable(text, path, 'exec')
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    used = set()

    def walk(table):
        for sym in table.get_symbols():
            if table is top:
                if sym.is_referenced():
                    used.add(sym.get_name())
            elif sym.is_global() and sym.is_referenced():
                used.add(sym.get_name())
        for child in table.get_children():
            walk(child)
    walk(top)
    for node in ast.parse(text).body:            # a name in __all__ is one the module offers
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets):
            used |= set(ast.literal_eval(node.value)) - bound
    return {n for n in used - bound if n not in _BUILTINS}


def _definitions(text):
    """{name: import statement or None}: names a module binds (None: defined here, not imported)."""
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                single = type(node)(**{**{f: getattr(node, f) for f in node._fields}, 'names': [alias]})
                found.setdefault((alias.asname or alias.name).split('.')[0], ast.unparse(single))
        else:
            for name in _bound_names(node):
                found[name] = None
    return found


def generate_imports(modules, labels):
    """{path: text} with the imports each module needs from its siblings added.

    `labels[path]` is the set of notebooks a module's cells came from: only modules sharing a
    notebook are siblings (a later chapter imports an earlier one's names itself). If siblings
    from different notebooks define the name, the one sharing the earliest notebook wins: a later
    chapter's module (gluon.data's DataLoader) never changes what an earlier chapter's code in
    the same module meant (chapter 4's DataLoader in minimx.d2l). Labels sort in chapter order."""
    defs = {path: _definitions(text) for path, text in modules.items() if path.endswith('.py')}
    needs = {}
    for path, text in modules.items():
        wanted = {}
        for name in sorted(free_names(text, path)):
            owners = [p for p in defs if p != path and labels.get(p, set()) & labels.get(path, set())
                      and name in defs[p]]
            made = [p for p in owners if defs[p][name] is None]
            if len(made) > 1:       # a name keeps the meaning it had in the first chapter that used it
                shared = {p: min(labels[p] & labels[path]) for p in made}
                made = [p for p in made if shared[p] == min(shared.values())]
            if made:
                if len(made) > 1:
                    raise AssemblyError(f'{path} uses {name!r}, which {" and ".join(made)} both define; '
                                        f'give one of them another name.')
                wanted[name] = ('from', made[0])
            elif owners:
                wanted[name] = ('stmt', defs[owners[0]][name])
            else:
                raise AssemblyError(f'{path} uses {name!r}, which no cell of its notebook defines '
                                    f'before it; import it or define it.')
        needs[path] = wanted
    _refuse_cycles(needs)
    out = dict(modules)
    for path, wanted in needs.items():
        if wanted:
            out[path] = _insert_imports(modules[path], wanted)
    return out


def _refuse_cycles(needs):
    graph = {p: {src for kind, src in w.values() if kind == 'from'} for p, w in needs.items()}
    state = {}

    def visit(p, trail):
        if state.get(p) == 'done':
            return
        if state.get(p) == 'open':
            raise AssemblyError('modules would import each other: ' + ' -> '.join(trail + [p]))
        state[p] = 'open'
        for q in sorted(graph.get(p, ())):
            visit(q, trail + [p])
        state[p] = 'done'
    for p in sorted(graph):
        visit(p, [])


def _insert_imports(text, wanted):
    """Write the generated imports after the module's docstring and its own leading imports:
    plain imports first, then one `from M import a, b` per module, sorted, wrapped at 100."""
    plain, names = set(), {}
    for name, (kind, src) in wanted.items():
        if kind == 'from':
            names.setdefault(_module_name(src), set()).add(name)
            continue
        node = ast.parse(src).body[0]
        if isinstance(node, ast.ImportFrom):
            names.setdefault(node.module, set()).add(ast.unparse(node).split(' import ', 1)[1])
        else:
            plain.add(src)
    statements = sorted(plain) + [_from_import(module, sorted(found)) for module, found in sorted(names.items())]
    tree = ast.parse(text)
    after = 0
    for i, node in enumerate(tree.body):
        doc = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if doc or isinstance(node, (ast.Import, ast.ImportFrom)):
            after = node.end_lineno
        else:
            break
    lines = text.split('\n')
    block = ['# generated by the exporter: names this module uses from its sibling modules'] + statements
    return '\n'.join(lines[:after] + [''] + block + [''] + lines[after:])


def _from_import(module, names):
    line = f'from {module} import {", ".join(names)}'
    if len(line) <= 100:
        return line
    body, row = [], '   '
    for name in names:
        if len(row) + len(name) + 2 > 100:
            body.append(row.rstrip())
            row = '   '
        row += f' {name},'
    body.append(row.rstrip(','))
    return f'from {module} import (\n' + '\n'.join(body) + ')'
