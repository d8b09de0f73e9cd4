"""What the chapters say the study notes do must be what the notes do.

A sentence of a chapter's text that mentions the notes ("the seed's", "the notes'") and a
training setting (epochs, learning rate, batch size, drop probabilities) may give a number for
that setting only if it is the notes' own value, or if the same sentence says that ours differs
and names the notes' value ("5 epochs instead of the notes' 10"), or, for a setting the notes
never give, if it says so ("the notes give no ..."). NOTES is what the notes say; LISTINGS
quotes the lines of the notes' listings (seed/000_c7c38b4f497ce5f1.txt, which is not part of
this repository) that the values are read from, and a test reads the table from them.
"""
import re
import nbformat
import pytest

from core.chapters import chapters

# chapter: {setting: the notes' value}; a setting absent here is one the notes do not give.
NOTES = {
    'ch03': {'epochs': 5, 'learning rate': 0.03},                       # 一.3a: epoch=5, lr=0.03, no batch_size
    'ch04': {'epochs': 10, 'learning rate': 0.1, 'batch size': 256},    # 一.3b: lr=0.1, epochs=10, batch_size=256
    'ch05': {'epochs': 10, 'learning rate': 0.5, 'batch size': 256},    # 一.4: batch_size,lr,epochs=256,0.5,10
    'ch06': {'drop probabilities': (0.2, 0.5)},                          # 一.5b: drop_prob1, drop_prob2=0.2,0.5
    'ch09': {'learning rate': 0.016, 'iterations': 10},                 # 二.2: 16e-3, range(10)
}
# The notes' own lines, quoted (variable names as the notes spell them).
LISTINGS = {
    'ch03': ['epoch=5', 'lr=0.03'],
    'ch04': ['batch_size=256', 'lr=0.1', 'epochs=10'],
    'ch05': ['batch_size,lr,epochs=256,0.5,10'],
    'ch06': ['drop_prob1, drop_prob2=0.2,0.5'],
    'ch09': ['for i in range(10):', "conv2d.weight.data()[:]-=16e-3 * conv2d.weight.grad()"],
}
NOTES_NAMES = {'epoch': 'epochs', 'epochs': 'epochs', 'lr': 'learning rate', 'batch_size': 'batch size',
               'range': 'iterations', '16e-3': 'learning rate'}

WORDS = {'one': 1, 'two': 2, 'three': 3, 'four': 4, 'five': 5, 'six': 6, 'seven': 7, 'eight': 8, 'nine': 9,
         'ten': 10}
NUMBER = r'(\d+(?:\.\d+)?|' + '|'.join(WORDS) + r')'
SETTINGS = {                      # how a chapter writes a value of each setting
    'epochs': [NUMBER + r' epochs?\b'],
    'learning rate': [r'learning rate,? (?:of )?' + NUMBER],
    'batch size': [r'batches of ' + NUMBER, r'batch size,? (?:of )?' + NUMBER],
    'iterations': [NUMBER + r' iterations\b'],
    'drop probabilities': [r'drop probabilities,? ' + NUMBER + r' and ' + NUMBER],
}
MENTIONS_NOTES = re.compile(r"\b(?:seed'?s?|notes'?)(?=\W)", re.I)


def value(text):
    return float(WORDS.get(text.lower(), text))


def same(found, wanted):
    wanted = wanted if isinstance(wanted, tuple) else (wanted,)
    return tuple(map(value, found)) == tuple(map(float, wanted))


def sentences(ch):
    """The sentences of the chapter's markdown (instructor notes included), joined across lines."""
    for cell in nbformat.read(str(ch.source), as_version=4).cells:
        if cell.cell_type != 'markdown':
            continue
        for block in re.split(r'\n\s*\n|\n(?=\s*(?:[-*]|\d+\.) )', cell.source):    # paragraphs, list items
            yield from re.split(r'(?<=[.!?])\s+(?=[A-Z(*`$])', re.sub(r'\s+', ' ', block))


