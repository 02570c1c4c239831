"""Wall time of the three training stages of `qwem reproduce` against each other: gensim's word2vec (5 epochs, 2 workers),
our word2vec `cpu` preset and our QWEM `cpu` preset, on the default corpus at V = 10,000, d = 200, L = 16.

    python benchmarks/bench_stages.py              # 3 rounds (~10 min on 2 cores)
    python benchmarks/bench_stages.py --repeats 5 --json stages.json

Each stage runs in a fresh process, as in a cold `qwem reproduce` (JAX compiles its step again; numba's kernels come from
its on-disk cache, as after the first run of a fresh install), and is timed around the call that `qwem reproduce` makes:
`word2vec_column` for gensim, `train_corpus` into a new run folder for ours (checkpoints and vectors written, nothing
loaded from an earlier run). The corpus and its counts are read from the cache beforehand and not timed, as in the
pipeline, where they are stages of their own. The stages are interleaved (gensim, word2vec, QWEM, gensim, ...) because
this machine's speed varies up to 2x between minutes; each round gives the ratio (ours together) / gensim, and the median
of the rounds is the figure the issue's target reads: the two trainer stages take no longer than gensim's.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

from _machine import cpu_model

STAGES = ("gensim", "sgns", "qwem")


def run_stage(stage, folder):
    "In this (fresh) process: one stage, timed as the pipeline times it; returns its seconds."
    from qwem.cli import force_cpu_devices
    force_cpu_devices()                      # as `qwem reproduce` does, before JAX loads
    from qwem.experiments import open_corpus, preset, on_devices, train_corpus
    from qwem.counting import count_corpus
    from qwem.reproduce import word2vec_column
    ts = open_corpus("default", progress=False)
    counts = count_corpus(ts, 10_000, 16, progress=False)
    t = time.perf_counter()
    if stage == "gensim": word2vec_column(ts, 10_000, d=200, L=16, epochs=5, workers=2, seed=0, progress=False)
    else: train_corpus(on_devices(preset(stage, "cpu", d=200, L=16, seed=0)), ts, 10_000, counts=counts, folder=folder, progress=False)
    return time.perf_counter() - t


def stage_in_subprocess(stage):
    with tempfile.TemporaryDirectory(prefix=f"bench-stage-{stage}-") as d:
        out = subprocess.run([sys.executable, __file__, "--child", stage, "--folder", str(Path(d) / "run")],
                             capture_output=True, text=True, cwd=Path(__file__).parent)
        if out.returncode: raise RuntimeError(f"stage {stage} failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default: 3)")
    ap.add_argument("--json", help="write the per-round seconds and the medians here")
    ap.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(dict(seconds=run_stage(a.child, a.folder))))
        return
    from qwem.experiments import open_corpus
    from qwem.counting import count_corpus
    count_corpus(open_corpus("default"), 10_000, 16)    # build the caches the children read, untimed
    print(f"{cpu_model()}, {os.cpu_count()} cores; {a.repeats} interleaved rounds, each stage in a fresh process")
    rounds = []
    for r in range(a.repeats):
        sec = {s: stage_in_subprocess(s) for s in STAGES}
        sec["ratio"] = (sec["sgns"] + sec["qwem"]) / sec["gensim"]
        rounds.append(sec)
        print(f"round {r + 1}: gensim {sec['gensim']:6.1f} s   word2vec (ours) {sec['sgns']:6.1f} s   "
              f"QWEM (ours) {sec['qwem']:6.1f} s   ours / gensim {sec['ratio']:.2f}x", flush=True)
    med = {k: float(np.median([s[k] for s in rounds])) for k in rounds[0]}
    print(f"median: gensim {med['gensim']:.1f} s, word2vec {med['sgns']:.1f} s, QWEM {med['qwem']:.1f} s; "
          f"trainer stages / gensim's stage: {med['ratio']:.2f}x (median of the rounds' ratios; target <= 1)")
    if a.json:
        Path(a.json).write_text(json.dumps(dict(cpu=cpu_model(), cores=os.cpu_count(), rounds=rounds, median=med), indent=1))


if __name__ == "__main__":
    main()
