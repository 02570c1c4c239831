#!/usr/bin/env python3
"""Build qwem's docs site and README.md offline: nbdev's notebook processing, then nbconvert. No Quarto, no network.

    python tools/build_docs.py                 # docs site in _docs/ (open _docs/index.html through a web server)
    python tools/build_docs.py --readme        # ... and regenerate README.md from nbs/index.ipynb
    python tools/build_docs.py --readme-only   # only README.md
    python tools/build_docs.py --check-readme  # exit 1 if README.md is not what nbs/index.ipynb gives
    python -m http.server 8000 --bind 127.0.0.1 --directory _docs   # then browse http://127.0.0.1:8000/

Readers who have Quarto can use nbdev's own route, `nbdev_docs`, which reads the same `_quarto.yml`.

How it works: nbdev's processing functions (`refresh_quarto_yml`, `_build_modidx`, `nbdev_sidebar`, `proc_nbs`)
write the processed notebooks to `_proc/` exactly as `nbdev_docs` would (`show_doc` output, `#| hide`, exported
cells removed, front matter from `# Title` / `> description`). Each processed notebook is then rendered with
nbconvert's `HTMLExporter` (lab template, extended in `tools/docs_template/qwem`) after applying the Quarto cell
options that Quarto would have applied (`#| echo: false`, `#| output: false`, `#| include: false`,
`#| code-fold`). Math: MathJax 2.7.9 from the `jupyter-server-mathjax` package, copied into the site. Widgets:
`@jupyter-widgets/html-manager` and `requirejs` from npm (`npm pack`, pinned, sha256-checked, cached under
`$QWEM_CACHE` or `~/.cache/qwem` by `qwem.sources.fetch`), so saved ipywidgets state renders without a kernel; without npm the site is
built without widget rendering. Scripts inside HTML outputs are kept and run in the page (used for sliders that
evaluate closed forms in the browser).
"""
import argparse, difflib, html, json, os, re, shutil, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = Path(__file__).resolve().parent / 'docs_template'
MATHJAX_CONFIG = 'TeX-AMS-MML_HTMLorMML-full,Safe'

# npm packages copied into the site for offline widget rendering: (name, version, sha256 of the `npm pack` tarball)
NPM_PINS = {
    'html-manager': ('@jupyter-widgets/html-manager', '1.0.15',
                     '2b9d65cb7913e1c7d671757a10008b32c9c2448d4429513371e55c07d6107638'),
    'requirejs': ('requirejs', '2.3.8', '777158e89275e16bd51aec3ef714fbcb5dc45789e7078659933bc814916d7dec'),
}


def log(*a): print('[build_docs]', *a, flush=True)


def check_root(root):
    "nbdev's `proc_nbs` silently processes nothing under a path with a dot-folder: fail loudly instead."
    bad = [p for p in Path(root).resolve().parts[1:] if p.startswith('.')]
    if bad:
        raise SystemExit(f'build_docs: the project path {Path(root).resolve()} contains the hidden folder {bad[0]!r}; '
                         "nbdev's proc_nbs skips every notebook under such a path. Clone or move the project "
                         'to a path without dot-folders (e.g. /tmp/qwem) and run again.')


# ---------------------------------------------------------------------------------------------------------------
# Step 1: nbdev's own processing into _proc/
# ---------------------------------------------------------------------------------------------------------------
def nbdev_process(root, force=False, n_workers=2):
    "Run nbdev's docs processing (what `nbdev_proc_nbs` does, minus its Quarto installer). Returns `_proc/`."
    os.chdir(root)
    from nbdev.config import get_config
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    cfg = get_config()
    refresh_quarto_yml()                      # nbs/nbdev.yml (keeps our nbs/_quarto.yml link)
    nbdev.doclinks._build_modidx()            # same as nbdev_export does: symbols for doc links
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)  # nbs/sidebar.yml, written by itself (2.4.14 writes it wrongly
                                                  # when nbdev_proc_nbs passes its kwargs through)
    proc = proc_nbs(cfg.nbs_path, n_workers=n_workers, force=force)
    return cfg, Path(proc)