def claims(sentence):
    """[(setting, (value, ...), where it starts)] of the settings the sentence gives a value for."""
    found = []
    for setting, patterns in SETTINGS.items():
        for pattern in patterns:
            found += [(setting, m.groups(), m.start()) for m in re.finditer(pattern, sentence, re.I)]
    return found


def problems(ch_id, sentence):
    """What is wrong with the values the sentence gives after it first mentions the notes."""
    notes = NOTES.get(ch_id, {})
    mention = MENTIONS_NOTES.search(sentence)
    wrong = []
    for setting, found, where in claims(sentence):
        if not mention or where < mention.start():
            continue
        if setting in notes:
            wanted = notes[setting]
            if same(found, wanted):
                continue
            shown = ' and '.join(map(str, wanted)) if isinstance(wanted, tuple) else f'{wanted:g}'
            if re.search(rf"instead of (?:the (?:seed's|notes')|its) {re.escape(shown)}\b", sentence):
                continue
            wrong.append(f'{setting} {" and ".join(found)}: the notes use {shown} (say "instead of the notes\' '
                         f'{shown}" if the chapter differs on purpose)')
        elif not re.search(r'\bgives? no\b|\bnever (?:set|give)s?\b', sentence):
            wrong.append(f'{setting} {" and ".join(found)}: the notes give no {setting} here (say so)')
    return wrong


@pytest.mark.parametrize('ch', chapters(), ids=lambda c: c.id)
def test_what_a_chapter_says_the_notes_do_is_what_they_do(ch):
    checked, wrong = 0, []
    for sentence in sentences(ch):
        mention = MENTIONS_NOTES.search(sentence)
        if mention and any(where > mention.start() for _, _, where in claims(sentence)):
            checked += 1
            wrong += [f'{p}\n    in: {sentence[:300]}' for p in problems(ch.id, sentence)]
    assert not wrong, f'{ch.id}:\n  ' + '\n  '.join(wrong)
    if ch.id in ('ch03', 'ch04', 'ch05', 'ch06'):
        assert checked, f'{ch.id} no longer states its settings against the notes; this test checks nothing there'


def read_listing(line):
    """{setting: value} from one quoted line of the notes."""
    if line.startswith('for i in range('):
        return {'iterations': int(re.search(r'range\((\d+)\)', line).group(1))}
    if '-=' in line:                                     # the learning rate written into the update
        return {'learning rate': float(re.search(r'-=([\d.e-]+)', line).group(1))}
    names, values = (part.split(',') for part in line.replace(' ', '').split('='))
    if names[0].startswith('drop_prob'):
        return {'drop probabilities': tuple(map(float, values))}
    return {NOTES_NAMES[n]: float(v) for n, v in zip(names, values)}


def test_the_table_is_what_the_quoted_lines_say():
    for ch_id, lines in LISTINGS.items():
        read = {}
        for line in lines:
            read.update(read_listing(line))
        assert read == {k: (v if isinstance(v, tuple) else float(v)) for k, v in NOTES[ch_id].items()}, ch_id


@pytest.mark.parametrize('sentence, ch_id, ok', [
    ("Now the real run, with the seed's settings: 3 epochs, learning rate 0.03, batches of 10.", 'ch03', False),
    ("the seed's learning rate, 0.03, for 3 epochs instead of the notes' 5.", 'ch03', True),
    ("the seed's settings: learning rate 0.5, batches of 256, 5 epochs.", 'ch05', False),
    ("Training with the seed's settings — drop probabilities 0.2 and 0.5, learning rate 0.5", 'ch06', False),
    ("the seed's drop probabilities, 0.2 and 0.5 (the notes give no training settings, so learning rate 0.5)",
     'ch06', True),
    ("The seed's loop runs ten epochs at learning rate 0.1.", 'ch04', True),
    ("The seed's loop runs five epochs at learning rate 0.1.", 'ch04', False),
    ("One epoch each way: the seed's loop reports the last batch only.", 'ch05', True),
])
def test_the_rule_catches_a_wrong_claim(sentence, ch_id, ok):
    assert claims(sentence)
    assert (problems(ch_id, sentence) == []) == ok, problems(ch_id, sentence)
