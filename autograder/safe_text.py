"""Text from a submission, made safe to store, show and hand to a spreadsheet.

Everything a submission carries -- cell sources, grade and cell ids, metadata, folder
names, exception messages and output coming back from the sandbox -- is untrusted data.
JSON can carry a lone surrogate (the escape \\udcff) that no UTF-8 writer accepts, and a
folder name can hold control characters or start a spreadsheet formula. These helpers turn
such text into text every writer takes, so a malformed field can at worst look odd in that
student's own report, never crash the writes of a batch.

    safe_text(text, limit=None, controls=True)   any value -> str that encodes as UTF-8
    safe_value(value, limit=None)               the same for JSON-like values (dict keys too)
    needs_cleaning(json_bytes)                  whether safe_value could change what that JSON decodes to
    csv_cell(value)                             a cell a spreadsheet shows as text
"""
import re

REPLACEMENT = '\ufffd'
# Lone surrogates (the only code points UTF-8 cannot encode); control characters except
# newline and tab; and the bidirectional overrides and isolates, which make a name or a
# message display as something other than what it is.
_SURROGATES = re.compile('[\ud800-\udfff]')
_UNSAFE = re.compile('[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]')
MAX_DEPTH = 200
# A spreadsheet reads a cell that starts with one of these as a formula (or, for tab and
# carriage return, strips them and reads what follows).
FORMULA_STARTS = ('=', '+', '-', '@', '\t', '\r')


# In JSON text written by the harness (ASCII, see harness/recorder.dumps) the characters above
# can only appear as these escapes, or as raw non-ASCII bytes.
_ESCAPED_UNSAFE = re.compile(rb'\\u[dD][89a-fA-F]|\\u00[01]|\\u007[fF]|\\u00[89]|\\u202[a-eA-E]|'
                             rb'\\u206[6-9]|\\[bfr]|[\x80-\xff]')


def needs_cleaning(json_text):
    """False when JSON text (bytes) cannot decode to anything safe_value would change: the
    report channel's records are checked this way first, since walking them is the slow part."""
    return _ESCAPED_UNSAFE.search(json_text) is not None


def safe_text(text, limit=None, controls=True):
    """`text` as a str that any UTF-8 writer accepts: lone surrogates (and, if `controls`,
    control characters other than newline and tab) become U+FFFD; at most `limit` characters.
    Code keeps its control characters (`controls=False`): they are the student's syntax
    error to see, and JSON writers escape them."""
    if not isinstance(text, str):
        try:
            text = '' if text is None else str(text)
        except Exception:                    # a value whose __str__ fails is still shown
            text = f'<{type(text).__name__}>'
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return (_UNSAFE if controls else _SURROGATES).sub(REPLACEMENT, text)


def safe_value(value, limit=None, _depth=0):
    """A JSON-like value (dicts, lists, tuples, str, numbers...) with every string in it,
    dict keys included, passed through safe_text. Keys that become equal keep the last value.
    Nesting deeper than MAX_DEPTH is cut to '…' rather than exhausting the stack."""
    if isinstance(value, str):
        return safe_text(value, limit)
    if _depth >= MAX_DEPTH and isinstance(value, (dict, list, tuple)):
        return '…'
    if isinstance(value, dict):
        return {safe_text(k, limit) if isinstance(k, str) else k: safe_value(v, limit, _depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [safe_value(v, limit, _depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    return value


def csv_cell(value, limit=None):
    """One CSV cell. Numbers the grader computed (scores, totals) are written as numbers
    (`2.5`, `-1`); any other value becomes safe text, and text a spreadsheet would read as a
    formula (`=HYPERLINK(...)`, `+cmd`, `-2+3`, `@SUM(1)`) gets a leading `'`, which shows it
    as the text it is."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f'{value:g}'
    text = safe_text(value, limit)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
