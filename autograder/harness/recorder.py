"""How test code's checks become records of plain data, inside the sandbox.

Runs in the student's interpreter, so it trusts nothing it is handed. A value is serialized
only if its *exact* type is a known plain type (bool, int, float, complex, str, bytes, None,
tuple, list, dict, set, a numpy array or scalar of a numeric dtype, a dtype); the types are
compared by identity with references captured before any student code ran, so no student
`__eq__`, `__bool__`, `__array__` or metaclass is consulted. The one exception is an
NDArray-like result, whose `.asnumpy()` is called and must return a real numpy array.
Anything else is recorded as "unsupported" with its type name, and the grader scores it as
wrong.

Encoding (JSON, tagged lists): ["none"], ["bool", b], ["int", "123"], ["float", hex],
["complex", hex, hex], ["str", s], ["bytes", base64], ["tuple"|"list", [items]],
["dict", [[k, v], ...]], ["set", [items]], ["array", dtype, shape, base64], ["scalar", dtype, base64],
["dtype", dtype], ["type", name], ["ndarray-like", array], ["unsupported", type, reason].
Floats travel as float.hex, so NaN, Inf and every bit survive; arrays as raw bytes.

`make_helpers` builds the functions compiled test code calls (autograder/rewrite.py). In a
student run they are handed no expected values (the rewrite removed them) and record only
what the student's code produced, plus two facts they compute themselves with functions
captured at start-up: whether two objects are the same object, and whether two numpy arrays
share memory. The grader judges every record outside the sandbox against the reference run's.
"""
import binascii
import builtins
import hashlib

import numpy as np

MAX_TEXT = 2000               # characters of a string or message kept
MAX_ITEMS = 10_000            # elements of nested tuples/lists/dicts
MAX_ARRAY_BYTES = 8 << 20     # bytes of one array
MAX_DEPTH = 20
FINGERPRINT_MAX_ELEMENTS = 1_000_000

# Captured once, at import, before any student code: later patches cannot reach these.
_type, _id, _len, _repr, _str = builtins.type, builtins.id, builtins.len, builtins.repr, builtins.str
_bool, _int, _float, _isinstance = builtins.bool, builtins.int, builtins.float, builtins.isinstance
_b2a = binascii.b2a_base64
_b64 = lambda data: _b2a(data, newline=False)
_blake2b = hashlib.blake2b
_ndarray = np.ndarray
_tobytes = np.ndarray.tobytes
_shape_of = np.ndarray.shape.__get__
_dtype_of = np.ndarray.dtype.__get__
_size_of = np.ndarray.size.__get__
_array_bool = np.ndarray.__bool__
_asarray = np.asarray
_np_dtype = np.dtype
_shares_memory = np.shares_memory
_generic_tobytes = np.generic.tobytes
_generic_dtype = np.generic.dtype.__get__
_type_name = type.__dict__['__name__'].__get__
_type_mro = type.__dict__['__mro__'].__get__
_float_hex = float.hex
_obj_getattr = object.__getattribute__
_traceback_of = BaseException.__traceback__.__get__
_dict_get, _dict_items = dict.get, dict.items
_NUMPY_SCALAR_TYPES = {_id(t): t for t in set(np.sctypeDict.values())}
_DTYPE_CLASSES = {_id(_type(np.dtype(t))): _type(np.dtype(t)) for t in set(np.sctypeDict.values())}
_BUILTIN_TYPES = {_id(t): t for t in (bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)}
_NUMBER_TYPES = (bool, int, float, complex)
_TRUTHY_TYPES = (int, float, complex, str, bytes, tuple, list, dict)
_NUMERIC_KINDS = 'biufc'
_SYNTAX_ERRORS = {_id(t): t for t in (SyntaxError, IndentationError, TabError)}


def type_name(value):
    return _type_name(_type(value))


def _by_identity(table, obj):
    found = table.get(_id(obj))
    return found is not None and found is obj


def _one_of(t, types):
    """`t in types` by identity: `in` would consult a student metaclass's __eq__."""
    return any(t is candidate for candidate in types)


