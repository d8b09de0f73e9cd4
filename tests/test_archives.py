"""LMS archives in (autograder/archives.py): each platform's zip, built here in the layout the
platform writes (see archives.py for where each layout is documented), parsed fast and taken
in by the real intake; then one batch per platform through `./course grade`."""
import datetime
import json
import stat
import zipfile

import pytest

from autograder import archives
from autograder.archives import Archive, ArchiveError, entries
from autograder.intake import intake
from autograder.store import Store
from core.chapters import chapters

CH = chapters()[0]
NB = CH.student.read_bytes()
WANTED = f'{CH.name}.ipynb'


def make_zip(path, members, symlinks=(), method=zipfile.ZIP_DEFLATED):
    """A zip of {name: bytes}, plus symbolic-link members {name: target}."""
    with zipfile.ZipFile(path, 'w', method) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in dict(symlinks).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return path


def parsed(path, platform=None):
    archive = Archive(path)
    found, items = entries(archive, platform)
    return found, {e.student_id: e for e in items}, archive


def canvas_members():
    return {f'smithjane_1001_2001_{WANTED}': NB,
            f'doejohn_LATE_1002_2002_{WANTED}': b'{"old": 1}',
            f'doejohn_LATE_1002_2005_{CH.name}-1.ipynb': NB,
            'roeann_1003_text.html': b'<p>my answer</p>',
            'kimbo_1005_2008_a.ipynb': NB, 'kimbo_1005_2009_b.ipynb': NB,
            f'leeamy_1006_2010_{CH.name}-2.ipynb': NB,                   # the zip holds the current attempt only
            'notes.txt': b'what is this'}


def test_canvas_names_give_user_ids_late_flags_and_the_latest_resubmission(tmp_path):
    found, students, archive = parsed(make_zip(tmp_path / 'c.zip', canvas_members()))
    assert found == 'canvas'
    jane, john = students['1001'], students['1002']
    assert jane.platform == {'platform': 'canvas', 'user_id': '1001', 'display_name': 'smithjane', 'late': False,
                             'submitted_at': None, 'upload_prefix': 'smithjane_1001_2001', 'attachment_id': '2001'}
    assert john.platform['late'] is True and john.platform['attachment_id'] == '2005'
    assert john.platform['upload_prefix'] == 'doejohn_LATE_1002_2005'
    assert list(john.files) == [WANTED] and john.files[WANTED]() == NB           # the -1 file, under its name
    assert 'graded the latest' in john.notes[0]
    assert list(students['1003'].files) == ['text.html']
    amy = students['1006']
    assert list(amy.files) == [WANTED] and 'numbered this re-submission' in amy.notes[0]
    loose = [e for e in students.values() if e.problem]
    assert len(loose) == 1 and 'notes.txt' in loose[0].problem and 'maps to no student' in loose[0].problem
    archive.close()


def test_a_download_zipped_again_inside_a_folder_reads_the_same(tmp_path):
    members = {f'submissions/{name}': data for name, data in canvas_members().items()}
    found, students, archive = parsed(make_zip(tmp_path / 'c.zip', members))
    assert found == 'canvas' and list(students['1001'].files) == [WANTED] and students['1001'].files[WANTED]() == NB
    archive.close()
    found, students, archive = parsed(make_zip(tmp_path / 'f.zip', {f'alice/{WANTED}': NB}))   # one student
    assert found == 'folder' and list(students) == ['alice']
    archive.close()


def test_moodle_folders_give_participant_ids(tmp_path):
    members = {f'Jane Smith_501_assignsubmission_file/{WANTED}': NB,
               'Jane Smith_501_assignsubmission_onlinetext/onlinetext.html': b'<p>hi</p>',
               'John Doe_502_assignsubmission_file_/report.pdf': b'%PDF',
               f'Amy Lee_503_assignsubmission_file_{WANTED}': NB,            # without "download as folders"
               f'stray/{WANTED}': NB}
    found, students, archive = parsed(make_zip(tmp_path / 'm.zip', members))
    assert found == 'moodle'
    jane = students['501']
    assert sorted(jane.files) == [WANTED, 'onlinetext/onlinetext.html'] and jane.name == 'Jane Smith'
    assert jane.platform == {'platform': 'moodle', 'participant_id': '501', 'display_name': 'Jane Smith',
                             'folder': 'Jane Smith_501_assignsubmission_file', 'late': None, 'submitted_at': None}
    assert list(students['502'].files) == ['report.pdf'] and list(students['503'].files) == [WANTED]
    assert 'maps to no student' in students[f'unmapped file stray/{WANTED}'].problem
    archive.close()


