"""The instructor's report of a batch: `_grading/reports/chNN/`.

- grades.csv     one row per submission: status, total, max, one column per test, message
- feedback/      one small HTML page per student (size-capped, everything escaped)
- scores.png     per-exercise score distribution and the distribution of totals
- attention.csv  the submissions an instructor should look at, and why
- the LMS exports (lms_export.py): Canvas and Moodle grade CSVs, feedback zips to upload,
  late.csv, and the course-wide _grading/reports/canvas_gradebook.csv and moodle_gradebook.csv
"""
import csv
import html
import io
import sys

from autograder import lms_export
from autograder.safe_text import csv_cell, safe_text
from autograder.store import write_atomically
from core.chapters import GRADING, ROOT

MAX_FEEDBACK_BYTES = 64 << 10
STATUS_WORDS = {'graded': 'graded', 'student_error': 'could not be graded',
                'infra_error': 'not graded because of a grader problem (your instructor has been told)'}


def write(ch, assignment, states, unrecorded=()):
    """The reports of a batch. Each student's row and page is made on its own: a state that
    breaks one gets a row saying so, and the others are written. `unrecorded` lists
    (student, why) for students nbgrader's gradebook could not take; they need attention."""
    folder = GRADING / 'reports' / ch.id
    (folder / 'feedback').mkdir(parents=True, exist_ok=True)
    tests = [c.grade_id for c in assignment.tests]
    write_atomically(folder / 'grades.csv', grades_csv(states, tests, assignment.max_score))
    for state in states:
        write_feedback(folder / 'feedback' / f'{state["key"]}.html', ch, state, assignment)
    rows = attention(states, assignment) + [list(row) for row in unrecorded]
    write_atomically(folder / 'attention.csv', _csv([['student', 'status', 'why'], *rows]))
    try:
        chart(folder / 'scores.png', states, assignment)
    except Exception as err:                     # the chart is the least of the reports
        print(f'error: no chart: {type(err).__name__}: {safe_text(err, 300)}', file=sys.stderr)
    try:
        lms_export.write(ch, assignment, states)
    except Exception as err:                     # grades.csv and the pages are written already
        print(f'error: no LMS exports: {type(err).__name__}: {safe_text(err, 300)}', file=sys.stderr)
    print(f'scores:    {shown(folder / "grades.csv")}')
    print(f'feedback:  {shown(folder / "feedback")}/<student>.html')
    print(f'chart:     {shown(folder / "scores.png")}')
    print(f'attention: {shown(folder / "attention.csv")} ({len(rows)} submissions to look at)')
    for student, status, why in rows[:10]:
        print(f'  {safe_text(student)} ({status}): {safe_text(why[:150])}')
    if len(rows) > 10:
        print(f'  ... and {len(rows) - 10} more')


def shown(path):
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _csv(rows):
    """CSV text of rows whose cells are safe, spreadsheet-proof text (see csv_cell)."""
    out = io.StringIO()
    csv.writer(out).writerows([[csv_cell(cell) for cell in row] for row in rows])
    return out.getvalue()


def total(state):
    return sum(state['scores'].values())


def grades_csv(states, tests, max_score):
    """Scores are written as numbers; text (names, messages) as text a spreadsheet will not run."""
    rows = [['student', 'status', 'total', 'max', *tests, 'message']]
    for s in states:
        try:
            scores = [float(s['scores'][t]) if t in s['scores'] else '' for t in tests]
            rows.append([s['student'], s['status'], float(total(s)), float(max_score), *scores, s['message'][:500]])
        except Exception as err:
            rows.append([s.get('student', s.get('key')), s.get('status'), '', float(max_score), *[''] * len(tests),
                         f'the report could not show this submission ({type(err).__name__})'])
    return _csv(rows)


def attention(states, assignment):
    """(student, status, reasons) for every submission a person should look at."""
    rows = []
    for s in states:
        try:
            why = _reasons(s, assignment)
        except Exception as err:
            why = [f'the report could not show this submission ({type(err).__name__}: {safe_text(err, 200)})']
        if why:
            rows.append([s.get('student', s.get('key')), s.get('status'), '; '.join(map(str, why))[:1000]])
    return rows


def _reasons(s, assignment):
    why = []
    if s['status'] != 'graded':
        why.append(s['message'][:300] or s['status'])
    why += s.get('attention', [])
    if s.get('late'):
        why += [n for n in s.get('notes', []) if n.startswith('late: ')][:1] or ['late']
    why += [n for n in s.get('notes', []) if 'ignored' in n or 'renamed' in n or 'expected name' in n]
    cpu = (s.get('timing') or {}).get('cpu_by_cell', {})
    slow = [label for label, seconds in cpu.items() if seconds > 0.8 * assignment.sandbox.limits.cell_seconds]
    if slow:
        why.append(f'close to the time limit in {", ".join(slow)}')
    return why