def process_one(root, nb_path):
    "Process one notebook in this process with nbdev's `FilterDefaults` (as `proc_nbs` does), return it."
    os.chdir(root)
    from execnb.nbio import read_nb
    from nbdev.processors import FilterDefaults
    nb = read_nb(nb_path)
    old = os.environ.get('IN_TEST')
    os.environ['IN_TEST'] = '1'
    try: FilterDefaults()(nb)
    finally:
        if old is None: os.environ.pop('IN_TEST', None)
        else: os.environ['IN_TEST'] = old
    from execnb.nbio import nb2str
    return load_nb(nb2str(nb))


def load_nb(text):
    "A notebook's JSON text as a dict with multi-line strings joined (what nbconvert's templates expect)."
    from nbformat.v4.rwbase import rejoin_lines
    from nbformat import from_dict
    return rejoin_lines(from_dict(json.loads(text)))


# ---------------------------------------------------------------------------------------------------------------
# Step 2: what Quarto would do to the processed notebooks
# ---------------------------------------------------------------------------------------------------------------
_re_fm = re.compile(r'^---\s*\n(.*?)\n---\s*$', re.DOTALL)
_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
_re_attr_link = re.compile(r'(\[[^\]\n]*\]\([^)\s]+\))\{([^{}\n]*)\}')   # [text](url){target="_blank" ...}
_re_attr_heading = re.compile(r'^(#{1,6}\s.*?)\s*\{[#.][^{}\n]*\}\s*$', re.MULTILINE)  # ## Heading {#id .class}
_re_attr_span = re.compile(r'(\[[^\]\n]*\])\{[#.][^{}\n]*\}')            # [text]{.class}
_re_md_link = re.compile(r'(\]\()([^)\s#]+\.ipynb)(#[^)\s]*)?\)')
_re_fence_div = re.compile(r'^:::+\s*(?:\{([^{}]*)\}|([\w-]+))?\s*$')


def _src(x): return ''.join(x) if isinstance(x, list) else (x or '')


def frontmatter(nb):
    "Pop nbdev's front-matter raw cell; return its dict (title, description, output-file, ...)."
    import yaml
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] == 'raw':
            m = _re_fm.match(_src(c['source']).strip())
            if m:
                nb['cells'].pop(i)
                return yaml.safe_load(m.group(1)) or {}
    return {}


def cell_options(cell):
    "Quarto-style `#| key: value` options at the top of a code cell, and the source without them."
    opts, lines = {}, _src(cell.get('source')).splitlines()
    i = 0
    while i < len(lines):
        m = _re_directive.match(lines[i])
        if not m:
            if lines[i].strip(): break
            i += 1; continue
        opts[m.group(1).lower()] = m.group(2).strip().strip('"\'')
        i += 1
    return opts, '\n'.join(lines[i:]).strip('\n')


def _false(v): return str(v).strip().lower() in ('false', 'no', '0')


def _attrs_to_html(attrs):
    "Pandoc attributes `{#id .cls key=\"v\"}` as HTML attributes."
    out, classes = [], []
    for tok in re.findall(r'[#.][\w-]+|[\w-]+=(?:"[^"]*"|\'[^\']*\'|\S+)', attrs):
        if tok[0] == '#': out.append(f'id="{html.escape(tok[1:])}"')
        elif tok[0] == '.': classes.append(tok[1:])
        else:
            k, v = tok.split('=', 1)
            out.append(f'{k}="{html.escape(v.strip(chr(34)).strip(chr(39)))}"')
    if classes: out.append(f'class="{" ".join(classes)}"')
    return ' '.join(out)