GRADESCOPE_YML = """\
submission_1001:
  :submitters:
  - :name: Jane Smith
    :sid: s1001
    :email: jane@uni.example
  :created_at: 2027-01-25 10:00:00.123456000 +00:00
  :score: 3.0
  :history:
  - :id: 900
    :created_at: 2027-01-20 09:00:00.000000000 +00:00
    :score: 1.0
submission_1002:
  :submitters:
  - :name: Bo Kim
    :sid:
    :email: bo@uni.example
  - :name: Ann Roe
    :sid: s1004
    :email: ann@uni.example
  :created_at: 2027-01-22 10:00:00.000000000 +00:00
  :history: []
submission_1003:
  :submitters:
  - :name: Gone
    :sid: s1003
  :created_at: 2027-01-22 10:00:00.000000000 +00:00
  :history: []
"""


def gradescope_zip(path, yml=GRADESCOPE_YML):
    root = 'assignment_42_export'
    return make_zip(path, {f'{root}/submission_metadata.yml': yml.encode(),
                           f'{root}/submission_1001/{WANTED}': NB,
                           f'{root}/submission_1002/{WANTED}': NB,
                           f'{root}/submission_9999/{WANTED}': NB})


def test_gradescope_metadata_gives_submitters_times_and_attempts(tmp_path):
    found, students, archive = parsed(gradescope_zip(tmp_path / 'g.zip'))
    assert found == 'gradescope'
    jane = students['s1001']
    assert jane.platform['submitted_at'] == '2027-01-25T10:00:00.123456+00:00'
    assert jane.platform['email'] == 'jane@uni.example' and jane.platform['submission_id'] == 'submission_1001'
    assert '2 attempts' in jane.notes[0] and 'graded the latest' in jane.notes[0]
    assert students['bo_at_uni.example'].files and 'group submission' in students['s1004'].notes[0]
    assert 'no files' in students['s1003'].problem
    assert any('submission_9999' in (e.problem or '') for e in students.values())
    archive.close()


def test_a_yaml_alias_bomb_is_refused_not_expanded(tmp_path):
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n'
    with pytest.raises(ArchiveError, match='aliases'):
        parsed(gradescope_zip(tmp_path / 'g.zip', bomb))


@pytest.mark.parametrize('content, why', [(b'not a zip at all', 'not a readable zip'),
                                          (None, 'not a readable zip')])
def test_an_unreadable_archive_is_an_error_for_the_command(tmp_path, content, why):
    path = tmp_path / 'x.zip'
    if content is None:                                  # a download cut short
        make_zip(path, canvas_members())
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(content)
    with pytest.raises(ArchiveError, match=why):
        Archive(path)


def test_an_unclear_platform_is_an_error(tmp_path):
    both = {f'smithjane_1001_2001_{WANTED}': NB, f'Jane Smith_501_assignsubmission_file/{WANTED}': NB}
    with pytest.raises(ArchiveError, match='both canvas .* and moodle'):
        parsed(make_zip(tmp_path / 'both.zip', both))
    with pytest.raises(ArchiveError, match='cannot tell which platform'):
        parsed(make_zip(tmp_path / 'none.zip', {WANTED: NB}))
    with pytest.raises(ArchiveError, match='no file in the archive has the moodle layout'):
        parsed(make_zip(tmp_path / 'c.zip', canvas_members()), 'moodle')


