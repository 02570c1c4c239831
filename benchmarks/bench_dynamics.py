"""Time one full-batch gradient step on M* (qwem.dynamics.gradient_descent) at V = 10,000, d = 200, float32.

A step is W <- W - lr g (W (W^T W) - M W): one V x V x d product (M W, 2 V^2 d flop = 40 GFLOP at these sizes) plus
O(V d^2). The baseline, measured in the same run, is the same step written in plain numpy (BLAS, float32). The
script checks that both give the same W after the timed steps (the two records a run takes, at its first and last
step, are timed separately and subtracted), then prints seconds per step, GFLOP/s and the
ratio (baseline time / ours). M is a random symmetric matrix: the cost does not depend on its entries.

    python benchmarks/bench_dynamics.py [--V 10000] [--d 200] [--steps 5]

Run it when the machine is quiet (`uptime` load < 1.5); it holds two V x V float32 matrices (0.8 GB at V = 10,000).
"""
import argparse
import os
import time

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--V", type=int, default=10_000)
    p.add_argument("--d", type=int, default=200)
    p.add_argument("--steps", type=int, default=5, help="timed steps of each implementation")
    a = p.parse_args()
    import jax
    from qwem.dynamics import gradient_descent

    rng = np.random.default_rng(0)
    A = rng.standard_normal((a.V, a.V), dtype=np.float32) / np.float32(np.sqrt(a.V))
    M = (A + A.T) / np.float32(2)
    del A
    W0 = (1e-3 * rng.standard_normal((a.V, a.d))).astype(np.float32)
    lr = np.float32(0.01)

    Mj = jax.device_put(M)
    run = lambda n, rec, **kw: gradient_descent(Mj, W0, lr=lr, n_steps=n, record_steps=rec, progress=False, **kw)
    run(a.steps, [0, a.steps], record_weights=True); run(0, [0])  # compile both shapes first
    t = time.perf_counter()
    run(0, [0])
    t_record = time.perf_counter() - t  # one record (SVD of W, loss): the timed run below takes two
    t = time.perf_counter()
    ours = run(a.steps, [0, a.steps], record_weights=True)
    t_ours = (time.perf_counter() - t - 2 * t_record) / a.steps

    W = W0.copy()
    t = time.perf_counter()
    for _ in range(a.steps): W = W - lr * (W @ (W.T @ W) - M @ W)
    t_base = (time.perf_counter() - t) / a.steps

    np.testing.assert_allclose(ours.weights[-1], W, rtol=1e-3, atol=1e-6)
    flop = 2 * a.V**2 * a.d + 4 * a.V * a.d**2
    print(f"V = {a.V}, d = {a.d}, float32, {os.cpu_count()} CPUs, {a.steps} steps each, load {os.getloadavg()[0]:.2f}")
    print(f"qwem gradient_descent : {t_ours:.3f} s/step ({flop / t_ours / 1e9:.1f} GFLOP/s)")
    print(f"numpy baseline        : {t_base:.3f} s/step ({flop / t_base / 1e9:.1f} GFLOP/s)")
    print(f"ratio (baseline / ours): {t_base / t_ours:.2f}x")


if __name__ == "__main__":
    main()
