"""Tests of qwem.dynamics (closed form, time unit, exact gradient descent) and qwem.explorer (sliders).

What is awkward in the notebooks: an independent ODE integrator over random spectra, Monte Carlo checks of the
minibatch time unit for every normalisation, fault injection in the spectrum writer, and the HTML explorer driven in
headless Chromium (a standalone page, and the built docs site).
"""
import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

from qwem.dynamics import *
from qwem.explorer import *


# ---------------------------------------------------------------------------------------------- closed form
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_closed_form_matches_ode_integrator(seed):
    "Eq. 11 against solve_ivp on log s^2 (u' = lambda - e^u), over random spectra with tiny starts and negative lambdas."
    rng = np.random.default_rng(seed)
    lam = np.r_[rng.uniform(0.5, 10, 5), 0.0, -rng.uniform(0.1, 3, 3)]
    x0 = 10.0 ** rng.uniform(-20, -1, lam.size)
    ts = np.linspace(0, 40 / np.abs(lam[lam != 0]).min(), 50)
    sol = scipy.integrate.solve_ivp(lambda t, u: lam - np.exp(u), (0, ts[-1]), np.log(x0), t_eval=ts, rtol=1e-11, atol=1e-11,
                                    method="DOP853")
    np.testing.assert_allclose(np.log(squared_singular_value_trajectory(lam, x0, ts)), sol.y.T, atol=1e-7)


def test_rise_times_are_where_the_curve_crosses_half():
    rng = np.random.default_rng(3)
    lam, s0 = rng.uniform(0.5, 5, 6), np.sqrt(10.0 ** rng.uniform(-12, -3, 6))
    th = half_rise_times(lam, s0)
    x = np.array([squared_singular_value_trajectory(lam[k:k + 1], s0[k:k + 1] ** 2, [th[k]])[0, 0] for k in range(6)])
    np.testing.assert_allclose(x, lam / 2, rtol=1e-9)
    # the paper's tau_k differs from the exact half-rise time by ln(1 - s0^2/lambda)/lambda
    np.testing.assert_allclose(rise_times(lam, s0) - th, -np.log1p(-s0**2 / lam) / lam, rtol=1e-6, atol=1e-13)


def test_loss_trajectory_equals_eq6_on_the_matrices():
    "The loss formula (the rest of the spectrum cancels against the constant) against eq. 6 on explicit matrices."
    M, lam, Q = synthetic_target(50, key=jax.random.key(0), n_positive=10, negative_scale=2.0)
    d, s0, ts = 4, np.full(4, 1e-2), np.linspace(0, 10, 25)
    S = singular_value_trajectory(lam[:d], s0, ts)
    for g in (1.0, 2.5):
        direct = [g / 4 * (np.sum((Q[:, :d] * s**2 @ Q[:, :d].T - M) ** 2) - np.sum(M**2)) for s in S]
        np.testing.assert_allclose(loss_trajectory(lam[:d], s0, ts, g=g), direct, rtol=1e-8, atol=1e-8)


# ---------------------------------------------------------------------------------------------- the time unit
def _toy(V=10, key=0):
    A = jax.random.uniform(jax.random.key(key), (V, V)) ** 4
    P = (A + A.T) / jnp.sum(A + A.T)
    Pi = P.sum(1)
    psi = 1 / (P + jnp.outer(Pi, Pi))
    M = (P - jnp.outer(Pi, Pi)) / (0.5 * (P + jnp.outer(Pi, Pi)))
    return P, Pi, psi, M


def _minibatch_loss(W, key, P, Pi, psi, B, reduction):
    "B positives from P_ij, B negatives from P_i P_j, terms of eq. 3 weighted by Psi, normalised as `reduction`."
    V, (k1, k2, k3) = Pi.shape[0], jax.random.split(key, 3)
    ij = jax.random.choice(k1, V * V, (B,), p=P.ravel())
    i, j = ij // V, ij % V
    a, b = jax.random.choice(k2, V, (B,), p=Pi), jax.random.choice(k3, V, (B,), p=Pi)
    x, y = jnp.sum(W[i] * W[j], 1), jnp.sum(W[a] * W[b], 1)
    lp, ln = psi[i, j] * (x**2 / 4 - x), psi[a, b] * (y**2 / 4 + y)
    if reduction == "mean": return lp.mean() + ln.mean()
    if reduction == "mean_all": return jnp.concatenate([lp, ln]).mean()
    return lp.sum() + ln.sum()


