"""Grades and feedback out, in the files Canvas, Moodle and a folder of students take back.

Beside grades.csv in `_grading/reports/chNN/` (report.py calls `write`):

- lms.json             this chapter's rows (ids, platform facts, score, lateness), which the
                       course-wide files gather
- late.csv             the submissions marked late, and why
- canvas_grades.csv    Canvas's gradebook import layout, for this chapter
- moodle_grades.csv    Moodle's grade import layout, for this chapter
- feedback_canvas.zip  each Canvas student's page, named for "Re-upload Submissions"
- feedback_moodle.zip  each Moodle participant's page, in their download folder's name
- feedback_folders.zip every student's page as <student>/<chNN>_feedback.html

and in `_grading/reports/`: canvas_gradebook.csv and moodle_gradebook.csv, one assignment
column per chapter graded so far, from every chapter's lms.json.

The layouts. Canvas's gradebook CSV: the columns Student, ID, SIS User ID, SIS Login ID,
Section, then one column per assignment (a name that matches no assignment creates one), as
Canvas's guide "How do I import grades in the Gradebook?" gives them; the search tool did not
return that guide itself, so the "Points Possible" row under the header follows what Canvas's
own export writes (its exported files and the tools reading them), and whether the import
reads it for a new column is unconfirmed. Canvas's "Re-upload Submissions" takes a zip of files
named as the download named them, `<name>_<user id>_<attachment id>_<anything>`, and attaches
each as a comment to that submission (instructure/canvas-lms,
Assignment#generate_comments_from_files and infer_comment_context_from_filename, which reads
the ids with /_[0-9]+_/ and needs the attachment to be the submission's; canvas-lms#2406 shows
one in use). Moodle's grade import: any columns, one of which the teacher maps to a user field
(userid, username, useridnumber, useremail), and one per grade item (docs.moodle.org, "Grade
import"). Moodle's "Upload multiple feedback files in a zip" takes the download's folders, one
per participant, `<Full Name>_<participant id>_assignsubmission_file`, with the feedback files
inside: so a public instructor's guide found by the code search says (its repository was not
named); Moodle's own page on it was not found. Gradescope documents no bulk feedback upload,
so its students get the folders zip.

Every cell is made safe text (safe_text.csv_cell): a name from an archive cannot start a
spreadsheet formula or carry a surrogate into a file.
"""
import csv
import io
import re
import sys
import zipfile

from autograder.safe_text import csv_cell, safe_text
from autograder.store import read_json, write_atomically, write_json
from core.chapters import GRADING

CANVAS_COLUMNS = ['Student', 'ID', 'SIS User ID', 'SIS Login ID', 'Section']
MOODLE_COLUMNS = ['Full name', 'Identifier', 'Email address', 'ID number', 'Username']
SCORED = ('graded', 'student_error')         # a score to hand back; infra_error and pending are blank


def csv_text(rows):
    out = io.StringIO()
    csv.writer(out).writerows([[csv_cell(cell) for cell in row] for row in rows])
    return out.getvalue()


def row_of(state, max_score):
    """One student's facts for the exports (platform facts as intake recorded them)."""
    platform = state.get('platform') or {}
    scored = state.get('status') in SCORED
    return {'key': state['key'], 'student': state.get('student'), 'status': state.get('status'),
            'score': float(sum(state['scores'].values())) if scored else None, 'max': float(max_score),
            'late': state.get('late'), 'notes': [n for n in state.get('notes', []) if n.startswith('late: ')][:3],
            'platform': {k: v for k, v in platform.items() if isinstance(v, (str, int, float, bool, type(None)))}}


def write(ch, assignment, states):
    """This chapter's exports, then the course-wide gradebooks. A student whose state cannot be
    shown is left out with a message; the others are written."""
    folder = GRADING / 'reports' / ch.id
    rows = []
    for state in states:
        try:
            if state.get('valid_id') is True:
                rows.append(row_of(state, assignment.max_score))
        except Exception as err:
            print(f'error: {safe_text(state.get("key"))} left out of the LMS exports: '
                  f'{type(err).__name__}: {safe_text(err, 200)}', file=sys.stderr)
    write_json(folder / 'lms.json', {'chapter': ch.id, 'assignment': ch.name, 'max': float(assignment.max_score),
                                     'rows': rows})
    late = [[r['student'], r['platform'].get('platform'), '; '.join(r['notes'])] for r in rows if r['late']]
    write_atomically(folder / 'late.csv', csv_text([['student', 'platform', 'why'], *late]))
    chapter = [{'assignment': ch.name, 'max': float(assignment.max_score), 'rows': rows}]
    write_atomically(folder / 'canvas_grades.csv', canvas_csv(chapter))
    write_atomically(folder / 'moodle_grades.csv', moodle_csv(chapter))
    for name, members in feedback_zips(ch, rows, folder / 'feedback').items():
        if members:
            write_atomically(folder / name, zipped(members))
    gathered = gather(GRADING / 'reports')
    write_atomically(GRADING / 'reports' / 'canvas_gradebook.csv', canvas_csv(gathered))
    write_atomically(GRADING / 'reports' / 'moodle_gradebook.csv', moodle_csv(gathered))
    print(f'lms:       {len(rows)} students in canvas_grades.csv, moodle_grades.csv and feedback zips; '
          f'{len(late)} late (late.csv); course-wide: reports/canvas_gradebook.csv, '
          f'reports/moodle_gradebook.csv ({len(gathered)} chapters)')


