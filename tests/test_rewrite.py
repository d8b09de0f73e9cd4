"""How the grader compiles test cells (autograder/rewrite.py): a student run never evaluates an
expected value, its helpers cannot be rebound, and the hidden part keeps its names to itself."""
import ast
import marshal
import types

import pytest

from autograder import rewrite
from autograder.notebook import read_instructor
from core.chapters import chapters


def student_source(code, hidden=True, keep=()):
    tree = rewrite.parse_part(code, 0, '<t>', hidden=hidden)
    return ast.unparse(rewrite.student_edition(tree, hidden=hidden, keep=keep))


def test_the_expected_side_and_what_only_feeds_it_are_gone():
    code = '''
rng = case_rng(1)
x = rng.standard_normal(3)
want = np.empty(3)
for i in range(3):
    want[i] = reference(x[i])
want += 1
got = f(x)
check_array(got, want, f'f on {x}', rtol=1e-3)
check_raises(ValueError, lambda: f(None), match='None', what='bad input')
'''
    text = student_source(code)
    assert 'reference' not in text and 'want' not in text and '1e-3' not in text and 'ValueError' not in text
    assert "match=None" in text and 'check_array(got, None, None, rtol=None)' in text
    assert 'x = rng.standard_normal(3)' in text and 'got = f(x)' in text     # inputs and the call stay


def test_statements_with_other_uses_stay():
    code = '''
want = g(x)
log.append(want)
y = h(x)
check_equal(f(x), y, 'm')
'''
    text = student_source(code, keep={'y'})                # another cell reads y
    assert 'want = g(x)' in text and 'y = h(x)' in text


def test_a_class_body_is_never_trimmed():
    code = '''
class Counter:
    steps = []
    def step(self):
        self.steps.append(1)
check_equal(run(Counter()), 3, 'm')
'''
    assert 'steps = []' in student_source(code)


def compiled(code, student, namespace, helpers):
    """The part functions of a test cell, bound as the harness binds them."""
    functions = []
    for part in rewrite.compile_test(code, '<test_x>', student=student):
        function = types.FunctionType(marshal.loads(part.code), namespace)
        function.__kwdefaults__ = dict(helpers, __notebook__=namespace)
        functions.append((part.label, function))
    return functions


def recording_helpers(log):
    def record(kind):
        return lambda *args, _scope=None, **kwargs: log.append((kind, args, kwargs))
    helpers = {name: record(name) for name in rewrite.HELPERS}
    helpers['case_rng'] = lambda n: None
    return helpers


def test_a_student_run_never_calls_what_computes_expected_values():
    calls = []
    namespace = {'f': lambda v: v + 1, 'reference': lambda v: calls.append(v) or v + 1, 'x': 2}
    code = ("check_equal(f(x), reference(x), 'visible')\n"
            f"{rewrite.HIDDEN_BEGIN}\n"
            "want = reference(x * 10)\ncheck_equal(f(x * 10), want, 'hidden')\n")
    log = []
    for _, function in compiled(code, True, namespace, recording_helpers(log)):
        function()
    assert calls == []
    assert [entry[1][:2] for entry in log] == [(3, None), (21, None)]
    log.clear()
    for _, function in compiled(code, False, namespace, recording_helpers(log)):
        function()
    assert calls == [2, 20] and [entry[1][:2] for entry in log] == [(3, 3), (21, 21)]


def test_visible_names_land_in_the_notebook_hidden_names_do_not():
    namespace = {'base': 5}
    code = f"a = base + 1\ncheck_equal(a, 6, 'm')\n{rewrite.HIDDEN_BEGIN}\nbase = base * 2\nsecret = base\ncheck_equal(secret, 10, 'm')\n"
    log = []
    for _, function in compiled(code, True, namespace, recording_helpers(log)):
        function()
    assert namespace['a'] == 6 and namespace['base'] == 5 and 'secret' not in namespace
    assert [entry[1][0] for entry in log] == [6, 10]      # the hidden part read the notebook's base first


def test_helpers_are_parameters_that_the_notebook_cannot_rebind():
    namespace = {'check_equal': lambda *a, **k: None}      # a student rebinding the helper
    log = []
    (_, visible), _ = compiled("check_equal(1, 1, 'm')", True, namespace, recording_helpers(log))
    visible()
    assert len(log) == 1
    code = marshal.loads(rewrite.compile_test("check_equal(1, 1, 'm')", '<t>', student=True)[0].code)
    assert 'check_equal' in code.co_varnames and 'check_equal' not in code.co_names


def test_lint_names_what_a_hidden_test_may_not_do():
    assert rewrite.lint(f"check(ok(), 'm')\n{rewrite.HIDDEN_BEGIN}\ncheck_equal(f(), 1, 'm')\n", 't') == []
    problems = rewrite.lint(f"{rewrite.HIDDEN_BEGIN}\ncheck(f() > 0 or g(), 'm')\n"
                            "check_equal(f(), 1, 'm')\n"
                            "check(abs(f() - want) < 1e-3, 'm')\n"
                            "def helper():\n    check_equal(1, 1, 'm')\n", 't')
    text = '\n'.join(problems)
    assert 'judged inside the student\'s process' in text and 'a difference' in text and 'nested function' in text
    assert 'fixed inputs' in ' '.join(rewrite.lint(f"x = case_rng(1)\n{rewrite.HIDDEN_BEGIN}\ncheck_equal(f(), 1, 'm')\n", 't'))
    assert rewrite.lint(f"{rewrite.HIDDEN_BEGIN}\ncheck(a is b, 'm')\n", 't') == \
        ['t: the hidden part has no value check (check_equal, check_array or check_raises)']


@pytest.mark.parametrize('ch', chapters(), ids=lambda c: c.id)
def test_every_chapter_passes_the_lint_and_compiles_both_editions(ch):
    for cell in read_instructor(ch.source):
        if cell.is_test:
            assert rewrite.lint(cell.source, cell.grade_id) == []
            for student in (False, True):
                assert [p.label for p in rewrite.compile_test(cell.source, f'<{cell.grade_id}>', student)] == \
                    ['visible', 'hidden']
