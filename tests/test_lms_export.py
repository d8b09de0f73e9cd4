"""Grades out (autograder/lms_export.py): the Canvas and Moodle CSVs and the feedback zips,
from states as intake and grading leave them; fast, no sandbox."""
import csv
import io
import json
import zipfile
from types import SimpleNamespace

from autograder import lms_export
from autograder.intake import new_state
from core.chapters import chapters

CH, CH2 = chapters()[0], chapters()[1]


def state(key, status='graded', scores=None, platform=None, late=None, student=None, notes=()):
    s = new_state(key, student or key, 'fp')
    s.update(status=status, scores=scores if scores is not None else {'t1': 1.0, 't2': 0.5},
             platform=platform or {'platform': 'folder'}, late=late, notes=list(notes))
    return s


CANVAS = {'platform': 'canvas', 'user_id': '1001', 'display_name': 'smithjane', 'late': True,
          'submitted_at': None, 'upload_prefix': 'smithjane_LATE_1001_2001', 'attachment_id': '2001'}
MOODLE = {'platform': 'moodle', 'participant_id': '501', 'display_name': '=HYPERLINK("x","y")',
          'folder': 'Jane Smith_501_assignsubmission_file', 'late': None, 'submitted_at': None}
GRADESCOPE = {'platform': 'gradescope', 'sid': 's9', 'email': 'bo@uni.example', 'display_name': 'Bo Kim',
              'submission_id': 'submission_1', 'late': None, 'submitted_at': '2027-01-25T10:00:00+00:00'}


def chapter_of(ch, states, max_score=4.0):
    return {'assignment': ch.name, 'max': max_score, 'rows': [lms_export.row_of(s, max_score) for s in states]}


def table(text):
    return list(csv.reader(io.StringIO(text)))


def test_canvas_gradebook_has_its_columns_points_possible_and_a_column_per_chapter():
    first = chapter_of(CH, [state('1001', platform=CANVAS, late=True), state('alice'),
                            state('s9', platform=GRADESCOPE), state('bob', status='infra_error')])
    second = chapter_of(CH2, [state('alice', scores={'t': 3.0}), state('carol', status='student_error', scores={})],
                        max_score=5.0)
    rows = table(lms_export.canvas_csv([first, second]))
    assert rows[0] == ['Student', 'ID', 'SIS User ID', 'SIS Login ID', 'Section', CH.name, CH2.name]
    assert rows[1] == ['    Points Possible', '', '', '', '', '4', '5']
    by_name = {r[0]: r for r in rows[2:]}
    assert by_name['smithjane'] == ['smithjane', '1001', '', '', '', '1.5', '']
    assert by_name['alice'] == ['alice', '', '', 'alice', '', '1.5', '3']           # folder name as the login id
    assert by_name['Bo Kim'][2:4] == ['s9', 'bo@uni.example']
    assert by_name['bob'][5] == '' and by_name['carol'][5:] == ['', '0']           # not graded: blank; error: 0


def test_moodle_grades_map_a_user_field_and_text_is_spreadsheet_safe():
    rows = table(lms_export.moodle_csv([chapter_of(CH, [state('501', platform=MOODLE), state('alice'),
                                                        state('s9', platform=GRADESCOPE)])]))
    assert rows[0] == ['Full name', 'Identifier', 'Email address', 'ID number', 'Username', CH.name]
    assert rows[1] == ['\'=HYPERLINK("x","y")', 'Participant 501', '', '', '', '1.5']
    assert rows[2] == ['alice', '', '', '', 'alice', '1.5']
    assert rows[3] == ['Bo Kim', '', 'bo@uni.example', 's9', '', '1.5']


def test_feedback_zips_use_each_platforms_upload_names(tmp_path):
    pages = tmp_path / 'feedback'
    pages.mkdir()
    states = [state('1001', platform=CANVAS), state('501', platform=MOODLE), state('alice'),
              state('x', platform={'platform': 'moodle', 'folder': '../../etc', 'participant_id': '7'})]
    for s in states:
        (pages / f'{s["key"]}.html').write_text(f'<p>{s["key"]}</p>')
    rows = [lms_export.row_of(s, 4.0) for s in states]
    zips = {name: zipfile.ZipFile(io.BytesIO(lms_export.zipped(members)))
            for name, members in lms_export.feedback_zips(CH, rows, pages).items()}
    assert zips['feedback_canvas.zip'].namelist() == [f'smithjane_LATE_1001_2001_{CH.name}_feedback.html']
    moodle = sorted(zips['feedback_moodle.zip'].namelist())
    assert moodle == [f'Jane Smith_501_assignsubmission_file/{CH.name}_feedback.html', f'_.._etc/{CH.name}_feedback.html']
    assert zips['feedback_moodle.zip'].read(moodle[0]) == b'<p>501</p>'
    assert f'alice/{CH.name}_feedback.html' in zips['feedback_folders.zip'].namelist()


def test_the_course_wide_gradebook_gathers_every_chapters_report(tmp_path):
    for ch, score in [(CH, 1.0), (CH2, 2.0)]:
        (tmp_path / ch.id).mkdir()
        (tmp_path / ch.id / 'lms.json').write_text(json.dumps(chapter_of(ch, [state('alice', scores={'t': score})])))
    (tmp_path / 'ch99').mkdir()
    (tmp_path / 'ch99' / 'lms.json').write_text('{not json')
    gathered = lms_export.gather(tmp_path)
    rows = table(lms_export.canvas_csv(gathered))
    assert rows[0][5:] == [CH.name, CH2.name] and rows[2] == ['alice', '', '', 'alice', '', '1', '2']


def test_write_puts_the_exports_beside_grades_csv(tmp_path, monkeypatch):
    monkeypatch.setattr(lms_export, 'GRADING', tmp_path)
    (tmp_path / 'reports' / CH.id / 'feedback').mkdir(parents=True)
    states = [state('1001', platform=CANVAS, late=True, notes=['late: Canvas marks this submission late']),
              state('alice')]
    lms_export.write(CH, SimpleNamespace(max_score=4.0), states)
    folder = tmp_path / 'reports' / CH.id
    assert table((folder / 'late.csv').read_text())[1] == ['1001', 'canvas', 'late: Canvas marks this submission late']
    assert (tmp_path / 'reports' / 'canvas_gradebook.csv').read_text() == (folder / 'canvas_grades.csv').read_text()
    assert {'lms.json', 'canvas_grades.csv', 'moodle_grades.csv', 'feedback_folders.zip'} <= {p.name for p in folder.iterdir()}
