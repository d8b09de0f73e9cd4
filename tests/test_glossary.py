"""The glossary (book/appendix/glossary.md) covers every term a chapter puts in **bold**.

A chapter sets a term in bold where it introduces it; the glossary must then have an entry
for it (English or Chinese, singular or plural). Bold is also used for other things, which
are not terms and are left out here: run-in headings (bold text ending in '.', '?' or ':'),
bold code or numbers, and the few words a chapter stresses, listed in NOT_TERMS with why.
"""
import re
from collections import defaultdict

import nbformat

from core.chapters import BOOK, chapters
from pipeline.nbgrader_settings import is_instructor_cell

GLOSSARY = BOOK / 'appendix' / 'glossary.md'

# Words a chapter sets in bold for stress, not to introduce a term: {word: why}.
STRESS = 'stress in a sentence, not a term'
NOT_TERMS = {
    'what you will build': 'the label above every chapter\'s table of exercises',
    'graded': 'the label of the list of graded features that ends each exercise',
    'total': 'the last row of a chapter\'s table of exercises and points',
    'watch the memory': 'a quotation of the study notes\' warning (注意内存的开销)',
    **{word: STRESS for word in (
        'added', 'all', 'always copies', 'and at least one input is already in the graph', 'before',
        'copy', 'created', 'every', 'exactly the values it found', 'existing', 'expected', 'first',
        'frees', 'from the right', 'full', 'holds log-probabilities', 'inside', 'into out\'s buffer',
        'last', 'mean loss over the whole dataset after the epoch',
        'negative indices do not count from the end', 'new', 'no broadcasting', 'once',
        'one element per row', 'one loss per example', 'only 2-d matrix products',
        'only in training mode', 'outside', 'over the whole epoch', 'place on the tape',
        'read', 'rebind', 'reducing everything gives shape (1,), never ()', 'returns',
        'same buffer', 'same parameter objects', 'small', 'the same object', 'the whole epoch',
        'truncated toward zero', 'up', 'was', 'weight decay is not', 'with', 'without enlarging it',
        'without recording', 'wrong', 'wrong example', 'your', 'decays', 'summed', 'stacked',
        'shared', 'scores', 'sparse', 'data', 'name', 'number', 'class', 'sum', 'output',
        'maximum', 'arrays', 'constant', 'initialized', 'structural', 'the loss', 'the model',
        'the optimizer', 'with parameters', 'without parameters', 'add', 'axis 1', 'stack',
        'only the weight')},
    'about 2 minutes': 'a time budget, not a term',
    'window offsets': 'the idea of one exercise\'s hint (the offsets within a pooling window), explained there',
}


def normal(text):
    """Lower case, code marks and hyphens dropped, one space between words."""
    text = text.replace('`', '').replace('-', ' ').lower()
    return re.sub(r'\s+', ' ', text).strip()


def bold_phrases(source):
    """The bold phrases of one markdown cell, fenced code, code spans and maths left aside."""
    text = re.sub(r'^```.*?^```', ' ', source, flags=re.S | re.M)
    text = re.sub(r'\$\$.*?\$\$', ' ', text, flags=re.S)
    text = re.sub(r'`[^`\n]*`', lambda m: m.group(0).replace('*', ''), text)
    return [m.group(1) for m in re.finditer(r'\*\*(?=\S)(.+?)(?<=\S)\*\*', text, re.S)]


def is_term(phrase):
    words = normal(phrase)
    if phrase.rstrip().endswith(('.', '?', ':')):
        return False                                   # a run-in heading
    if '`' in phrase or '$' in phrase or not re.search(r'[a-z\u4e00-\u9fff]', words):
        return False                                   # code, maths or a number
    return words not in {normal(word) for word in NOT_TERMS}


def glossary_terms():
    """Every term line of the glossary's entries (an entry may have several: English, 中文)."""
    block = re.search(r'```\{glossary\}\n(.*?)^```', GLOSSARY.read_text(encoding='utf-8'), re.S | re.M).group(1)
    terms = set()
    for line in block.splitlines():
        if line and not line.startswith((' ', ':')):
            terms.add(normal(line))
    return terms


def covered(phrase, terms):
    words = normal(phrase)
    candidates = {words, words.removesuffix('s'), words.removesuffix('es'), re.sub(r'ies$', 'y', words)}
    return bool(candidates & terms)


def bold_terms():
    """{phrase as written: chapters that bold it} over every chapter's student-visible text."""
    found = defaultdict(set)
    for ch in chapters():
        for cell in nbformat.read(str(ch.source), as_version=4).cells:
            if cell.cell_type == 'markdown' and not is_instructor_cell(cell):
                for phrase in bold_phrases(cell.source):
                    found[re.sub(r'\s+', ' ', phrase.strip())].add(ch.number)
    return found


def test_every_bold_term_is_in_the_glossary():
    terms = glossary_terms()
    found = bold_terms()
    assert len(found) > 50, 'the bold extractor finds too little: has the format changed?'
    missing = {p: sorted(chs) for p, chs in found.items() if is_term(p) and not covered(p, terms)}
    assert not missing, ('terms set in bold but missing from book/appendix/glossary.md '
                         '(add them, or list a bold word that is not a term in NOT_TERMS, with why): '
                         f'{missing}')


def test_the_exclusions_are_still_used():
    """An exclusion that no chapter needs any more goes, so the list stays small and true."""
    used = {normal(p) for p in bold_terms()}
    stale = sorted(word for word in NOT_TERMS if normal(word) not in used)
    assert not stale, f'NOT_TERMS lists words no chapter sets in bold any more: {stale}'


def test_the_extractor_reads_bold_as_a_chapter_writes_it():
    cell = ('A **convolutional layer** (卷积层) and **Control flow.** and `f(*a, **kw)` and\n'
            '```python\nx = y ** 2  # **not bold**\n```\n**pooling** (池化)')
    assert bold_phrases(cell) == ['convolutional layer', 'Control flow.', 'pooling']
    assert [p for p in bold_phrases(cell) if is_term(p)] == ['convolutional layer', 'pooling']