@pytest.mark.parametrize("reduction", ["mean", "mean_all", "sum"])
def test_minibatch_gradient_matches_the_time_unit(reduction):
    """E[lr * grad of the minibatch loss] = (Delta t / 2)(WW^T - M*)W with Delta t = time_per_step(lr, ...):
    the step of the sampled trainer is an Euler step of the flow of exactly that length (5 standard errors)."""
    P, Pi, psi, M = _toy()
    B, g = 64, 3.0                                      # Psi scaled by 3: G = 3
    W = 0.5 * jax.random.normal(jax.random.key(1), (10, 3))
    grads = jax.vmap(lambda k: jax.grad(_minibatch_loss)(W, k, P, Pi, g * psi, B, reduction))(jax.random.split(jax.random.key(2), 6000))
    flow = 0.5 * (W @ (W.T @ W) - M @ W)                # -(dW/dt)
    want = time_per_step(1.0, g=g, batch_size=B, reduction=reduction) * flow
    z = (grads.mean(0) - want) / (grads.std(0) / np.sqrt(len(grads)) + 1e-12)
    assert float(jnp.abs(z).max()) < 5, float(jnp.abs(z).max())
    assert setting1_g(g * psi, g * psi, P, Pi) == pytest.approx(g, rel=1e-5)


def test_gd_time_schedule_and_inverse():
    lr = np.r_[np.full(30, 0.02), np.full(10, 0.002)]
    t = gd_time(np.arange(41), lr)
    np.testing.assert_allclose(np.diff(t), 2 * lr)
    np.testing.assert_allclose(gd_step_at_time(t, lr), np.arange(41), atol=1e-9)
    assert gd_time(7, 0.1, loss="mf") == pytest.approx(5.6)


def test_gradient_descent_matches_autodiff_steps():
    "Ten compiled steps against ten plain steps of jax.grad of eq. 6 (with its constant), and the recorded loss."
    M, lam, Q = synthetic_target(40, key=jax.random.key(3), n_positive=8)
    M = jnp.asarray(M, jnp.float32)
    W = 0.3 * jax.random.normal(jax.random.key(4), (40, 3))
    f = lambda W: 2.0 / 4 * (jnp.sum((W @ W.T - M) ** 2) - jnp.sum(M**2))
    tr = gradient_descent(M, W, lr=0.01, n_steps=10, g=2.0, record_steps=[0, 10], record_weights=True, progress=False)
    Wr = W
    for _ in range(10): Wr = Wr - 0.01 * jax.grad(f)(Wr)
    np.testing.assert_allclose(tr.weights[-1], Wr, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(tr.loss, [f(W), f(Wr)], rtol=1e-4, atol=1e-4)  # float32 difference of O(30) terms
    np.testing.assert_allclose(tr.t, [0, 10 * 2 * 2.0 * 0.01])


# ---------------------------------------------------------------------------------------------- gradient descent vs theory
def test_aligned_gradient_descent_is_first_order_accurate():
    """Aligned start: |s_k^2(GD) - s_k^2(eq. 11)| <= 1.5 lambda_k^2 ln(lambda_k/s_k(0)^2) Delta t / 16 (the Euler clock
    runs slow by lambda Delta t / 4; the logistic slope is at most lambda^2/4), and halving Delta t halves the error."""
    M, lam, Q = synthetic_target(60, key=jax.random.key(5), n_positive=12)
    d, s0 = 5, np.geomspace(2e-3, 1e-3, 5)
    errs = []
    for lr in (2e-3 / lam[0], 1e-3 / lam[0]):
        n = int(np.ceil(gd_step_at_time(1.3 * rise_times(lam[:d], s0).max(), lr)))
        tr = gradient_descent(M, Q[:, :d] * s0, lr=lr, n_steps=n, n_records=150, progress=False)
        err = np.abs(tr.singular_values**2 - squared_singular_value_trajectory(lam[:d], s0**2, tr.t)).max(0)
        assert np.all(err < 1.5 * lam[:d] ** 2 * np.log(lam[:d] / s0**2) / 16 * time_per_step(lr))
        errs.append(err)
    assert np.all((errs[0] / errs[1] > 1.8) & (errs[0] / errs[1] < 2.2))


@pytest.fixture(scope="module")
def random_runs():
    M, lam, Q = synthetic_target(120, key=jax.random.key(6), n_positive=30)
    d, runs = 4, {}
    for sigma2 in (1e-4, 1e-8, 1e-12):
        runs[sigma2] = random_init_run(M.astype(np.float32), lam, Q, d=d, sigma2=sigma2, key=jax.random.key(7),
                                       lr=0.005 / lam[0], t_max=1.4 * lam[0] / lam[d - 1], spacing="linear", n_records=161,
                                       reference_k=d, record_weights=True, progress=False)
    return lam, Q, runs


def test_random_init_deviation_shrinks_with_sigma2(random_runs):
    "Eq. 13: the Procrustes distance to the prediction shrinks as sigma^2 does (mean over t~; max over t~ with the QR start)."
    lam, Q, runs = random_runs
    dev = {k: [runs[s].deviation(k) for s in sorted(runs, reverse=True)] for k in ("svd", "qr")}
    mean_svd = [x.mean() for x in dev["svd"]]
    max_qr = [x.max() for x in dev["qr"]]
    assert np.all(np.diff(mean_svd) < 0), mean_svd
    assert np.all(np.diff(max_qr) < 0) and max_qr[-1] < 0.6 * max_qr[0], max_qr
    # the deviation really is measured up to a right-orthogonal transform: rotating W changes nothing
    r = runs[1e-8]
    R = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))[0]
    np.testing.assert_allclose(deviation_from_theory(r.trajectory.weights @ R, r.trajectory.t, r.eigenvalues, r.eigenvectors, r.W0),
                               r.deviation("svd"), rtol=1e-6, atol=1e-9)


