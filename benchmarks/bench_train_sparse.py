"""QWEM's trainer past V = 10,000 from sparse pairs: Setting 1 with P_ij as a scipy.sparse matrix (Psi kept on the observed
pairs only, an entries sampler over the non-zeros), against the dense tables at a V where they still fit, in the same run.

    python benchmarks/bench_train_sparse.py                      # V = 50,000 on the first 2M tokens of the default corpus
    python benchmarks/bench_train_sparse.py --V 50000 --tokens 2000000 --steps 20 --baseline-V 5000

The sparse pairs come from `sparse_pairs_literal`, the weighted pair distribution of the stream built with scipy (eq. 14's
weights, pairs never cross documents), checked first against the dense counter at --check-V. The full default corpus at
V = 50,000 needs the sparse counter of issue 12 part 1 (`qwem.sparse_counts`), so this run trains on a prefix of it.
Prints: the dense arrays' memory estimate and `check_dense_fits`'s refusal at V; build time, non-zeros, time and peak memory
of the sparse runs (the cpu preset, whose weights need no Psi lookup, and the paper's sampling, which looks Psi up for every
pair); and the time of sparse vs dense at --baseline-V with the relative difference of the trained W.
"""
import os
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import argparse, resource, time
import numpy as np
import scipy.sparse as sp
import jax
from qwem.corpus import default_corpus
from qwem.counting import cooccurrence_counts
from qwem.sampling import window_weights
from qwem.train_data import DenseTablesTooLarge, check_dense_fits, setting1_dense_bytes
from qwem.train import train
from qwem.experiments import preset
from qwem.config import configure
from _machine import cpu_model


def sparse_pairs_literal(tok, off, V, L, dynamic=True):
    "Weighted pair distribution P_ij (CSR, sums to 1) of a stream: every pair at distance k <= L inside a document, weight w_k, both orders."
    tok, off = np.asarray(tok, np.int64), np.asarray(off)
    doc = np.repeat(np.arange(len(off) - 1), np.diff(off))
    P = sp.csr_array((V, V))
    for k, w in enumerate(window_weights(L, dynamic), start=1):
        same = doc[:-k] == doc[k:]
        a, b = tok[:-k][same], tok[k:][same]
        P = P + sp.csr_array((np.full(2 * len(a), w), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(V, V))
    P.sum_duplicates()
    return P / P.sum()


def prefix(ts, V, n_tokens):
    "The restricted stream's first documents, about n_tokens tokens, without one-token documents (they hold no pair)."
    tok, off = ts.restrict(V)
    k = int(np.searchsorted(off, n_tokens))
    tok, off = tok[:off[k]], off[:k + 1]
    keep = np.diff(off) >= 2
    return tok[np.repeat(keep, np.diff(off))], np.concatenate([[0], np.cumsum(np.diff(off)[keep])])


def run(tok, off, V, config, P):
    Pi = np.bincount(tok, minlength=V) / len(tok)
    t0 = time.perf_counter()
    r = train(tok, off, V, config, counts=(P, Pi), progress=False, sync_every=config.steps)
    return r, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--V", type=int, default=50_000); ap.add_argument("--tokens", type=int, default=2_000_000)
    ap.add_argument("--steps", type=int, default=20); ap.add_argument("--baseline-V", type=int, default=5_000)
    ap.add_argument("--check-V", type=int, default=500)
    ap.add_argument("--lr", type=float, help="learning rate (default: the cpu preset's, times (10,000 / V)^2)")
    a = ap.parse_args()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; JAX {jax.__version__}")
    ts = default_corpus(progress=False)
    # the cpu preset's lr is set for V = 10,000; the exact negative term sums V^2 pairs of weight <= 1, so keep lr V^2 fixed
    lr_at = lambda V: a.lr if a.lr else float(preset("qwem", "cpu").lr) * (10_000 / V) ** 2
    cfg = preset("qwem", "cpu", steps=a.steps, n_log=2, lr=lr_at(a.V))

    tok, off = prefix(ts, a.check_V, 200_000)            # the literal against the dense counter
    dense = cooccurrence_counts(tok, off, a.check_V, cfg.L, progress=False).pair_probabilities(weighted=True)
    err = np.abs(sparse_pairs_literal(tok, off, a.check_V, cfg.L).toarray() - dense).max()
    print(f"check: sparse_pairs_literal vs the dense counter at V={a.check_V}: max |difference| {err:.1e}")
    assert err < 1e-15

    per_entry = setting1_dense_bytes(1, cfg.reweighting, cfg.devices)
    print(f"dense Setting 1 at V={a.V:,}: at least {a.V ** 2 * per_entry / 2**30:.1f} GiB ({per_entry} bytes per entry)")
    try: check_dense_fits(cfg, a.V); print("  check_dense_fits: fits on this machine")
    except DenseTablesTooLarge as e: print(f"  check_dense_fits refuses it: {str(e)[:160]}...")

    tok, off = prefix(ts, a.V, a.tokens)
    t0 = time.perf_counter(); P = sparse_pairs_literal(tok, off, a.V, cfg.L); t_build = time.perf_counter() - t0
    print(f"sparse pairs at V={a.V:,} on {len(tok):,} tokens: {P.nnz:,} non-zeros ({P.nnz / a.V ** 2:.2%}), built in {t_build:.1f} s")
    configs = {"cpu preset (entries, exact negatives)": cfg,
               "paper sampling (stream pairs, unigram negatives: Psi looked up per pair)": configure(cfg, positives="stream", negatives="unigram", n_neg=1)}
    for name, c in configs.items():
        r, sec = run(tok, off, a.V, c, P)
        moved = np.linalg.norm(r.W - r.snapshots[0]) / np.linalg.norm(r.snapshots[0])
        print(f"  {name}, lr {c.lr:.2g}: {a.steps} steps (B={c.B:,}) in {sec:.1f} s (compile included), finite loss {np.isfinite(r.losses).all()}, "
              f"W moved {moved:.0%}; peak memory of this process so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")

    tok, off = prefix(ts, a.baseline_V, a.tokens)
    P = sparse_pairs_literal(tok, off, a.baseline_V, cfg.L)
    for name, c in configs.items():
        times = {kind: run(tok, off, a.baseline_V, c, counts) for kind, counts in (("dense", P.toarray()), ("sparse", P))}
        W_d, W_s = times["dense"][0].W, times["sparse"][0].W
        rel = np.linalg.norm(W_d - W_s) / np.linalg.norm(W_d)
        print(f"V={a.baseline_V:,} (lr as above), {name}: sparse {times['sparse'][1]:.1f} s vs dense {times['dense'][1]:.1f} s for {a.steps} steps "
              f"(ratio {times['sparse'][1] / times['dense'][1]:.2f}); relative difference of W {rel:.1e}")


if __name__ == "__main__":
    main()
