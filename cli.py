"""The course's one command line: ./course {build, release, publish, check, grade, gradescope}.

It sits above the two halves of the course, which never import each other: pipeline/
(building and releasing it) and autograder/ (grading it); both stand on core/.
"""
import argparse
import sys

from core.chapters import CELL_TIMEOUT, chapter
from core.environment import pin_environment

DESCRIPTION = """\
Deep Learning from Zero -- build, release, check and grade the course.

The solution notebooks in solutions/ are the single source of truth; everything else
(the minimx package, the student edition in book/, the site in _build/html) is generated
from them by `build`.
"""

GRADE_HELP = """\
Grade SUBMISSIONS/<student>/<notebook>.ipynb for one chapter, or the zip of submissions a
platform wrote: Canvas "Download Submissions", Moodle "Download all submissions", Gradescope
"Export Submissions" (detected from the names inside; --from chooses). An archive is read in
memory, never extracted or run. Each submission runs in its own bubblewrap sandbox (no network,
read-only system, unprivileged, killed at the end) under hard limits; scores are computed
outside the sandbox by comparing the student's results with the reference solution's on
hidden, seeded inputs. Every submission ends graded, student_error or infra_error. Exit
status: 0 when every submission ended graded or student_error; 1 if any ended infra_error (or
the gradebook could not be written); 2 for a usage error or an archive that cannot be read at
all (not a zip, truncated, unknown or ambiguous platform). With --cluster the sandboxes run on
a Dask cluster's workers. A rerun resumes where an interrupted run stopped and leaves graded
submissions alone.

Results: _grading/reports/chNN/ (grades.csv, feedback/, scores.png, attention.csv; for the
platforms canvas_grades.csv, moodle_grades.csv and feedback zips to upload), the course-wide
_grading/reports/canvas_gradebook.csv and moodle_gradebook.csv, and nbgrader's gradebook
_grading/gradebook.db (nbgrader generate_feedback / export work). Late submissions are marked
against schedule.toml's deadline and the platform's own late flag or time.
"""

EXAMPLES = """\
examples:
  ./course build                       execute changed notebooks, regenerate everything, build the site
  ./course build --force               re-execute every solution notebook (and the speed page) too
  ./course release ch01                make _build/releases/ch01/, the folder a student works in
  ./course publish out/ --as-of 2027-02-01   the site and student edition students get on that day
  ./course check ch01 my.ipynb         the student's self-check on my.ipynb: visible checks and outputs
  ./course grade submissions/          grade submissions/<student>/<notebook>.ipynb, each in a sandbox
  ./course grade subs/ --chapter ch02 --jobs 2 --cell-timeout 60
  ./course grade subs/ --cluster tcp://scheduler:8786   the sandboxes on a Dask cluster's workers
  ./course grade canvas-download.zip --chapter ch01   a Canvas, Moodle or Gradescope zip
  ./course gradescope ch01             write _build/gradescope/ch01-autograder.zip for Gradescope
"""


