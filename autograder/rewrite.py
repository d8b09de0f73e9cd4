"""Test cells as the grader runs them: every verdict a value, and no expected value in a student run.

The instructor writes test cells for people: `check(...)`, `assert`, numpy.testing. The grader
compiles each test cell, here in its own trusted process, into code for the sandbox:

1. **Every verdict carries values.** `assert c, m` becomes `check(c, m)`; `check(a == b)`
   becomes `check_equal(a, b)`; `a is b` becomes an identity fact and `np.shares_memory(a, b)`
   an aliasing fact that the recorder computes itself; `a < b` (and the other comparisons)
   records both sides and the grader compares them; `check(p and q)` is two checks;
   numpy.testing's asserts become `check_array`/`check_equal`.
2. **Two editions of the code.** The reference run gets it all. A student run gets it with the
   *expected* side of every check removed -- the expected argument of check_equal/check_array,
   the exception types and pattern of check_raises, the expected flag of a fact, hidden checks'
   messages -- and with every statement that only computed such values. What never runs in
   the student's process cannot be read, patched or handed to a lying `__eq__` there; the
   grader takes expected values from the reference run. (Whether the smaller edition computes
   the same actual values as the full one is checked on the reference answers before any
   student is graded: assignment.validate.)
3. **Helpers no one can rebind.** Each part (visible, hidden) becomes a function whose helpers
   are keyword-only parameters bound by the harness before any student code runs; the visible
   part declares the names it binds `global` (they land in the notebook, as in Jupyter), the
   hidden part's names stay local to it (student functions, whose globals are the notebook's,
   never see them).

`lint` lists what the grader refuses in a hidden test: a condition judged inside the student's
process, a helper used inside a nested function, a hidden part without a value check.
"""
import ast
import copy
import marshal
from dataclasses import dataclass, field

from core.notebook_format import HIDDEN_BEGIN  # noqa: F401  (tests build cells with it)
# Step 1, and what a check's arguments are, is the course's reading of test cells, shared
# with pipeline/release.py (hidden_topics): core/test_cells.py.
from core.test_cells import (EXPECTED_SIDE, HELPERS, MESSAGES, PART_FUNCTION,  # noqa: F401
                             SIGNATURES, VALUE_CHECKS, RecordableChecks, argument_slots, helper_calls,
                             parse_part, split)

def _loads(node):
    return [n for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]


def _simple_targets(statement):
    """Names a plain assignment binds, or None if it is not one (tuples of names allowed)."""
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)) and statement.value is not None:
        targets = [statement.target]
    else:
        return None
    names = []
    for target in targets:
        items = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        for item in items:
            item = item.value if isinstance(item, ast.Starred) else item
            if not isinstance(item, ast.Name):
                return None
            names.append(item.id)
    return names


def _parents(tree):
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    return parents


def expected_slots(tree, hidden):
    """The argument nodes a student run does not evaluate (step 2 of the module docstring)."""
    dropped = []
    for call, helper in helper_calls(tree):
        for parameter, (container, key) in argument_slots(call, helper).items():
            if parameter in EXPECTED_SIDE or (hidden and parameter in MESSAGES):
                node = container[key] if isinstance(container, list) else getattr(container, key)
                dropped.append(node)
    return dropped


def _mutated_name(statement):
    """X for `X[...] = v`, `X[...] += v` or `X.a = v`: a statement that changes X in place."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
    elif isinstance(statement, ast.AugAssign):
        target = statement.target
    else:
        return None
    if not isinstance(target, (ast.Subscript, ast.Attribute)):
        return None
    while isinstance(target, (ast.Subscript, ast.Attribute)):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def own_scope(tree):
    """The statements of the part's own scope: a class body's assignments define attributes
    and a function's locals are its own, so neither is ever dropped."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.stmt):
            yield node
        for field_name in ('body', 'orelse', 'finalbody', 'handlers'):
            stack.extend(getattr(node, field_name, None) or [])
        if isinstance(node, ast.Match):
            stack.extend(node.cases)
        if isinstance(node, ast.match_case):
            stack.extend(node.body)


