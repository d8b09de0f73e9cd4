"""Self-check and submit for one chapter of Deep Learning from Zero.

Run it from the chapter folder you downloaded; it needs only numpy, matplotlib, nbformat,
nbclient and ipykernel.

    python check.py [NOTEBOOK]            run your answers in a clean copy of the chapter and
                                          compare every output with the reference run
    python check.py --submit [NOTEBOOK]   read the notebook as the grader will and write the
                                          file to hand in: submit/<notebook>.ipynb
    python check.py --minimx              build minimx/ from the earlier chapters (from your own
                                          notebooks of those whose deadline has not passed)

NOTEBOOK is this chapter's notebook in this folder unless you name another. --earlier DIR
says where your notebooks of earlier chapters are (default: the chapter folders beside
this one).

How the self-check works: only your answer cells are taken from your notebook, by their
nbgrader ids, by the grader's own rules (.course/autograder/notebook.py). They go into a
clean copy of the chapter (.course/reference.ipynb), which runs top to bottom in a fresh
kernel in a temporary folder holding minimx/ and a clean checks.py, so nothing in this
folder changes. Then each exercise's visible checks and each cell's output are compared
with the reference run. The hidden tests are not here: the report ends with what they will
also check.
"""
import argparse
import difflib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COURSE = HERE / '.course'
sys.path.insert(0, str(COURSE))      # the grader's notebook rules, the notebook format and the exporter, as shipped

# What may legitimately differ between the reference run and yours.
SANITIZE = [
    (re.compile(r'0x[0-9a-fA-F]{6,}'), '0xADDRESS'),                                 # memory addresses
    (re.compile(r'\b\d+(?:\.\d+)? ?(?:ns|us|µs|ms|s|sec|seconds?|min)(?:/epoch)?(?=[)\s,;.]|$)'), 'T s'),
    (re.compile(r'(?:/tmp|/var/folders)/[^\s\'"]+'), 'TMPDIR'),                       # temporary paths
]
# Numbers are compared as numbers, not digit by digit. A float32 result's last digits depend on
# the CPU (a BLAS kernel sums a dot product in its own order), so printed floats agree within
# FLOAT_RTOL (or FLOAT_ATOL near zero). In a cell the chapter tags `approximate-output`, a training run,
# those last digits grow step by step into a different, equally good run: its numbers agree
# within TRAINING_RTOL (TRAINING_ATOL near zero; chapter 6's dropout run, at learning rate 0.5,
# was 12% apart at its second epoch between an AMD and an Intel CPU). Everything else on a line must be identical,
# and integers outside those cells (shapes, counts, epochs) exactly so.
FLOAT_RTOL, FLOAT_ATOL = 1e-4, 1e-6
TRAINING_RTOL, TRAINING_ATOL = 0.25, 0.01
NUMBER = re.compile(r'(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])')
TIMEOUT_ERROR = 'CellTimeout'   # the error output of a cell interrupted at the cell time limit
DIFF_LINES = 6                  # diff lines shown per cell
DIFF_CELLS = 8                  # cells shown with a diff; the rest by number only
WIDTH = 100


class Problem(Exception):
    """Something that stops the command; the message says what and what to do next."""


class Refused(Problem):
    """The grader would refuse the file: `words` are the grader's own."""

    def __init__(self, name, words):
        super().__init__(f'{name} cannot be checked, and the grader would refuse it too: {words}')
        self.words = words


# -- text -----------------------------------------------------------------------------------------

class Style:
    """ANSI colour on a terminal only (and never with NO_COLOR set), so logs stay plain text."""

    def __init__(self, stream):
        self.on = stream.isatty() and 'NO_COLOR' not in os.environ and os.environ.get('TERM') != 'dumb'

    def _paint(self, code, text):
        return f'\x1b[{code}m{text}\x1b[0m' if self.on else text

    def good(self, text):
        return self._paint('32', text)

    def bad(self, text):
        return self._paint('31', text)

    def bold(self, text):
        return self._paint('1', text)


def wrapped(text, indent=0, hang=0):
    """`text` wrapped to the report's width, indented; continuation lines `hang` further in."""
    return textwrap.fill(text, WIDTH, initial_indent=' ' * indent, subsequent_indent=' ' * (indent + hang),
                         break_long_words=False, break_on_hyphens=False)


def shorten(text, limit=300):
    """One line of at most `limit` characters."""
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + '…'


def plural(n, word):
    return f'{n} {word}' + ('s' if n != 1 else '')


# -- the chapter ----------------------------------------------------------------------------------

def load_chapter():
    """.course/chapter.json: the exercises, limits and earlier chapters that release() wrote."""
    path = COURSE / 'chapter.json'
    if not path.is_file():
        raise Problem(f'{path} is missing. Run check.py from the chapter folder as you downloaded it '
                      f'(download the chapter again if its .course/ folder is gone).')
    info = json.loads(path.read_text(encoding='utf-8'))
    info['notebook'] = f'{info["name"]}.ipynb'
    return info


def reference_bytes():
    path = COURSE / 'reference.ipynb'
    if not path.is_file():
        raise Problem(f'{path} is missing: download the chapter folder again.')
    return path.read_bytes()


