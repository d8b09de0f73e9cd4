"""Timing helpers shared by the benchmarks: interleaved repetitions, medians, one table."""
import statistics
import time


def compare(contenders, repeats=30, warmup=3):
    """Time each zero-argument function `repeats` times, interleaved so that the machine's
    bursts of noise hit every contender alike; return {name: median seconds}."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in samples.items()}


def report(title, medians, baseline):
    print(title)
    for name, seconds in medians.items():
        ratio = seconds / medians[baseline]
        print(f'  {name:34s} {seconds * 1e3:9.3f} ms   {ratio:5.2f}x {baseline}')