def test_half_rise_times_follow_the_qr_start(random_runs):
    "Measured half-rise times match eq. 11 from the QR start (1%), and lag the paper's S(0) by ln(S_kk^2 / R_kk^2) / lambda_k."
    lam, Q, runs = random_runs
    r = runs[1e-12]
    meas = measured_half_rise_times(r.trajectory.t, r.trajectory.singular_values, r.eigenvalues)
    s_svd, s_qr = (initial_singular_values(r.W0, r.eigenvectors, kind=k) for k in ("svd", "qr"))
    np.testing.assert_allclose(meas, half_rise_times(r.eigenvalues, s_qr), rtol=0.01)
    np.testing.assert_allclose(meas - half_rise_times(r.eigenvalues, s_svd), np.log(s_svd**2 / s_qr**2) / r.eigenvalues, rtol=0.05)


def test_qr_start_of_the_first_k_needs_only_k_eigenvectors():
    "|R_kk| from V*[:, :k] equals the first k of |R_kk| from V*[:, :d] (Gram-Schmidt sees columns in order); k > d is refused."
    rng = np.random.default_rng(0)
    W0 = rng.normal(size=(40, 6)) * 1e-3
    Q = np.linalg.qr(rng.normal(size=(40, 40)))[0]
    full = initial_singular_values(W0, Q[:, :6], kind="qr")
    for k in (1, 3, 6):
        np.testing.assert_allclose(initial_singular_values(W0, Q[:, :k], kind="qr"), full[:k], rtol=1e-12)
    with pytest.raises(ValueError, match="k <= d"): initial_singular_values(W0, Q[:, :7], kind="qr")


