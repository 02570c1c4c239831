#!/usr/bin/env python3
"""Execute notebooks in place so that their outputs are saved (the docs site is built from saved outputs).

    python tools/run_nb.py nbs/03_dynamics.ipynb            # every cell, `#| slow` ones included
    python tools/run_nb.py --skip-slow nbs/04_train.ipynb   # `#| slow` cells keep the outputs they had

The kernel starts in `nbs/`, as under `nbdev_test` and JupyterLab. The notebook is written atomically after a
successful run; on an error nothing is written and the failing cell is printed. Run `nbdev_clean` afterwards.
"""
import argparse, os, re, sys, time
from pathlib import Path

_re_slow = re.compile(r'^\s*#\|\s*slow\s*$', re.MULTILINE)


def is_slow(cell): return cell.cell_type == 'code' and bool(_re_slow.search(cell.source))


def run(path, skip_slow=False, timeout=7200, kernel='python3'):
    import nbformat
    from nbclient import NotebookClient
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    kept = {}
    if skip_slow:   # run the rest; the slow cells are blanked for the run and get their old outputs back
        for i, c in enumerate(nb.cells):
            if is_slow(c): kept[i] = (c.source, c.outputs); c.source = ''
    t0 = time.perf_counter()
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources={'metadata': {'path': str(path.parent)}})
    try: client.execute()
    except Exception as e:
        print(f'{path.name}: failed after {time.perf_counter() - t0:.0f} s: {str(e)[-3000:]}', file=sys.stderr)
        return 1
    for i, (src, outs) in kept.items(): nb.cells[i].source, nb.cells[i].outputs = src, outs
    from qwem.storage import write_text_atomic
    mode = path.stat().st_mode & 0o777
    text = nbformat.writes(nb)
    write_text_atomic(path, text if text.endswith('\n') else text + '\n')
    os.chmod(path, mode)
    print(f'{path.name}: executed in {time.perf_counter() - t0:.0f} s' + (f' ({len(kept)} slow cells skipped)' if kept else ''))
    return 0


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='+')
    p.add_argument('--skip-slow', action='store_true', help='do not run `#| slow` cells; keep their saved outputs')
    p.add_argument('--timeout', type=int, default=7200, help='seconds per cell (default 7200)')
    a = p.parse_args()
    sys.exit(max(run(nb, a.skip_slow, a.timeout) for nb in a.notebooks))
