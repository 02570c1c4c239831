"""Shared pytest fixtures for qwem's tests. Keep this file small; put helpers in their own modules.

Docs site (see tests/docs_browser.py for the helpers `goto`, `move_slider`, `assert_offline`):
- `docs_dir`: the built offline docs site (a Path): `$QWEM_DOCS_DIR` if set (tests/run.sh sets it to the `_docs/`
  it has just built), else a fresh build into a temporary folder by tools/build_docs.py.
- `docs_site`: base URL (ending in '/') of `docs_dir`, served on 127.0.0.1 by http.server in a thread.
- `browser_page`: a new headless-Chromium page (playwright, system Chromium) that records its requests and errors.
Tests using these fixtures get the `browser` mark (tests/run.sh runs them after building `_docs/`). Without Chromium they fail with the install command,
unless QWEM_SKIP_BROWSER=1 (then they are skipped).
"""
import os
from pathlib import Path

import pytest

import docs_browser


def pytest_configure(config):
    config.addinivalue_line('markers', 'browser: checks in headless Chromium: the built docs site, and notebooks in '
                                       'JupyterLab (tests/run.sh runs them after building _docs/)')


def pytest_collection_modifyitems(config, items):
    for item in items:
        if {'docs_dir', 'docs_site', 'browser_page'} & set(getattr(item, 'fixturenames', ())): item.add_marker('browser')


@pytest.fixture(scope='session')
def docs_dir(tmp_path_factory):
    d = os.environ.get('QWEM_DOCS_DIR')
    if d:
        d = Path(d).resolve()
        assert (d / 'index.html').exists(), f'QWEM_DOCS_DIR={d} has no index.html: build it with python tools/build_docs.py'
        return d
    return docs_browser.build_site(tmp_path_factory.mktemp('docs') / 'site')


@pytest.fixture(scope='session')
def docs_site(docs_dir):
    with docs_browser.serve(docs_dir) as url: yield url


@pytest.fixture(scope='session')
def chromium():
    if os.environ.get('QWEM_SKIP_BROWSER') == '1': pytest.skip('QWEM_SKIP_BROWSER=1: browser checks skipped')
    if not Path(docs_browser.chromium_path()).exists():
        pytest.fail(f'Chromium not found at {docs_browser.chromium_path()}: {docs_browser.INSTALL_HINT}', pytrace=False)
    os.environ.setdefault('PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD', '1')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = docs_browser.launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    ctx = chromium.new_context(viewport={'width': 1200, 'height': 900})
    page = docs_browser.record(ctx.new_page())
    yield page
    ctx.close()