def test_silent_alignment_precedes_the_rise(random_runs):
    "sin of the largest principal angle (top-k left singular vectors vs V*[:, :k]) is small by the onset of rise k."
    lam, Q, runs = random_runs
    tr = runs[1e-12].trajectory
    assert np.all(tr.misalignment[0] > 0.9)
    for k in range(3):
        onset = np.argmax(tr.singular_values[:, k] ** 2 > lam[k] / 10)
        assert onset > 0 and tr.misalignment[onset, k] < 0.15, (k, tr.misalignment[onset, k])
    # the compiled misalignment against scipy on the recorded weights
    for i in (40, 100):
        U = np.linalg.svd(tr.weights[i], full_matrices=False)[0]
        for k in (1, 2, 4):
            assert np.sin(scipy.linalg.subspace_angles(U[:, :k], Q[:, :k]).max()) == pytest.approx(tr.misalignment[i, k - 1], abs=2e-3)


# ---------------------------------------------------------------------------------------------- bad input
def test_errors_say_what_to_change():
    M = np.eye(5)
    with pytest.raises(ValueError, match="same V"): gradient_descent(M, np.ones((4, 2)), lr=0.1, n_steps=1)
    with pytest.raises(ValueError, match="n_steps=3"): gradient_descent(M, np.ones((5, 2)), lr=np.ones(2), n_steps=3)
    with pytest.raises(ValueError, match="record_steps"): gradient_descent(M, np.ones((5, 2)), lr=0.1, n_steps=3, record_steps=[5])
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        gradient_descent(100 * M, 0.1 * np.ones((5, 2)), lr=1.0, n_steps=50, progress=False)
    with pytest.raises(ValueError, match="batch_size"): time_per_step(0.1, reduction="sum")
    with pytest.raises(ValueError, match="leave g"): time_per_step(0.1, loss="mf", g=2.0)
    with pytest.raises(ValueError, match="reduction"): time_per_step(0.1, reduction="median")
    with pytest.raises(ValueError, match="> 0"): singular_value_trajectory([1.0], [0.0], [1.0])
    with pytest.raises(ValueError, match="1-D"): singular_value_trajectory([[1.0]], [[0.1]], [1.0])
    with pytest.raises(ValueError, match="eigenvectors"): initial_singular_values(np.ones((5, 2)), kind="qr")
    with pytest.raises(ValueError, match="probability distribution"): setting1_g(np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)), np.ones(2) / 2)
    with pytest.raises(ValueError, match="init"): expected_initial_singular_values(1e-3, 10, 2, init="zero")
    with pytest.raises(ValueError, match="descending"): dynamics_explorer_html([-1.0, 2.0], V=10)


