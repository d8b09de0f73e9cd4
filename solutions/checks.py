"""Test helpers the chapter notebooks' test cells use.

Shipped beside every student notebook. Each check says what was checked, what came out and
what was expected, so a failing test reads as advice rather than a bare AssertionError.
Nothing is printed on success except by `passed`, so hidden tests stay silent.

The grader does not run these functions in your process: it compiles the same test cells with
helpers of its own that record the values your code produced, and compares them with the
reference solution's values outside your process (autograder/rewrite.py in the course
repository), by the same rules: `array_mismatch` is what it judges arrays with.
"""
import contextlib
import io
import random
import re
import sys
import warnings

import numpy as np

__all__ = ['case_rng', 'check', 'check_equal', 'check_array', 'check_raises', 'passed', 'isolated']


class CheckFailed(AssertionError):
    """A visible or hidden test found a wrong answer."""


def _numpy(value):
    """NDArray (anything with asnumpy), numpy array, list or number -> numpy array."""
    if hasattr(value, 'asnumpy'):
        return value.asnumpy()
    return np.asarray(value)


def case_rng(n):
    """The random generator for a test's cases: numpy's default_rng(n). When grading, every
    submission gets cases of its own (the grader shifts n by a seed derived from the submission)."""
    return np.random.default_rng(n)


@contextlib.contextmanager
def isolated():
    """Run hidden tests without leaving a trace later cells could see: the global generators
    (Python's random, numpy's, minimx's nd.random) and Gluon's block-name counters are restored
    afterwards, and anything printed or warned is swallowed. The student edition has no hidden tests, so its cells must print exactly what
    the reference run printed."""
    nd_random = getattr(sys.modules.get('minimx.nd'), 'random', None)
    saved = (random.getstate(), np.random.get_state(), nd_random.get_state() if nd_random else None)
    # Gluon names blocks with process-wide counters (dense0_, dense1_, ...): creating blocks in
    # hidden tests must not shift the names later cells print. Chapter 7 defines them in the
    # notebook itself (__main__), later chapters import them from minimx.
    blocks = [m for m in (sys.modules.get('minimx.gluon.block'), sys.modules.get('__main__'))
              if callable(getattr(m, 'get_name_counters', None))]
    counters = [(m, m.get_name_counters()) for m in blocks]
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        if nd_random is not None:
            nd_random.set_state(saved[2])
        for module, copy in counters:
            module.set_name_counters(copy)


def check(condition, message):
    """Fail with `message` unless `condition` is true."""
    if not condition:
        raise CheckFailed(message)


def check_equal(actual, expected, what):
    """`actual == expected` for plain values (ints, tuples, strings, dtypes)."""
    try:
        same = bool(actual == expected)
    except (ValueError, TypeError):          # arrays compare elementwise: not a plain value
        same = False
    if not same:
        raise CheckFailed(f'{what}: expected {expected!r}, got {actual!r}')


def check_array(actual, expected, what, rtol=1e-5, atol=1e-6, dtype=None):
    """Shape, optional dtype, finiteness and values of an array, with readable messages."""
    wrong = array_mismatch(_numpy(actual), _numpy(expected), rtol, atol, dtype)
    if wrong:
        raise CheckFailed(f'{what}: {wrong[0]}')


def array_mismatch(got, want, rtol=1e-5, atol=1e-6, dtype=None):
    """None if numpy array `got` passes for `want`; else (what is wrong, with values; the same
    in words only, for a hidden case). The grader judges check_array with this very function
    (autograder/verdict.py), so work that passes here cannot fail grading on these rules."""
    if got.shape != want.shape:
        return f'expected shape {want.shape}, got shape {got.shape}', 'the result has the wrong shape'
    if dtype is not None and got.dtype != np.dtype(dtype):
        return f'expected dtype {np.dtype(dtype)}, got {got.dtype}', f'wrong dtype ({got.dtype})'
    if got.dtype.kind in 'fc' and not np.isfinite(got).all() and \
            (want.dtype.kind not in 'fc' or np.isfinite(want).all()):
        return 'the result contains NaN or Inf', 'the result contains NaN or Inf'
    try:
        ok = np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    except TypeError:
        ok = np.array_equal(got, want)
    if ok:
        return None
    diff = np.abs(got.astype(np.complex128) - want.astype(np.complex128)).real
    where = np.unravel_index(np.argmax(diff), diff.shape) if diff.ndim else ()
    return (f'values differ (largest difference {diff.max():.3g} at index {tuple(int(i) for i in where)}: '
            f'got {got[where].tolist()!r}, expected {want[where].tolist()!r})', 'wrong values on a hidden case')


def check_raises(exc_types, fn, match=None, what='the call'):
    """`fn()` must raise one of `exc_types`; with `match`, its message must contain that regex."""
    try:
        fn()
    except exc_types as err:
        if match is not None and not re.search(match, str(err)):
            raise CheckFailed(f'{what}: raised {type(err).__name__} as it should, but the message '
                              f'{str(err)!r} does not contain {match!r}') from None
        return
    except Exception as err:
        names = exc_types.__name__ if isinstance(exc_types, type) else \
            ' or '.join(t.__name__ for t in exc_types)
        raise CheckFailed(f'{what}: expected {names}, got {type(err).__name__}: {err}') from None
    names = exc_types.__name__ if isinstance(exc_types, type) else ' or '.join(t.__name__ for t in exc_types)
    raise CheckFailed(f'{what}: expected {names} to be raised, but nothing was raised')


def passed(name):
    print(f'✓ {name}: visible tests passed')