def clean_markdown(md, link_map, doc_prefix='', root_rel='', for_html=True):
    "Quarto's markdown extensions that nbconvert does not know: pandoc attributes, `:::` divs, .ipynb links."
    def link(m):
        if not for_html: return m.group(1)
        t = re.match(r'\[([^\]]*)\]\(([^)\s]+)\)', m.group(1))
        return f'<a href="{html.escape(t.group(2))}" {_attrs_to_html(m.group(2))}>{html.escape(t.group(1))}</a>'
    md = _re_attr_link.sub(link, md)
    md = _re_attr_heading.sub(r'\1', md)
    md = _re_attr_span.sub(r'\1', md)
    if doc_prefix: md = md.replace(doc_prefix, root_rel)
    md = _re_md_link.sub(lambda m: m.group(1) + link_map.get(m.group(2), m.group(2)) + (m.group(3) or '') + ')', md)
    if for_html:   # fenced divs (callouts): ::: {.callout-note} ... :::
        lines = []
        for l in md.splitlines():
            m = _re_fence_div.match(l)
            if m and (m.group(1) is not None or m.group(2)):
                cls = (m.group(1) or '.' + m.group(2)).replace('.', ' ').split()
                lines += ['', f'<div class="{html.escape(" ".join(c for c in cls if "=" not in c))}" markdown="1">', '']
            elif m: lines += ['', '</div>', '']
            else: lines.append(l)
        md = '\n'.join(lines)
    return md


def quarto_cells(nb, link_map, doc_prefix='', root_rel='', for_html=True):
    "Apply the Quarto cell options (`echo`, `output`, `include`, `code-fold`) that nbdev leaves to Quarto."
    cells = []
    for c in nb['cells']:
        if c.get('source') is None: continue
        if c['cell_type'] == 'markdown':
            c['source'] = clean_markdown(_src(c['source']), link_map, doc_prefix, root_rel, for_html)
            if c['source'].strip(): cells.append(c)
            continue
        if c['cell_type'] != 'code': continue   # raw cells are for Quarto only
        opts, body = cell_options(c)
        if _false(opts.get('include', 'true')): continue
        c['source'] = body
        md = c.setdefault('metadata', {})
        if _false(opts.get('echo', 'true')) or not body.strip():
            md.setdefault('transient', {})['remove_source'] = True
        if _false(opts.get('output', 'true')): c['outputs'] = []
        fold = opts.get('code-fold')
        if fold and not _false(fold) and not md.get('transient', {}).get('remove_source'):
            md['qwem'] = {'code_fold': 'show' if fold.lower() == 'show' else 'true',
                          'code_summary': opts.get('code-summary') or 'Code'}
        for o in c.get('outputs', []):
            d = o.get('data', {})
            if 'text/markdown' in d:
                d['text/markdown'] = clean_markdown(_src(d['text/markdown']), link_map, doc_prefix, root_rel, for_html)
        if md.get('transient', {}).get('remove_source') and not c.get('outputs'): continue
        cells.append(c)
    nb['cells'] = cells
    return nb


# ---------------------------------------------------------------------------------------------------------------
# Offline assets: MathJax (pip package) and the widget renderer (npm, cached)
# ---------------------------------------------------------------------------------------------------------------
def mathjax_static():
    import jupyter_server_mathjax
    p = Path(jupyter_server_mathjax.__file__).parent / 'static'
    if not (p / 'MathJax.js').exists():
        raise SystemExit(f'build_docs: MathJax not found in {p}; install it with pip install "jupyter-server-mathjax==0.2.6"')
    return p


def npm_package(key):
    "Unpacked folder of a pinned npm package, fetched with `qwem.sources.fetch` (npm pack, sha256 check, qwem cache)."
    from qwem.sources import Source, SourceUnavailable, fetch
    name, version, sha = NPM_PINS[key]
    src = Source(f'docs-{key}', 'npm', name, version, sha, licence='see the package', description='docs site asset')
    try: return fetch(src, verbose=False) / 'package'
    except SourceUnavailable: return None   # no npm: the site is built without widget rendering
    except RuntimeError as e:               # npm is there but the registry is not reachable
        log(f'npm pack {name}@{version} failed ({str(e)[-300:]}); building without widget rendering')
        return None
    except ValueError as e:                 # the registry served other bytes than the pin
        raise SystemExit(f'build_docs: {e} (pinned in tools/build_docs.py)') from None


