"""The release calendar: which chapters students may see, and whose reference code they may have.

`schedule.toml` (at the repository root, edited by the instructor) gives each chapter a
release date and a deadline:

    [ch01]
    release = 2027-01-11
    deadline = 2027-01-24

As of a date, a chapter is *released* from its release date on (its page is on the site and
its folder in the student edition), and its reference code ships with later chapters only
once its deadline has passed; before that, a student who works ahead builds minimx from
their own answers. Without the file everything is released with all reference code, as the
course did before it had a calendar, and `publish` says so loudly.
"""
import datetime
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from core.chapters import ROOT, chapters

SCHEDULE = ROOT / 'schedule.toml'


@dataclass
class Schedule:
    as_of: datetime.date
    dates: dict = field(default_factory=dict)     # chapter id -> (release, deadline)
    path: Path = None                              # None: no calendar, everything released

    @property
    def explicit(self):
        return self.path is not None

    def released(self, ch):
        if not self.explicit:
            return True
        return ch.id in self.dates and self.dates[ch.id][0] <= self.as_of

    def past_deadline(self, ch):
        """The chapter's deadline has passed: its reference code may ship with later chapters."""
        if not self.explicit:
            return True
        return ch.id in self.dates and self.dates[ch.id][1] < self.as_of

    def release_date(self, ch):
        return self.dates.get(ch.id, (None, None))[0]

    def deadline(self, ch):
        return self.dates.get(ch.id, (None, None))[1]


def parse_date(text):
    try:
        return datetime.date.fromisoformat(str(text))
    except ValueError:
        raise SystemExit(f'error: {text!r} is not a date; write it as YYYY-MM-DD (for example 2027-01-11)') from None


def load(path=SCHEDULE, as_of=None):
    """The calendar in `path` as of `as_of` (a date, or today); SystemExit naming any problem."""
    as_of = as_of or datetime.date.today()
    path = Path(path)
    if not path.exists():
        return Schedule(as_of)
    try:
        data = tomllib.loads(path.read_text(encoding='utf-8'))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SystemExit(f'error: {path.name} is not valid TOML: {err}') from None
    known = {ch.id for ch in chapters()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SystemExit(f'error: {path.name} names chapters that do not exist: {", ".join(unknown)} '
                         f'(the chapters are {", ".join(sorted(known))})')
    dates = {}
    for cid, entry in data.items():
        if not isinstance(entry, dict) or set(entry) != {'release', 'deadline'}:
            raise SystemExit(f'error: {path.name}: [{cid}] needs exactly `release = YYYY-MM-DD` and '
                             f'`deadline = YYYY-MM-DD`')
        release, deadline = (entry[k] if isinstance(entry[k], datetime.date) else parse_date(entry[k])
                             for k in ('release', 'deadline'))
        if deadline < release:
            raise SystemExit(f'error: {path.name}: {cid} has its deadline ({deadline}) before its release ({release})')
        dates[cid] = (release, deadline)
    return Schedule(as_of, dates, path)


def describe(schedule):
    """Lines saying what is published as of the schedule's date."""
    if not schedule.explicit:
        return [f'WARNING: no {SCHEDULE.name}: every chapter is published, and every chapter\'s download '
                f'carries the reference code of all earlier chapters. Add {SCHEDULE.name} (see '
                f'pipeline/schedule.py) before publishing to a class.']
    lines = [f'release calendar {schedule.path.name}, as of {schedule.as_of}:']
    for ch in chapters():
        release, deadline = schedule.dates.get(ch.id, (None, None))
        if release is None:
            state = 'not in the calendar: not published'
        elif not schedule.released(ch):
            state = f'to be published on {release}'
        else:
            state = f'published (deadline {deadline}' + ('; its reference code now ships with later chapters)'
                                                         if schedule.past_deadline(ch) else ')')
        lines.append(f'  {ch.id}: {state}')
    return lines