def droppable_statements(tree, slots, keep=()):
    """Statements that only compute values for `slots` (the expected side): plain assignments
    of names read nowhere else (nor in `keep`, names other cells read), with the statements
    that then fill such an object in place (`want[i] = ...`)."""
    own = list(own_scope(tree))                  # not inside a def, lambda or class body
    by_name = {}
    for s in own:
        for name in _simple_targets(s) or ():
            by_name.setdefault(name, []).append(s)
    for s in own:                                # in-place fills of a name assigned here
        name = _mutated_name(s)
        if name in by_name:
            by_name[name].append(s)
    bound_otherwise = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))
                       and not any(n in ast.walk(s) for s in by_name.get(n.id, []))}
    parents = _parents(tree)
    slot_ids = {id(s) for s in slots}

    def inside(node, roots):
        while node is not None:
            if id(node) in roots:
                return True
            node = parents.get(node)
        return False

    candidates = {n for n in by_name if n not in keep and n not in bound_otherwise}
    while True:
        dropped = {id(s) for n in candidates for s in by_name[n]}
        dead = slot_ids | dropped
        survivors = {n for n in candidates
                     if all(inside(load, dead) for load in _loads(tree) if load.id == n)
                     and all(set(_simple_targets(s) or [n]) <= candidates for s in by_name[n])}
        if survivors == candidates:
            return [s for n in candidates for s in by_name[n]]
        candidates = survivors


class _Remove(ast.NodeTransformer):
    def __init__(self, statements):
        self.ids = {id(s) for s in statements}

    def generic_visit(self, node):
        super().generic_visit(node)
        for field_name in ('body', 'orelse', 'finalbody'):
            body = getattr(node, field_name, None)
            if isinstance(body, list) and not body and field_name == 'body':
                body.append(ast.copy_location(ast.Pass(), node))
        return node

    def visit(self, node):
        if id(node) in self.ids:
            return None
        return super().visit(node)


def student_edition(tree, hidden, keep=()):
    """`tree` (already through RecordableChecks) without what only a reference run needs."""
    tree = copy.deepcopy(tree)
    slots = expected_slots(tree, hidden)
    statements = droppable_statements(tree, slots, keep)
    for call, helper in helper_calls(tree):
        for parameter, (container, key) in argument_slots(call, helper).items():
            node = container[key] if isinstance(container, list) else getattr(container, key)
            if node in slots:
                blank = ast.copy_location(ast.Constant(None), node)
                if isinstance(container, list):
                    container[key] = blank
                else:
                    setattr(container, key, blank)
    tree = _Remove(statements).visit(tree)
    return ast.fix_missing_locations(tree)


def bound_names(body):
    """Names a block of statements binds in its own scope (what `global` must list)."""
    found = set()

    def visit(node, top):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            outer = list(node.decorator_list)        # evaluated in the enclosing scope
            if isinstance(node, ast.ClassDef):
                outer += node.bases + [k.value for k in node.keywords]
            else:
                outer += node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
            for sub in outer:
                visit(sub, top)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            found.update(n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr))
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
        elif isinstance(node, ast.NamedExpr):
            found.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).partition('.')[0] for a in node.names if a.name != '*')
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            found.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            found.add(node.rest)
        for child in ast.iter_child_nodes(node):
            visit(child, top)

    for statement in body:
        visit(statement, True)
    return found


def read_before_bound(tree):
    """Names read (in source order) before the part first binds them."""
    first_store, first_load = {}, {}
    assigned_at = {}            # an assignment binds its targets after evaluating its value
    for statement in ast.walk(tree):
        if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            for n in ast.walk(statement):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    assigned_at[id(n)] = (statement.end_lineno, statement.end_col_offset)
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            table = first_load if isinstance(n.ctx, ast.Load) else first_store
            where = assigned_at.get(id(n), (n.lineno, n.col_offset))
            table[n.id] = min(table.get(n.id, where), where)
    for statement in ast.walk(tree):             # `x += 1` reads x first
        if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
            where = (statement.lineno, statement.col_offset)
            name = statement.target.id
            first_load[name] = min(first_load.get(name, where), where)
    return {name for name, where in first_load.items() if name in first_store and where < first_store[name]}