def reference_notebook():
    import nbformat
    return nbformat.reads(reference_bytes().decode('utf-8'), as_version=4)


def code_cells(nb):
    """The notebook's code cells in order: [In n] is entry n - 1."""
    return [c for c in nb.cells if c.cell_type == 'code']


def nbgrader(cell):
    from core.notebook_format import nbgrader_metadata     # the course's format, as shipped
    return nbgrader_metadata(cell)


def cell_label(cell):
    """How the report names a code cell: its grade id, or its first line of code."""
    if nbgrader(cell).get('grade_id'):
        return nbgrader(cell)['grade_id']
    lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith('#')]
    return f'"{shorten(lines[0], 60)}"' if lines else '(an empty cell)'


# -- reading a notebook as the grader does --------------------------------------------------------

def read_submission(path, info):
    """(cells, metadata, size in bytes, notes on its name) of the student's notebook, read by
    the grader's rules; Problem, in the grader's words, when the grader would refuse it."""
    from autograder.notebook import SubmissionError, lone_notebook, parse

    path = Path(path)
    if not path.is_file():
        raise Problem(f'{path} does not exist. Name the notebook you work in, for example '
                      f'`python check.py {info["notebook"]}`.')
    data = path.read_bytes()
    try:
        name_notes = lone_notebook(path.name, info['id'], info['notebook'], set(info['chapters']))
        cells, metadata = parse(data)
    except SubmissionError as err:
        raise Refused(path.name, str(err)) from None
    return cells, metadata, len(data), name_notes


def match_answers(cells, metadata):
    """The grader's reading of a submission for this chapter: a Structure with the answers by
    grade id, notes in the grader's words, and the ids it would not take as written."""
    from autograder.notebook import match, parse, stub_sources

    instructor, _ = parse(reference_bytes())
    return match(instructor, stub_sources(instructor), cells, metadata)


def merged_notebook(answers):
    """A clean copy of the chapter holding the student's answer cells, outputs cleared: what
    runs, and what --submit writes."""
    from core.notebook_format import merge_answers
    return merge_answers(reference_notebook(), answers, clear_outputs=True)


# -- minimx from the earlier chapters -------------------------------------------------------------

STAMP = COURSE / 'minimx.json'       # what check.py built minimx/ from, and when


def notebook_places(entry, earlier_dir):
    """Where the student's notebook of an earlier chapter may be, most likely first."""
    name = entry['name'] + '.ipynb'
    if earlier_dir:
        base = Path(earlier_dir).resolve()
        return [base / name, base / entry['name'] / name, base / entry['id'] / name]
    return [HERE.parent / entry['name'] / name, HERE.parent / entry['id'] / name]


def find_earlier_notebook(entry, earlier_dir, recorded):
    """The student's notebook of an earlier chapter (where minimx/ was last built from, unless
    --earlier says otherwise), or Problem naming every place it looked."""
    if not earlier_dir and recorded.get(entry['id'], 'reference') != 'reference' \
            and Path(recorded[entry['id']]).is_file():
        return Path(recorded[entry['id']])
    places = notebook_places(entry, earlier_dir)
    for path in places:
        if path.is_file():
            return path
    looked = '\n'.join(f'  {p}' for p in places)
    raise Problem(f'minimx/ needs your notebook of {entry["id"]} (its deadline has not passed, so your own '
                  f'answers build that part of minimx), and check.py found none. It looked for:\n{looked}\n'
                  f'Put your {entry["id"]} chapter folder, {entry["name"]}/, beside this one, or name the folder '
                  f'that holds {entry["name"]}.ipynb: python check.py --minimx --earlier DIR')


def exports_of(entry, earlier_dir, recorded):
    """(label, [(module, code), ...], notebook path or None) of one earlier chapter: the shipped
    reference code, or the `#| export` cells of the student's own notebook."""
    from autograder.notebook import SubmissionError, parse
    from core.export import exported_cells

    if entry['reference']:
        path = COURSE / 'exports' / f'{entry["id"]}.json'
        if not path.is_file():
            raise Problem(f'{path} is missing: download the chapter folder again.')
        return f'the reference code of {entry["id"]}', [tuple(c) for c in json.loads(path.read_text('utf-8'))], None
    path = find_earlier_notebook(entry, earlier_dir, recorded)
    try:
        parse(path.read_bytes())               # the grader's words for a broken file
        cells = exported_cells(path)
    except (SubmissionError, ValueError) as err:
        raise Problem(f'cannot build minimx/ from {path}: {err}') from None
    return str(path), cells, path


def build_minimx(info, earlier_dir=None, recorded=None):
    """Write minimx/ with the course's exporter, chapter by chapter; returns {id: 'reference'
    or the notebook it came from} (also kept in .course/minimx.json)."""
    from core.export import assemble, write_package

    sources, built_from = [], {}
    for entry in info['earlier']:
        label, cells, path = exports_of(entry, earlier_dir, recorded or {})
        sources.append((label, cells))
        built_from[entry['id']] = str(path) if path else 'reference'
    files = assemble(sources, how='`python check.py --minimx`',
                     advice='fix your notebook of that chapter and run `python check.py --minimx` again')
    write_package(files, HERE)
    STAMP.write_text(json.dumps({'built': time.time(), 'from': built_from}, indent=1) + '\n', encoding='utf-8')
    return built_from