def gather(reports):
    """Every chapter's lms.json under `reports`, in chapter order; unreadable ones are said."""
    found = []
    for path in sorted(reports.glob('ch*/lms.json')):
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get('rows'), list):
            print(f'error: {path} is unreadable; its chapter is left out of the course-wide gradebooks',
                  file=sys.stderr)
            continue
        found.append(data)
    return found


def students(chapters):
    """{key: latest row} over all chapters, in first-seen order, and {key: {assignment: score}}."""
    people, scores = {}, {}
    for chapter in chapters:
        for row in chapter['rows']:
            people[row['key']] = {**people.get(row['key'], {}), **{k: v for k, v in row.items() if v is not None},
                                  'platform': {**people.get(row['key'], {}).get('platform', {}), **row['platform']}}
            scores.setdefault(row['key'], {})[chapter['assignment']] = row['score']
    return people, scores


def canvas_ids(row):
    """(Student, ID, SIS User ID, SIS Login ID, Section) of one student: the Canvas user id if
    the submission came from Canvas; the sid and email from Gradescope; the folder name as the
    SIS login id for the folder layout (which has no platform ids)."""
    platform = row['platform']
    name = platform.get('display_name') or row['student']
    kind = platform.get('platform')
    if kind == 'canvas':
        uid = platform.get('user_id', '')
        return [name, '' if uid.startswith('anon_') else uid, '', '', '']
    if kind == 'gradescope':
        return [name, '', platform.get('sid') or '', platform.get('email') or '', '']
    if kind == 'moodle':
        return [name, '', '', '', '']
    return [name, '', '', row['key'], '']


def canvas_csv(chapters):
    names = [c['assignment'] for c in chapters]
    people, scores = students(chapters)
    rows = [CANVAS_COLUMNS + names, ['    Points Possible', '', '', '', ''] + [float(c['max']) for c in chapters]]
    for key, row in people.items():
        rows.append(canvas_ids(row) + [_score(scores[key].get(n)) for n in names])
    return csv_text(rows)


def moodle_csv(chapters):
    """Moodle's gradebook import maps one column to a user field: Username holds the folder
    name (folder layout), Email address and ID number Gradescope's email and sid. A Moodle
    download names a participant only by the assignment's participant number, which no user
    field holds: it is given as "Participant N", the form Moodle's grading worksheet uses."""
    names = [c['assignment'] for c in chapters]
    people, scores = students(chapters)
    rows = [MOODLE_COLUMNS + names]
    for key, row in people.items():
        platform, kind = row['platform'], row['platform'].get('platform')
        ident = f'Participant {platform["participant_id"]}' if kind == 'moodle' else ''
        email = platform.get('email') or '' if kind == 'gradescope' else ''
        number = platform.get('sid') or '' if kind == 'gradescope' else ''
        username = row['key'] if kind in (None, 'folder') else ''
        rows.append([platform.get('display_name') or row['student'], ident, email, number, username]
                    + [_score(scores[key].get(n)) for n in names])
    return csv_text(rows)


def _score(value):
    return '' if value is None else float(value)


def upload_name(text):
    """A file or folder name from an archive, safe as one zip member name component."""
    return re.sub(r'[\x00-\x1f/\\]', '_', safe_text(text, 200)).lstrip('.') or '_'


def feedback_zips(ch, rows, pages):
    """{zip name: {member name: page path}} for each platform's bulk feedback upload."""
    zips = {'feedback_canvas.zip': {}, 'feedback_moodle.zip': {}, 'feedback_folders.zip': {}}
    for row in rows:
        page, platform = pages / f'{row["key"]}.html', row['platform']
        if platform.get('platform') == 'canvas' and platform.get('upload_prefix'):
            zips['feedback_canvas.zip'][upload_name(f'{platform["upload_prefix"]}_{ch.name}_feedback.html')] = page
        elif platform.get('platform') == 'moodle' and platform.get('folder'):
            zips['feedback_moodle.zip'][f'{upload_name(platform["folder"])}/{ch.name}_feedback.html'] = page
        zips['feedback_folders.zip'][f'{upload_name(row["key"])}/{ch.name}_feedback.html'] = page
    return zips


def zipped(members):
    """A zip of {member name: file}; a page that is missing is left out (report.py said why)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as out:
        for name, path in sorted(members.items()):
            try:
                out.writestr(name, path.read_bytes())
            except OSError:
                continue
    return buffer.getvalue()
