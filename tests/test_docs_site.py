"""The offline docs site (tools/build_docs.py), checked in headless Chromium.

Two sites are checked:
- the project's own site (`docs_site`): every page of nbs/ loads with HTTP 200 and no JS error, shows its title,
  typesets its math, shows its figures (loaded), renders saved widgets, and fetches nothing from outside 127.0.0.1;
  no page links a CDN;
- a small synthetic project built in a temporary folder from a notebook executed here, which uses every feature the
  builder must support (so the checks do not depend on what the real notebooks happen to contain today): front
  matter, `#| hide`, `#| echo: false`, `#| code-fold`, pandoc link attributes, links between notebooks, a markdown
  image, a figure, an inline-script slider that redraws an SVG curve, an ipywidgets slider, README generation.
What each page should contain is read from the source notebooks, not from the builder.
"""
import json, os, re, shutil, subprocess, sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from docs_browser import ROOT, assert_offline, goto, move_slider, serve

NBS = ROOT / 'nbs'
pytestmark = pytest.mark.browser   # tests/run.sh runs this module in its browser stage, after building _docs/


# ------------------------------------------------------------------ what the source notebooks say a page must show
def notebooks(nbs=NBS):
    "Notebooks nbdev documents: everything under nbs/ except names (and folders) starting with `_` or `.`."
    return sorted(p for p in Path(nbs).rglob('*.ipynb')
                  if not any(x.startswith(('_', '.')) for x in p.relative_to(nbs).parts))


def page_name(nb, nbs=NBS):
    "Where nbdev puts a notebook's page (`00c_corpus.ipynb` -> `corpus.html`), by nbdev's own rule."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(nb).relative_to(nbs)).as_posix()


def _src(x): return ''.join(x) if isinstance(x, list) else (x or '')