def describe_minimx(built_from):
    """What minimx/ was built from, in a few words."""
    own = [cid for cid, src in built_from.items() if src != 'reference']
    ref = [cid for cid, src in built_from.items() if src == 'reference']
    parts = ([f'the reference code of {", ".join(ref)}'] if ref else []) + \
            ([f'your notebooks of {", ".join(own)}'] if own else [])
    return 'built from ' + ' and '.join(parts) + \
        (' (the grader uses the reference code of every earlier chapter)' if own else '')


def ensure_minimx(info, earlier_dir=None):
    """minimx/ as the run needs it: built when it is missing, older than the notebooks it came
    from, or when --earlier names where those are. Returns what it is, in a few words."""
    if not info['earlier']:
        return 'not needed (this chapter starts it)'
    stamp = json.loads(STAMP.read_text(encoding='utf-8')) if STAMP.is_file() else None
    if (HERE / 'minimx' / '__init__.py').is_file() and not earlier_dir:
        if stamp is None:
            if all(e['reference'] for e in info['earlier']):
                return f'as shipped with the chapter (the reference code of {", ".join(e["id"] for e in info["earlier"])})'
            return 'as found in this folder (`python check.py --minimx` builds it from your notebooks)'
        newer = [src for src in stamp['from'].values()
                 if src != 'reference' and Path(src).is_file() and Path(src).stat().st_mtime > stamp['built']]
        if not newer:
            return describe_minimx(stamp['from'])
    built_from = build_minimx(info, earlier_dir, stamp['from'] if stamp else None)
    return describe_minimx(built_from).replace('built from', 'built just now from', 1)


# -- running --------------------------------------------------------------------------------------

class Run:
    """One execution of the merged notebook and how it went."""

    def __init__(self, nb, info):
        self.nb = nb
        self.cell_timeout, self.budget = info['cell_timeout'], info['submission_seconds']
        self.seconds = 0.0
        self.folder = ''
        self.died_in = None            # [In n] - 1 of the cell running when the kernel died
        self.out_of_time = False       # the whole run reached the grading time limit
        self.timed_out = set()         # cells interrupted at the cell time limit

    @property
    def stopped(self):
        return self.out_of_time or self.died_in is not None

    def ran(self, n):
        """Whether code cell n ran: only a stopped run leaves cells out (an empty cell does
        nothing, and one cut off at the cell time limit ran until then)."""
        cell = code_cells(self.nb)[n]
        return not self.stopped or n in self.timed_out or cell.execution_count is not None \
            or not cell.source.strip()

    def why_not_run(self):
        if self.out_of_time:
            return f'the run reached the grading time limit, {self.budget:g} s'
        return f'the kernel died while running [In {self.died_in + 1}]'


def prepare_folder(folder):
    """The run's working folder holds what the graded run has beside the notebook: minimx/ and
    a clean checks.py (even if the one in this folder was edited)."""
    shutil.copy(COURSE / 'checks.py', folder / 'checks.py')
    if (HERE / 'minimx').is_dir():
        shutil.copytree(HERE / 'minimx', folder / 'minimx', ignore=shutil.ignore_patterns('__pycache__'))


def execute(run, folder, progress):
    """Run every cell of run.nb in a fresh kernel in `folder`, errors and all (as the grader
    does), each cell within the cell time limit and the whole within the grading time limit:
    a watchdog kills the kernel then, even if a cell ignores interrupts."""
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from core.environment import pin_environment      # the course's, as shipped: the kernel inherits it
    pin_environment()
    position = {id(c): n for n, c in enumerate(code_cells(run.nb))}
    state = {'current': None, 'started': time.monotonic(), 'timer': None}

    def kill_kernel():
        run.out_of_time = True
        provisioner = getattr(client.km, 'provisioner', None)
        pgid, pid = getattr(provisioner, 'pgid', None), getattr(provisioner, 'pid', None)
        try:
            if pgid and hasattr(os, 'killpg'):
                os.killpg(pgid, signal.SIGKILL)
            elif pid:
                os.kill(pid, signal.SIGTERM)
        except OSError:
            pass

    def on_start(notebook):
        state['started'] = time.monotonic()
        state['timer'] = threading.Timer(run.budget, kill_kernel)
        state['timer'].daemon = True
        state['timer'].start()

    def on_execute(cell, cell_index):
        state['current'] = position.get(id(cell))
        progress(state['current'], time.monotonic() - state['started'])

    def on_executed(cell, cell_index, execute_reply):
        if (execute_reply or {}).get('content', {}).get('ename') == TIMEOUT_ERROR:
            run.timed_out.add(position.get(id(cell)))

    client = NotebookClient(run.nb, timeout=run.cell_timeout, kernel_name='python3', allow_errors=True,
                            interrupt_on_timeout=True,
                            error_on_timeout={'ename': TIMEOUT_ERROR, 'evalue': '', 'traceback': []},
                            resources={'metadata': {'path': str(folder)}}, record_timing=False,
                            shutdown_kernel='immediate', on_notebook_start=on_start,
                            on_cell_execute=on_execute, on_cell_executed=on_executed,
                            extra_arguments=['--IPKernelApp.log_level=ERROR'])
    try:
        client.execute()
    except NoSuchKernel:
        raise Problem('there is no Python 3 Jupyter kernel here: install ipykernel (pip install ipykernel) '
                      'in the Python you run check.py with') from None
    except DeadKernelError:
        if not run.out_of_time:
            run.died_in = state['current'] or 0
    finally:
        if state['timer']:
            state['timer'].cancel()
        run.seconds = time.monotonic() - state['started']


