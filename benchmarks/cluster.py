"""Grading throughput on a Dask LocalCluster: submissions per minute with 1 and 2 workers.

    .venv/bin/python benchmarks/cluster.py [ch01] [--submissions 16] [--rounds 2]

Grades one folder of correct submissions (the reference answers pasted into the student
edition) with `./course grade --cluster local --jobs N`, for N = 1 and 2 in turn (interleaved,
`--rounds` times each, each in a fresh store so that nothing is cached but the reference
run's records, which are computed before timing starts). It reports the grading phase's
rate, the median per worker count, and the ratio. On a 2-core machine two workers cannot
double the rate: the coordinator judges results and the machine does the rest.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tests'))

from core.chapters import chapter                  # noqa: E402
from core.environment import DETERMINISTIC_ENV         # noqa: E402
from redteam_cases import Chapter                      # noqa: E402


def grade(subs, grading, ch, workers):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(DETERMINISTIC_ENV, PYTHONPATH=str(ROOT), COURSE_GRADING=str(grading))
    result = subprocess.run([sys.executable, '-m', 'cli', 'grade', str(subs), '--chapter', ch.id, '--seed', '1',
                             '--cluster', 'local', '--jobs', str(workers)],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stdout[-2000:] + result.stderr[-2000:])
    seconds = float(re.search(r'graded \d+ in ([\d.]+) s', result.stdout).group(1))
    return seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('chapter', nargs='?', default='ch01')
    parser.add_argument('--submissions', type=int, default=16)
    parser.add_argument('--rounds', type=int, default=2)
    args = parser.parse_args()
    ch = chapter(args.chapter)
    notebooks = Chapter(ch)
    rates = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix='cluster-benchmark-') as tmp:
        subs = Path(tmp, 'submissions')
        for n in range(args.submissions):
            notebooks.write(subs / f'student{n:03d}', notebooks.correct())
        warm = Path(tmp, 'warm')
        grade(subs, warm, ch, 2)                 # the reference records, cached for every round
        for round_ in range(args.rounds):
            for workers in (1, 2):
                grading = Path(tmp, f'round{round_}-{workers}')
                shutil.copytree(warm / 'store' / ch.id / 'reference', grading / 'store' / ch.id / 'reference')
                seconds = grade(subs, grading, ch, workers)
                rates[workers].append(args.submissions / seconds * 60)
                print(f'  round {round_ + 1}, {workers} worker{"s" * (workers > 1)}: '
                      f'{args.submissions} in {seconds:.1f} s = {rates[workers][-1]:.0f}/min', flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f'{ch.id}: {args.submissions} submissions, {os.cpu_count()} cores, Dask LocalCluster, medians of '
          f'{args.rounds}: 1 worker {one:.0f}/min, 2 workers {two:.0f}/min, ratio {two / one:.2f}')


if __name__ == '__main__':
    main()
