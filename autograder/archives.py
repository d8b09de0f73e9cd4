"""Submissions as an LMS writes them: Canvas, Moodle and Gradescope zips, read in memory.

Each source yields `Entry`s: one per student (or one per file that maps to no student), with
a reader per file, so intake (intake.py) validates every source the same way. Nothing in an
archive is extracted, executed or imported: members are read into memory, each under a size
limit, and only the grader's own copy (store.py, by the grader's own names) reaches the disk.
A member that is unsafe (`..`, an absolute path, a symbolic link, oversized, compressed like a
zip bomb, encrypted, corrupt) is refused with a reason in that student's or that file's record.
An archive that cannot be read at all raises ArchiveError (the command's exit status 2).

The layouts, from the platforms' own code and the tools that read them:

- Canvas "Download Submissions": flat files `<name>[_LATE]_<user id>_<attachment id>_<file>`,
  where <name> is the sortable name lowercased and stripped to word characters, "LATE" marks
  a late submission and anonymous grading writes `anon_<id>` for the user id; text and URL
  entries are `<name>_<user id>_text.html` / `_link.html` (instructure/canvas-lms,
  lib/content_zipper.rb: get_filename, add_upload_submission). A re-submitted file of the same
  name gets a numbered suffix before its extension (`ch01_ndarray-1.ipynb`, as students report
  in nus-cs2103-AY2324S1/forum#459); the zip holds the current attempt only. Canvas writes no
  submission time into the zip (undocumented: we do not read the members' timestamps).
- Moodle "Download all submissions": a folder per participant,
  `<Full Name>_<participant id>_assignsubmission_file/<file>` (older releases end the folder in
  "_"; without "download as folders" the files are flat, `..._assignsubmission_file_<file>`);
  names have "_" replaced by spaces, so "_" separates the parts (moodle/moodle,
  mod/assign/classes/downloader.php, get_submission_prefix and load_submissionplugin_filelist).
  The participant id is the assignment's per-user number, not the user id. The zip carries
  the latest attempt only, and neither a submission time nor a late flag.
- Gradescope "Export Submissions": a folder per submission (`submission_<id>/`, possibly under
  one top folder) and `submission_metadata.yml`, keyed by folder name, giving `:submitters`
  (`:name`, `:sid`, `:email`), `:created_at` and `:history` (earlier attempts, each with its
  `:created_at`), as the scripts reading it show (e.g. the `:submitters`/`:history` readers
  found by the search tool). Gradescope documents the autograder's submission_metadata.json
  (gradescope-autograders.readthedocs.io, "Submission Metadata"), not this export file; its
  layout and its late flag are undocumented, so no late flag is read from it.
"""
import posixpath
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field

from autograder import archive_layouts as layouts
from autograder.notebook import MAX_NOTEBOOK_BYTES, SubmissionError, printable

MAX_MEMBERS = 20000
MAX_MEMBER_BYTES = MAX_NOTEBOOK_BYTES
MAX_TOTAL_BYTES = 4 << 30            # everything read from one archive, all members together
MAX_RATIO = 100                      # uncompressed / compressed beyond this is a zip bomb
MAX_METADATA_BYTES = 8 << 20
PLATFORMS = ('canvas', 'moodle', 'gradescope', 'folder')
JUNK = ('__MACOSX/',)                # what a Mac adds when an instructor re-zips a download


class ArchiveError(Exception):
    """The whole archive cannot be read; the message says why, for the instructor."""


@dataclass
class Entry:
    """One student's submission, or one file that maps to no student (`problem` says so)."""
    student_id: str                  # the store key if it is a usable id (intake.store_key)
    name: str                        # shown in reports
    files: dict = field(default_factory=dict)      # name -> reader() -> bytes (SubmissionError)
    refused: dict = field(default_factory=dict)    # name -> why it was not read
    notes: list = field(default_factory=list)
    platform: dict = field(default_factory=dict)   # platform, ids, display name, submitted_at, late
    problem: str = None              # why this entry cannot be graded at all
    id_source: str = 'folder name'   # what the student id was read from, for messages


MAX_NAME = 1000                      # characters of a member's name (the name patterns stay fast)


def unsafe_name(name):
    """Why a member's name is unsafe to use as a path, or None."""
    if len(name) > MAX_NAME:
        return f'a name of over {MAX_NAME} characters'
    if name.startswith('/') or re.match(r'[A-Za-z]:', name) or '\\' in name:
        return 'an absolute or Windows path'
    if '..' in name.split('/'):
        return 'a path with ".."'
    if '\x00' in name:
        return 'a name with a NUL byte'
    return None