def as_function(tree, visible, first_line):
    """The part as `def __test_part__(*, check, ...)`: helpers are parameters; a visible part's
    names are declared global so they land in the notebook's namespace. A hidden part's names
    are its own: where it rebinds a name the notebook has, it starts from the notebook's value
    (`x = x.copy()` reads the notebook's x, as it would at the top level)."""
    body = list(tree.body) or [ast.Pass()]
    names = sorted(bound_names(body) - set(HELPERS))
    if visible and names:
        body.insert(0, ast.Global(names))
    elif names:
        read = read_before_bound(tree)
        notebook = ast.Name('__notebook__', ast.Load())
        body[:0] = [ast.If(ast.Compare(ast.Constant(name), [ast.In()], [notebook]),
                           [ast.Assign([ast.Name(name, ast.Store())],
                                       ast.Subscript(notebook, ast.Constant(name), ast.Load()))], [])
                    for name in names if name in read]
    args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[ast.arg(h) for h in HELPERS],
                         kw_defaults=[None] * len(HELPERS), kwarg=None, defaults=[])
    function = ast.FunctionDef(PART_FUNCTION, args, body, [], None)
    module = ast.Module([function], [])
    for node in ast.walk(module):           # what the wrapper adds takes the part's first line
        if isinstance(node, (ast.stmt, ast.expr, ast.arg, ast.excepthandler, ast.keyword)) \
                and getattr(node, 'lineno', None) is None:
            node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = first_line, 0, first_line, 0
    function.end_lineno = max(getattr(n, 'end_lineno', None) or first_line for n in ast.walk(function))
    return module


def with_scope(tree):
    """Pass the hidden part's local variables to every check (`_scope=locals()`), so the
    recorder can tell when student code changed an input array in place."""
    for call, _ in helper_calls(tree):
        call.keywords.append(ast.keyword('_scope', ast.Call(ast.Name('locals', ast.Load()), [], [])))
    return ast.fix_missing_locations(tree)


@dataclass
class Part:
    label: str                 # 'visible' or 'hidden'
    code: bytes                # marshal of the part function's code object
    names: list = field(default_factory=list)     # names whose arrays the recorder fingerprints


def compile_test(source, filename, student, keep=()):
    """The compiled parts of one test cell for a reference (`student=False`) or student run."""
    visible, hidden, cut = split(source)
    parts = []
    for label, text, first in (('visible', visible, 0), ('hidden', hidden, cut)):
        tree = parse_part(text, first, filename, hidden=label == 'hidden')
        if student:
            tree = student_edition(tree, hidden=label == 'hidden', keep=keep if label == 'visible' else ())
        names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(HELPERS))
        if label == 'hidden':
            tree = with_scope(tree)
        module = compile(as_function(tree, label == 'visible', first + 1), filename, 'exec')
        code = next(c for c in module.co_consts if getattr(c, 'co_name', None) == PART_FUNCTION)
        parts.append(Part(label, marshal.dumps(code), names))
    return parts


def lint(source, label):
    """Problems the grader refuses in a test cell (see the module docstring)."""
    visible, hidden, cut = split(source)
    try:
        tree = parse_part(hidden, cut, f'<{label}>')
        shown = ast.parse(visible)
    except SyntaxError as err:
        return [f'{label}: the test cell does not parse: {err}']
    problems = []
    if 'case_rng' in {n.id for n in ast.walk(shown) if isinstance(n, ast.Name)}:
        problems.append(f'{label}: the visible part draws from case_rng; visible tests use fixed inputs (every '
                        f'submission shares them), random cases belong in the hidden part')
    for call, helper in helper_calls(tree):
        if helper == 'check':
            problems.append(f'{label}, line {call.lineno}: hidden check({ast.unparse(call.args[0])[:80]}) would be '
                            f'judged inside the student\'s process; write it as check_equal/check_array, or as '
                            f'a comparison, identity (`is`) or np.shares_memory the grader evaluates')
        if helper == 'check_compare':
            for operand in (call.args[0], call.args[2]):
                if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub) for n in ast.walk(operand)):
                    problems.append(f'{label}, line {call.lineno}: {ast.unparse(call)[:80]} compares a difference '
                                    f'computed in the student\'s process; use check_array(got, want, atol=..., rtol=0)')
    for scope in ast.walk(tree):
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            used = {n.id for n in ast.walk(scope) if isinstance(n, ast.Name) and n.id in HELPERS}
            if used:
                problems.append(f'{label}, line {scope.lineno}: {", ".join(sorted(used))} used inside a nested '
                                f'function or class; call check helpers only at the top level of a test cell')
    if hidden.strip() and not any(h in VALUE_CHECKS for _, h in helper_calls(tree)):
        problems.append(f'{label}: the hidden part has no value check (check_equal, check_array or check_raises)')
    return problems
