"""Test cells as syntax: the check helpers they call, what each argument of a check is, and
the rewrite that turns every verdict into a helper call that carries values (step 1 of
autograder/rewrite.py's docstring, which compiles test cells for the sandbox).

Here, and not in the grader, because the release reads test cells too: `hidden_topics` is
what a student's self-check says the hidden tests will check. Standard library only.
"""
import ast
import re

from core.notebook_format import split_test

PART_FUNCTION = '__test_part__'
# What test code may call; bound as keyword-only parameters of every compiled part.
HELPERS = ('check', 'check_equal', 'check_array', 'check_raises', 'check_same', 'check_shares_memory',
           'check_compare', 'passed', 'case_rng', 'isolated', '__notebook__')
VALUE_CHECKS = ('check_equal', 'check_array', 'check_raises')
COMPARISONS = {ast.Lt: '<', ast.LtE: '<=', ast.Gt: '>', ast.GtE: '>=', ast.NotEq: '!=', ast.In: 'in',
               ast.NotIn: 'not in'}
NUMPY_ASSERTS = {'assert_allclose', 'assert_array_equal', 'assert_array_almost_equal', 'assert_almost_equal',
                 'assert_equal'}
# The arguments of each helper, in order: which are the actual values and which the expected
# side (removed for student runs). Keywords are matched by name.
SIGNATURES = {
    'check': ('condition', 'message'),
    'check_equal': ('actual', 'expected', 'what'),
    'check_array': ('actual', 'expected', 'what', 'rtol', 'atol', 'dtype'),
    'check_raises': ('exc_types', 'fn', 'match', 'what'),
    'check_same': ('actual', 'other', 'what', 'expect'),
    'check_shares_memory': ('actual', 'other', 'what', 'expect'),
    'check_compare': ('actual', 'op', 'other', 'what'),
}
EXPECTED_SIDE = {'expected', 'rtol', 'atol', 'dtype', 'exc_types', 'match', 'expect'}
MESSAGES = {'message', 'what'}


def _name(node):
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _call(name, args, like, keywords=()):
    return ast.copy_location(ast.Call(ast.Name(name, ast.Load()), list(args), list(keywords)), like)


class RecordableChecks(ast.NodeTransformer):
    """Step 1 of the module docstring: rewrite test code so that each check records values.
    A visible part keeps its other conditions as they are (`check(a < b)`, `check(p and q)`):
    the student can read the visible tests anyway, and their operands need not be plain values."""

    def __init__(self, hidden=True):
        self.hidden = hidden

    def visit_Assert(self, node):
        message = node.msg or ast.Constant(ast.unparse(node.test))
        return self.visit(ast.copy_location(ast.Expr(_call('check', [node.test, message], node)), node))

    def visit_Expr(self, node):
        call = node.value
        if self.hidden and isinstance(call, ast.Call) and _name(call.func) == 'check' and call.args \
                and isinstance(call.args[0], ast.BoolOp) and isinstance(call.args[0].op, ast.And):
            rest, keywords = call.args[1:], call.keywords       # check(p and q, m): two checks
            parts = [ast.copy_location(ast.Expr(_call('check', [value, *rest], call, keywords)), node)
                     for value in call.args[0].values]
            return [self.visit(part) for part in parts]
        self.generic_visit(node)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        name = _name(node.func)
        if name == 'check' and node.args:
            return self._condition(node)
        if name in NUMPY_ASSERTS and len(node.args) >= 2:
            return self._numpy_assert(name, node)
        return node

    def _condition(self, node):
        cond, rest = node.args[0], node.args[1:]
        keywords = [ast.keyword('what' if k.arg == 'message' else k.arg, k.value) for k in node.keywords]
        negated = isinstance(cond, ast.UnaryOp) and isinstance(cond.op, ast.Not)
        inner = cond.operand if negated else cond
        if isinstance(inner, ast.Call) and _name(inner.func) == 'shares_memory' and len(inner.args) == 2 \
                and not inner.keywords:
            return _call('check_shares_memory', [*inner.args, *rest[:1]], node,
                         [*keywords, ast.keyword('expect', ast.Constant(not negated))])
        if negated or not isinstance(cond, ast.Compare) or len(cond.ops) != 1:
            return node
        op, left, right = type(cond.ops[0]), cond.left, cond.comparators[0]
        if op is ast.Eq:
            return _call('check_equal', [left, right, *rest], node, keywords)
        if op in (ast.Is, ast.IsNot):
            return _call('check_same', [left, right, *rest[:1]], node,
                         [*keywords, ast.keyword('expect', ast.Constant(op is ast.Is))])
        if op in COMPARISONS and self.hidden:
            return _call('check_compare', [left, ast.Constant(COMPARISONS[op]), right, *rest], node, keywords)
        return node

    def _numpy_assert(self, name, node):
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        actual, desired = node.args[:2]
        message = kw.get('err_msg') or ast.Constant(f'numpy.testing.{name}')
        if name == 'assert_equal':
            return _call('check_equal', [actual, desired, message], node)
        if name == 'assert_allclose':
            rtol, atol = kw.get('rtol', ast.Constant(1e-7)), kw.get('atol', ast.Constant(0.0))
        elif name == 'assert_array_equal':
            rtol, atol = ast.Constant(0.0), ast.Constant(0.0)
        else:
            decimal = kw.get('decimal', node.args[2] if len(node.args) > 2 else ast.Constant(6 if 'array' in name else 7))
            rtol = ast.Constant(0.0)
            atol = ast.BinOp(ast.Constant(1.5), ast.Mult(), ast.BinOp(ast.Constant(10.0), ast.Pow(),
                                                                       ast.UnaryOp(ast.USub(), decimal)))
        return _call('check_array', [actual, desired, message], node,
                     [ast.keyword('rtol', rtol), ast.keyword('atol', atol)])


def helper_calls(tree):
    """(call node, helper name) for every call of a check helper in `tree`."""
    return [(n, n.func.id) for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in SIGNATURES]


def argument_slots(call, helper):
    """{parameter name: (container, key)} -- where each argument of a helper call sits."""
    slots = {}
    names = SIGNATURES[helper]
    for position in range(len(call.args)):
        if position < len(names) and not isinstance(call.args[position], ast.Starred):
            slots[names[position]] = (call.args, position)
    for keyword in call.keywords:
        if keyword.arg in names:
            slots[keyword.arg] = (keyword, 'value')
    return slots



split = split_test      # (visible, hidden, first line of the hidden part) of a test cell


def parse_part(text, first_line, filename, hidden=True):
    tree = ast.parse(text, filename)
    ast.increment_lineno(tree, first_line)
    return ast.fix_missing_locations(RecordableChecks(hidden).visit(tree))


def hidden_topics(source, limit=400):
    """What a test cell's hidden part checks, in its own words: the descriptions given to its
    checks that are words only (no digits, brackets or values), for a student's self-check to
    say what remains unknown without saying what the cases are."""
    _, hidden, cut = split(source)
    try:
        tree = parse_part(hidden, cut, '<hidden>')
    except SyntaxError:
        return ''
    topics = []
    for call, helper in helper_calls(tree):
        for parameter, (container, key) in argument_slots(call, helper).items():
            node = container[key] if isinstance(container, list) else getattr(container, key)
            if parameter in MESSAGES and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and not re.search(r'[\d()\[\]{}=\'"<>]', node.value) and node.value not in topics:
                topics.append(node.value)
    text = '; '.join(topics)
    return text if len(text) <= limit else text[:limit].rsplit(';', 1)[0] + '; …'