def copy_assets(site, widgets=True):
    "MathJax, the site's CSS and (if possible) require.js + the widget renderer into `site`. Returns widgets on/off."
    shutil.copytree(mathjax_static(), site / 'mathjax', dirs_exist_ok=True)
    static = site / '_static'
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy(TEMPLATE_DIR / 'site.css', static / 'site.css')
    if not widgets: return False
    if shutil.which('npm') is None:
        log('npm not found: building the site without widget rendering (saved ipywidgets show as text). '
            'Install Node.js/npm (e.g. `apt-get install -y npm`) to render widgets offline.')
        return False
    hm, rq = npm_package('html-manager'), npm_package('requirejs')
    if hm is None or rq is None: return False
    shutil.copy(rq / 'require.js', static / 'require.js')
    dst = static / 'html-manager'
    dst.mkdir(exist_ok=True)
    for f in (hm / 'dist').iterdir():   # embed-amd.js and the font/svg assets it loads relative to itself
        if f.suffix != '.map' and f.name not in ('embed.js', 'libembed-amd.js', 'embed.js.LICENSE.txt'):
            shutil.copy(f, dst / f.name)
    return True


# ---------------------------------------------------------------------------------------------------------------
# Step 3: render the site
# ---------------------------------------------------------------------------------------------------------------
def nav_entries(nbs_path):
    "Pages in sidebar order: (relative notebook path, section or None), from nbdev's sidebar.yml (else sorted glob)."
    import yaml
    sb = nbs_path / 'sidebar.yml'
    out = []
    def walk(items, section):
        for it in items:
            if isinstance(it, str): out.append((it, section))
            elif isinstance(it, dict):
                if 'href' in it: out.append((it['href'], it.get('section')))
                walk(it.get('contents', []), it.get('section', section))
    try: walk(yaml.safe_load(sb.read_text())['website']['sidebar']['contents'], None)
    except Exception:
        out = [(p.relative_to(nbs_path).as_posix(), None) for p in sorted(nbs_path.rglob('*.ipynb'))
               if not any(x.startswith(('_', '.')) for x in p.relative_to(nbs_path).parts)]
        out.sort(key=lambda o: (o[0] != 'index.ipynb', o[0]))
    return [(p, s) for p, s in out if p.endswith('.ipynb')]


def _html_name(rel):
    "Where nbdev/Quarto put a notebook's page: `00c_corpus.ipynb` -> `corpus.html` (nbdev's `_nbpath2html`)."
    from nbdev.doclinks import _nbpath2html
    return _nbpath2html(Path(rel)).as_posix()


def make_exporter(widgets):
    from nbconvert import HTMLExporter
    e = HTMLExporter(template_name='qwem', extra_template_basedirs=[str(TEMPLATE_DIR)])
    e.exclude_input_prompt = e.exclude_output_prompt = True
    # embed_images stays off: nbconvert 7.17 then breaks inline HTML tags (<a ...>text</a> -> <a ...></a>text);
    # files that markdown cells reference (images) are copied next to the pages instead.
    e.anchor_link_text = '#'
    if not widgets: e.widget_renderer_url = ''
    return e


