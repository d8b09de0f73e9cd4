"""Every benchmark with a `measure()`, in one run, into one JSON file for the book page.

    .venv/bin/python benchmarks/speed.py [--quick] [--threads N] [--out FILE]

Runs the modules named in BENCHMARKS one after the other in this process and writes
{'machine': ..., 'workloads': [...]} to FILE (default book/appendix/speed.json, which the
page "How fast is your minimx?", book/appendix/speed.ipynb, reads). Each workload is what
its module's `measure()` returned; see autograd_dot.py for the contract. A full run takes
minutes; --quick (about 20 s) is for tests, and says so in the file.

BLAS and PyTorch threads are set here, before numpy is imported, so that the run measures
the same thing from a shell and from `./course build` (whose environment pins one thread
for reproducible notebook outputs).
"""
import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The benchmarks the page shows, in the page's order. A module named here must define
# measure(quick=False); one that does not stops the run rather than vanish from the page.
BENCHMARKS = ['mlp_epoch', 'conv', 'autograd_overhead', 'autograd_dot']
RESULTS = ROOT / 'book' / 'appendix' / 'speed.json'
THREAD_VARIABLES = ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')
HEARTBEAT_SECONDS = 15


def measure_functions(names=BENCHMARKS):
    """{name: measure} for each benchmark module, or SystemExit naming the ones without it."""
    if str(ROOT) not in sys.path:      # run as a script, Python put benchmarks/ there, not the root
        sys.path.insert(0, str(ROOT))
    found = {name: getattr(importlib.import_module(f'benchmarks.{name}'), 'measure', None) for name in names}
    missing = [name for name, fn in found.items() if not callable(fn)]
    if missing:
        raise SystemExit(f'error: benchmarks/{missing[0]}.py has no measure(quick=False); every module in '
                         f'BENCHMARKS (benchmarks/speed.py) must define one, or leave the list')
    return found


def cpu_model():
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith(('model name', 'Model')):          # x86, then ARM
                return line.partition(':')[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas():
    """numpy's BLAS as it runs (threadpoolctl, when installed), else as numpy was built.
    Library names and versions only: file paths would name this machine's folders."""
    try:
        from threadpoolctl import threadpool_info
        return [{key: pool.get(key) for key in ('internal_api', 'version', 'num_threads', 'architecture')}
                for pool in threadpool_info() if pool.get('user_api') == 'blas']
    except ImportError:
        import numpy as np
        built = np.show_config(mode='dicts')['Build Dependencies']['blas']
        return [{'internal_api': built.get('name'), 'version': built.get('version'),
                 'num_threads': None, 'architecture': None}]


def machine(threads):
    import numpy as np
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    return {
        'cpu': cpu_model(),
        'cores': os.cpu_count(),
        'threads': threads,
        'python': platform.python_version(),
        'numpy': np.__version__,
        'blas': blas(),
        'torch': torch_version,
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
    }


class Heartbeat:
    """A line every HEARTBEAT_SECONDS while a benchmark runs, so a long one does not look hung."""

    def __init__(self, label):
        self.label, self.started, self.done = label, time.monotonic(), threading.Event()
        self.thread = threading.Thread(target=self.beat, daemon=True)

    def beat(self):
        while not self.done.wait(HEARTBEAT_SECONDS):
            print(f'    ... {self.label} still measuring ({time.monotonic() - self.started:.0f} s)', flush=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.seconds = time.monotonic() - self.started


def run(quick=False, threads=None):
    """Measure every benchmark; returns the dict that goes into the JSON file."""
    threads = threads or len(os.sched_getaffinity(0))
    os.environ.update({var: str(threads) for var in THREAD_VARIABLES})     # before numpy starts its BLAS
    functions = measure_functions()
    workloads = []
    started = time.monotonic()
    for number, (name, measure) in enumerate(functions.items(), 1):
        print(f'[{number}/{len(functions)}] {name}{" (quick)" if quick else ""}', flush=True)
        with Heartbeat(name) as beat:
            found = measure(quick=quick)['workloads']
        for workload in found:
            workloads.append(dict(workload, module=f'benchmarks/{name}.py'))
            medians = ', '.join(f'{who} {value:.4g} {workload["unit"]}' for who, value in workload['medians'].items())
            print(f'    {workload["name"]}: {medians}', flush=True)
        print(f'    done in {beat.seconds:.1f} s', flush=True)
    print(f'all benchmarks measured in {time.monotonic() - started:.1f} s', flush=True)
    return {'about': 'written by benchmarks/speed.py; read by book/appendix/speed.ipynb',
            'quick': quick, 'machine': machine(threads), 'workloads': workloads}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='a short run for tests (about 20 s): few repetitions')
    parser.add_argument('--threads', type=int, metavar='N',
                        help='BLAS and PyTorch threads (default: one per core this process may use)')
    parser.add_argument('--out', type=Path, default=RESULTS, metavar='FILE',
                        help='where to write the JSON (default book/appendix/speed.json)')
    args = parser.parse_args(argv)
    results = run(quick=args.quick, threads=args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    out = args.out.resolve()
    print(f'wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}')


if __name__ == '__main__':
    main()
