"""Benchmark of qwem.counting on the default corpus (V = 10,000, L = 16, oov="drop").

Prints tokens/s, pair-updates/s and peak memory of `cooccurrence_counts` (raw and weighted counts), the
numba compile time (measured separately, in a fresh numba cache folder, before timing), and the ratio
against a straightforward numpy baseline measured in the same run: for each offset k, `np.bincount` of
`tok[:-k]*V + tok[k:]` over a batch of documents (pairs that cross a document masked out), accumulated
into a V*V int64 array, then symmetrised. The baseline computes raw counts only; the fast counter computes
raw and weighted counts. The script checks that both give identical raw counts.

Usage: python benchmarks/bench_counting.py [--V 10000] [--L 16] [--repeats 2] [--synthetic N_TOKENS] [--threads N]
Run it when the machine is quiet (`uptime` load < 1.5); it uses about 4 GB at V = 10,000 (the baseline
and the comparison hold a second and third V x V matrix; the fast counter alone stays under 2 GB).

With --sparse it benchmarks the sparse counter (qwem.sparse_counts, issue 12) instead: on the default corpus,
time, pair-updates/s, non-zeros and peak memory at V = 10k, 50k and 100k (--sparse-V), and the dense counter at
10k in the same run with the ratio; each count runs in its own process so that peak memories (ru_maxrss) do not
mix. The dense process then also counts sparse at 10k and checks that both agree exactly. Issue 12's target:
V = 100,000 in under 60 s on 2 cores with peak memory under 6 GB.

Usage: python benchmarks/bench_counting.py --sparse [--sparse-V 10000 50000 100000] [--repeats 2]
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time

# a fresh numba cache folder, so that the first call below measures a real compile (not a cache load)
os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="qwem-bench-numba-"))

import numpy as np
from _machine import cpu_model


def peak_rss_gb():
    "Peak resident set size of this process so far (resource.getrusage ru_maxrss, KiB on Linux)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def baseline_raw_counts(tokens, offsets, V, L, batch_tokens=1 << 24):
    "Raw symmetric counts by np.bincount per offset k over batches of whole documents."
    acc = np.zeros(V * V, np.int64)
    doc = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets))
    start = 0
    while start < len(tokens):  # batches end on a document boundary
        end = int(offsets[np.searchsorted(offsets, start + batch_tokens, side="right") - 1])
        if end <= start: end = int(offsets[np.searchsorted(offsets, start, side="right")])
        tok, dd = tokens[start:end].astype(np.int64), doc[start:end]
        for k in range(1, L + 1):
            same = dd[:-k] == dd[k:]
            acc += np.bincount(tok[:-k][same] * V + tok[k:][same], minlength=V * V)
        start = end
    acc = acc.reshape(V, V)
    acc += acc.T  # numpy buffers the overlapping transpose
    return acc


def load_stream(args):
    if args.synthetic:
        from qwem.counting import random_stream
        n_docs = args.synthetic // 1000
        return random_stream(n_docs, args.V, rng=np.random.default_rng(0), max_len=2000), f"synthetic Zipf stream, {n_docs:,} documents"
    from qwem.corpus import default_corpus
    ts = default_corpus()
    tokens, offsets = ts.restrict(args.V, oov="drop")
    return (tokens, offsets), f"default corpus {ts.fingerprint[:12]}"


def default_stream(V):
    "The default corpus restricted to V words in memory (no cache files written), and its fingerprint."
    from qwem.corpus import default_corpus, restrict_arrays
    ts = default_corpus(progress=False)
    tokens, offsets = restrict_arrays(ts.tokens, ts.offsets, V, oov="drop")
    return tokens, offsets, ts.fingerprint


def sparse_equals_dense(s, d):
    "Exact agreement of sparse and dense counts without a second V x V matrix: pattern, raw and weighted values."
    rows = np.repeat(np.arange(s.V), np.diff(s.raw.indptr))
    return (s.nnz == int(np.count_nonzero(d.raw)) and np.array_equal(d.raw[rows, s.raw.indices], s.raw.data)
            and np.array_equal(d.weighted[rows, s.raw.indices], s.weighted.data)
            and np.array_equal(s.unigram, d.unigram))


def worker(kind, V, L, repeats):
    "One count in this process (--worker): prints a JSON line with times, sizes and peak RSS."
    from qwem.counting import cooccurrence_counts
    from qwem.sparse_counts import sparse_cooccurrence_counts
    count = sparse_cooccurrence_counts if kind == "sparse" else cooccurrence_counts
    t0 = time.perf_counter()
    count(np.array([0, 1, 0], np.uint16), np.array([0, 3]), 2, 2, progress=False)
    compile_s = time.perf_counter() - t0
    tokens, offsets, fp = default_stream(V)
    rss0, times = peak_rss_gb(), []
    for r in range(repeats):
        if r: del c
        t0 = time.perf_counter()
        c = count(tokens, offsets, V, L, progress=False)
        times.append(time.perf_counter() - t0)
    out = dict(kind=kind, V=V, L=L, times=times, n_pairs=c.meta["n_pairs"], n_tokens=len(tokens),
               nnz=c.nnz if kind == "sparse" else int(np.count_nonzero(c.raw)), peak_gb=peak_rss_gb(), rss0_gb=rss0,
               compile_s=compile_s, fingerprint=fp, threads=c.meta["threads"])
    if kind == "dense":  # after the peak was taken: the sparse counts must equal these exactly
        out["sparse_equals_dense"] = sparse_equals_dense(sparse_cooccurrence_counts(tokens, offsets, V, L, progress=False), c)
    print(json.dumps(out))


def run_worker(kind, V, L, repeats):
    r = subprocess.run([sys.executable, __file__, "--worker", kind, "--V", str(V), "--L", str(L), "--repeats", str(repeats)],
                       capture_output=True, text=True)
    if r.returncode: sys.exit(f"{kind} worker at V={V} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def sparse_main(args):
    "Sparse counter at several V against the dense one at 10k, one process each."
    import numba
    with open("/proc/loadavg") as f: load = f.read().split()[0]
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()}, load average {load}")
    d = run_worker("dense", 10_000, args.L, args.repeats)
    print(f"input: default corpus {d['fingerprint'][:12]}, {d['n_tokens']:,} tokens at V = 10,000 (oov dropped), L = {args.L}; "
          f"best of {args.repeats}; peak = ru_maxrss of a process that holds only this count "
          f"(about {d['rss0_gb']:.2f} GiB before counting: Python, numba, the stream)")
    rows = [d] + [run_worker("sparse", V, args.L, args.repeats) for V in args.sparse_V]
    print(f"\n{'counter':8} {'V':>8} {'time s':>8} {'M pairs/s':>10} {'pairs':>13} {'non-zeros':>12} {'density':>8} {'peak GiB':>9}")
    for r in rows:
        t = min(r["times"])
        print(f"{r['kind']:8} {r['V']:>8,} {t:>8.2f} {r['n_pairs'] / t / 1e6:>10.1f} {r['n_pairs']:>13,} {r['nnz']:>12,} "
              f"{r['nnz'] / r['V']**2:>8.2%} {r['peak_gb']:>9.2f}")
    s10 = next((r for r in rows[1:] if r["V"] == 10_000), None)
    if s10: print(f"\nratio sparse / dense time at V = 10,000: {min(s10['times']) / min(d['times']):.2f}x on {cpu_model()} "
                  f"(peak memory {s10['peak_gb'] / d['peak_gb']:.2f}x)")
    print(f"sparse == dense exactly at V = 10,000 (raw, weighted, unigram, pattern): {d['sparse_equals_dense']}")
    big = [r for r in rows[1:] if r["V"] == 100_000]
    for r in big: print(f"issue 12 target at V = 100,000 (< 60 s, < 6 GB peak): {min(r['times']):.1f} s, {r['peak_gb']:.2f} GiB: "
                        f"{'met' if min(r['times']) < 60 and r['peak_gb'] < 6 else 'NOT met'}")
    if not d["sparse_equals_dense"]: sys.exit("sparse counts differ from the dense ones")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--V", type=int, default=10_000)
    p.add_argument("--L", type=int, default=16)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--synthetic", type=int, default=0, help="use a random Zipf stream of about N tokens")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="numba threads for the fast counter (default: all)")
    p.add_argument("--sparse", action="store_true", help="benchmark the sparse counter (issue 12) instead")
    p.add_argument("--sparse-V", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    p.add_argument("--worker", choices=["dense", "sparse"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker: return worker(args.worker, args.V, args.L, args.repeats)
    if args.sparse: return sparse_main(args)
    import numba
    from qwem.counting import cooccurrence_counts, _add_rows, _tiny_like
    if args.threads: numba.set_num_threads(args.threads)

    with open("/proc/loadavg") as f: load = f.read().split()[0]
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()} "
          f"(the size of the counter's thread pool), load average {load}")
    t0 = time.perf_counter()
    (tokens, offsets), what = load_stream(args)
    print(f"input: {what}: {len(tokens):,} tokens, {len(offsets) - 1:,} documents, V = {args.V:,}, "
          f"L = {args.L} (loaded in {time.perf_counter() - t0:.1f} s)")
    V, L = args.V, args.L

    t0 = time.perf_counter()
    tiny = _tiny_like(np.asarray(tokens), np.asarray(offsets))  # the stream's types: a read-only one compiles its own
    cooccurrence_counts(*tiny, 2, 2, progress=False)
    cooccurrence_counts(*tiny, 2, 2, progress=False, layout="separate")
    print(f"numba compile (fresh cache {os.environ['NUMBA_CACHE_DIR']}): {time.perf_counter() - t0:.1f} s "
          f"(cache hits {sum(_add_rows.stats.cache_hits.values())}, excluded from the timings below)")

    rss0 = peak_rss_gb()
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        c = cooccurrence_counts(tokens, offsets, V, L, progress=False)
        times.append(time.perf_counter() - t0)
        if r + 1 < args.repeats: del c
    fast = min(times)
    n_pairs = c.meta["n_pairs"]
    print(f"\nfast counter ({c.meta['layout']} layout, {c.meta['threads']} threads), raw + weighted counts:")
    print(f"  time          {fast:.2f} s (best of {args.repeats}: " + ", ".join(f"{t:.2f}" for t in times) + ")")
    print(f"  tokens/s      {len(tokens) / fast / 1e6:.1f} M")
    print(f"  pair-updates  {n_pairs / fast / 1e6:.0f} M pairs/s ({n_pairs:,} pairs at distance 1..{L}, each "
          f"adding to raw and weighted, both directions)")
    arrays = (c.raw.nbytes + c.weighted.nbytes) / 2**30
    print(f"  peak memory   {peak_rss_gb():.2f} GiB peak RSS of the whole process (ru_maxrss; "
          f"{rss0:.2f} GiB before counting: Python, numba, the token stream); result arrays {arrays:.2f} GiB")

    if args.no_baseline: return
    t0 = time.perf_counter()
    base = baseline_raw_counts(np.asarray(tokens), np.asarray(offsets), V, L)
    tb = time.perf_counter() - t0
    same = np.array_equal(base, c.raw)
    print(f"\nnumpy baseline (np.bincount per offset k, raw counts only): {tb:.2f} s, "
          f"{len(tokens) / tb / 1e6:.1f} M tokens/s")
    print(f"  identical raw counts: {same}")
    print(f"\nratio baseline / fast: {tb / fast:.1f}x on {cpu_model()} (the fast time includes the weighted counts)")
    if not same: sys.exit("raw counts differ from the baseline")


if __name__ == "__main__":
    main()
