"""Tests of qwem.explorer (the sliders of 03a_explorer) that are awkward in a notebook: fault injection in the spectrum
writer, the matplotlib figure redrawn by the slider callback, and the HTML explorer driven in headless Chromium (a
standalone page, and the built docs site). The closed form, the time unit and gradient descent are checked in
03_dynamics and 03b_random_init."""
import json, os
import re

import numpy as np
import pytest

from qwem.dynamics import *
from qwem.explorer import *


# ---------------------------------------------------------------------------------------------- spectrum file
def test_spectrum_write_is_atomic(tmp_path, monkeypatch):
    "A crash while writing leaves the old file intact and no temp file behind."
    fn = tmp_path / "spec.json"
    save_spectrum(fn, [3.0, 2.0, 1.0], V=3)
    def boom(*a, **k): raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)          # the temporary file is written, the rename onto spec.json fails
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