class Archive:
    """An open zip whose members are checked before they are read, and read with limits."""

    def __init__(self, path):
        self.path, self.read_total = path, 0
        try:
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
            raise ArchiveError(f'{printable(path.name)} is not a readable zip archive '
                               f'({type(err).__name__}: {printable(str(err))})') from None
        if len(infos) > MAX_MEMBERS:
            raise ArchiveError(f'{printable(path.name)} holds {len(infos)} members; the limit is {MAX_MEMBERS}')
        self.members, self.refused, seen = {}, {}, set()
        for info in infos:
            name = info.filename
            if name.endswith('/') or name.startswith(JUNK) or posixpath.basename(name) == '.DS_Store':
                continue
            why = unsafe_name(name) or self._why_not_read(info)
            if name in seen:
                why = 'it appears twice in the archive'
                self.members.pop(name, None)
            seen.add(name)
            if why:
                self.refused[name] = why
            else:
                self.members[name] = info

    def close(self):
        self.zip.close()

    @staticmethod
    def _why_not_read(info):
        if stat.S_ISLNK(info.external_attr >> 16):
            return 'a symbolic link (never followed; submit the file itself)'
        if info.flag_bits & 0x1:
            return 'encrypted'
        if info.file_size > MAX_MEMBER_BYTES:
            return (f'{info.file_size / 2**20:.1f} MB; the limit is {MAX_MEMBER_BYTES >> 20} MB '
                    f'(clear large outputs and resubmit)')
        if info.file_size > 1 << 20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            return f'compressed {info.file_size // max(info.compress_size, 1)}:1 (a zip bomb)'
        return None

    def reader(self, name, limit=MAX_MEMBER_BYTES):
        """A function reading member `name`, at most `limit` bytes (its header may lie)."""
        info = self.members[name]

        def read():
            try:
                with self.zip.open(info) as member:
                    data = member.read(limit + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError,
                    NotImplementedError) as err:
                raise SubmissionError(f'{printable(name)} could not be read from the archive '
                                      f'({type(err).__name__}: {printable(str(err))})') from None
            if len(data) > limit:
                raise SubmissionError(f'{printable(name)} is larger than its zip header says and over '
                                      f'the limit of {limit >> 20} MB')
            self.read_total += len(data)
            if self.read_total > MAX_TOTAL_BYTES:
                raise SubmissionError(f'the archive holds more than {MAX_TOTAL_BYTES >> 30} GB of data; '
                                      f'{printable(name)} was not read')
            return data
        return read


def detect(archive):
    """The platform that wrote `archive`, from its member names; ArchiveError if unclear."""
    names = list(archive.members) + list(archive.refused)
    if any(posixpath.basename(n) == 'submission_metadata.yml' for n in names):
        return 'gradescope'
    counts = {'canvas': sum(bool(layouts.canvas_file(n)) for n in names),
              'moodle': sum(bool(layouts.moodle_member(n)) for n in names)}
    found = {platform: n for platform, n in counts.items() if n}
    if len(found) > 1:
        raise ArchiveError('the archive looks like both ' + ' and '.join(f'{p} ({n} files)' for p, n in found.items())
                           + '; pass --from canvas|moodle|gradescope|folder')
    if found:
        return next(iter(found))
    if names and all(n.count('/') == 1 for n in names):
        return 'folder'
    raise ArchiveError('cannot tell which platform wrote this archive (no Canvas, Moodle or Gradescope file '
                       'names, and not <student>/<file> folders); pass --from canvas|moodle|gradescope|folder')


def layout_scores(names):
    """(how many names fit Canvas's or Moodle's layout, how many the folder layout)."""
    folders = len(names) if names and all(n.count('/') == 1 for n in names) else 0
    return max(sum(bool(layouts.canvas_file(n)) for n in names), sum(bool(layouts.moodle_member(n)) for n in names)), \
        folders


def unwrap(archive):
    """A download an instructor unzipped and zipped again inside one folder (`submissions/...`)
    is read as if that folder were not there, when its names fit a layout better that way."""
    names = list(archive.members) + list(archive.refused)
    tops = {n.partition('/')[0] for n in names}
    if len(tops) != 1 or not all('/' in n for n in names):
        return
    cut = len(next(iter(tops))) + 1
    (lms_inside, folders_inside), (lms, _) = layout_scores([n[cut:] for n in names]), layout_scores(names)
    if lms_inside > lms or lms_inside == lms == 0 and folders_inside:
        archive.members = {n[cut:]: info for n, info in archive.members.items()}
        archive.refused = {n[cut:]: why for n, why in archive.refused.items()}


def entries(archive, platform=None):
    """(platform, [Entry]) of an open Archive; `platform` None detects it."""
    if platform != 'gradescope' and not any(posixpath.basename(n) == 'submission_metadata.yml'
                                            for n in archive.members):
        unwrap(archive)
    platform = platform or detect(archive)
    if platform not in PLATFORMS:
        raise ArchiveError(f'unknown platform {platform!r}; choose one of {", ".join(PLATFORMS)}')
    parse = {'canvas': layouts.canvas_entries, 'moodle': layouts.moodle_entries,
             'gradescope': layouts.gradescope_entries, 'folder': layouts.folder_entries}[platform]
    found = parse(archive)
    if not any(e.problem is None for e in found) and found:
        raise ArchiveError(f'no file in the archive has the {platform} layout '
                           f'(e.g. {printable(found[0].name)}); pass --from with the right platform')
    return platform, found
