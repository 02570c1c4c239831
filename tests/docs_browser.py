"""Helpers for checking the offline docs site in headless Chromium (used by conftest.py's fixtures).

For a new browser test, use the fixtures `docs_site` (base URL) and `browser_page`, and the helpers here:

    from docs_browser import goto, move_slider
    def test_my_slider(docs_site, browser_page):
        page = browser_page
        goto(page, docs_site + 'dynamics.html')
        before = page.locator('#my-plot path').get_attribute('d')
        move_slider(page.locator('#my-slider'), 5)
        assert page.locator('#my-plot path').get_attribute('d') != before
        assert_offline(page, docs_site)
"""
import os, shutil, subprocess, sys, threading
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']
INSTALL_HINT = ('install it with `apt-get update && apt-get install -y chromium` (as root, or with sudo), '
                'point QWEM_CHROMIUM at another Chromium binary, or set QWEM_SKIP_BROWSER=1 to skip the browser checks')
# MathJax's HTML-CSS output probes for TeX web fonts that jupyter-server-mathjax does not ship (it has STIX-Web only);
# those misses are harmless (STIX-Web draws the glyphs) and stay on 127.0.0.1.
OPTIONAL_MISSES = ('/mathjax/fonts/',)


def chromium_path():
    "The Chromium binary the browser tests drive: $QWEM_CHROMIUM, else /usr/bin/chromium."
    return os.environ.get('QWEM_CHROMIUM') or '/usr/bin/chromium'


def build_site(out):
    "Build the docs site into `out` with tools/build_docs.py (a subprocess: nbdev's processing uses spawn)."
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--out', str(out)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, f'tools/build_docs.py failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}'
    return Path(out)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@contextmanager
def serve(directory):
    "Serve `directory` on 127.0.0.1 (a free port) in a thread; yields the base URL, ending in '/'."
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), partial(_QuietHandler, directory=str(directory)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try: yield f'http://127.0.0.1:{httpd.server_address[1]}/'
    finally:
        httpd.shutdown(); httpd.server_close()


def launch_chromium(playwright):
    "Headless Chromium from the system (playwright never downloads a browser here)."
    exe = chromium_path()
    if not Path(exe).exists(): raise FileNotFoundError(f'Chromium not found at {exe}: {INSTALL_HINT}')
    return playwright.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)


def record(page):
    "Record what the page does: `page.qwem_requests` (URLs), `page.qwem_errors` (uncaught JS errors), `page.qwem_failed`."
    page.qwem_requests, page.qwem_errors, page.qwem_failed = [], [], []
    page.on('request', lambda r: page.qwem_requests.append(r.url))
    page.on('pageerror', lambda e: page.qwem_errors.append(str(e)))
    page.on('requestfailed', lambda r: page.qwem_failed.append(f'{r.url} ({r.failure})'))
    page.on('response', lambda r: r.status >= 400 and page.qwem_failed.append(f'{r.url} (HTTP {r.status})'))
    return page


def goto(page, url, timeout=60_000):
    "Open `url`, wait until MathJax has typeset the page and the network is quiet; return the HTTP response."
    resp = page.goto(url, wait_until='load', timeout=timeout)
    page.wait_for_function("document.documentElement.getAttribute('data-mathjax') === 'done'", timeout=timeout)
    page.wait_for_load_state('networkidle', timeout=timeout)
    return resp


def move_slider(locator, steps):
    "Move an `<input type=range>` by `steps` (negative: left) with the keyboard, as a reader would."
    locator.focus()
    for _ in range(abs(steps)): locator.press('ArrowRight' if steps > 0 else 'ArrowLeft')


def external_requests(page, base):
    "Requests that left the local server (about:, data: and blob: URLs are local)."
    host = urlparse(base).netloc
    return [u for u in page.qwem_requests
            if not (u.startswith(('data:', 'blob:', 'about:')) or urlparse(u).netloc == host)]


def assert_offline(page, base):
    "No request left 127.0.0.1, no uncaught JS error, and nothing failed to load but MathJax's optional fonts."
    assert not external_requests(page, base), f'requests left the local server: {external_requests(page, base)}'
    assert not page.qwem_errors, f'JavaScript errors: {page.qwem_errors}'
    failed = [f for f in page.qwem_failed if not f.startswith('about:') and not any(m in f for m in OPTIONAL_MISSES)]
    assert not failed, f'failed to load: {failed}'
