"Trainers (qwem.train): fault injection, resume, export, data parallelism, bad input."
import json, os, numpy as np, pytest
from qwem.counting import random_stream, cooccurrence_counts
from qwem.train import train, save_word2vec, TrainingDiverged, data_parallel_check

V, L = 50, 4

@pytest.fixture(scope="module")
def stream():
    tok, off = random_stream(300, V, key=3, max_len=40)
    return tok, off, cooccurrence_counts(tok, off, V, L, progress=False)

def kw(model):
    return dict(model=model, d=8, L=L, B=1024, n_neg=2, steps=30, sigma=0.1, progress=False,
                lr=1.0 if model == "sgns" else 3e-4, subsample=1e-3)

@pytest.mark.parametrize("model", ["qwem", "sgns"])
def test_resume_after_ctrl_c_is_bit_for_bit(tmp_path, stream, model):
    tok, off, c = stream
    straight = train(tok, off, V, counts=c, **kw(model))
    def ctrl_c(step, params):
        if step == 13: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(tok, off, V, counts=c, checkpoint_dir=tmp_path, callback=ctrl_c, eval_every=1, **kw(model))
    assert (tmp_path / "checkpoint.npz").exists()
    resumed = train(tok, off, V, counts=c, checkpoint_dir=tmp_path, **kw(model))
    assert resumed.meta["resumed_from"] == 13
    np.testing.assert_array_equal(resumed.W, straight.W)
    np.testing.assert_array_equal(resumed.losses, straight.losses)
    assert resumed.log["step"].tolist() == straight.log["step"].tolist()

def test_unreadable_or_foreign_checkpoint(tmp_path, stream):
    tok, off, c = stream
    train(tok, off, V, counts=c, checkpoint_dir=tmp_path, **kw("qwem"))
    with pytest.raises(ValueError, match="different run"):
        train(tok, off, V, counts=c, checkpoint_dir=tmp_path, **{**kw("qwem"), "seed": 1})
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="unreadable"):
        train(tok, off, V, counts=c, checkpoint_dir=tmp_path, **kw("qwem"))

def test_checkpoint_write_is_atomic(tmp_path, stream, monkeypatch):
    "A crash while the second checkpoint is written leaves the first one intact and no temp files behind."
    tok, off, c = stream
    real, calls = np.savez, []
    def boom(f, **arrays):
        calls.append(1); real(f, **arrays)
        if len(calls) == 2: raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        train(tok, off, V, counts=c, checkpoint_dir=tmp_path, checkpoint_every=10, **kw("qwem"))
    monkeypatch.setattr(np, "savez", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]
    with np.load(tmp_path / "checkpoint.npz") as z: assert int(z["step"]) == 10
    straight = train(tok, off, V, counts=c, **kw("qwem"))
    resumed = train(tok, off, V, counts=c, checkpoint_dir=tmp_path, checkpoint_every=10, **kw("qwem"))
    assert resumed.meta["resumed_from"] == 10
    np.testing.assert_array_equal(resumed.W, straight.W)

def test_divergence_names_the_learning_rate(stream):
    tok, off, c = stream
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ \(lr=10.*lower the learning rate, e.g. --lr 2.5"):
        train(tok, off, V, counts=c, **{**kw("qwem"), "lr": 10.0})

def test_trained_vectors_load_in_gensim(tmp_path, stream):
    from gensim.models import KeyedVectors
    tok, off, c = stream
    r = train(tok, off, V, counts=c, **kw("sgns"))
    words = [f"w{i}" for i in range(V)]
    save_word2vec(tmp_path / "vec.txt", r.W, words)
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "vec.txt"), binary=False)
    assert kv.index_to_key == words
    np.testing.assert_array_equal(kv.vectors, r.W)
    assert kv.most_similar("w0", topn=1)[0][0] != "w0"

@pytest.mark.parametrize("model", ["qwem", "sgns"])
def test_two_devices_match_one(model):
    r = data_parallel_check(model)
    assert len(r["devices"]) == 2 and r["rel"] < 1e-5 and r["moved"] > 0.05, r

def test_bad_input(stream):
    tok, off, c = stream
    with pytest.raises(ValueError, match="model"): train(tok, off, V, model="glove", progress=False)
    with pytest.raises(ValueError, match="lr"): train(tok, off, V, counts=c, **{**kw("qwem"), "lr": -1.0})
    with pytest.raises(ValueError, match="V=40"): train(tok, off, 40, counts=c, **kw("sgns"))
    with pytest.raises(ValueError, match="counts"): train(tok, off, V, **kw("qwem"))
    c20 = cooccurrence_counts(tok, off, V, 2, progress=False)
    with pytest.raises(ValueError, match="L="): train(tok, off, V, counts=c20, **kw("qwem"))
    with pytest.raises(ValueError, match="schedule"): train(tok, off, V, counts=c, schedule="cosine", **kw("qwem"))
    with pytest.raises(ValueError, match="devices"): train(tok, off, V, counts=c, devices=64, **kw("qwem"))

def test_train_corpus_writes_gensim_readable_vectors_and_resumes(tmp_path):
    from gensim.models import KeyedVectors
    from qwem.corpus import brown_corpus
    from qwem.experiments import train_corpus
    ts = brown_corpus(progress=False)
    for model in ("qwem", "sgns"):
        r = train_corpus(model, ts, V=500, d=16, preset="test", out=tmp_path, progress=False)
        folder = tmp_path / model
        kv = KeyedVectors.load_word2vec_format(str(folder / "vectors.txt"))
        assert kv.index_to_key == ts.vocab(500)
        np.testing.assert_array_equal(kv.vectors, r.W)
        np.testing.assert_array_equal(np.load(folder / "W.npy"), r.W)
        rec = json.loads((folder / "log.json").read_text())
        assert rec["meta"]["preset"] == "test" and len(rec["log"]["step"]) == len(r.log["step"])
        again = train_corpus(model, ts, V=500, d=16, preset="test", out=tmp_path, progress=False)
        assert again.meta["resumed_from"] == r.meta["config"]["steps"]       # finished: nothing to redo
        np.testing.assert_array_equal(again.W, r.W)
    with pytest.raises(ValueError, match="preset"): train_corpus("qwem", ts, V=500, preset="gpu", progress=False)
