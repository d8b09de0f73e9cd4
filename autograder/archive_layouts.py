"""The member names of each platform's archive, turned into one Entry per student.

archives.py says where each layout is documented (or that it is not). Every function here
takes an open archives.Archive and returns a list of archives.Entry; a member that names no
student becomes an Entry of its own whose `problem` says so, and nothing else is affected.
"""
import datetime
import posixpath
import re

import yaml

from autograder.notebook import SubmissionError, printable

# Canvas: <name>[_LATE]_<user id>_<attachment id>_<file>, or <name>[_LATE]_<user id>_text.html /
# _link.html. Canvas strips `_<digits>_` from names, so the first `_<id>_<id>_` ends the name.
CANVAS_FILE = re.compile(r'(?P<name>[^/]*?)_(?:(?P<late>LATE)_)?(?P<uid>\d+|anon_[A-Za-z0-9]+)_'
                         r'(?:(?P<attachment>\d+)_(?P<file>[^/]+)|(?P<kind>text|link)\.html)')
CANVAS_RESUBMISSION = re.compile(r'-(\d+)(?=\.ipynb$)')
# Moodle: names hold no "_" (Moodle turns it into a space), so "_" separates the parts.
MOODLE_PREFIX = r'(?P<name>[^_/]+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)'
MOODLE_FOLDER = re.compile(MOODLE_PREFIX + r'_?/(?P<file>.+)')
MOODLE_FLAT = re.compile(MOODLE_PREFIX + r'_(?P<file>[^/]+)')
GRADESCOPE_METADATA = 'submission_metadata.yml'


def canvas_file(name):
    return CANVAS_FILE.fullmatch(name)


def moodle_member(name):
    return MOODLE_FOLDER.fullmatch(name) or MOODLE_FLAT.fullmatch(name)


def unmapped(name, why, entry_type):
    """The Entry of a member that maps to no student."""
    return entry_type(f'unmapped file {name}', printable(name),
                      problem=f'the file {printable(name)} maps to no student ({why})', id_source='file name')


def _entry_type():
    from autograder.archives import Entry     # archives imports this module
    return Entry


def _add(entry, archive, member, as_name):
    """Give `entry` the member `member` under the name `as_name` (or its refusal)."""
    if member in archive.refused:
        entry.refused[as_name] = archive.refused[member]
    else:
        entry.files[as_name] = archive.reader(member)


def canvas_entries(archive):
    Entry, students, loose = _entry_type(), {}, []
    for member in sorted(list(archive.members) + list(archive.refused)):
        found = canvas_file(member)
        if not found:
            loose.append(unmapped(member, 'Canvas names files <name>_<user id>_<attachment id>_<file>', Entry))
            continue
        uid = found['uid']
        entry = students.setdefault(uid, Entry(uid, printable(found['name']) or uid, id_source='Canvas user id',
                                               platform={'platform': 'canvas', 'user_id': uid,
                                                         'display_name': printable(found['name']),
                                                         'late': False, 'submitted_at': None}))
        entry.platform['late'] |= bool(found['late'])
        file_name = found['file'] or f'{found["kind"]}.html'
        if found['attachment']:
            entry.platform.setdefault('attachments', {})[file_name] = found['attachment']
            entry.platform.setdefault('upload_prefix', member[:found.start('file')].rstrip('_'))
        _add(entry, archive, member, file_name)
    for entry in students.values():
        _latest_canvas_attempt(entry)
    return list(students.values()) + loose


def _latest_canvas_attempt(entry):
    """Of `x.ipynb`, `x-1.ipynb`, `x-2.ipynb` (re-submissions), keep the newest as `x.ipynb`."""
    attachments = entry.platform.get('attachments', {})
    groups = {}
    for name in entry.files:
        if name.endswith('.ipynb'):
            groups.setdefault(CANVAS_RESUBMISSION.sub('', name), []).append(name)
    for base, names in groups.items():
        if names == [base]:
            continue
        if len(names) == 1:              # the zip holds the current attempt only: x-2.ipynb alone
            entry.notes.append(f'Canvas numbered this re-submission {printable(names[0])}; graded as {printable(base)}')
            entry.files[base] = entry.files.pop(names[0])
            continue
        newest = max(names, key=lambda n: (int(attachments.get(n, 0)), n))
        entry.notes.append(f'Canvas holds {len(names)} versions of {printable(base)} '
                           f'({", ".join(printable(n) for n in sorted(names))}); graded the latest, {printable(newest)}')
        reader = entry.files[newest]
        for name in names:
            del entry.files[name]
        entry.files[base] = reader
        if newest in attachments:
            entry.platform['attachment_id'] = attachments[newest]
            prefix = entry.platform.get('upload_prefix', '')
            entry.platform['upload_prefix'] = re.sub(r'_\d+$', '_' + attachments[newest], prefix)
    entry.platform.setdefault('attachment_id', next(iter(attachments.values()), None))
    entry.platform.pop('attachments', None)


def moodle_entries(archive):
    Entry, students, loose = _entry_type(), {}, []
    for member in sorted(list(archive.members) + list(archive.refused)):
        found = moodle_member(member)
        if not found:
            loose.append(unmapped(member, 'Moodle names folders <Full Name>_<participant id>_assignsubmission_file',
                                  Entry))
            continue
        pid = found['pid']
        folder = member[:found.start('file')].rstrip('/')
        entry = students.setdefault(pid, Entry(pid, printable(found['name']), id_source='Moodle participant id',
                                               platform={'platform': 'moodle', 'participant_id': pid,
                                                         'display_name': printable(found['name']),
                                                         'folder': printable(folder).rstrip('_'),
                                                         'late': None, 'submitted_at': None}))
        name = found['file'] if found['plugin'] == 'file' else f'{found["plugin"]}/{found["file"]}'
        _add(entry, archive, member, name)
    return list(students.values()) + loose