def render_site(cfg, proc, out, widgets=True):
    "Render every processed notebook in `proc` into `out`. Returns the list of pages written."
    from markupsafe import Markup
    from nbconvert.filters import markdown2html
    import nbformat
    out = Path(out)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    widgets = copy_assets(out, widgets)
    exporter = make_exporter(widgets)
    env = exporter.environment
    (out / '_static' / 'lab').mkdir()
    for css in ('index.css', 'theme-light.css'):   # nbconvert's lab styles, linked from every page
        (out / '_static' / 'lab' / css).write_text(env.loader.get_source(env, f'static/{css}')[0], encoding='utf-8')
    for f in proc.rglob('*'):   # images and other files that the notebooks reference (nbdev copied them to _proc)
        if f.is_file() and f.suffix not in ('.ipynb', '.yml', '.yaml'):
            (out / f.relative_to(proc)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, out / f.relative_to(proc))
    entries = [(rel, sec) for rel, sec in nav_entries(cfg.nbs_path) if (proc / rel).exists()]
    missing = [rel for rel, _ in nav_entries(cfg.nbs_path) if not (proc / rel).exists()]
    if missing: log('not processed by nbdev (skipped):', ', '.join(missing))
    pages = []
    for rel, sec in entries:
        nb = load_nb((proc / rel).read_text(encoding='utf-8'))
        fm = frontmatter(nb)
        name = fm.get('output-file') or Path(_html_name(rel)).name
        dest = (Path(rel).parent / name).as_posix()
        pages.append(dict(rel=rel, section=sec, nb=nb, fm=fm, href=dest,
                          title=str(fm.get('title') or Path(rel).stem)))
    link_map = {}
    for p in pages:   # links between notebooks: `01_counting.ipynb` -> `counting.html`
        link_map[p['rel']] = p['href']
        link_map[Path(p['rel']).name] = Path(p['href']).name
    doc_prefix = f"{cfg.get('doc_host', '')}{cfg.get('doc_baseurl', '')}".rstrip('/') + '/'
    site_title = cfg.get('title') or cfg.get('lib_name')
    for p in pages:
        depth = p['href'].count('/')
        root_rel = '../' * depth
        nb = quarto_cells(p['nb'], link_map, doc_prefix if doc_prefix != '/' else '', root_rel)
        wstate = nb.get('metadata', {}).get('widgets', {}).get('application/vnd.jupyter.widget-state+json', {})
        if not wstate.get('state'): nb.get('metadata', {}).pop('widgets', None)   # nbdev adds an empty one
        nb.setdefault('metadata', {})['title'] = f"{p['title']} – {site_title}" if p['href'] != 'index.html' else site_title
        nb['metadata'].setdefault('language_info', {'name': 'python'})
        node = nbformat.from_dict(nb)
        exporter.require_js_url = root_rel + '_static/require.js'
        exporter.widget_renderer_url = root_rel + '_static/html-manager/embed-amd.js' if widgets else ''
        desc = p['fm'].get('description')
        nav = []
        for q in pages:
            cls = ' class="active"' if q is p else ''
            sec = f'<span class="nav-section">{html.escape(q["section"])}</span> ' if q['section'] else ''
            nav.append(f'<li{cls}><a href="{root_rel}{html.escape(q["href"])}">{sec}{html.escape(q["title"])}</a></li>')
        resources = {
            'metadata': {'name': p['title'], 'path': str(proc / Path(p['rel']).parent)},
            'qwem': {
                'root': root_rel, 'site_title': site_title, 'title': p['title'],
                'description': Markup(markdown2html(str(desc))) if desc else '',
                'nav': Markup('\n'.join(nav)), 'widgets': widgets and 'widgets' in nb['metadata'],
                'mathjax_url': f'{root_rel}mathjax/MathJax.js?config={MATHJAX_CONFIG}',
                'source': p['rel'], 'repo_url': cfg.get('git_url', ''), 'branch': cfg.get('branch', 'main'),
            },
        }
        body, _ = exporter.from_notebook_node(node, resources=resources)
        dest = out / p['href']
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(body, encoding='utf-8')
    (out / '.nojekyll').touch()
    (out / '_static' / 'site.json').write_text(json.dumps(
        {'pages': [p['href'] for p in pages], 'widgets': widgets}, indent=1))
    return pages


# ---------------------------------------------------------------------------------------------------------------
# README.md from nbs/index.ipynb
# ---------------------------------------------------------------------------------------------------------------
README_NOTE = ('<!-- WARNING: THIS FILE WAS AUTOGENERATED FROM nbs/index.ipynb! DO NOT EDIT! '
               'Regenerate: python tools/build_docs.py --readme-only -->')
_re_md_img = re.compile(r'(!\[[^\]]*\]\()([^)\s]+)')
_re_html_img = re.compile(r'(<img\b[^>]*?\bsrc=["\'])([^"\']+)')