def write_feedback(path, ch, state, assignment):
    """One student's page; if their state cannot be shown, a page that says so (and the
    reason on stderr for the instructor), and the other pages are still written."""
    try:
        page = feedback_page(ch, state, assignment)
    except Exception as err:
        print(f'error: feedback page of {state["key"]}: {type(err).__name__}: {safe_text(err, 300)}', file=sys.stderr)
        page = (f'<!doctype html><meta charset="utf-8"><title>{html.escape(ch.id)} feedback</title>'
                f'<p>Your feedback page could not be made; your instructor has been told.</p>')
    try:
        write_atomically(path, page)
    except OSError as err:
        print(f'error: could not write {path}: {err.strerror}', file=sys.stderr)


def feedback_page(ch, state, assignment):
    e = html.escape
    status = STATUS_WORDS.get(state['status'], state['status'])
    parts = [f'<!doctype html><meta charset="utf-8"><title>{e(ch.id)} feedback: {e(state["student"])}</title>',
             '<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td{padding:.2em .6em;'
             'vertical-align:top}.ok{color:#060}.bad{color:#a00}</style>',
             f'<h1>{e(ch.id)} ({e(ch.name)}): {e(state["student"])}</h1>',
             f'<p>Status: <b>{e(status)}</b>. Score: <b>{total(state):g} / {assignment.max_score:g}</b></p>']
    if state['message'] and state['status'] != 'infra_error':      # grader trouble is the instructor's
        parts.append(f'<p>{e(state["message"])}</p>')
    if state['scores']:
        parts.append('<table><tr><th>test</th><th>points</th><th>what the grader found</th></tr>')
        for cell in assignment.tests:
            got = state['scores'].get(cell.grade_id, 0.0)
            css = 'ok' if got == cell.points else 'bad'
            parts.append(f'<tr class="{css}"><td>{e(cell.grade_id)}</td><td>{got:g} / {cell.points:g}</td>'
                         f'<td>{e(state["feedback"].get(cell.grade_id, ""))}</td></tr>')
        parts.append('</table>')
    if state.get('notes'):
        parts.append('<h2>Notes</h2><ul>' + ''.join(f'<li>{e(n)}</li>' for n in state['notes'][:30]) + '</ul>')
    parts.append('<p><small>Hidden tests ran on inputs drawn for this grading run; '
                 'their inputs and expected values are not shown.</small></p>')
    page = safe_text('\n'.join(parts))
    if len(page.encode()) > MAX_FEEDBACK_BYTES:
        page = page.encode()[:MAX_FEEDBACK_BYTES].decode(errors='ignore') + '\n<p>(feedback truncated)</p>'
    return page


def chart(path, states, assignment):
    """Stacked bars per exercise (full / partial / zero / not graded) and a histogram of totals."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    tests = assignment.tests
    full, partial, zero, missing = [], [], [], []
    for cell in tests:
        got = [s['scores'].get(cell.grade_id) for s in states]
        full.append(sum(g is not None and g >= cell.points for g in got))
        partial.append(sum(g is not None and 0 < g < cell.points for g in got))
        zero.append(sum(g is not None and g == 0 for g in got))
        missing.append(sum(g is None for g in got))
    fig, (bars, hist) = plt.subplots(1, 2, figsize=(12, max(3, 0.35 * len(tests) + 1.5)),
                                     gridspec_kw={'width_ratios': [2, 1]})
    names = [c.grade_id for c in tests]
    left = [0] * len(tests)
    for counts, label, color in [(full, 'full marks', '#2a7'), (partial, 'partial', '#fc3'),
                                 (zero, 'zero', '#d44'), (missing, 'not graded', '#bbb')]:
        bars.barh(names, counts, left=left, label=label, color=color)
        left = [a + b for a, b in zip(left, counts)]
    bars.invert_yaxis()
    bars.set_xlabel('submissions')
    bars.set_title(f'{assignment.ch.id}: score per exercise')
    bars.legend(loc='upper center', bbox_to_anchor=(0.5, -0.15), ncol=4, fontsize='small')
    totals = [total(s) for s in states if s['status'] == 'graded']
    hist.hist(totals, bins=range(int(assignment.max_score) + 2), color='#47a', align='left', rwidth=0.8)
    hist.set_xlabel(f'total score (of {assignment.max_score:g})')
    hist.set_ylabel('graded submissions')
    hist.set_title('totals')
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=100)
    plt.close(fig)
    write_atomically(path, buffer.getvalue())