def folder_entries(archive):
    """A zip of the folder layout, <student>/<file>."""
    Entry, students, loose = _entry_type(), {}, []
    for member in sorted(list(archive.members) + list(archive.refused)):
        student, _, name = member.partition('/')
        if not name:
            loose.append(unmapped(member, 'the folder layout is <student>/<notebook>.ipynb', Entry))
            continue
        entry = students.setdefault(student, Entry(student, printable(student), platform={'platform': 'folder'}))
        _add(entry, archive, member, name)
    return list(students.values()) + loose


def gradescope_entries(archive):
    Entry = _entry_type()
    metadata, root = read_gradescope_metadata(archive)
    folders = {}
    loose = []
    for member in sorted(list(archive.members) + list(archive.refused)):
        if member == posixpath.join(root, GRADESCOPE_METADATA):
            continue
        folder, _, name = member[len(root) + 1 if root else 0:].partition('/')
        if folder in metadata and name:
            folders.setdefault(folder, []).append((member, name))
        else:
            loose.append(unmapped(member, f'not in a submission folder that {GRADESCOPE_METADATA} lists', Entry))
    found = []
    for folder, record in sorted(metadata.items()):
        for submitter in record['submitters']:
            entry = _gradescope_entry(Entry, folder, record, submitter)
            for member, name in folders.get(folder, []):
                _add(entry, archive, member, name)
            if folder not in folders:
                entry.problem = f'Gradescope lists submission {printable(folder)}, but the export has no files for it'
            found.append(entry)
    return found + loose


def _gradescope_entry(Entry, folder, record, submitter):
    sid, email = submitter['sid'], submitter['email']
    student_id = sid or (email.replace('@', '_at_') if email else f'gradescope {folder}')
    entry = Entry(student_id, submitter['name'] or student_id,
                  id_source='Gradescope sid' if sid else 'Gradescope email',
                  platform={'platform': 'gradescope', 'submission_id': printable(folder), 'sid': sid, 'email': email,
                            'display_name': submitter['name'], 'late': None,
                            'submitted_at': _iso(record['created_at'])})
    if len(record['submitters']) > 1:
        others = [s['name'] or s['sid'] or '?' for s in record['submitters'] if s is not submitter]
        entry.notes.append(f'a group submission, shared with {", ".join(others)[:200]}')
    earlier = [a for a in record['history'] if a is not None]
    later = [a for a in earlier if record['created_at'] is not None and a > record['created_at']]
    if later:
        entry.notes.append(f'Gradescope lists {len(later)} attempt(s) after the exported one; graded the exported '
                           f'(active) submission of {_iso(record["created_at"])}')
    elif earlier:
        entry.notes.append(f'{len(earlier) + 1} attempts on Gradescope; graded the latest, '
                           f'submitted {_iso(record["created_at"])}')
    return entry


def _iso(moment):
    return moment.isoformat() if isinstance(moment, datetime.datetime) else None


def read_gradescope_metadata(archive):
    """({folder: {'submitters': [...], 'created_at': datetime|None, 'history': [datetime|None]}}, root)."""
    from autograder.archives import MAX_METADATA_BYTES, ArchiveError
    candidates = sorted((n for n in archive.members if posixpath.basename(n) == GRADESCOPE_METADATA),
                        key=lambda n: (n.count('/'), n))
    if not candidates:
        why = next((archive.refused[n] for n in archive.refused if posixpath.basename(n) == GRADESCOPE_METADATA),
                   'it is missing')
        raise ArchiveError(f'the Gradescope export\'s {GRADESCOPE_METADATA} cannot be read: {why}')
    member = candidates[0]
    try:
        text = archive.reader(member, MAX_METADATA_BYTES)().decode('utf-8')
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise ValueError('it uses YAML aliases, which an export does not')
        raw = yaml.safe_load(text)
    except (SubmissionError, UnicodeDecodeError, ValueError, yaml.YAMLError, RecursionError) as err:
        raise ArchiveError(f'the Gradescope export\'s {GRADESCOPE_METADATA} cannot be read: '
                           f'{printable(str(err))[:300]}') from None
    if not isinstance(raw, dict):
        raise ArchiveError(f'the Gradescope export\'s {GRADESCOPE_METADATA} is not a mapping of submission folders')
    return {str(folder): _record(value) for folder, value in raw.items()}, posixpath.dirname(member)


def _record(value):
    """One submission's metadata, with every field checked (the file is untrusted)."""
    value = value if isinstance(value, dict) else {}
    submitters = value.get(':submitters') if isinstance(value.get(':submitters'), list) else []
    people = []
    for person in submitters[:20]:
        person = person if isinstance(person, dict) else {}
        text = {k: printable(str(person[f':{k}'])) if person.get(f':{k}') not in (None, '') else None
                for k in ('name', 'sid', 'email')}
        people.append(text)
    history = value.get(':history') if isinstance(value.get(':history'), list) else []
    return {'submitters': people or [{'name': None, 'sid': None, 'email': None}],
            'created_at': _moment(value.get(':created_at')),
            'history': [_moment(a.get(':created_at')) if isinstance(a, dict) else None for a in history[:1000]]}


def _moment(value):
    """An aware datetime from YAML's timestamp (or its text), else None."""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    return None
