"""Decode the plain data that harness/recorder.py sends into Python and numpy values.

The input comes from the student's process, so decoding is strict: only the tags listed in
recorder.py, only numeric dtypes written as e.g. "<f4", shapes that match the byte count,
and no pickle anywhere. Whatever does not decode becomes `Unsupported`, which compares
unequal to everything.
"""
import base64
import binascii
import re
from dataclasses import dataclass

import numpy as np

_DTYPE = re.compile(r'^[<>|=]?[biufc]\d{1,2}$')
MAX_DEPTH = 40


@dataclass(frozen=True)
class Unsupported:
    type_name: str
    reason: str


@dataclass(frozen=True)
class DType:
    """A dtype or numpy scalar type (np.float32 and np.dtype('float32') compare equal)."""
    name: str


@dataclass(frozen=True)
class PyType:
    name: str


@dataclass(frozen=True)
class NDArrayLike:
    """An object whose .asnumpy() gave `array` (an NDArray)."""
    array: np.ndarray

    def __eq__(self, other):
        return isinstance(other, NDArrayLike) and self.array.shape == other.array.shape \
            and bool(np.array_equal(self.array, other.array))

    __hash__ = None


def _dtype(text):
    if not isinstance(text, str) or not _DTYPE.match(text):
        raise ValueError(f'dtype {text!r}')
    dtype = np.dtype(text)
    if dtype.kind not in 'biufc':
        raise ValueError(f'dtype {text!r}')
    return dtype


def _bytes(text):
    return base64.b64decode(text.encode('ascii'), validate=True)


def _array(dtype, shape, data):
    dtype = _dtype(dtype)
    if not isinstance(shape, list) or not all(isinstance(d, int) and 0 <= d for d in shape):
        raise ValueError('shape')
    raw = _bytes(data)
    if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(raw):
        raise ValueError('shape does not match the data')
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode(value, depth=0):
    """Python/numpy value for an encoded record value; Unsupported if it does not decode."""
    try:
        return _decode(value, depth)
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error, OverflowError, UnicodeError):
        return Unsupported('?', 'a value the grader could not read')


def _decode(value, depth):
    if depth > MAX_DEPTH or not isinstance(value, list) or not value:
        raise ValueError('not an encoded value')
    tag, args = value[0], value[1:]
    if tag == 'none':
        return None
    if tag == 'bool' and isinstance(args[0], bool):
        return args[0]
    if tag == 'int' and isinstance(args[0], str) and len(args[0]) < 5000:
        return int(args[0])
    if tag == 'float':
        return float.fromhex(args[0])
    if tag == 'complex':
        return complex(float.fromhex(args[0]), float.fromhex(args[1]))
    if tag == 'str' and isinstance(args[0], str):
        return args[0]
    if tag == 'bytes':
        return _bytes(args[0])
    if tag in ('tuple', 'list') and isinstance(args[0], list):
        items = [_decode(v, depth + 1) for v in args[0]]
        return tuple(items) if tag == 'tuple' else items
    if tag == 'set' and isinstance(args[0], list):
        return frozenset(_key(_decode(v, depth + 1)) for v in args[0])
    if tag == 'dict' and isinstance(args[0], list):
        return {_key(_decode(k, depth + 1)): _decode(v, depth + 1) for k, v in args[0]}
    if tag == 'array':
        return _array(*args[:3])
    if tag == 'scalar':
        return _array(args[0], [], args[1])[()]
    if tag == 'dtype':
        return DType(_dtype(args[0]).str)
    if tag == 'type' and args[0] in ('bool', 'int', 'float', 'complex', 'str', 'bytes', 'tuple', 'list', 'dict'):
        return PyType(args[0])
    if tag == 'ndarray-like':
        inner = _decode(args[0], depth + 1)
        return NDArrayLike(inner) if isinstance(inner, np.ndarray) else inner
    if tag == 'unsupported':
        return Unsupported(str(args[0])[:100], str(args[1])[:200])
    if tag == 'raised' and isinstance(args[0], list):
        return Raised(tuple(str(t)[:100] for t in args[0][:20]), str(args[1])[:2000])
    raise ValueError(f'tag {tag!r}')


def _key(key):
    hash(key)                         # unhashable keys cannot have come from a real dict
    return key


@dataclass(frozen=True)
class Raised:
    """What check_raises saw: the exception's class names (its MRO) and its message."""
    types: tuple
    message: str
