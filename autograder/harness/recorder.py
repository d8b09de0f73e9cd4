"""Record mode for checks.py: turn every check into a record of plain data for the grader.

Runs inside the sandbox, in the student's interpreter, so it trusts nothing it is handed.
A value is serialized only if its *exact* type is a known plain type (bool, int, float,
complex, str, bytes, None, tuple, list, dict, a numpy array or scalar of a numeric dtype, a
dtype); the types are compared by identity with references captured before any student code
ran, so no student `__eq__`, `__bool__`, `__array__` or metaclass is consulted. The one
exception is an NDArray-like result, whose `.asnumpy()` is called and must return a real
numpy array. Anything else is recorded as "unsupported" with its type name, and the grader
scores it as wrong.

Encoding (JSON, tagged lists): ["none"], ["bool", b], ["int", "123"], ["float", hex],
["complex", hex, hex], ["str", s], ["bytes", base64], ["tuple"|"list", [items]],
["dict", [[k, v], ...]], ["set", [items]], ["array", dtype, shape, base64], ["scalar", dtype, base64],
["dtype", dtype], ["type", name], ["ndarray-like", array], ["unsupported", type, reason].
Floats travel as float.hex, so NaN, Inf and every bit survive; arrays as raw bytes.

In a student run the `expected` arguments are never recorded: the grader takes expected
values only from the reference solution's run of the same cells. What the student run does
record, besides the actual value, is the check's own verdict when *both* sides are plain
values (`truth`): the grader uses it only for checks whose values legitimately differ from
one run to the next (object ids, for instance), where comparing with the reference's values
would be meaningless.
"""
import base64
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
_b64 = base64.b64encode
_blake2b = hashlib.blake2b
_ndarray = np.ndarray
_tobytes = np.ndarray.tobytes
_shape_of = np.ndarray.shape.__get__
_dtype_of = np.ndarray.dtype.__get__
_size_of = np.ndarray.size.__get__
_array_bool = np.ndarray.__bool__
_asarray = np.asarray
_np_dtype = np.dtype
_allclose, _array_equal, _isfinite = np.allclose, np.array_equal, np.isfinite
_isfinite_all = lambda a: _isfinite(a).all()
_generic_tobytes = np.generic.tobytes
_generic_dtype = np.generic.dtype.__get__
_type_name = type.__dict__['__name__'].__get__
_type_mro = type.__dict__['__mro__'].__get__
_float_hex = float.hex
_obj_getattr = object.__getattribute__
_traceback_of = BaseException.__traceback__.__get__
_NUMPY_SCALAR_TYPES = {_id(t): t for t in set(np.sctypeDict.values())}
_DTYPE_CLASSES = {_id(_type(np.dtype(t))): _type(np.dtype(t)) for t in set(np.sctypeDict.values())}
_BUILTIN_TYPES = {_id(t): t for t in (bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)}
_NUMBER_TYPES = (bool, int, float, complex)
_TRUTHY_TYPES = (int, float, complex, str, bytes, tuple, list, dict)
_NUMERIC_KINDS = 'biufc'


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


def is_plain(encoded):
    """True if nothing inside an encoded value is 'unsupported'."""
    tag = encoded[0]
    if tag == 'unsupported':
        return False
    if tag in ('tuple', 'list', 'set'):
        return all(is_plain(v) for v in encoded[1])
    if tag == 'dict':
        return all(is_plain(k) and is_plain(v) for k, v in encoded[1])
    return True


def equal_truth(encoded_actual, actual, expected):
    """check_equal's own verdict, trusted only when both sides encode as plain values."""
    if not (is_plain(encoded_actual) and is_plain(encode(expected))):
        return None
    try:
        return _bool(actual == expected)
    except (ValueError, TypeError):
        return False


def array_truth(encoded_actual, actual, expected, rtol, atol, dtype):
    """check_array's own verdict on plain arrays (None if either side is not plain)."""
    if encoded_actual[0] != 'array' or encode_array_like(expected)[0] != 'array':
        return None
    got, want = _asarray(actual), _asarray(expected)
    if _shape_of(got) != _shape_of(want):
        return False
    if dtype is not None and _dtype_of(got) != _np_dtype(dtype):
        return False
    if _dtype_of(got).kind in 'fc' and not _isfinite_all(got) and _isfinite_all(want):
        return False
    try:
        return _bool(_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))
    except TypeError:
        return _bool(_array_equal(got, want))


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