def _unsupported(value, reason='not a plain value'):
    return ['unsupported', type_name(value)[:100], reason]


def _array(value):
    dtype = _dtype_of(value)
    if dtype.kind not in _NUMERIC_KINDS:
        return _unsupported(value, f'an array of dtype {dtype.str}')
    if _size_of(value) * dtype.itemsize > MAX_ARRAY_BYTES:
        return _unsupported(value, 'an array too large to record')
    return ['array', dtype.str, [_int(d) for d in _shape_of(value)], _b64(_tobytes(value, 'C')).decode()]


def encode(value, depth=0, budget=None):
    """`value` as plain JSON data (see the module docstring); never runs student code."""
    budget = budget if budget is not None else [MAX_ITEMS]
    t = _type(value)
    if value is None:
        return ['none']
    if t is bool:
        return ['bool', value]
    if t is int:
        try:
            return ['int', _str(value)]
        except ValueError:                       # more digits than Python will print
            return _unsupported(value, 'an integer too large to record')
    if t is float:
        return ['float', _float_hex(value)]
    if t is complex:
        return ['complex', _float_hex(value.real), _float_hex(value.imag)]
    if t is str:
        return ['str', value[:MAX_TEXT]]
    if t is bytes:
        return ['bytes', _b64(value[:MAX_TEXT]).decode()]
    if t is _ndarray:
        return _array(value)
    if _by_identity(_NUMPY_SCALAR_TYPES, t):
        dtype = _generic_dtype(value)
        if dtype.kind not in _NUMERIC_KINDS:
            return _unsupported(value, f'a numpy scalar of dtype {dtype.str}')
        return ['scalar', dtype.str, _b64(_generic_tobytes(value)).decode()]
    if _by_identity(_DTYPE_CLASSES, t):
        return ['dtype', value.str]
    if t is type:
        if _by_identity(_NUMPY_SCALAR_TYPES, value):
            return ['dtype', _np_dtype(value).str]
        if _by_identity(_BUILTIN_TYPES, value):
            return ['type', _type_name(value)]
        return _unsupported(value, f'the class {_type_name(value)[:100]}')
    if t is set or t is frozenset:
        budget[0] -= _len(value)
        if budget[0] < 0 or depth >= MAX_DEPTH:
            return _unsupported(value, 'too large to record')
        items = set.__iter__(value) if t is set else frozenset.__iter__(value)
        return ['set', [encode(v, depth + 1, budget) for v in items]]
    if t is tuple or t is list or t is dict:
        if depth >= MAX_DEPTH:
            return _unsupported(value, 'nested too deeply')
        budget[0] -= _len(value)
        if budget[0] < 0:
            return _unsupported(value, 'too many elements to record')
        if t is dict:
            return ['dict', [[encode(k, depth + 1, budget), encode(v, depth + 1, budget)]
                             for k, v in dict.items(value)]]
        items = tuple.__iter__(value) if t is tuple else list.__iter__(value)
        return ['tuple' if t is tuple else 'list', [encode(v, depth + 1, budget) for v in items]]
    return _unsupported(value)


def _plain_nested(value, depth=0):
    """True if `value` is numbers in (nested) exact lists/tuples, safe to give np.asarray."""
    t = _type(value)
    if _one_of(t, _NUMBER_TYPES) or _by_identity(_NUMPY_SCALAR_TYPES, t):
        return True
    if (t is list or t is tuple) and depth < MAX_DEPTH and _len(value) <= MAX_ITEMS:
        return all(_plain_nested(v, depth + 1) for v in value)
    return False