def progress_printer(total):
    """Progress on stderr: one line rewritten on a terminal; in a log, a line every 30 s."""
    live = sys.stderr.isatty()
    last = [0.0]

    def show(n, elapsed):
        if n is None:
            return
        if live:
            sys.stderr.write(f'\r  running [In {n + 1}] of {total}  ({elapsed:4.0f} s) ')
            sys.stderr.flush()
        elif elapsed - last[0] >= 30:
            last[0] = elapsed
            sys.stderr.write(f'  running [In {n + 1}] of {total} after {elapsed:.0f} s\n')

    def done():
        if live:
            sys.stderr.write('\r' + ' ' * 40 + '\r')
    show.done = done
    return show


def run_answers(answers, info):
    """The student's answers in a clean copy of the chapter, run in a temporary folder."""
    run = Run(merged_notebook(answers), info)
    show = progress_printer(len(code_cells(run.nb)))
    with tempfile.TemporaryDirectory(prefix=f'{info["id"]}-check-') as tmp:
        run.folder = tmp
        prepare_folder(Path(tmp))
        try:
            execute(run, Path(tmp), show)
        finally:
            show.done()
    return run


# -- judging --------------------------------------------------------------------------------------

ANSI = re.compile(r'\x1b\[[0-9;]*m')
FRAME = re.compile(r'Cell In\[(\d+)\], line (\d+)|File (\S+?):(\d+)')


class Exercise:
    """One exercise: its answer cell and test cells (one per graded feature), whether its visible
    checks pass and, if not, why."""

    def __init__(self, entry, positions):
        self.id, self.hidden = entry['answer'], entry['hidden']
        self.test_ids = entry['tests']
        self.answer = positions.get(self.id)
        self.tests = [positions[t] for t in self.test_ids if positions.get(t) is not None]
        self.test = self.tests[0] if self.tests else None      # the test named in the report
        self.failed = []                                      # its test cells that failed
        self.passed, self.why = True, ''


def where_raised(error, cells):
    """'ex_softmax line 4' for the innermost frame of `error` in an answer cell, or
    'minimx/nd/ndarray.py line 57' for one in minimx; None otherwise (checks.py is never shown)."""
    by_count = {c.execution_count: c for c in cells if c.execution_count}
    found = None
    for frame in FRAME.finditer(ANSI.sub('', '\n'.join(error.get('traceback', [])))):
        if frame.group(1):
            cell = by_count.get(int(frame.group(1)))
            if cell is not None and nbgrader(cell).get('solution'):
                found = f'{nbgrader(cell)["grade_id"]} line {frame.group(2)}'
        elif '/minimx/' in frame.group(3).replace('\\', '/'):
            module = frame.group(3).replace('\\', '/').split('/minimx/', 1)[1]
            found = f'minimx/{module} line {frame.group(4)}'
    return found


def judge(ex, run, unanswered, missing):
    """Set ex.passed and ex.why: the answer cell's own error first, then the first failed visible
    check of its test cells (CheckFailed's message) or what else one raised, with where; the
    failed test cells go into ex.failed. An unanswered exercise says so, and one whose cell the
    grader would not find says that."""
    cells = code_cells(run.nb)
    for n, whose in ((ex.answer, 'your cell'), *((t, 'its test') for t in ex.tests)):
        if n is None:
            continue
        error = next((o for o in cells[n].outputs if o.output_type == 'error'), None)
        if n in run.timed_out:
            why = f'{whose} [In {n + 1}] did not finish within the cell time limit, {run.cell_timeout:g} s'
        elif not run.ran(n):
            why = f'{whose} [In {n + 1}] did not run: {run.why_not_run()}'
        elif error is None:
            continue
        elif error.ename == 'NotImplementedError' and ex.id in missing:
            why = 'your answer cell was not found in your notebook (see above), so the empty stub ran'
        elif error.ename == 'NotImplementedError' and ex.id in unanswered:
            why = 'not answered yet: the cell still raises NotImplementedError'
        elif error.ename == 'CheckFailed':
            why = f'check failed: {error.evalue}'
        else:
            place = where_raised(error, cells)
            why = (f'{whose} [In {n + 1}] raised {error.ename}' + (f': {error.evalue}' if error.evalue else '')
                   + (f' (at {place})' if place else ''))
        if n != ex.answer:
            ex.failed.append(n)
        if ex.passed:
            ex.passed, ex.why = False, why
        if n == ex.answer:
            continue
        if len(ex.failed) == 1:
            ex.test = n                       # the report names the first test cell that failed


