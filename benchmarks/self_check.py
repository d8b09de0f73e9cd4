"""The student's self-check: what it costs beyond executing the notebook.

    .venv/bin/python benchmarks/self_check.py [ch01 ch04 ch10] [--repeats 3] [--full]

For each chapter, in a released folder with the reference answers typed into the student
edition, it times side by side, interleaved, (a) executing the merged notebook the way
check.py does (its own `execute`: a fresh kernel started, every cell run, the kernel shut
down) and (b) the whole command a student types, `python check.py NOTEBOOK`, in a fresh
process: Python's start-up, imports, reading the notebook by the grader's rules, merging,
copying the folder, executing, comparing and the report. The difference is the tool's
overhead, which must stay under 5 s. MINIMX_EPOCHS=1 (chapter 10's LeNet trains one epoch)
unless --full: the overhead does not depend on it.
"""
import argparse
import datetime
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tests'))

from core.chapters import chapter            # noqa: E402
from pipeline.release import release             # noqa: E402
from pipeline.schedule import Schedule           # noqa: E402
from redteam_cases import Chapter                # noqa: E402

LIMIT = 5.0


def load_tool(folder):
    """The released check.py as a module (its functions, with the folder's .course/)."""
    spec = importlib.util.spec_from_file_location(f'check_{folder.name}', folder / 'check.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_execution(tool, answers, info):
    """Seconds to execute the merged notebook as check.py does, kernel start and stop included."""
    run = tool.Run(tool.merged_notebook(answers), info)
    with tempfile.TemporaryDirectory(prefix='self-check-bench-') as tmp:
        tool.prepare_folder(Path(tmp))
        run.folder = tmp
        started = time.perf_counter()
        tool.execute(run, Path(tmp), lambda n, elapsed: None)
        return time.perf_counter() - started


def time_command(folder, notebook, env):
    started = time.perf_counter()
    result = subprocess.run([sys.executable, 'check.py', str(notebook)], cwd=folder, env=env,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if 'Exercises (visible checks)' not in result.stdout:
        sys.exit(f'check.py failed in {folder}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}')
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('chapters', nargs='*', default=['ch01', 'ch04', 'ch10'])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--full', action='store_true', help='train chapter 10 for its full five epochs')
    args = parser.parse_args()
    os.environ.pop('MINIMX_EPOCHS', None)
    if not args.full:
        os.environ['MINIMX_EPOCHS'] = '1'              # for both: the kernels inherit it
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    rows = []
    with tempfile.TemporaryDirectory(prefix='self-check-bench-') as tmp:
        for cid in args.chapters:
            ch = chapter(cid)
            folder = release(ch, Path(tmp) / ch.name, Schedule(datetime.date.today()))   # minimx shipped
            notebooks = Chapter(ch)
            notebooks.write(folder, notebooks.correct())
            notebook = folder / f'{ch.name}.ipynb'
            tool = load_tool(folder)
            info = tool.load_chapter()
            cells, metadata, _, _ = tool.read_submission(notebook, info)
            answers = tool.match_answers(cells, metadata).answers
            executing, command = [], []
            for _ in range(args.repeats):          # interleaved: the machine's noise hits both alike
                executing.append(time_execution(tool, answers, info))
                command.append(time_command(folder, notebook, env))
            rows.append((ch.id, statistics.median(executing), statistics.median(command)))
            print(f'  {ch.id}: executing {", ".join(f"{s:.2f}" for s in executing)} s; '
                  f'command {", ".join(f"{s:.2f}" for s in command)} s', file=sys.stderr)
    print(f'self-check overhead: medians of {args.repeats} interleaved runs, '
          f'{"full training" if args.full else "MINIMX_EPOCHS=1"}, {os.cpu_count()} cores')
    print(f'  {"chapter":8s} {"executing the notebook":>24s} {"python check.py":>16s} {"overhead":>9s}')
    for cid, executing, command in rows:
        print(f'  {cid:8s} {executing:22.2f} s {command:14.2f} s {command - executing:7.2f} s')
    worst = max(command - executing for _, executing, command in rows)
    print(f'largest overhead {worst:.2f} s (limit {LIMIT:g} s): {"within" if worst < LIMIT else "OVER"} the limit')
    return 0 if worst < LIMIT else 1


if __name__ == '__main__':
    sys.exit(main())
