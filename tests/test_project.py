"""The project's layout and tooling (issue 2, section 1): config files, pins, notebooks <-> modules, CI = README."""
import configparser, json, os, re, shutil, subprocess, sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
CFG = configparser.ConfigParser(delimiters=['='], interpolation=configparser.BasicInterpolation())
CFG.read(ROOT / 'settings.ini')
S = CFG['DEFAULT']
NUMBERED = sorted(p for p in NBS.glob('[0-9][0-9]*_*.ipynb'))


def test_quarto_yml_is_the_top_level_file():
    "nbdev 2 reads nbs/_quarto.yml: it must resolve to the top-level _quarto.yml, which nbdev must not replace."
    top, used = ROOT / '_quarto.yml', NBS / '_quarto.yml'
    assert top.is_file() and used.exists()
    assert used.read_text() == top.read_text()
    if used.is_symlink(): assert used.resolve() == top.resolve()
    assert 'custom_quarto_yml' not in S, 'remove custom_quarto_yml from settings.ini (False makes nbdev delete nbs/_quarto.yml)'
    assert 'metadata-files: [nbdev.yml, sidebar.yml]' in top.read_text()


def test_settings_pin_nbdev2():
    dev = S['dev_requirements'].split()
    for pin in ('nbdev==2.4.14', 'fastcore>=1.12.3,<1.13', 'execnb<0.2', 'ghapi<2'): assert pin in dev, pin
    for pkg in ('pytest', 'nbconvert', 'jupyter-server-mathjax', 'playwright'):   # the test command needs these
        assert any(re.match(rf'{pkg}\b', d) for d in dev), f'{pkg} missing from dev_requirements'
    assert version('nbdev') == '2.4.14'
    assert S['console_scripts'] == 'qwem=qwem.cli:main'
    assert S['lib_path'] == 'qwem' and S['nbs_path'] == 'nbs' and S['doc_path'] == '_docs'
    assert 'slow' in S['tst_flags'].split()
    assert 'jax[cuda12]' in S['gpu_requirements']
    assert not any('cuda' in r for r in dev + S['requirements'].split()), 'CUDA wheels belong in the gpu extra only'


def test_every_numbered_notebook_has_its_module():
    "Every nbs/NN_*.ipynb declares `#| default_exp` and its module exists in qwem/."
    for nb in NUMBERED:
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        src = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'code')
        m = re.search(r'^\s*#\|\s*default_exp\s+(\S+)', src, re.MULTILINE)
        assert m, f'{nb.name} has no `#| default_exp` cell'
        mod = ROOT / S['lib_path'] / (m.group(1).replace('.', '/') + '.py')
        assert mod.exists(), f'{nb.name} exports to {mod.relative_to(ROOT)}, which does not exist: run nbdev_export'


def test_notebooks_are_small():
    for nb in NBS.rglob('*.ipynb'):
        size = nb.stat().st_size
        assert size < 2.5e6, f'{nb.relative_to(ROOT)} is {size / 1e6:.1f} MB: make figures smaller (dpi=80) or fewer'


def _qwem_command():
    exe = Path(sys.executable).parent / 'qwem'
    return str(exe) if exe.exists() else shutil.which('qwem')


def test_cli_help():
    "The console command runs once the CLI exists; it must exist once 08_reproduce (the pipeline and CLI) does."
    cli = ROOT / S['lib_path'] / 'cli.py'
    if (NBS / '08_reproduce.ipynb').exists(): assert cli.exists(), '08_reproduce.ipynb exists but qwem/cli.py does not'
    if not cli.exists(): pytest.skip('qwem/cli.py not written yet (08_reproduce)')
    cmd = _qwem_command()
    assert cmd, 'the `qwem` console script is not installed: pip install -e ".[dev]"'
    r = subprocess.run([cmd, '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert 'usage' in r.stdout.lower()


def test_ci_runs_the_readme_test_command():
    "`.ci/run` runs exactly the README's test command, and that command runs tests/run.sh."
    blocks = re.findall(r'```(?:sh|bash)\n(.*?)```', (ROOT / 'README.md').read_text(), re.DOTALL)
    cmds = [b.strip() for b in blocks if 'tests/run.sh' in b]
    assert len(cmds) == 1, f'README.md should have one shell block with the test command, found {cmds}'
    ci = [l.strip() for l in (ROOT / '.ci' / 'run').read_text().splitlines() if l.strip() and not l.startswith('#')]
    assert cmds[0] in ci, f'.ci/run does not run the README test command {cmds[0]!r}'
    assert (ROOT / 'tests' / 'run.sh').exists()


def test_generated_files_are_ignored():
    ign = (ROOT / '.gitignore').read_text().split()
    for p in ('_docs/', '_proc/', '.venv/', 'nbs/sidebar.yml', 'nbs/nbdev.yml'): assert p in ign, p


def test_notebooks_name_their_kernel():
    "Every notebook carries the python3 kernelspec, and nbdev_clean keeps it (JupyterLab then opens it without asking)."
    from nbdev.clean import clean_nb
    want = {'display_name': 'python3', 'language': 'python', 'name': 'python3'}
    for nb_path in sorted(NBS.glob('*.ipynb')):
        nb = json.loads(nb_path.read_text(encoding='utf-8'))
        assert nb['metadata'].get('kernelspec') == want, f'{nb_path.name} has no python3 kernelspec'
        clean_nb(nb, allowed_metadata_keys=S.get('allowed_metadata_keys', '').split())
        assert nb['metadata'].get('kernelspec') == want, f'nbdev_clean drops the kernelspec of {nb_path.name}'
