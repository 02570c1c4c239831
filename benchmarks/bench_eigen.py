"""Speed and accuracy of `qwem.eigen.top_eigenpairs` (thick-restart block Krylov in JAX) against LAPACK,
`scipy.linalg.eigh(subset_by_index=...)`, at the same precision and in the same run, on the real target
matrix M* of the default corpus (V = 10,000, L = 16, d = 200).

Prints, for float32, float64 and mixed precision (float32 iterations + one float64 Rayleigh-Ritz step,
compared with float64 LAPACK): seconds (first call, which includes JAX compilation, and the best of the
warm calls), the speed-up ratio, the eigenvalue error and the rank-d reconstruction error against float64
LAPACK, and the benchmark scores of the resulting embeddings against those of the LAPACK embeddings.
Also counts the non-negative eigenvalues of M* (Sylvester's law of inertia on M = L D L^T).

    python benchmarks/bench_eigen.py [--V 10000] [--d 200] [--repeats 2] [--no-inertia] [--no-scores] [--json out.json]

Run it on a quiet machine (load average well below the core count): LAPACK and XLA both use every core.
"""
import argparse
import os
import time

import jax
import numpy as np

from qwem.corpus import default_corpus
from qwem.counting import count_corpus
from qwem.eigen import dense_top_eigenpairs, inertia, reconstruction_error, top_eigenpairs
from qwem.storage import write_json_atomic
from qwem.target import target_matrix


def timed(f):
    t = time.perf_counter(); out = f(); return out, time.perf_counter() - t


def embeddings(vals, vecs):
    "Eq. 7 from eigenpairs (column signs do not change W W^T, hence no benchmark score)."
    return vecs * np.sqrt(np.maximum(vals, 0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--V", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2, help="warm calls of the Krylov solver (best is reported)")
    ap.add_argument("--no-inertia", action="store_true", help="skip the count of non-negative eigenvalues")
    ap.add_argument("--no-scores", action="store_true", help="skip the benchmark scores of the embeddings")
    ap.add_argument("--json", help="also write the results to this file (atomically)")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; jax {jax.__version__} on {jax.devices()[0]}")
    stream = default_corpus(progress=False)
    counts = count_corpus(stream, V=a.V, L=16, progress=False)
    M64 = target_matrix(counts.pair_probabilities(), counts.unigram_probabilities())
    M32 = M64.astype(np.float32)
    del counts
    res = dict(V=a.V, d=a.d, load_before=os.getloadavg()[0])

    (w_ref, v_ref), t64 = timed(lambda: dense_top_eigenpairs(M64, a.d))
    (w32, v32), t32 = timed(lambda: dense_top_eigenpairs(M32, a.d))
    print(f"LAPACK subset eigh: float64 {t64:.1f} s, float32 {t32:.1f} s")
    res["lapack"] = dict(float64_s=t64, float32_s=t32,
                         float32_eig_err=float(np.max(np.abs(w32 - w_ref) / np.abs(w_ref))),
                         float32_recon_err=reconstruction_error(w_ref, v_ref, w32, v32))
    sols = {"lapack float64": (w_ref, v_ref), "lapack float32": (w32, v32)}

    rows = []
    for name, M, opts, base in (("float32", M32, {}, t32), ("float64", M64, {}, t64),
                                ("mixed", M64, {"mixed": True}, t64)):
        (vals, vecs, info), cold = timed(lambda: top_eigenpairs(M, a.d, key=jax.random.key(0), info=True, **opts))
        warm = min(timed(lambda: top_eigenpairs(M, a.d, key=jax.random.key(r + 1), **opts))[1] for r in range(a.repeats))
        eig_err = float(np.max(np.abs(vals - w_ref) / np.abs(w_ref)))
        rec_err = reconstruction_error(w_ref, v_ref, vals, vecs)
        rows.append(dict(solver=name, cold_s=cold, warm_s=warm, lapack_s=base, ratio_warm=base / warm,
                         ratio_cold=base / cold, matvecs=info["matvecs"], eig_err=eig_err, recon_err=rec_err,
                         converged=bool(info["converged"]), deflated=info["deflated"]))
        sols[f"krylov {name}"] = (vals, vecs)
    res["krylov"] = rows
    print(f"\n{'Krylov':>8} | {'first call':>10} | {'warm':>7} | {'LAPACK':>7} | {'speed-up':>8} | {'matvecs':>7} | "
          f"{'eig. err':>8} | {'recon. err':>10}")
    for r in rows:
        print(f"{r['solver']:>8} | {r['cold_s']:>8.2f} s | {r['warm_s']:>5.2f} s | {r['lapack_s']:>5.1f} s | "
              f"{r['ratio_warm']:>7.1f}x | {r['matvecs']:>7} | {r['eig_err']:>8.1e} | {r['recon_err']:>10.1e}")
    print(f"{'LAPACK float32 vs float64':>26}: eig. err {res['lapack']['float32_eig_err']:.1e}, "
          f"recon. err {res['lapack']['float32_recon_err']:.1e}")
    print("(mixed: float32 Krylov + one float64 Rayleigh-Ritz step, compared with float64 LAPACK; "
          "errors against float64 LAPACK; speed-up on warm calls, first call includes JAX compilation)")

    if not a.no_inertia:
        (inn, t_ldl) = timed(lambda: inertia(M64, method="ldl"))
        res["inertia"] = dict(inn, seconds=t_ldl)
        print(f"\ninertia of M* (LDL^T, {t_ldl:.0f} s): {inn['positive'] + inn['zero']:,} non-negative "
              f"({inn['positive']:,} positive, {inn['zero']} zero), {inn['negative']:,} negative eigenvalues")

    if not a.no_scores:
        from qwem.benchmarks import evaluate_all
        words = stream.vocab(a.V)
        scores = {}
        for name, (vals, vecs) in sols.items():
            r = evaluate_all(embeddings(vals, vecs), words)
            scores[name] = dict(analogies=r["analogies"]["accuracy"], men=r["men"]["score"],
                                wordsim353=r["wordsim353"]["score"], simlex999=r["simlex999"]["score"])
        res["scores"] = scores
        print(f"\n{'embeddings':>16} | {'analogies':>9} | {'MEN':>6} | {'WS353':>6} | {'SimLex':>6} | max |diff| vs LAPACK f64")
        ref = scores["lapack float64"]
        for name, s in scores.items():
            diff = max(abs(s[k] - ref[k]) for k in s)
            print(f"{name:>16} | {s['analogies']:>9.4f} | {s['men']:>6.4f} | {s['wordsim353']:>6.4f} | "
                  f"{s['simlex999']:>6.4f} | {diff:.1e}")
    res["load_after"] = os.getloadavg()[0]
    print(f"\nload average {res['load_after']:.2f}")
    if a.json: write_json_atomic(a.json, res, indent=1)


if __name__ == "__main__":
    main()