def readme_text(root):
    "README.md text (and the image files it needs) from nbs/index.ipynb, processed the way nbdev does."
    from nbconvert import MarkdownExporter
    import nbformat
    from nbdev.config import get_config
    os.chdir(root)
    cfg = get_config()
    idx = cfg.nbs_path / cfg.get('readme_nb', 'index.ipynb')
    nb = process_one(root, idx)
    fm = frontmatter(nb)
    nb['cells'] = [c for c in nb['cells'] if not (c['cell_type'] == 'markdown' and
                                                 _src(c.get('source')).strip().startswith('<!-- WARNING'))]
    nb = quarto_cells(nb, {}, for_html=False)
    nbs_rel = os.path.relpath(idx.parent, root)
    def fix(m):   # image paths relative to nbs/ -> relative to the repo root
        url = m.group(2)
        if re.match(r'^([a-z]+:|/|#)', url): return m.group(0)
        return m.group(1) + Path(nbs_rel, url).as_posix()
    for c in nb['cells']:
        if c['cell_type'] == 'markdown': c['source'] = _re_html_img.sub(fix, _re_md_img.sub(fix, c['source']))
    nb.setdefault('metadata', {})['language_info'] = {'name': 'python'}
    e = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True)
    body, res = e.from_notebook_node(nbformat.from_dict(nb), resources={'output_files_dir': 'index_files'})
    head = [f"# {fm.get('title', cfg.get('title'))}", '', README_NOTE, '']
    if fm.get('description'): head += [f"> {fm['description']}", '']
    text = '\n'.join(head) + '\n' + body.strip() + '\n'
    text = re.sub(r'\n{3,}', '\n\n', text)
    return text, res.get('outputs', {})


def write_readme(root):
    text, files = readme_text(root)
    fdir = Path(root) / 'index_files'
    shutil.rmtree(fdir, ignore_errors=True)
    for name, data in files.items():
        p = Path(root) / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    from qwem.storage import write_text_atomic
    write_text_atomic(Path(root) / 'README.md', text)
    log('wrote README.md' + (f' and {len(files)} files in index_files/' if files else ''))


def check_readme(root):
    text, files = readme_text(root)
    cur = (Path(root) / 'README.md').read_text(encoding='utf-8') if (Path(root) / 'README.md').exists() else ''
    stale = [n for n, d in files.items() if not (Path(root) / n).exists() or (Path(root) / n).read_bytes() != d]
    if cur == text and not stale:
        log('README.md is up to date with nbs/index.ipynb'); return True
    sys.stdout.writelines(difflib.unified_diff(cur.splitlines(True), text.splitlines(True),
                                               'README.md (committed)', 'README.md (from nbs/index.ipynb)'))
    if stale: print('stale or missing:', *stale)
    print('\nREADME.md is out of date with nbs/index.ipynb: run `python tools/build_docs.py --readme-only` '
          'and commit README.md' + (' and index_files/' if files else '') + '.')
    return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', help='site folder (default: doc_path from settings.ini, i.e. _docs)')
    ap.add_argument('--root', default=str(ROOT), help='project root (default: the repo containing this script)')
    ap.add_argument('--readme', action='store_true', help='also regenerate README.md from nbs/index.ipynb')
    ap.add_argument('--readme-only', action='store_true', help='only regenerate README.md')
    ap.add_argument('--check-readme', action='store_true', help='only check that README.md is up to date')
    ap.add_argument('--force', action='store_true', help="reprocess every notebook (ignore nbdev's _proc cache)")
    ap.add_argument('--no-widgets', action='store_true', help='do not fetch the widget renderer from npm')
    ap.add_argument('--n-workers', type=int, default=2, help='processes for nbdev processing')
    a = ap.parse_args(argv)
    root = Path(a.root).resolve()
    check_root(root)
    t0 = time.time()
    if a.check_readme: return 0 if check_readme(root) else 1
    if a.readme or a.readme_only: write_readme(root)
    if a.readme_only: return 0
    cfg, proc = nbdev_process(root, force=a.force, n_workers=a.n_workers)
    t1 = time.time()
    out = Path(a.out).resolve() if a.out else cfg.doc_path
    pages = render_site(cfg, proc, out, widgets=not a.no_widgets)
    log(f'{len(pages)} pages in {out} (nbdev processing {t1 - t0:.1f} s, rendering {time.time() - t1:.1f} s). '
        f'Serve: python -m http.server 8000 --bind 127.0.0.1 --directory {os.path.relpath(out)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