def encode_array_like(value, trusted=False):
    """What check_array compares: a numpy array, as checks._numpy would make it."""
    t = _type(value)
    if t is _ndarray:
        return _array(value)
    if _by_identity(_NUMPY_SCALAR_TYPES, t) or _plain_nested(value):
        return _array(_asarray(value))
    if trusted:                                   # the reference run: its own objects
        as_numpy = getattr(value, 'asnumpy', None)
        return _array(as_numpy() if as_numpy is not None else _asarray(value))
    try:
        as_numpy = getattr(value, 'asnumpy', None)          # an NDArray: the student's method
        if as_numpy is None:
            return _unsupported(value)
        result = as_numpy()
    except Exception as err:
        return _unsupported(value, f'its .asnumpy() raised {type_name(err)}')
    if _type(result) is not _ndarray:
        return _unsupported(value, f'its .asnumpy() returned a {type_name(result)}, not a numpy array')
    return ['ndarray-like', _array(result)]


def encode_truth(value):
    """What `check(condition)` judges: the truth of a plain value."""
    t = _type(value)
    if t is bool:
        return ['bool', value]
    if t is _ndarray:
        try:
            return ['bool', _array_bool(value)]
        except ValueError:
            return _unsupported(value, 'an array whose truth value is ambiguous')
    if value is None or _one_of(t, _TRUTHY_TYPES) or _by_identity(_NUMPY_SCALAR_TYPES, t):
        return ['bool', _bool(value)]        # builtin truthiness of exact builtin types
    return _unsupported(value, 'a condition that is not a plain value')


def text(value):
    """A message argument as text (test code builds them; they may embed student values)."""
    return value[:MAX_TEXT] if _type(value) is str else f'<{type_name(value)}>'


def exception_message(err):
    """`str(err)` as text; a student's `__str__` may return anything or raise."""
    try:
        message = _str(err)
        return message[:MAX_TEXT] if _type(message) is str else ''
    except BaseException:
        return '<the message could not be read>'


def where_in_notebook(err, cell_files):
    """[cell label, line] of the innermost notebook line in an exception's traceback. Only
    C-level attributes are read; the frames stay here (the audit hook lets this one function,
    and no other code, read `tb_frame`)."""
    where, steps = None, 0
    try:
        tb = _traceback_of(err)
        while tb is not None and steps < 1000:
            filename = tb.tb_frame.f_code.co_filename
            if _type(filename) is str and filename in cell_files:
                where = [cell_files[filename], tb.tb_lineno]
            tb, steps = tb.tb_next, steps + 1
    except Exception:
        pass
    return where


def describe_exception(err, cell_files):
    """Type names, message and the innermost notebook line of an exception."""
    names = [_type_name(c) for c in _type_mro(_type(err))]
    message = exception_message(err)
    where = where_in_notebook(err, cell_files)
    if _type(err) is SyntaxError or _by_identity(_SYNTAX_ERRORS, _type(err)):
        lineno = err.lineno
        filename = err.filename
        where = [cell_files.get(filename) if _type(filename) is str else None, lineno if _type(lineno) is int else None]
    return {'types': names[:20], 'message': message, 'where': where}


def _array_in(value):
    """The numpy array a name is bound to: itself, or an NDArray's `_data` buffer."""
    if _type(value) is _ndarray:
        return value
    try:
        attrs = _obj_getattr(value, '__dict__')
    except Exception:
        return None
    inner = _dict_get(attrs, '_data') if _type(attrs) is dict else None
    return inner if _type(inner) is _ndarray else None


def fingerprints(scopes, names):
    """Short digests of the arrays bound to `names` in the first of `scopes` (dicts) that has
    them, so the grader can tell when student code changed an input in place."""
    found = {}
    for name in names:
        value = None
        for scope in scopes:
            if _type(scope) is dict and name in scope:
                value = _dict_get(scope, name)
                break
        value = _array_in(value)
        if value is None or _size_of(value) > FINGERPRINT_MAX_ELEMENTS or _dtype_of(value).kind not in _NUMERIC_KINDS:
            continue
        digest = _blake2b(_tobytes(value, 'C'), digest_size=8)
        digest.update(_repr(_shape_of(value)).encode() + _dtype_of(value).str.encode())
        found[name] = digest.hexdigest()
    return found


# -- JSON from C primitives --------------------------------------------------------------------
# The channel's lines are written with these instead of the json module, whose encoder is a
# Python class that student code could patch; the string escaping is _json's C function.
def _quote_function():
    import _json
    return _json.encode_basestring_ascii