def sanitize(text, folder):
    """`text` with what legitimately varies from run to run replaced by placeholders."""
    for path in {folder, os.path.realpath(folder)} - {''}:
        text = text.replace(path, 'TMPDIR')
    for pattern, replacement in SANITIZE:
        text = pattern.sub(replacement, text)
    return text


def screen_lines(text):
    """Text as Jupyter shows it: a carriage return starts its line again."""
    return [line.rstrip('\r').rsplit('\r', 1)[-1] for line in text.rstrip('\n').split('\n')]


def approximate(cell):
    """A cell whose printed numbers come from training (core.notebook_format.APPROXIMATE_TAG)."""
    from core.notebook_format import approximate_output     # the course's format, as shipped
    return approximate_output(cell)


def same_number(want, got, training):
    if want == got:
        return True
    if not training and not any(ch in want + got for ch in '.eE'):
        return False                                             # two different integers
    rtol, atol = (TRAINING_RTOL, TRAINING_ATOL) if training else (FLOAT_RTOL, FLOAT_ATOL)
    return abs(float(want) - float(got)) <= max(rtol * max(abs(float(want)), abs(float(got))), atol)


def same_line(want, got, training=False):
    """`got` says what `want` says: the same words, and numbers within the tolerances above."""
    if NUMBER.split(want) != NUMBER.split(got):
        return False
    numbers = NUMBER.findall(want), NUMBER.findall(got)
    return all(same_number(w, g, training) for w, g in zip(*numbers))


def same_output(want, got, training=False):
    """Two lists of compared lines (see shown_output) that say the same thing."""
    return len(want) == len(got) and all(same_line(w, g, training) for w, g in zip(want, got))


def shown_output(cell, folder, where=None):
    """(lines, warnings) of a code cell's outputs. Each line is (what is compared, what is
    shown): stdout and rich text, sanitized for comparing but shown as printed; an image as a
    marker (only that there is one is compared); an error as one line, with `where(error)`
    after it if given. stderr comes apart: a warning of the student's own setup (a newer
    library, a font cache being built) is not a difference."""
    lines, stdout, stderr = [], [], []

    def add(text):
        lines.extend((sanitize(line, folder), line) for line in screen_lines(text))

    def flush():
        if stdout:
            add(''.join(stdout))
            stdout.clear()

    for out in cell.outputs:
        if out.output_type == 'stream':
            (stdout if out.name == 'stdout' else stderr).append(out.text)
            continue
        flush()
        if out.output_type == 'error':
            text = f'{out.ename}: {shorten(out.evalue, 200)}'.rstrip(': ')
            place = where(out) if where else None
            lines.append((sanitize(text, folder), text + (f' (at {place})' if place else '')))
        elif out.output_type in ('execute_result', 'display_data'):
            data = out.get('data', {})
            if any(k.startswith('image/') for k in data):
                lines.append(('[an image]', '[an image]'))
            if data.get('text/plain'):
                add(data['text/plain'])
    flush()
    return lines, [ln for ln in ''.join(stderr).splitlines() if ln.strip()]


