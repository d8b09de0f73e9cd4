"""Shared helpers for the test suite."""
import json
import re

import nbformat

BEGIN, END = '### BEGIN SOLUTION', '### END SOLUTION'
HIDDEN_BEGIN, HIDDEN_END = '### BEGIN HIDDEN TESTS', '### END HIDDEN TESTS'
_REGIONS = re.compile('|'.join(f'{re.escape(b)}\\n(.*?){re.escape(e)}'
                               for b, e in [(BEGIN, END), (HIDDEN_BEGIN, HIDDEN_END)]), re.S)


def secret_lines(ch):
    """Lines of the chapter's reference solutions and hidden tests that appear nowhere a
    student may look (outside those regions), so finding one published means a leak."""
    sources = [c.source for c in nbformat.read(str(ch.source), as_version=4).cells]
    public = '\n'.join(_REGIONS.sub('', src) for src in sources)
    lines = {line.strip() for src in sources for m in _REGIONS.finditer(src)
             for body in m.groups() if body for line in body.splitlines()}
    return {line for line in lines if len(line) > 20 and line not in public}


def leaked(lines, text):
    """The secret lines found in `text` (raw, or as escaped inside a notebook's JSON)."""
    return [line for line in lines if line in text or json.dumps(line)[1:-1] in text]
