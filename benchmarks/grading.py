"""Grading throughput: submissions per minute, one full chapter each, through ./course grade.

    .venv/bin/python benchmarks/grading.py [ch01] [--submissions 60] [--jobs 2]

Grades a folder of correct submissions (the reference answers pasted into the student
edition) in a scratch store, sandboxed as for a real class, and reports the rate of the
grading phase (the grader prints it), the reference run that computes every submission's
hidden cases, and the fixed costs of a batch.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tests'))

from core.chapters import chapter                  # noqa: E402
from core.environment import DETERMINISTIC_ENV         # noqa: E402
from redteam_cases import Chapter                      # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('chapter', nargs='?', default='ch01')
    parser.add_argument('--submissions', type=int, default=60)
    parser.add_argument('--jobs', type=int, default=os.cpu_count())
    args = parser.parse_args()
    ch = chapter(args.chapter)
    notebooks = Chapter(ch)
    with tempfile.TemporaryDirectory(prefix='grading-benchmark-') as tmp:
        subs = Path(tmp, 'submissions')
        for n in range(args.submissions):
            notebooks.write(subs / f'student{n:03d}', notebooks.correct())
        env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
        env.update(DETERMINISTIC_ENV, PYTHONPATH=str(ROOT), COURSE_GRADING=str(Path(tmp, 'grading')))
        started = time.monotonic()
        result = subprocess.run([sys.executable, '-m', 'cli', 'grade', str(subs), '--chapter', ch.id,
                                 '--jobs', str(args.jobs)], cwd=ROOT, env=env, capture_output=True, text=True)
        total = time.monotonic() - started
        if result.returncode:
            sys.exit(result.stdout[-2000:] + result.stderr[-2000:])
        rate = re.search(r'graded (\d+) in ([\d.]+) s \(([\d.]+)/min\)', result.stdout)
        reference = re.search(r'reference solution ready for \d+ sets of hidden cases \(([\d.]+) s\)', result.stdout)
        states = [json.loads(p.read_text()) for p in Path(tmp, 'grading', 'store', ch.id).glob('submissions/*/state.json')]
        seconds = sorted(s['timing']['seconds'] for s in states)
    print(f'{ch.id}: {args.submissions} submissions, {args.jobs} jobs, {os.cpu_count()} cores')
    print(f'  whole command         {total:6.1f} s (intake, nbgrader gradebook, reference run, reports included)')
    reference_seconds = float(reference.group(1)) if reference else 0.0
    per_submission = (reference_seconds + float(rate.group(2))) / args.submissions
    print(f'  reference run         {reference_seconds:6.1f} s (every submission\'s hidden cases, validation included)')
    print(f'  grading phase         {rate.group(2):>6} s  ->  {rate.group(3)} submissions/minute')
    print(f'  one submission        median {seconds[len(seconds) // 2]:.2f} s, max {seconds[-1]:.2f} s (sandbox to verdict)')
    print(f'  per submission        {per_submission:.3f} s of wall time (reference + grading phases / submissions, '
          f'{args.jobs} at a time)')


if __name__ == '__main__':
    main()