def short_diff(want, got):
    """A few lines saying how `got` differs from `want` (lists of (compared, shown)): each
    differing stretch as the reference's lines and yours, line by line where both have as many."""
    shown = []
    matcher = difflib.SequenceMatcher(a=[k for k, _ in want], b=[k for k, _ in got], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == 'equal':
            continue
        ref = [line for _, line in want[i1:i2]] or ['(nothing)']
        yours = [line for _, line in got[j1:j2]] or ['(nothing)']
        if len(ref) == len(yours):
            for a, b in zip(ref, yours):
                shown += [f'reference: {a}', f'yours:     {b}']
        else:
            shown += _some(ref, 'reference: ') + _some(yours, 'yours:     ')
    cut = [line if len(line) <= WIDTH - 6 else line[:WIDTH - 7] + '…' for line in shown[:DIFF_LINES]]
    return cut + ([f'… and {len(shown) - DIFF_LINES} more lines'] if len(shown) > DIFF_LINES else [])


def _some(lines, prefix, most=3):
    """Up to `most` lines behind `prefix`, then how many more there are."""
    shown = [prefix + line for line in lines[:most]]
    return shown + ([' ' * len(prefix) + f'… ({len(lines) - most} more)'] if len(lines) > most else [])


class Difference:
    """A code cell whose output differs from the reference run's: its number, what to show, and
    whether MINIMX_EPOCHS explains it (the cell reads it, and it is set)."""

    def __init__(self, n, label, lines=(), epochs=False):
        self.n, self.label, self.lines, self.epochs = n, label, list(lines), epochs


def reads_epochs(cell):
    """A training demonstration that MINIMX_EPOCHS shortens, when it is set."""
    return bool(os.environ.get('MINIMX_EPOCHS')) and 'MINIMX_EPOCHS' in cell.source


def compare(run, reference, exercises):
    """(differences, warnings, cells not run, cells compared) against the reference run. Answer
    cells have no stored output (an error there is the exercise's); a test cell that failed
    points at its exercise instead of repeating its message."""
    failed_tests = {n: ex for ex in exercises for n in ex.failed}
    differences, warnings, not_run, compared = [], [], [], 0
    for n, (ref, cell) in enumerate(zip(code_cells(reference), code_cells(run.nb))):
        if nbgrader(ref).get('solution'):
            continue
        compared += 1
        if not run.ran(n):
            not_run.append(n)
            continue
        want, _ = shown_output(ref, run.folder)
        got, warned = shown_output(cell, run.folder, lambda error: where_raised(error, code_cells(run.nb)))
        if warned:
            warnings.append((n, warned))
        if same_output([k for k, _ in want], [k for k, _ in got], approximate(ref)):
            continue
        if n in failed_tests:
            differences.append(Difference(n, f'{cell_label(cell)}: its test failed (see {failed_tests[n].id} above)'))
        elif n in run.timed_out:
            differences.append(Difference(n, f'{cell_label(cell)}: did not finish within {run.cell_timeout:g} s'))
        elif reads_epochs(ref):
            differences.append(Difference(n, f'{cell_label(cell)}: it reads MINIMX_EPOCHS, which is set:',
                                          short_diff(want, got), epochs=True))
        else:
            differences.append(Difference(n, f'{cell_label(cell)}:', short_diff(want, got)))
    return differences, warnings, not_run, compared


def check_run(answers, info, missing=()):
    """Run the answers and judge them: (run, exercises, differences, warnings, not run, compared)."""
    from autograder.notebook import parse, stub_sources

    run = run_answers(answers, info)
    reference = reference_notebook()
    positions = {nbgrader(c)['grade_id']: n for n, c in enumerate(code_cells(reference)) if nbgrader(c).get('grade_id')}
    stubs = stub_sources(parse(reference_bytes())[0])
    unanswered = {gid for gid, stub in stubs.items() if answers.get(gid, '').strip() == stub.strip()}
    exercises = [Exercise(entry, positions) for entry in info['exercises']]
    for ex in exercises:
        judge(ex, run, unanswered, set(missing))
    return (run, exercises, *compare(run, reference, exercises))


# -- the report -----------------------------------------------------------------------------------

def report_header(style, notebook, info, run, minimx, notes, extra_cells):
    lines = [style.bold(f'check.py: {Path(notebook).name}, {info["title"]}'),
             wrapped(f'Your answer cells ran in a clean copy of the chapter: a fresh kernel, top to bottom, in '
                     f'{run.seconds:.0f} s; every output was compared with the reference run\'s.'),
             wrapped(f'minimx: {minimx}.'),
             wrapped('Cells are numbered [In n]: the n-th code cell of the chapter\'s notebook, as Jupyter numbers '
                     'them after Restart & Run All.')]
    epochs = [n for n, c in enumerate(code_cells(run.nb)) if reads_epochs(c)]
    if epochs:
        cells = ', '.join(f'[In {n + 1}]' for n in epochs)
        lines.append(wrapped(f'MINIMX_EPOCHS={os.environ["MINIMX_EPOCHS"]} is set: {cells} trains that many epochs '
                             f'instead of the reference run\'s, so its output differs.'))
    trained = [n for n, c in enumerate(code_cells(run.nb)) if approximate(c)]
    if trained:
        cells = ', '.join(f'[In {n + 1}]' for n in trained)
        lines.append(wrapped(f'{cells} print{"s" if len(trained) == 1 else ""} numbers that float rounding changes from '
                             f'one CPU to another (training makes the change grow), so there numbers within '
                             f'{TRAINING_RTOL:.0%} of the reference run\'s count as the same (elsewhere within {FLOAT_RTOL:g}).'))
    if extra_cells > 0:
        lines.append(wrapped(f'Your notebook has {plural(extra_cells, "code cell")} of its own: not run here (the '
                             f'grader does not run them either).'))
    if notes:
        lines.append('About your notebook, in the grader\'s words:')
        lines += [wrapped(f'- {note}', 2, 2) for note in notes]
    if run.out_of_time:
        from autograder.notebook import out_of_time
        lines.append(style.bad(wrapped(f'The grader would stop this notebook: {out_of_time(run.budget)}.')))
    elif run.died_in is not None:
        lines.append(style.bad(wrapped(f'The kernel died while running [In {run.died_in + 1}] (out of memory, or '
                                       f'the code ended the Python process); later cells did not run.')))
    return '\n'.join(lines)


def report_exercises(style, exercises):
    width = max(len(ex.id) for ex in exercises)
    lines = [style.bold('Exercises (visible checks)')]
    for ex in exercises:
        where = f'[In {ex.answer + 1}]' if ex.answer is not None else '(no cell)'
        if ex.passed:
            lines.append(f'  {style.good("✓")} {ex.id:<{width}}  {where}')
        else:
            tested = f', its test [In {ex.test + 1}]' if ex.test is not None else ''
            lines.append(f'  {style.bad("✗")} {ex.id:<{width}}  {where}{tested}')
            lines.append(wrapped(shorten(ex.why, 500), 6, 2))
    lines.append(f'  {sum(ex.passed for ex in exercises)} of {len(exercises)} pass their visible checks.')
    return '\n'.join(lines)


def report_outputs(style, run, differences, warnings, not_run, compared):
    lines = [style.bold('Outputs compared with the reference run')]
    for d in differences[:DIFF_CELLS]:
        lines.append(f'  [In {d.n + 1}] {d.label}')
        lines += [f'      {line}' for line in d.lines]
    if len(differences) > DIFF_CELLS:
        lines.append(f'  also differ: {", ".join(f"[In {d.n + 1}]" for d in differences[DIFF_CELLS:])}')
    if not_run:
        span = f'[In {not_run[0] + 1}]' + (f' to [In {not_run[-1] + 1}]' if len(not_run) > 1 else '')
        lines.append(f'  {span}: not run ({run.why_not_run()})')
    for n, warned in warnings:
        lines.append(f'  [In {n + 1}] printed warnings (not counted: the reference printed none):')
        lines += [f'      {shorten(w, WIDTH - 8)}' for w in warned[:2]]
    same = compared - len(differences) - len(not_run)
    lines.append(f'  {same} of {compared} cells match the reference run\'s outputs'
                 + (f'; {len(differences)} differ' if len(differences) > 1 else '; 1 differs' if differences else '')
                 + (f'; {len(not_run)} did not run' if not_run else '') + ' (answer cells have no stored output).')
    return '\n'.join(lines)


def report_hidden(exercises):
    """What the hidden tests look at, in the tests' own words: what the self-check cannot know."""
    width = max(len(ex.id) for ex in exercises) + 1
    return '\n'.join(['Hidden tests will also check, for each exercise:'] +
                     [wrapped(f'{ex.id + ":":<{width}} {ex.hidden or "other cases"}', 2, width + 1) for ex in exercises])


def next_step(exercises, differences, not_run, notebook):
    failing = [ex.id for ex in exercises if not ex.passed]
    again = f'then run `python check.py {notebook}` again.'
    if failing:
        named = ', '.join(failing[:4]) + (f' and {len(failing) - 4} more' if len(failing) > 4 else '')
        return (f'Next: fix {named} (the message under {"it" if len(failing) == 1 else "each"} says what is '
                f'wrong), {again}')
    unexplained = [d.n for d in differences if not d.epochs] + not_run
    if unexplained:
        return f'Next: find out why [In {unexplained[0] + 1}] does not print what the reference run printed, {again}'
    if differences:
        return (f'Next: every other output matches; without MINIMX_EPOCHS set, `python check.py {notebook}` compares '
                f'the training too.')
    return f'Next: `python check.py --submit {notebook}` reads the notebook as the grader will and writes the file to hand in.'


def self_check(notebook, info, earlier_dir, style):
    """The self-check report; exit status 0 only if every exercise passes its visible checks
    and every output matches."""
    cells, metadata, _, name_notes = read_submission(notebook, info)
    structure = match_answers(cells, metadata)
    minimx = ensure_minimx(info, earlier_dir)
    run, exercises, differences, warnings, not_run, compared = check_run(structure.answers, info, structure.replaced)
    extra = sum(c.kind == 'code' for c in cells) - len(code_cells(run.nb))
    print(report_header(style, notebook, info, run, minimx, name_notes + structure.notes, extra))
    print()
    print(report_exercises(style, exercises))
    print()
    print(report_outputs(style, run, differences, warnings, not_run, compared))
    print()
    print(report_hidden(exercises))
    print()
    print(wrapped(next_step(exercises, differences, not_run, typed(notebook))))
    return 0 if all(ex.passed for ex in exercises) and not differences and not not_run else 1


def typed(notebook):
    """The notebook's path as the student would type it again (relative to where they are)."""
    try:
        return str(Path(notebook).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(notebook)


# -- submit ---------------------------------------------------------------------------------------

CELL_RULES = [
    ('answer', 'answer cells, found by their ids',
     'Put your answer back into a code cell with that id: download the chapter again and copy your answer '
     'into that cell.'),
    ('tests', 'test cells as the course wrote them',
     'The grader runs the originals: put the original cell back (.course/reference.ipynb is a clean copy).'),
]


def submit(notebook, info, earlier_dir, style):
    """--submit: the grader's rules, a clean run within the grading time limit, then
    submit/<name>.ipynb. Writes nothing, exit status 1, when the grader would refuse the file,
    or would not grade the cells as the student wrote them, or would stop the run."""
    from autograder.notebook import MAX_NOTEBOOK_BYTES, match, out_of_time, parse, stub_sources

    ok, no = f'  {style.good("✓")}', f'  {style.bad("✗")}'
    target = HERE / 'submit' / info['notebook']
    stale = (f' ({target.relative_to(HERE)}, from an earlier --submit, is still there and does not hold what is '
             f'in {Path(notebook).name} now.)' if target.exists() else '')
    refused = (f'Nothing was written: fix what is marked ✗, then run `python check.py --submit {typed(notebook)}` '
               f'again.{stale}')
    print(style.bold(f'check.py --submit: {Path(notebook).name}, {info["title"]}'))
    try:
        cells, metadata, size, name_notes = read_submission(notebook, info)
    except Refused as err:
        print(wrapped(f'✗ the grader would refuse it: {err.words}', 2, 2).replace('✗', style.bad('✗'), 1))
        print(wrapped(refused))
        return 1
    print(f'{ok} a notebook the grader can read ({size / 2**20:.1f} MB; the limit is {MAX_NOTEBOOK_BYTES >> 20} MB)')
    print(f'{ok} this chapter\'s notebook ({info["id"]})')
    structure = match_answers(cells, metadata)
    bad = False
    for key, what, advice in CELL_RULES:
        ids = [gid for e in info['exercises'] for gid in (e[key] if key == 'tests' else [e[key]]) if gid]
        lost = [gid for gid in structure.replaced if gid in ids]
        if not lost:
            print(f'{ok} all {len(ids)} {what}')
            continue
        bad = True
        print(f'{no} {len(ids) - len(lost)} of {len(ids)} {what}; the grader would say:')
        for note in structure.notes:
            if note.split(':', 1)[0] in lost:
                print(wrapped(f'- {note}', 6, 2))
        print(wrapped(advice, 6))
    notes = name_notes + [n for n in structure.notes if n.split(':', 1)[0] not in structure.replaced]
    if notes:
        print('  notes, in the grader\'s words (they do not stop you handing in):')
        for note in notes:
            print(wrapped(f'- {note}', 4, 2))
    if bad:
        print(wrapped(refused))
        return 1
    ensure_minimx(info, earlier_dir)
    run, exercises, differences, _, not_run, _ = check_run(structure.answers, info)
    if run.out_of_time:
        print(wrapped(f'✗ a clean run, top to bottom in a fresh kernel: it reached the grading time limit; the '
                      f'grader would say: {out_of_time(run.budget)}', 2, 2).replace('✗', style.bad('✗'), 1))
        print(wrapped('Nothing was written: make the slow cells faster (`python check.py` shows how far the run '
                      f'got).{stale}'))
        return 1
    print(f'{ok} a clean run, top to bottom in a fresh kernel: {run.seconds:.0f} s (the grader stops a notebook '
          f'at {run.budget:g} s)')
    failing = [ex.id for ex in exercises if not ex.passed]
    print(wrapped(f'• visible checks: {len(exercises) - len(failing)} of {len(exercises)} exercises pass'
                  + (f'; not {", ".join(failing)}' if failing else ''), 2, 2))
    n = len(differences) + len(not_run)
    print('  • outputs: ' + (f'{plural(n, "cell")} differ{"s" * (n == 1)} from the reference run' if n
                             else 'every cell matches the reference run'))
    if failing or differences or not_run:
        print(wrapped(f'(these do not stop you handing in; `python check.py {typed(notebook)}` shows why)', 4))
    write_notebook(merged_notebook(structure.answers), target)
    instructor = parse(reference_bytes())[0]
    written = match(instructor, stub_sources(instructor), parse(target.read_bytes())[0])
    if written.notes or written.answers != structure.answers:
        raise Problem(f'{target} does not read back as written; this is a bug in check.py: please report it')
    print()
    print(wrapped(f'Wrote {target.relative_to(HERE)}: your answers in a clean copy of the chapter, outputs '
                  f'cleared. Hand in that file.'))
    print()
    print(report_hidden(exercises))
    return 0


def write_notebook(nb, target):
    import nbformat
    target.parent.mkdir(exist_ok=True)
    nbformat.write(nb, str(target))


# -- the command ----------------------------------------------------------------------------------

def main(argv=None):
    if hasattr(sys.stdout, 'reconfigure'):
        sys.stdout.reconfigure(errors='replace')      # ✓ and ✗ on a terminal that cannot show them
    # jsonschema, which nbformat imports, builds a grammar for IRI formats at import when the
    # optional rfc3987-syntax is installed (1.5 s); notebook validation never uses it.
    sys.modules.setdefault('rfc3987_syntax', None)
    summary, details = __doc__.split('\n\n', 1)
    parser = argparse.ArgumentParser(prog='python check.py', description=summary, epilog=details,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('notebook', nargs='?', help="your notebook (default: this chapter's, in this folder)")
    parser.add_argument('--submit', action='store_true', help='read it as the grader will; write submit/<notebook>')
    parser.add_argument('--minimx', action='store_true', help='build minimx/ from the earlier chapters')
    parser.add_argument('--earlier', metavar='DIR', help='where your notebooks of earlier chapters are')
    args = parser.parse_args(argv)
    style = Style(sys.stdout)
    try:
        info = load_chapter()
        notebook = args.notebook or str(HERE / info['notebook'])
        if args.minimx:
            if not info['earlier']:
                print('This chapter starts minimx: there is nothing of earlier chapters to build.')
            else:
                print(wrapped(f'{HERE / "minimx"}: {describe_minimx(build_minimx(info, args.earlier))}.'))
            return 0
        if args.submit:
            return submit(notebook, info, args.earlier, style)
        return self_check(notebook, info, args.earlier, style)
    except Problem as err:
        lines = f'error: {err}'.splitlines()
        print('\n'.join(line if line.startswith(' ') else wrapped(line, 0, 2) for line in lines)
              .replace('error:', style.bad('error:'), 1))
        return 1
    except KeyboardInterrupt:
        print('\ninterrupted')
        return 130
    except BrokenPipeError:                            # `python check.py | head`
        sys.stdout = None
        return 1


if __name__ == '__main__':
    sys.exit(main())