def describe_exception(err, cell_files):
    """Type names, message and the innermost notebook line of an exception."""
    cls = _type(err)
    names = [_type_name(c) for c in _type_mro(cls)]
    try:
        message = _str(err)
        message = message[:MAX_TEXT] if _type(message) is str else ''
    except BaseException:                        # a student __str__ may raise anything
        message = '<the message could not be read>'
    where = None
    try:
        tb = _traceback_of(err)
        steps = 0
        while tb is not None and steps < 1000:
            filename = tb.tb_frame.f_code.co_filename
            if filename in cell_files:
                where = [cell_files[filename], tb.tb_lineno]
            tb, steps = tb.tb_next, steps + 1
    except Exception:
        pass
    if _isinstance(err, SyntaxError):
        lineno = getattr(err, 'lineno', None)
        where = [cell_files.get(getattr(err, 'filename', None)), lineno if _type(lineno) is int else None]
    return {'types': names[:20], 'message': message, 'where': where}


def fingerprints(namespace, names):
    """Short digests of the arrays bound to `names` (numpy arrays and NDArray buffers), so the
    grader can tell when student code changed an input in place."""
    found = {}
    for name in names:
        value = namespace.get(name)
        if _type(value) is not _ndarray:
            try:
                attrs = _obj_getattr(value, '__dict__')
            except Exception:
                continue
            value = attrs.get('_data') if _type(attrs) is dict else None
            if _type(value) is not _ndarray:
                continue
        if _size_of(value) > FINGERPRINT_MAX_ELEMENTS or _dtype_of(value).kind not in _NUMERIC_KINDS:
            continue
        digest = _blake2b(_tobytes(value, 'C'), digest_size=8)
        digest.update(_repr(_shape_of(value)).encode() + _dtype_of(value).str.encode())
        found[name] = digest.hexdigest()
    return found


class Recorder:
    """The object checks.py calls in record mode; one method per check."""

    def __init__(self, send, reference):
        self._send = send                  # the harness's channel, captured at start
        self._reference = reference        # the reference run also records expected values
        self.cell = None                   # set by the harness: (index, namespace, names)

    def _record(self, kind, value, what, **extra):
        if self.cell is None:              # a check called outside a test cell: not graded
            return
        index, namespace, names = self.cell
        self._send(t='rec', i=index, kind=kind, what=text(what), value=value,
                   fp=fingerprints(namespace, names), **extra)

    def check(self, condition, message):
        self._record('check', encode_truth(condition), message)

    def check_equal(self, actual, expected, what):
        value = encode(actual)
        truth = equal_truth(value, actual, expected)
        if not self._reference:
            del expected                   # judged above if plain, never recorded
            return self._record('equal', value, what, truth=truth)
        self._record('equal', value, what, truth=truth, expected=encode(expected))

    def check_array(self, actual, expected, what, rtol=1e-5, atol=1e-6, dtype=None):
        value = encode_array_like(actual)
        truth = array_truth(value, actual, expected, rtol, atol, dtype)
        if not self._reference:
            del expected
            return self._record('array', value, what, truth=truth)
        params = {'rtol': _float(rtol), 'atol': _float(atol),
                  'dtype': None if dtype is None else _np_dtype(dtype).str}
        self._record('array', value, what, truth=truth,
                     expected=encode_array_like(expected, trusted=True), params=params)

    def check_raises(self, exc_types, fn, match=None, what='the call'):
        try:
            fn()
        except Exception as err:
            info = describe_exception(err, {})
            value = ['raised', info['types'], info['message']]
        else:
            value = ['none']
        if not self._reference:
            return self._record('raises', value, what)
        wanted = exc_types if _type(exc_types) is tuple else (exc_types,)
        params = {'types': [_type_name(t) for t in wanted], 'match': match}
        self._record('raises', value, what, params=params)
