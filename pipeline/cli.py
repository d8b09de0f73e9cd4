"""The course's one command line: ./course {build, release, check, grade}."""
import argparse
import sys

from pipeline.chapters import chapter
from pipeline.execute import pin_environment

DESCRIPTION = """\
Deep Learning from Zero -- build, release, check and grade the course.

The solution notebooks in solutions/ are the single source of truth; everything else
(the minimx package, the student edition in book/, the site in _build/html) is generated
from them by `build`.
"""

EXAMPLES = """\
examples:
  ./course build                       execute changed notebooks, regenerate everything, build the site
  ./course build --force               re-execute every solution notebook too
  ./course release ch01                make _build/releases/ch01/, the folder a student works in
  ./course check ch01 my.ipynb         compare your notebook's outputs with the reference run
  ./course grade submissions/          autograde submissions/<student>/<notebook>.ipynb
"""


def main(argv=None):
    parser = argparse.ArgumentParser(prog='./course', description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')

    p = sub.add_parser('build', help='solutions -> outputs -> minimx -> student edition -> site')
    p.add_argument('--force', action='store_true', help='re-execute every solution notebook')
    p.add_argument('--no-site', action='store_true', help='skip the jupyter-book step')

    p = sub.add_parser('release', help='the folder a student gets for one chapter')
    p.add_argument('chapter', help='chapter id, e.g. ch01')
    p.add_argument('--to', metavar='DIR', help='where to write it (default _build/releases/chNN)')

    p = sub.add_parser('check', help="compare a student's outputs with the reference outputs")
    p.add_argument('chapter', help='chapter id, e.g. ch01')
    p.add_argument('notebook', help="the student's notebook")

    p = sub.add_parser('grade', help='autograde a folder of submissions (one folder per student)')
    p.add_argument('submissions', help='folder holding <student>/<notebook>.ipynb')
    p.add_argument('--chapter', help='chapter id (guessed from the notebook names if omitted)')

    args = parser.parse_args(argv)
    pin_environment()
    if args.command == 'build':
        from pipeline.build import build
        build(force=args.force, site=not args.no_site)
    elif args.command == 'release':
        from pipeline.release import release
        dest = release(chapter(args.chapter), args.to)
        print(f'released {args.chapter} into {dest}')
    elif args.command == 'check':
        from pipeline.check import check
        sys.exit(1 if check(chapter(args.chapter), args.notebook) else 0)
    elif args.command == 'grade':
        from autograder.grade import grade
        grade(args.submissions, args.chapter)
    else:
        parser.print_help()