def _directives(src):
    d = {}
    for line in src.splitlines():
        m = re.match(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$', line)
        if not m: break
        d[m.group(1)] = m.group(2)
    return d


def facts(nb_path):
    "Title, math and figures of a source notebook, as its reader would see them in the docs."
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    title, md, images, widgets = None, [], 0, 0
    for c in nb['cells']:
        src = _src(c.get('source'))
        if c['cell_type'] == 'raw' and title is None:
            m = re.search(r'^title:\s*(.+?)\s*$', src, re.MULTILINE)
            if m: title = m.group(1).strip('"\'')
        if c['cell_type'] == 'markdown':
            if title is None:
                m = re.search(r'^#\s+(\S.*?)\s*$', src, re.MULTILINE)
                if m:
                    title = m.group(1)
                    src = re.sub(r'^#\s+.*$', '', src, count=1, flags=re.MULTILINE)
            md.append(src)
        if c['cell_type'] == 'code':
            d = _directives(src)
            if {'hide', 'export', 'exporti', 'default_exp'} & set(d) or d.get('include') == 'false' \
                    or d.get('output') == 'false':
                continue
            for o in c.get('outputs', []):
                data = o.get('data', {})
                images += any(k in data for k in ('image/png', 'image/jpeg', 'image/svg+xml'))
                widgets += 'application/vnd.jupyter.widget-view+json' in data
    text = re.sub(r'```.*?```|`[^`\n]*`', '', '\n'.join(md), flags=re.DOTALL)   # code is not math
    return dict(title=title, display_math='$$' in text, inline_math=bool(re.search(r'(?<!\$)\$[^$\s][^$]*\$', text)),
                images=images, widgets=widgets)


NOTEBOOKS = notebooks()


# ------------------------------------------------------------------------------------------------ static checks
# a URL whose host names a CDN (base64 data has no '.', and `//` inside it follows a base64 character)
_CDN = re.compile(r'(?<![A-Za-z0-9+/])(?:https?:)?//(?:[a-z0-9-]+\.)*[a-z0-9-]*(?:cdn|unpkg|jsdelivr|googleapis|cloudflare)'
                  r'[a-z0-9-]*(?:\.[a-z0-9-]+)+', re.I)


class _Resources(HTMLParser):
    "URLs a page loads by itself: script/img/iframe/source src, stylesheet links."
    def __init__(self):
        super().__init__(); self.urls = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ('script', 'img', 'iframe', 'source', 'embed', 'audio', 'video') and a.get('src'): self.urls.append(a['src'])
        if tag == 'link' and a.get('href'): self.urls.append(a['href'])


def remote_resources(html_text):
    p = _Resources(); p.feed(html_text)
    return [u for u in p.urls if re.match(r'^(?:[a-z][a-z0-9+.-]*:)?//', u, re.I)]


def test_remote_resources_detector():
    "The static check itself catches a CDN script and a protocol-relative stylesheet, and leaves local ones alone."
    page = ('<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//fonts.example/a.css">'
            '<script src="mathjax/MathJax.js"></script><img src="data:image/png;base64,AAAA">')
    assert remote_resources(page) == ['https://cdn.example/x.js', '//fonts.example/a.css']
    assert _CDN.findall('<script src="https://cdnjs.cloudflare.com/a.js">')
    assert _CDN.findall("import('//cdn.jsdelivr.net/npm/x')") and _CDN.findall('see https://unpkg.com/y')
    assert not _CDN.findall('data:image/png;base64,MMPP4g1a9aInJwcMWTIEGFlZSUMDAyEs7//MMcdnX1vb')


def test_site_has_every_notebook(docs_dir):
    assert NOTEBOOKS, 'no notebooks in nbs/'
    missing = [page_name(nb) for nb in NOTEBOOKS if not (docs_dir / page_name(nb)).exists()]
    assert not missing, f'pages missing from the site: {missing}'
    assert (docs_dir / 'mathjax' / 'MathJax.js').exists()


def test_no_cdn_links(docs_dir):
    pages = sorted(docs_dir.rglob('*.html'))
    assert pages
    for p in pages:
        text = p.read_text(encoding='utf-8')
        assert not remote_resources(text), f'{p.name} loads remote resources: {remote_resources(text)}'
        assert not _CDN.findall(text), f'{p.name} mentions CDN URLs: {_CDN.findall(text)[:5]}'


# ------------------------------------------------------------------------------------------ each page in Chromium
def check_page(page, base, url, f, site_pages, widgets_on):
    "The checks every docs page must pass; `f` are the source notebook's `facts`."
    resp = goto(page, url)
    assert resp.status == 200, f'{url}: HTTP {resp.status}'
    if f['title']: assert page.locator('h1.title').inner_text().strip() == f['title']
    hrefs = page.eval_on_selector_all('nav.qwem-sidebar a', 'els => els.map(e => e.getAttribute("href"))')
    for sp in site_pages: assert any(h.endswith(sp) for h in hrefs), f'{url}: navigation lacks {sp}: {hrefs}'
    text = page.inner_text('main')
    assert '{target=' not in text, f'{url}: pandoc attributes left in the page'
    if f['display_math']:
        assert page.locator('.MathJax_Display').count() > 0, f'{url}: display math not typeset'
        prose = '\n'.join(page.locator('.jp-MarkdownCell').all_inner_texts())   # outputs may print $$ legitimately
        assert '$$' not in prose, f'{url}: raw $$ in the visible text'
    if f['inline_math'] or f['display_math']:
        assert page.locator('span.MathJax').count() > 0, f'{url}: math not typeset'
        assert page.locator('.MathJax_Error, .MathJax .merror').count() == 0, f'{url}: MathJax error'
    imgs = page.eval_on_selector_all('main img', 'els => els.map(e => [e.complete, e.naturalWidth, e.src.slice(0, 60)])')
    assert all(c and w > 0 for c, w, _ in imgs), f'{url}: images that did not load: {imgs}'
    assert len(imgs) >= f['images'], f'{url}: {len(imgs)} images shown, the notebook has {f["images"]} figures'
    if widgets_on and f['widgets']:
        page.wait_for_selector('.jupyter-widgets .lm-Widget', timeout=30_000)
        assert page.locator('.jupyter-widgets .lm-Widget').count() >= f['widgets']
    assert_offline(page, base)


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_page_in_browser(nb, docs_dir, docs_site, browser_page):
    info = json.loads((docs_dir / '_static' / 'site.json').read_text())
    check_page(browser_page, docs_site, docs_site + page_name(nb), facts(nb),
               [page_name(n) for n in NOTEBOOKS], info['widgets'])


# ------------------------------------------------------------------------------------ the synthetic project
DEMO = [
    ('markdown', '# Demo page\n\n> A claim with inline math $\\lambda_k$ in it.'),
    ('code', '#| default_exp demo'),
    ('code', '#| export\nimport numpy as np'),
    ('code', '#| hide\nfrom nbdev.showdoc import *'),
    ('code', '#| hide\nprint("HIDDEN-CELL-OUTPUT")'),
    ('markdown', '## Math\n\nInline $M^\\star_{ij} = \\frac{P_{ij}}{P_i P_j}$ and display (eq. 3):\n\n'
                 '$$\n\\mathcal{L}(W) = \\frac{1}{2}\\sum_{i,j}\\left(W_i^\\top W_j - M^\\star_{ij}\\right)^2\n$$\n\n'
                 'Back to the [index](index.ipynb); an [external link](https://example.org){target="_blank"}.\n\n'
                 '![a picture](images/pic.png)'),
    ('code', '#| export\ndef scale(x, # (n,) float64 input\n          c:float=2.0, # scale factor\n         ):\n'
             '    "Multiply `x` by `c`."\n    return np.asarray(x)*c'),
    ('code', 'show_doc(scale)'),
    ('code', 'import matplotlib.pyplot as plt'),
    ('code', '#| code-fold: true\n# FOLDED-SOURCE\nfig, ax = plt.subplots(figsize=(2, 1.5), dpi=80)\n'
             'ax.plot([0, 1, 4, 9]); plt.show()'),
    ('code', '#| echo: false\n# ECHO-FALSE-SOURCE\nprint("ECHO-FALSE-OUTPUT")'),
    ('code', 'from IPython.display import HTML'),
    ('code', 'HTML("""<input type="range" id="demo-d" min="1" max="10" value="3">\n'
             '<svg id="demo-plot" width="200" height="100"><path d="" stroke="black" fill="none"/></svg>\n'
             '<script>\n(function () {\n  var s = document.getElementById("demo-d");\n'
             '  var path = document.querySelector("#demo-plot path");\n'
             '  function draw() {\n    var d = +s.value, pts = [];\n'
             '    for (var i = 0; i <= 50; i++) { var x = i / 50; pts.push((200 * x).toFixed(1) + "," + (100 - 100 * Math.pow(x, d)).toFixed(1)); }\n'
             '    path.setAttribute("d", "M" + pts.join(" L"));\n  }\n'
             '  s.addEventListener("input", draw); draw();\n})();\n</script>""")'),
    ('code', 'import ipywidgets as widgets'),
    ('code', 'widgets.IntSlider(value=4, min=0, max=10, description="d")'),
]
INDEX = [
    ('markdown', '# Demo index\n\n> The index description.'),
    ('code', '#| hide\nprint("HIDDEN-IN-README")'),
    ('markdown', 'See the [demo](00_demo.ipynb).\n\n![a picture](images/pic.png)'),
    ('code', 'import matplotlib.pyplot as plt'),
    ('code', 'fig, ax = plt.subplots(figsize=(2, 1.5), dpi=80)\nax.plot([3, 1, 2]); plt.show()'),
]


def _make_nb(cells, path):
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(s) if t == 'markdown' else nbformat.v4.new_code_cell(s) for t, s in cells]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    NotebookClient(nb, timeout=120, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    nbformat.write(nb, path)


@pytest.fixture(scope='module')
def demo_project(tmp_path_factory):
    "A tiny nbdev project (this repo's settings) with executed notebooks, built by tools/build_docs.py."
    root = tmp_path_factory.mktemp('demo_project')
    assert not [p for p in root.parts[1:] if p.startswith('.')], f'temporary folder {root} has a dot-folder'
    shutil.copy(ROOT / 'settings.ini', root)
    (root / 'qwem').mkdir(); (root / 'qwem' / '__init__.py').write_text('')
    nbs = root / 'nbs'; (nbs / 'images').mkdir(parents=True)
    shutil.copy(ROOT / '_quarto.yml', nbs / '_quarto.yml')
    shutil.copy(NBS / 'styles.css', nbs)
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    plt.imsave(nbs / 'images' / 'pic.png', [[0, 1], [1, 0]])
    _make_nb(DEMO, nbs / '00_demo.ipynb')
    _make_nb(INDEX, nbs / 'index.ipynb')
    shutil.copy(nbs / 'index.ipynb', nbs / '_scratch_skip.ipynb')
    for args in (['--readme-only'], ['--out', str(root / 'site')]):
        r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--root', str(root), *args],
                           capture_output=True, text=True, cwd=root)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    return root