def test_unsafe_members_are_refused_each_in_its_students_record(tmp_path):
    members = {f'aa_1_11_{WANTED}': NB,                                       # fine
               f'bb_2_12_{WANTED}': b'\0' * (5 << 20),                          # 5 MB of zeros: a zip bomb
               f'cc_3_13_{WANTED}': b'x' * 10,                                 # corrupted below
               f'/abs_4_14_{WANTED}': NB, f'../up_5_15_{WANTED}': NB,
               'ee_7_17_' + 'x' * 1100 + '.ipynb': NB}
    path = make_zip(tmp_path / 'c.zip', members, symlinks={f'dd_6_16_{WANTED}': '/etc/passwd'})
    data = bytearray(path.read_bytes())
    at = data.index(b'cc_3_13_') + len(f'cc_3_13_{WANTED}')               # the local header's name ends here
    data[at + 2] ^= 0xFF                                                    # a byte of its compressed data
    path.write_bytes(bytes(data))
    store = Store(CH, root=tmp_path / 'grading')
    archive = Archive(path)
    _, items = entries(archive, 'canvas')
    states = {s['key']: s for s in intake(items, CH, store, 'fp')}
    assert states['1']['status'] == 'pending'
    assert 'zip bomb' in states['2']['message']
    assert states['3']['status'] == 'student_error' and 'could not be read from the archive' in states['3']['message']
    assert 'symbolic link' in states['6']['message']
    assert 'a name of over 1000 characters' in states['7']['message']
    unsafe = [s for s in states.values() if not s['valid_id']]
    assert len(unsafe) == 2 and all('maps to no student' in s['message'] for s in unsafe)
    assert not (tmp_path / 'etc').exists() and not (tmp_path.parent / f'up_5_15_{WANTED}').exists()
    archive.close()


def test_an_oversized_member_and_a_non_notebook_are_that_students_errors(tmp_path):
    members = {f'aa_1_11_{WANTED}': bytes(range(256)) * ((archives.MAX_MEMBER_BYTES >> 8) + 1),
               'bb_2_12_essay.pdf': b'%PDF-1.4'}
    path = make_zip(tmp_path / 'c.zip', members, method=zipfile.ZIP_STORED)
    archive = Archive(path)
    _, items = entries(archive)
    states = {s['key']: s for s in intake(items, CH, Store(CH, root=tmp_path / 'grading'), 'fp')}
    assert '20.0 MB; the limit is 20 MB' in states['1']['message']
    assert 'no notebook' in states['2']['message'] and 'essay.pdf' in states['2']['message']
    archive.close()


def test_intake_of_canvas_entries_marks_attempts_two_notebooks_and_lateness(tmp_path):
    archive = Archive(make_zip(tmp_path / 'c.zip', canvas_members()))
    _, items = entries(archive)
    states = {s['key']: s for s in intake(items, CH, Store(CH, root=tmp_path / 'grading'), 'fp',
                                          deadline=datetime.date(2027, 1, 24))}
    assert states['1001']['status'] == 'pending' and states['1001']['late'] is False
    assert states['1001']['student'] == 'smithjane (1001)'
    john = states['1002']
    assert john['status'] == 'pending' and john['late'] is True and john['platform']['attachment_id'] == '2005'
    assert any(n.startswith('late: Canvas marks') for n in john['notes'])
    assert '2 notebooks and none named' in states['1005']['message']
    assert 'no notebook' in states['1003']['message']
    archive.close()


def test_a_gradescope_time_after_the_deadline_is_late(tmp_path):
    archive = Archive(gradescope_zip(tmp_path / 'g.zip'))
    _, items = entries(archive)
    states = {s['key']: s for s in intake(items, CH, Store(CH, root=tmp_path / 'grading'), 'fp',
                                          deadline=datetime.date(2027, 1, 24))}
    assert states['s1001']['late'] is True and 'after the deadline 2027-01-24' in ' '.join(states['s1001']['notes'])
    assert states['s1004']['late'] is False
    saved = json.loads((tmp_path / 'grading' / 'store' / CH.id / 'submissions' / 's1001' / 'state.json').read_text())
    assert saved['platform']['sid'] == 's1001' and saved['late'] is True
    archive.close()


# -- one batch per platform through `./course grade`, as an instructor runs it ------------------
def correct_notebook():
    from redteam_cases import Chapter
    return json.dumps(Chapter(CH).correct()).encode()


def grade_archive(path, grading, *extra):
    from test_redteam import course_grade
    return course_grade(path, grading, *extra)


def report(grading, name):
    import csv
    with open(grading / 'reports' / CH.id / name, newline='') as f:
        return list(csv.reader(f))