# ---------------------------------------------------------------------------------------------- spectrum file
def test_spectrum_write_is_atomic(tmp_path, monkeypatch):
    "A crash while writing leaves the old file intact and no temp file behind."
    fn = tmp_path / "spec.json"
    save_spectrum(fn, [3.0, 2.0, 1.0], V=3)
    def boom(*a, **k): raise OSError("disk full")
    monkeypatch.setattr(json, "dump", boom)
    with pytest.raises(OSError, match="disk full"): save_spectrum(fn, [9.0, 8.0], V=2)
    monkeypatch.undo()
    lam, meta = load_spectrum(fn)
    assert lam.tolist() == [3.0, 2.0, 1.0] and meta == {"V": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a spectrum"): load_spectrum(tmp_path / "bad.json")


# ---------------------------------------------------------------------------------------------- sliders
def test_plot_dynamics_redraws_with_the_sliders():
    import matplotlib
    matplotlib.use("Agg")
    lam = 8.0 / np.arange(1, 21)
    fig_a = plot_dynamics(lam, V=100, d=5, sigma2=1e-6, lr=0.01)
    fig_b = plot_dynamics(lam, V=100, d=5, sigma2=1e-12, lr=0.01)
    fig_c = plot_dynamics(lam, V=100, d=8, sigma2=1e-12, lr=0.01)
    first = lambda f: f.axes[0].lines[0].get_xydata()
    assert not np.allclose(first(fig_a)[-1], first(fig_b)[-1])               # sigma^2 moves the time axis
    assert len(fig_c.axes[0].lines) > len(fig_b.axes[0].lines)                # d adds curves
    # the dotted GD curve (drawn after the d flow curves) approaches the flow as the learning rate shrinks
    def gd_gap(lr):
        a = plot_dynamics(lam, V=100, d=5, sigma2=1e-12, lr=lr, max_gd_steps=50_000).axes[0]
        flow, gd = a.lines[0].get_xydata(), a.lines[5].get_xydata()
        return np.abs(np.interp(gd[:, 0], flow[:, 0], flow[:, 1]) - gd[:, 1]).max()
    gaps = [gd_gap(lr) for lr in (0.01, 0.002, 0.0005)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.05 * np.sqrt(lam[0]), gaps
    box = dynamics_explorer(lam, V=100, d=5)
    sliders = box.children[0].children
    assert [s.description for s in sliders] == ["d", "σ²", "lr"]
    sliders[0].value = 7                                                      # redraws without error


def _explorer_state(page, root):
    text = page.locator(f"{root} .qwem-times").text_content()
    tau1 = float(re.search(r"τ₁ = ([0-9.e+-]+)", text).group(1))
    times = [float(x) for x in re.findall(r"(?<![₁\d.])(\d+\.\d+)", text.split("t/τ₁ =")[1])]
    return text, tau1, times, page.locator(f"{root} svg.qwem-sv path.curve").first.get_attribute("d")


def test_explorer_html_evaluates_eq11_in_the_page(tmp_path, browser_page):
    "The page's numbers equal the Python closed form, before and after moving each control."
    from docs_browser import assert_offline, move_slider, serve
    lam = 8.0 / np.arange(1, 31) ** 0.8
    html = dynamics_explorer_html(lam, V=500, d=6, log10_sigma2=-8).data
    (tmp_path / "index.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{html}</body></html>",
                                         encoding="utf-8")
    page = browser_page

    def expect(d, sigma2, init):
        s0 = expected_initial_singular_values(sigma2, 500, d, init=init)
        return half_rise_times(lam[:d], s0)[:8] / characteristic_time(lam[0], sigma2), characteristic_time(lam[0], sigma2)

    with serve(tmp_path) as url:
        page.goto(url + "index.html")
        text0, tau0, times0, path0 = _explorer_state(page, ".qwem-explorer")
        th, tau = expect(6, 1e-8, "qr")
        assert tau0 == pytest.approx(tau, rel=1e-3) and times0 == pytest.approx(th, abs=1e-3)
        move_slider(page.locator("input[name=log10_sigma2]"), -4)           # sigma^2: 1e-8 -> 1e-10
        _, tau1, times1, path1 = _explorer_state(page, ".qwem-explorer")
        th, tau = expect(6, 1e-10, "qr")
        assert path1 != path0 and tau1 == pytest.approx(tau, rel=1e-3) and times1 == pytest.approx(th, abs=1e-3)
        move_slider(page.locator("input[name=d]"), 3)                       # d: 6 -> 9
        assert page.locator(".qwem-explorer svg.qwem-sv path.curve").count() == 9
        _, _, times2, _ = _explorer_state(page, ".qwem-explorer")
        assert times2 == pytest.approx(expect(9, 1e-10, "qr")[0], abs=1e-3)
        page.select_option(".qwem-explorer select[name=init]", "svd")
        _, _, times3, _ = _explorer_state(page, ".qwem-explorer")
        assert times3 == pytest.approx(expect(9, 1e-10, "svd")[0], abs=1e-3)
        assert_offline(page, url)


def test_docs_site_explorer_slider_redraws(docs_site, browser_page):
    "In the built docs (no kernel), moving the sigma^2 slider of the explorer page redraws the curves."
    from docs_browser import assert_offline, goto, move_slider
    page = browser_page
    goto(page, docs_site + "explorer.html")
    root = page.locator(".qwem-explorer").first
    assert root.count() == 1, "the explorer page shows no .qwem-explorer output: were its inline scripts stripped?"
    rid = "#" + root.get_attribute("id")
    text0, _, _, path0 = _explorer_state(page, rid)
    assert "rank increments" in text0, "the explorer's script did not run in the docs page"
    move_slider(page.locator(f"{rid} input[name=log10_sigma2]"), 3)
    text1, _, _, path1 = _explorer_state(page, rid)
    assert path1 != path0 and text1 != text0
    move_slider(page.locator(f"{rid} input[name=d]"), -2)
    _, _, _, path2 = _explorer_state(page, rid)
    assert path2 != path1
    assert_offline(page, docs_site)