def test_demo_site_files(demo_project):
    site = demo_project / 'site'
    assert sorted(p.name for p in site.glob('*.html')) == ['demo.html', 'index.html']   # _scratch_skip left out
    html = (site / 'demo.html').read_text()
    assert 'HIDDEN-CELL-OUTPUT' not in html and 'ECHO-FALSE-SOURCE' not in html and 'ECHO-FALSE-OUTPUT' in html
    assert 'default_exp' not in html and '#|' not in html
    assert re.search(r'<details class="qwem-code-fold">\s*<summary>Code</summary>.*?FOLDED-SOURCE', html, re.DOTALL)
    assert '<a href="index.html">index</a>' in html and 'target="_blank"' in html
    assert not remote_resources(html) and not _CDN.findall(html)


def test_demo_readme(demo_project):
    readme = (demo_project / 'README.md').read_text()
    assert readme.startswith('# Demo index\n') and '> The index description.' in readme
    assert 'HIDDEN-IN-README' not in readme and '#|' not in readme
    assert '](nbs/images/pic.png)' in readme                    # markdown image: path from the repo root
    figs = re.findall(r'!\[png\]\((index_files/[^)]+)\)', readme)
    assert len(figs) == 1 and (demo_project / figs[0]).stat().st_size > 0
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--root', str(demo_project),
                        '--check-readme'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    (demo_project / 'README.md').write_text(readme.replace('The index description.', 'Stale.'))
    r = subprocess.run([sys.executable, str(ROOT / 'tools' / 'build_docs.py'), '--root', str(demo_project),
                        '--check-readme'], capture_output=True, text=True)
    assert r.returncode == 1 and 'out of date' in r.stdout
    (demo_project / 'README.md').write_text(readme)