def main(argv=None):
    parser = argparse.ArgumentParser(prog='./course', description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')

    p = sub.add_parser('build', help='solutions -> outputs -> minimx -> student edition -> site')
    p.add_argument('--force', action='store_true', help='re-execute every solution notebook, and re-measure '
                   'the speed page (book/appendix/speed.ipynb)')
    p.add_argument('--no-site', action='store_true', help='skip the jupyter-book step')

    p = sub.add_parser('release', help='the folder a student gets for one chapter')
    p.add_argument('chapter', help='chapter id, e.g. ch01')
    p.add_argument('--to', metavar='DIR', help='where to write it (default _build/releases/chNN)')

    p = sub.add_parser('publish', help='write everything students get (the site and the student edition)')
    p.add_argument('out', help='the folder to write (OUT/site, OUT/student)')
    p.add_argument('--as-of', metavar='YYYY-MM-DD', help='publish as of this day (default today), by schedule.toml')
    p.add_argument('--no-site', action='store_true', help='skip the site (the student edition only)')

    p = sub.add_parser('check', help="a student's self-check (the chapter folder's check.py) on their notebook")
    p.add_argument('chapter', help='chapter id, e.g. ch01')
    p.add_argument('notebook', help="the student's notebook")

    p = sub.add_parser('grade', help='grade untrusted submissions: a folder per student, or an LMS zip',
                       description=GRADE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('submissions', help='folder holding <student>/<notebook>.ipynb, or a Canvas, Moodle or '
                   'Gradescope zip of submissions')
    p.add_argument('--from', dest='platform', choices=('canvas', 'moodle', 'gradescope', 'folder'),
                   help='which platform wrote the archive (default: detected from its contents)')
    p.add_argument('--chapter', help='chapter id (guessed from the notebook names if omitted)')
    p.add_argument('--jobs', type=int, metavar='N', help='submissions graded at once (default: one per core); '
                   'with --cluster local, the number of worker processes')
    p.add_argument('--cluster', metavar='ADDRESS', help='run the sandboxes on a Dask cluster: a scheduler\'s address '
                   '(tcp://host:8786) or "local" for a LocalCluster of --jobs workers here; intake, the reference '
                   'run, verdicts and reports stay in this process (see autograder/cluster.py)')
    p.add_argument('--seed', type=int, metavar='N', help='derive the key of the hidden test cases from N '
                   '(default: a random key made once per chapter and kept in _grading/; every submission\'s '
                   'cases are a keyed hash of its student id and notebook, so reruns agree)')
    p.add_argument('--cell-timeout', type=float, metavar='S', default=CELL_TIMEOUT,
                   help=f'CPU seconds one cell may use; twice that in wall time (default {CELL_TIMEOUT})')
    p.add_argument('--timeout', type=float, metavar='S',
                   help='wall seconds for a whole submission (default 3 x --cell-timeout)')
    p.add_argument('--memory', type=int, metavar='MB', default=3072, help='address space per process (default 3072)')
    p.add_argument('--sandbox', choices=('auto', 'bwrap', 'none'), default='auto',
                   help="auto: bubblewrap if it works here (default); bwrap: insist; none: limits only (unsafe)")

    p = sub.add_parser('gradescope', help="the zip Gradescope's autograder runs for one chapter (secret: "
                       "it holds the solutions)")
    p.add_argument('chapter', help='chapter id, e.g. ch01')
    p.add_argument('--out', metavar='FILE', help='where to write it (default _build/gradescope/chNN-autograder.zip)')

    args = parser.parse_args(argv)
    pin_environment()
    if args.command == 'build':
        from pipeline.build import build
        build(force=args.force, site=not args.no_site)
    elif args.command == 'release':
        from pipeline.release import release
        dest = release(chapter(args.chapter), args.to)
        print(f'released {args.chapter} into {dest}')
    elif args.command == 'publish':
        from pipeline.publish import publish
        from pipeline.schedule import parse_date
        publish(args.out, as_of=parse_date(args.as_of) if args.as_of else None, site=not args.no_site)
    elif args.command == 'check':
        from pipeline.check import check
        sys.exit(check(chapter(args.chapter), args.notebook))
    elif args.command == 'grade':
        from autograder.grade import grade
        from autograder.sandbox import Limits
        from pipeline.generate import generate
        limits = Limits(cell_seconds=args.cell_timeout, memory_mb=args.memory,
                        submission_seconds=args.timeout or 3 * args.cell_timeout)
        sys.exit(grade(args.submissions, args.chapter, jobs=args.jobs, seed=args.seed, limits=limits,
                       sandbox=args.sandbox, generate=generate, cluster=args.cluster,
                       platform=args.platform, deadlines=deadlines()))
    elif args.command == 'gradescope':
        from autograder.gradescope import write
        out = write(chapter(args.chapter), args.out)
        print(f'wrote {out}: upload it as the assignment\'s autograder (keep it private: it holds the '
              f'reference solution, the hidden tests and the grading key)')
    else:
        parser.print_help()


def deadlines():
    """{chapter id: deadline} from schedule.toml, for marking late submissions; a calendar
    that cannot be read is said, and grading goes on without deadlines."""
    from pipeline.schedule import load
    try:
        schedule = load()
    except SystemExit as err:
        print(f'warning: no deadlines for late submissions: {err}', file=sys.stderr)
        return {}
    return {cid: dates[1] for cid, dates in schedule.dates.items()}


if __name__ == '__main__':
    main()
