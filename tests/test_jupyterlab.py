"""What the design card says readers do, in a real JupyterLab: open `03a_explorer`, run all cells, move the `d` slider.

JupyterLab runs from this test environment on 127.0.0.1 (a free port, a token, no browser), in a temporary folder
holding a copy of the notebook and the spectrum file it reads, so that autosave never touches nbs/ and nothing is
written to ~/.jupyter. Its `#| slow` cell (the spectrum of the default corpus: minutes, and the corpus itself) is
blanked in the copy, as nbdev_test skips it; QWEM_LAB_SLOW=1 keeps it. Headless Chromium (playwright, the system
Chromium, never a downloaded one) then checks that
- the notebook opens on its kernel (no "Select Kernel" dialog: every notebook carries a python3 kernelspec),
- Run All Cells finishes with no traceback in any output,
- moving the `d` slider of `dynamics_explorer` redraws its figure.
The server and its kernels are shut down at the end, whatever happens. Marked `browser` (tests/run.sh's browser stage).
"""
import json, os, re, shutil, socket, subprocess, sys, time, urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "03a_explorer.ipynb"
pytestmark = pytest.mark.browser
RUN_ALL_TIMEOUT = 480  # seconds for Run All Cells (about 30 s on a quiet two-core machine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_notebook(dest: Path, keep_slow: bool) -> Path:
    "The notebook and its spectrum file in `dest`; `#| slow` cells blanked unless `keep_slow`."
    nb = json.loads((ROOT / "nbs" / NOTEBOOK).read_text(encoding="utf-8"))
    for c in nb["cells"]:
        if not keep_slow and c["cell_type"] == "code" and re.match(r"\s*#\|\s*slow\b", "".join(c["source"])):
            c["source"], c["outputs"], c["execution_count"] = "# (#| slow cell left out by the test)", [], None
    (dest / NOTEBOOK).write_text(json.dumps(nb, indent=1), encoding="utf-8")
    shutil.copy(ROOT / "nbs" / "default_spectrum.json", dest)
    return dest / NOTEBOOK


def _get(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r: return r.status, r.read()


@contextmanager
def jupyterlab(root: Path, state: Path):
    "A JupyterLab server on 127.0.0.1 serving `root`; yields (base URL, token). Shut down with its kernels on exit."
    port, token = _free_port(), os.urandom(16).hex()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(state / "config"), "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0: cmd.append("--allow-root")   # containers and CI run as root
    news = state / "settings" / "@jupyterlab" / "apputils-extension"   # no "Jupyter news?" toast over the page
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = state / "settings" / "@jupyterlab" / "notebook-extension"   # render every cell, not only those in view
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    log = open(state / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        t_end = time.time() + 120
        while True:
            if proc.poll() is not None: pytest.fail(f"JupyterLab exited: {(state / 'server.log').read_text()[-3000:]}")
            try:
                if _get(f"{base}api/status?token={token}")[0] == 200: break
            except OSError: pass
            if time.time() > t_end: pytest.fail(f"JupyterLab did not start in 120 s: {(state / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, token
    finally:
        try:
            urllib.request.urlopen(urllib.request.Request(f"{base}api/shutdown?token={token}", method="POST"), timeout=10)
            proc.wait(timeout=30)
        except Exception:
            proc.terminate()
            try: proc.wait(timeout=15)
            except subprocess.TimeoutExpired: proc.kill(); proc.wait(timeout=15)
        log.close()


def _outputs_text(page) -> list:
    return page.locator(".jp-OutputArea-output").all_inner_texts()


def _run_all(page):
    "Run > Run All Cells, through the menus as a reader would."
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def _wait_run_finished(page, timeout: float):
    "Until every code cell has an execution number and none shows [*]; returns the seconds taken."
    t0 = time.time()
    while True:
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        if prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts): return time.time() - t0
        if time.time() - t0 > timeout:
            raise AssertionError(f"Run All Cells did not finish in {timeout} s; prompts: {prompts}")
        time.sleep(1)


def _move_d_slider(page, steps: int = -5):
    "Move the `d` IntSlider of dynamics_explorer with the keyboard (its handle), as a reader would."
    handle = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=re.compile(r"^d$"))).locator(".noUi-handle")
    handle.first.focus()
    for _ in range(abs(steps)): handle.first.press("ArrowLeft" if steps < 0 else "ArrowRight")
    handle.first.blur()


def test_explorer_runs_in_jupyterlab(chromium, tmp_path):
    root, state = tmp_path / "lab", tmp_path / "state"
    root.mkdir(); state.mkdir()
    _copy_notebook(root, keep_slow=os.environ.get("QWEM_LAB_SLOW") == "1")
    with jupyterlab(root, state) as (base, token):
        ctx = chromium.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(f"{base}lab/tree/{NOTEBOOK}?token={token}", wait_until="domcontentloaded", timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            # the kernel starts by itself (no "Select Kernel" dialog) and becomes idle
            page.wait_for_selector(".jp-Toolbar-kernelName:has-text('Python 3')", timeout=60_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").all_inner_texts()
            _run_all(page)
            seconds = _wait_run_finished(page, RUN_ALL_TIMEOUT)
            texts = _outputs_text(page)
            bad = [t[:500] for t in texts if "Traceback" in t or re.search(r"^\w*(Error|Exception): ", t, re.M)]
            assert not bad, f"outputs with errors: {bad}"
            img = page.locator(".widget-output img, .jupyter-widgets-output-area img").first
            img.wait_for(timeout=60_000)
            before = img.get_attribute("src")
            value = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=re.compile(r"^d$")))
            readout_before = value.locator(".widget-readout").inner_text()
            _move_d_slider(page, -5)
            page.wait_for_function("([sel, src]) => { const i = document.querySelector(sel); return i && i.src !== src; }",
                                   arg=[".widget-output img, .jupyter-widgets-output-area img", before], timeout=60_000)
            readout_after = value.locator(".widget-readout").inner_text()
            assert (readout_before.strip(), readout_after.strip()) == ("20", "15"), (readout_before, readout_after)
            assert not errors, f"JavaScript errors in JupyterLab: {errors}"
            print(f"Run All Cells: {seconds:.0f} s; d slider 20 -> 15 redrew the figure")
        except Exception:
            page.screenshot(path=str(tmp_path / "jupyterlab.png"))
            print(f"screenshot: {tmp_path / 'jupyterlab.png'}; server log: {state / 'server.log'}")
            raise
        finally:
            ctx.close()