def test_demo_pages_in_browser(demo_project, browser_page):
    site, nbs = demo_project / 'site', demo_project / 'nbs'
    widgets_on = json.loads((site / '_static' / 'site.json').read_text())['widgets']
    with serve(site) as base:
        page = browser_page
        for nb in notebooks(nbs):
            check_page(page, base, base + page_name(nb, nbs), facts(nb), ['index.html', 'demo.html'], widgets_on)
        f = facts(nbs / '00_demo.ipynb')
        assert f['title'] == 'Demo page' and f['display_math'] and f['images'] == 1 and f['widgets'] == 1
        check_page(page, base, base + 'demo.html', f, ['index.html', 'demo.html'], widgets_on)
        # the description is a subtitle, typeset
        assert page.locator('.qwem-title-block .description .MathJax').count() == 1
        # code-fold: folded code is hidden until the reader opens it
        fold = page.locator('details.qwem-code-fold')
        assert fold.count() == 1 and not fold.locator('pre').first.is_visible()
        fold.locator('summary').click()
        assert fold.locator('pre').first.is_visible()
        # both the figure and the markdown image loaded
        assert page.eval_on_selector_all('main img', 'els => els.filter(e => e.naturalWidth > 0).length') == 2
        # the inline script ran, and moving its slider redraws the curve
        path = page.locator('#demo-plot path')
        before = path.get_attribute('d')
        assert before and before.startswith('M0.0,100.0')
        move_slider(page.locator('#demo-d'), 4)
        assert page.locator('#demo-d').input_value() == '7'
        after = path.get_attribute('d')
        assert after != before and after.split(' L')[25] != before.split(' L')[25]
        if widgets_on: assert page.locator('.jupyter-widgets .widget-slider').count() == 1
        assert_offline(page, base)
