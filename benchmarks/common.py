"""Timing helpers shared by the benchmarks: interleaved repetitions, medians, one table."""
import statistics
import time


def interleaved(contenders, repeats=30, warmup=3):
    """Time each zero-argument function `repeats` times, interleaved so that the machine's
    bursts of noise hit every contender alike; return {name: [seconds of each repetition]}."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def compare(contenders, repeats=30, warmup=3):
    """interleaved(), as {name: median seconds}."""
    return {name: statistics.median(times) for name, times in interleaved(contenders, repeats, warmup).items()}


def compare_apart(contenders, own_pool=('torch',), **kwargs):
    """compare(), but the contenders named in `own_pool` each timed on their own afterwards.

    PyTorch runs on its own thread pool, numpy and minimx on OpenBLAS's. Interleaved at 2
    threads, whichever ran right after the other pool's last call found its threads still
    spinning on the cores: numpy's three 256x784x256 matmuls took 1.2 ms alone and 4.1 ms
    right after a PyTorch step. For workloads of milliseconds, then, the BLAS users are
    interleaved with each other and PyTorch is timed apart."""
    together = {name: fn for name, fn in contenders.items() if name not in own_pool}
    medians = compare(together, **kwargs)
    for name in own_pool:
        if name in contenders:
            medians.update(compare({name: contenders[name]}, **kwargs))
    return medians


def optional_torch(threads):
    """PyTorch set to `threads` threads, or None where it is not installed: it is a baseline of
    the benchmarks only, never a dependency of the course."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def report(title, medians, baseline):
    print(title)
    for name, seconds in medians.items():
        ratio = seconds / medians[baseline]
        print(f'  {name:34s} {seconds * 1e3:9.3f} ms   {ratio:5.2f}x {baseline}')
