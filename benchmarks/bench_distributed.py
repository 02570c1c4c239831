"""Benchmark of qwem.distributed_counts on the default corpus (V = 10,000, L = 16, oov="drop") against the
single-process counters, timed in the same run.

Routes, each timed `--repeats` times (the best is kept), the distributed ones on a LocalCluster of 2 worker
processes with 1 thread each on 127.0.0.1 (`--workers`), started and warmed up (imports, numba kernels loaded)
before timing; the cluster's start-up is printed separately:
  single sparse   `sparse_cooccurrence_counts` on the whole restricted stream, in this process (all cores)
  single dense    `cooccurrence_counts` (the counter `qwem count` uses), in this process (all cores)
  dist sparse     `distributed_counts(stream, sparse=True)`: each worker memory-maps the stream folder and counts
                  its document ranges with the sparse counter; partial sums are added on the workers
  dist dense      with --dense: the same with the dense counter per shard (16 V^2 bytes per worker: 1.6 GB at 10k)
Each worker's numba uses `--numba-threads` threads (default 1: 2 workers x 1 = the 2 cores of this machine; the
single-process counters use every core). The distributed counts are checked equal, bit for bit, to the
single-process ones. Wall time and CPU seconds (this process, plus every worker for the distributed routes:
CPU seconds show the work done, and move less than wall time on a shared, busy machine). Peak memory (VmHWM):
this process and each worker process.

Usage: QWEM_CACHE=/work/coldcache2 python benchmarks/bench_distributed.py [--V 10000] [--L 16] [--repeats 2]
       [--shards N] [--workers 2] [--numba-threads 1] [--dense] [--stream FOLDER]
Ratios only mean something against the baseline of the same run; run it when the machine is quiet.
"""
import argparse, os, resource, sys, time
from pathlib import Path

import numpy as np
from _machine import cpu_model


def peak_rss_gb():
    "Peak resident memory of the calling process (VmHWM; ru_maxrss can carry a parent's peak across fork)."
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def best_time(fn, repeats, cpu_seconds):
    "Best wall time of `repeats` calls, the CPU seconds of that call (`cpu_seconds()`: a running total), the last result."
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), cpu_seconds(); out = fn()
        best = min(best, (time.perf_counter() - t0, cpu_seconds() - c0))
    return best, out


def same(a, b):
    "Bit-for-bit equality of two counts objects (dense arrays, or CSR parts)."
    parts = lambda c: ((c.raw.indptr, c.raw.indices, c.raw.data, c.weighted.indptr, c.weighted.indices, c.weighted.data)
                       if hasattr(c.raw, "indptr") else (c.raw, c.weighted))
    return (type(a) is type(b) and all(np.array_equal(x, y) for x, y in zip(parts(a), parts(b)))
            and np.array_equal(a.unigram, b.unigram))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--V", type=int, default=10_000)
    p.add_argument("--L", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--shards", type=int, help="document ranges (default: one per worker, as distributed_counts)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--numba-threads", type=int, default=1)
    p.add_argument("--dense", action="store_true", help="also the distributed dense route (about 3.5 GB per worker at 10k)")
    p.add_argument("--stream", help="token-stream folder (default: $QWEM_CACHE/corpora/default)")
    a = p.parse_args()

    from distributed import Client, LocalCluster
    from qwem.corpus import TokenStream
    from qwem.counting import cooccurrence_counts
    from qwem.distributed_counts import distributed_counts
    from qwem.sources import cache_dir
    from qwem.sparse_counts import sparse_cooccurrence_counts

    ts = TokenStream.load(Path(a.stream) if a.stream else cache_dir() / "corpora" / "default")
    tokens, offsets = ts.restrict(a.V)
    print(f"{ts}\nV = {a.V:,}, L = {a.L}: {len(tokens):,} in-vocabulary tokens; CPU: {cpu_model()}, "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    V, L, R = a.V, a.L, a.repeats
    a.shards = a.shards or a.workers
    n = int(offsets[100])
    sparse_cooccurrence_counts(tokens[:n], offsets[:101], V, L, progress=False)  # loads the kernels before timing
    rows, here = {}, time.process_time  # CPU seconds of this process, all its threads
    rows["single sparse"], s_sparse = best_time(lambda: sparse_cooccurrence_counts(tokens, offsets, V, L, progress=False), R, here)
    rows["single dense"], s_dense = best_time(lambda: cooccurrence_counts(tokens, offsets, V, L, progress=False), R, here)
    if not a.dense: s_dense = None  # 1.6 GB: compared only with the distributed dense route

    t0 = time.perf_counter()
    with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      env={"NUMBA_NUM_THREADS": str(a.numba_threads)}) as cluster, Client(cluster) as client:
        client.wait_for_workers(a.workers)
        start = time.perf_counter() - t0
        distributed_counts(ts, V, L, client=client, shards=a.workers, progress=False)  # warm-up: imports, kernels
        warm = time.perf_counter() - t0 - start
        everywhere = lambda: here() + sum(client.run(time.process_time).values())  # this process and the workers
        rows["dist sparse"], d_sparse = best_time(
            lambda: distributed_counts(ts, V, L, client=client, shards=a.shards, progress=False), R, everywhere)
        if a.dense:
            rows["dist dense"], d_dense = best_time(
                lambda: distributed_counts(ts, V, L, client=client, shards=a.shards, sparse=False, progress=False), R,
                everywhere)
        worker_gb = sorted(client.run(peak_rss_gb).values())
    print(f"LocalCluster of {a.workers} x 1 thread (numba threads per worker: {a.numba_threads}): started in {start:.1f} s, "
          f"warm-up run {warm:.1f} s; {a.shards} shards")
    base = rows["single dense"][0]
    for name, (t, cpu) in rows.items():
        print(f"  {name:14s} {t:7.2f} s wall ({cpu:6.2f} CPU s)   {len(tokens) / t / 1e6:6.2f} M tokens/s   "
              f"{t / base:5.2f}x the single dense wall time")
    (ds, dc), (ss, sc) = rows["dist sparse"], rows["single sparse"]
    print(f"distributed / single, sparse counter: {ds / ss:.2f}x the wall time, {dc / sc:.2f}x the CPU seconds; "
          f"distributed sparse / single dense wall: {ds / base:.2f}x")
    ok = same(d_sparse, s_sparse) and (not a.dense or same(d_dense, s_dense))
    print(f"distributed counts equal the single-process counts bit for bit: {ok}")
    print(f"peak memory: this process {peak_rss_gb():.2f} GB; workers {', '.join(f'{g:.2f}' for g in worker_gb)} GB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