@pytest.mark.slow
def test_a_canvas_download_is_graded_and_its_grades_go_back(tmp_path):
    good = correct_notebook()
    members = {f'smithjane_1001_2001_{WANTED}': good, f'doejohn_LATE_1002_2002_{WANTED}': b'{}',
               f'doejohn_LATE_1002_2005_{CH.name}-1.ipynb': good, 'roeann_1003_2003_essay.pdf': b'%PDF',
               'readme.txt': b'x'}
    result = grade_archive(make_zip(tmp_path / 'canvas.zip', members), tmp_path / 'grading')
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = {r[0]: r for r in report(tmp_path / 'grading', 'grades.csv')[1:]}
    jane = rows['smithjane (1001)']
    assert jane[1] == 'graded' and jane[2] == jane[3]                               # full marks
    assert rows['doejohn (1002)'][2] == rows['doejohn (1002)'][3]                   # the resubmission, full marks
    assert rows['roeann (1003)'][1] == 'student_error' and rows['readme.txt'][1] == 'student_error'
    canvas = report(tmp_path / 'grading', 'canvas_grades.csv')
    assert canvas[0][:5] == ['Student', 'ID', 'SIS User ID', 'SIS Login ID', 'Section']
    assert sorted(r[1] for r in canvas[2:]) == ['1001', '1002', '1003']
    assert report(tmp_path / 'grading', 'late.csv')[1][0] == 'doejohn (1002)'
    names = zipfile.ZipFile(tmp_path / 'grading' / 'reports' / CH.id / 'feedback_canvas.zip').namelist()
    assert f'doejohn_LATE_1002_2005_{CH.name}_feedback.html' in names


@pytest.mark.slow
def test_a_moodle_download_is_graded_by_participant(tmp_path):
    members = {f'Jane Smith_501_assignsubmission_file/{WANTED}': correct_notebook(),
               f'John Doe_502_assignsubmission_file/{WANTED}': b'not json',
               f'John Doe_502_assignsubmission_file/extra.ipynb': NB,
               f'Amy Lee_503_assignsubmission_file/a.ipynb': NB, 'Amy Lee_503_assignsubmission_file/b.ipynb': NB}
    result = grade_archive(make_zip(tmp_path / 'moodle.zip', members), tmp_path / 'grading')
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = {r[0]: r for r in report(tmp_path / 'grading', 'grades.csv')[1:]}
    assert rows['Jane Smith (501)'][1] == 'graded' and rows['Jane Smith (501)'][2] == rows['Jane Smith (501)'][3]
    assert rows['John Doe (502)'][1] == 'student_error' and 'not a Jupyter notebook' in rows['John Doe (502)'][-1]
    assert '2 notebooks' in rows['Amy Lee (503)'][-1]
    moodle = report(tmp_path / 'grading', 'moodle_grades.csv')
    assert ['Participant 501', 'Participant 502', 'Participant 503'] == sorted(r[1] for r in moodle[1:])
    names = zipfile.ZipFile(tmp_path / 'grading' / 'reports' / CH.id / 'feedback_moodle.zip').namelist()
    assert f'Jane Smith_501_assignsubmission_file/{CH.name}_feedback.html' in names


@pytest.mark.slow
def test_a_gradescope_export_is_graded_by_sid_and_a_broken_zip_is_exit_status_2(tmp_path):
    path = tmp_path / 'gradescope.zip'
    root = 'assignment_42_export'
    make_zip(path, {f'{root}/submission_metadata.yml': GRADESCOPE_YML.encode(),
                    f'{root}/submission_1001/{WANTED}': correct_notebook(),
                    f'{root}/submission_1002/notes.md': b'# no notebook'})
    result = grade_archive(path, tmp_path / 'grading')
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = {r[0]: r for r in report(tmp_path / 'grading', 'grades.csv')[1:]}
    assert rows['Jane Smith (s1001)'][1] == 'graded'
    assert rows['Ann Roe (s1004)'][1] == 'student_error' and 'no notebook' in rows['Ann Roe (s1004)'][-1]
    state = json.loads((tmp_path / 'grading' / 'store' / CH.id / 'submissions' / 's1001' / 'state.json').read_text())
    assert state['late'] is True and state['platform']['submitted_at'].startswith('2027-01-25')   # schedule.toml: 01-24
    assert any('2 attempts' in n for n in state['notes'])
    path.write_bytes(path.read_bytes()[:100])                                      # a download cut short
    broken = grade_archive(path, tmp_path / 'grading-2')
    assert broken.returncode == 2 and 'not a readable zip archive' in broken.stderr and 'Traceback' not in broken.stderr
