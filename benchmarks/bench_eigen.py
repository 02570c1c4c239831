"""Speed and accuracy of `qwem.eigen.top_eigenpairs` (thick-restart block Krylov in JAX) against LAPACK,
`scipy.linalg.eigh(subset_by_index=...)`, at the same precision and in the same run, on the real target
matrix M* of the default corpus (V = 10,000, L = 16, d = 200).

Prints, for float32, float64 and mixed precision (float32 iterations + one float64 Rayleigh-Ritz step,
compared with float64 LAPACK): seconds (first call, which includes JAX compilation, and the best of the
warm calls), the speed-up ratio, the eigenvalue error and the rank-d reconstruction error against float64
LAPACK, and the benchmark scores of the resulting embeddings against those of the LAPACK embeddings.
Also counts the non-negative eigenvalues of M* (Sylvester's law of inertia on M = L D L^T).

With --sparse: M* as the sparse-plus-rank-one operator of `qwem.sparse_target` instead. At --V (10,000) one block
product (V x 32) with the dense matrix, the operator (JAX BCSR) and scipy.sparse, then the top-d eigenpairs from the
dense matrix and from the operator in the same run (their ratio, and how far apart they are); then at each of --sizes
(50,000 and 100,000: sparse counts, never a dense matrix) the operator alone, in float64 (with mixed=True
the float32 products stall above the residual bar at 50,000). Seconds are wall-clock and CPU (on a
shared machine the CPU seconds are the steadier number), peak memory is the process's maximum resident set.

    python benchmarks/bench_eigen.py [--V 10000] [--d 200] [--repeats 2] [--no-inertia] [--no-scores] [--json out.json]
    python benchmarks/bench_eigen.py --sparse [--V 10000] [--sizes 50000 100000] [--d 200] [--json out.json]

Run it on a quiet machine (load average well below the core count): LAPACK and XLA both use every core.
"""
import argparse
import os
import resource
import time

import jax
import numpy as np

from qwem.corpus import default_corpus
from qwem.counting import count_corpus
from qwem.eigen import dense_top_eigenpairs, inertia, reconstruction_error, top_eigenpairs
from qwem.storage import write_json_atomic
from qwem.target import target_matrix

from _machine import cpu_model


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
    ap.add_argument("--sparse", action="store_true", help="M* as sparse plus rank one (qwem.sparse_target)")
    ap.add_argument("--sizes", type=int, nargs="*", default=[50_000, 100_000], help="--sparse: V for the operator alone")
    a = ap.parse_args()
    if a.sparse: return sparse_main(a)
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


def cpu_timed(f):
    "(result, wall seconds, CPU seconds of this process)."
    t, c = time.perf_counter(), time.process_time(); out = f()
    return out, time.perf_counter() - t, time.process_time() - c