_quote = _quote_function()


def dumps(value, depth=0):
    """JSON text of None, bools, ints, strs, lists, tuples and dicts with str keys."""
    t = _type(value)
    if t is str:
        return _quote(value)
    if value is None:
        return 'null'
    if value is True:
        return 'true'
    if value is False:
        return 'false'
    if t is int:
        return int.__repr__(value)
    if t is float:                               # only parameters (rtol, atol) travel as floats
        text = float.__repr__(value)
        return {'inf': 'Infinity', '-inf': '-Infinity', 'nan': 'NaN'}.get(text, text)
    if depth > 60:
        raise ValueError('nested too deeply to send')
    if t is list or t is tuple:
        return '[' + ','.join([dumps(v, depth + 1) for v in value]) + ']'
    if t is dict:
        return '{' + ','.join([_quote(k) + ':' + dumps(v, depth + 1) for k, v in _dict_items(value)]) + '}'
    raise ValueError(f'cannot send a {type_name(value)}')


# -- the helpers compiled test code calls ------------------------------------------------------
def make_helpers(record, reference, case_seed, isolated, namespace):
    """{name: function} for the keyword-only parameters of every compiled test part (see
    autograder/rewrite.py). `record(kind, what, value, scope, extra)` sends one record;
    `case_seed()` is this run's hidden-case seed offset; `isolated` is checks.isolated."""
    default_rng = np.random.default_rng

    def check(condition, message=None, *, _scope=None):
        record('check', message, encode_truth(condition), _scope, {})

    def check_equal(actual, expected=None, what=None, *, _scope=None):
        extra = {'expected': encode(expected)} if reference else {}
        record('equal', what, encode(actual), _scope, extra)

    def check_array(actual, expected=None, what=None, rtol=1e-5, atol=1e-6, dtype=None, *, _scope=None):
        extra = {}
        if reference:
            extra = {'expected': encode_array_like(expected, trusted=True),
                     'params': {'rtol': _float(rtol), 'atol': _float(atol),
                                'dtype': None if dtype is None else _np_dtype(dtype).str}}
        record('array', what, encode_array_like(actual), _scope, extra)

    def check_raises(exc_types, fn, match=None, what='the call', *, _scope=None):
        try:
            fn()
        except Exception as err:
            value = ['raised', [_type_name(c) for c in _type_mro(_type(err))][:20], exception_message(err)]
        else:
            value = ['none']
        extra = {}
        if reference:
            wanted = exc_types if _type(exc_types) is tuple else (exc_types,)
            extra = {'params': {'types': [_type_name(t) for t in wanted], 'match': match}}
        record('raises', what, value, _scope, extra)

    def check_same(actual, other, what=None, expect=None, *, _scope=None):
        extra = {'expected': ['bool', _bool(expect)]} if reference else {}
        record('same', what, ['bool', actual is other], _scope, extra)

    def check_shares_memory(actual, other, what=None, expect=None, *, _scope=None):
        if _type(actual) is _ndarray and _type(other) is _ndarray:
            value = ['bool', _bool(_shares_memory(actual, other))]
        else:
            value = _unsupported(actual if _type(actual) is not _ndarray else other,
                                 'np.shares_memory needs two numpy arrays')
        extra = {'expected': ['bool', _bool(expect)]} if reference else {}
        record('shares', what, value, _scope, extra)

    def check_compare(actual, op, other, what=None, *, _scope=None):
        extra = {'params': {'op': op}} if reference else {}
        record('compare', what, ['tuple', [encode(actual), encode(other)]], _scope, extra)

    def passed(name):
        return None

    def case_rng(n):
        return default_rng(n + case_seed())

    return {'check': check, 'check_equal': check_equal, 'check_array': check_array,
            'check_raises': check_raises, 'check_same': check_same, 'check_shares_memory': check_shares_memory,
            'check_compare': check_compare, 'passed': passed, 'case_rng': case_rng, 'isolated': isolated,
            '__notebook__': namespace}
