"""End-to-end checks of the content-keyed pipeline behind `qwem reproduce` (qwem.pipeline, qwem.reproduce) that need
separate processes: a run killed at every stage in turn and restarted, two processes on one output folder, and a
changed preset that must rerun its stages. All on the Brown corpus at a tiny size with the "test" presets and gensim on
one worker thread (deterministic), so every table is reproducible exactly."""
import json, os, re, signal, subprocess, sys, textwrap
from pathlib import Path
import pytest

COLUMNS = ("word2vec (gensim)", "QWEM (ours)", "svd(M*)")
RUN = textwrap.dedent("""
    import sys
    from qwem.reproduce import reproduce
    reproduce(sys.argv[1], corpus="brown", V=300, L=4, d=8, columns={columns!r}, w2v_epochs=1, w2v_workers=1,
              train_preset="test", progress=False)
""").format(columns=COLUMNS)


def start(out):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", RUN, str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def finish(p, timeout=600):
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, out[-3000:]
    return out


def ran(log):
    return re.findall(r"^\[(.+)\] running$", log, re.M)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "An uninterrupted run: its table and the order of its stages."
    out = tmp_path_factory.mktemp("reference")
    log = finish(start(out))
    return json.loads((out / "table.json").read_text()), ran(log)


def test_killed_at_every_stage_resumes_to_the_same_table(tmp_path, reference):
    """Kill the run (SIGKILL) as soon as a stage reports done, restart it, and repeat: each restart does one more stage
    (or redoes the one it was in the middle of), and the final table equals the uninterrupted run's exactly."""
    table, stages = reference
    assert len(stages) >= 10, stages
    done = set()
    for _ in range(len(stages) + 2):
        p = start(tmp_path)
        for line in p.stdout:
            m = re.match(r"^\[(.+)\] done in", line)
            if m and m.group(1) not in done:
                done.add(m.group(1)); p.send_signal(signal.SIGKILL); break
        p.wait(timeout=600)
        if p.returncode == 0: break
    assert done == set(stages), set(stages) ^ done                     # every stage was the last one finished once
    log = finish(start(tmp_path))
    assert ran(log) == []                                              # nothing left to do
    assert json.loads((tmp_path / "table.json").read_text()) == table  # exactly the uninterrupted table
    assert all(json.loads(f.read_text())["key"] for f in (tmp_path / "records").glob("*.json"))   # no torn record


def test_two_processes_on_one_folder_run_each_stage_once(tmp_path, reference):
    "Two runs started together on the same output folder take turns stage by stage: each stage runs once in all."
    table, stages = reference
    a, b = start(tmp_path), start(tmp_path)
    logs = finish(a) + finish(b)
    assert sorted(ran(logs)) == sorted(stages)
    assert json.loads((tmp_path / "table.json").read_text()) == table


def test_a_changed_preset_reruns_its_stages(tmp_path, monkeypatch):
    "Change the QWEM test preset between two runs: its training, scores, the figure and the features stage rerun; nothing else does."
    from qwem import experiments, reproduce as rep
    kw = dict(corpus="brown", V=300, L=4, d=8, columns=COLUMNS, w2v_epochs=1, w2v_workers=1, train_preset="test", progress=False)
    first = rep.reproduce(tmp_path, **kw)
    monkeypatch.setitem(experiments.PRESETS["qwem"], "test", experiments.preset("qwem", "test", steps=60))
    second = rep.reproduce(tmp_path, **kw)
    again = {n for n, s in second["stage_seconds"].items() if s["ran"]}
    assert again == {"train:qwem", "emb:QWEM (ours)", "training_dynamics", "features"}, again   # rmt reads the counts only
    assert (tmp_path / "figure2_sgd.png").exists()
    rec = json.loads((tmp_path / "records" / "emb_qwem_ours.json").read_text())
    assert rec["record"]["steps"] == 60
    assert json.dumps(first["table"]["svd(M*)"]) == json.dumps(second["table"]["svd(M*)"])   # NaN-safe