def peak_gib(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def product_times(M, op, repeats=5, b=32):
    "Best-of seconds for one (V, b) block product: dense (JAX), the operator (JAX BCSR), scipy.sparse on its S."
    import jax.numpy as jnp
    f = jax.jit(lambda A, X: A @ X)
    S = op.sparse()
    with jax.enable_x64(True):
        X = jnp.asarray(np.random.default_rng(0).standard_normal((M.shape[0], b)))
        Md, Xn = jnp.asarray(M), np.asarray(X)
        routes = {"dense (JAX)": lambda: f(Md, X).block_until_ready(), "operator (JAX BCSR)": lambda: f(op, X).block_until_ready(),
                  "scipy.sparse": lambda: S @ Xn}
        out = {}
        for name, g in routes.items():
            g(); out[name] = min(timed(g)[1] for _ in range(repeats))
    return out


def solve(A, d, **opts):
    "Top-d eigenpairs with timing: (vals, vecs, dict(wall_s, cpu_s, matvecs, deflated, converged))."
    (vals, vecs, info), wall, cpu = cpu_timed(lambda: top_eigenpairs(A, d, key=jax.random.key(0), info=True, **opts))
    return vals, vecs, dict(wall_s=wall, cpu_s=cpu, matvecs=info["matvecs"], deflated=info["deflated"],
                            converged=bool(info["converged"]))


def sparse_main(a):
    "--sparse: the operator against the dense matrix at a.V, then the operator alone at each of a.sizes."
    import scipy.sparse
    from qwem.sparse_counts import count_corpus_sparse
    from qwem.sparse_target import constant_mode_eigenvalue, sparse_target_operator
    print(f"{cpu_model()}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; jax {jax.__version__}")
    stream = default_corpus(progress=False)
    counts = count_corpus(stream, V=a.V, L=16, progress=False)
    P, Pi = counts.pair_probabilities(), counts.unigram_probabilities()
    del counts
    op = sparse_target_operator(scipy.sparse.csr_array(P), Pi)
    M = target_matrix(P, Pi); del P
    res = dict(V=a.V, d=a.d, cpu=cpu_model(), load_before=os.getloadavg()[0], nnz=op.nnz)
    res["product_s"] = pt = product_times(M, op)
    print(f"\nV = {a.V:,}, {op.nnz:,} non-zeros ({op.nnz / a.V**2:.1%}); one V x 32 float64 product, best of 5:")
    for name, t in pt.items(): print(f"{name:>20}: {t:.3f} s ({t / pt['operator (JAX BCSR)']:.2f}x the operator)")
    rows, sols = [], {}
    for name, A, opts in (("dense float64", M, {}), ("operator float64", op, {}), ("dense mixed", M, dict(mixed=True)),
                          ("operator mixed", op, dict(mixed=True))):
        vals, vecs, r = solve(A, a.d, **opts)
        rows.append(dict(solver=name, **r)); sols[name] = (vals, vecs)
    for kind in ("float64", "mixed"):
        (w0, v0), (w1, v1) = sols[f"dense {kind}"], sols[f"operator {kind}"]
        res[f"agreement_{kind}"] = dict(eig_err=float(np.max(np.abs(w1 - w0) / np.abs(w0))),
                                        recon_err=reconstruction_error(w0, v0, w1, v1))
    res["top_d"] = rows
    print(f"\ntop {a.d} at V = {a.V:,} ({'wall':>5} / CPU seconds):")
    for r in rows:
        base = next(x for x in rows if x["solver"] == "dense " + r["solver"].split()[-1])
        print(f"{r['solver']:>17}: {r['wall_s']:6.1f} / {r['cpu_s']:6.1f} s, {r['matvecs']} matvecs, "
              f"dense/this {base['wall_s'] / r['wall_s']:.2f}x wall, {base['cpu_s'] / r['cpu_s']:.2f}x CPU")
    for kind in ("float64", "mixed"):
        g = res[f"agreement_{kind}"]
        print(f"operator vs dense, {kind}: eigenvalues {g['eig_err']:.1e}, reconstruction {g['recon_err']:.1e}")
    del M, op, sols
    res["sizes"] = []
    for V in a.sizes:
        c, t_count, _ = cpu_timed(lambda: count_corpus_sparse(stream, V=V, L=16, progress=False))
        (op, t_build, _) = cpu_timed(lambda: sparse_target_operator(c.pair_probabilities(), c.unigram_probabilities()))
        del c
        vals, vecs, r = solve(op, a.d)      # float64: in float32 the constant and deflation terms cancel too coarsely past 10k
        est = constant_mode_eigenvalue(op)
        row = dict(V=V, nnz=op.nnz, count_s=t_count, build_s=t_build, **r, lambda_1=float(vals[0]), lambda_d=float(vals[-1]),
                   rayleigh=est["rayleigh"], second_order=est["second_order"], peak_gib=peak_gib())
        res["sizes"].append(row)
        print(f"\nV = {V:,}: {op.nnz:,} non-zeros ({op.nnz / V**2:.2%}); counts {t_count:.0f} s (cached after the first run), "
              f"operator built in {t_build:.1f} s")
        print(f"  top {a.d} (float64): {r['wall_s']:.1f} s wall / {r['cpu_s']:.1f} s CPU, {r['matvecs']} matvecs, "
              f"converged {r['converged']}; lambda_1 {vals[0]:.1f}, lambda_{a.d} {vals[-1]:.2f}")
        print(f"  lambda_min {r['deflated'][0] if r['deflated'] else float('nan'):.0f}; Rayleigh quotient along 1/sqrt(V) "
              f"{est['rayleigh']:.0f}, second order {est['second_order']:.0f}; peak memory so far {row['peak_gib']:.2f} GiB")
        del op, vals, vecs
    res["load_after"] = os.getloadavg()[0]
    print(f"\nload average {res['load_after']:.2f}; peak memory {peak_gib():.2f} GiB")
    if a.json: write_json_atomic(a.json, res, indent=1)


if __name__ == "__main__":
    main()
