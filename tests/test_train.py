"Trainers (qwem.step, qwem.train, qwem.experiments): fault injection, resume, export, data parallelism, bad input."
import json, os, subprocess, sys, textwrap, numpy as np, pytest
from qwem.counting import random_stream, cooccurrence_counts
from qwem.step import model_config, configure
from qwem.train import train, save_word2vec, TrainingDiverged

V, L = 50, 4

@pytest.fixture(scope="module")
def stream():
    tok, off = random_stream(300, V, rng=3, max_len=40)
    return tok, off, cooccurrence_counts(tok, off, V, L, progress=False)

def cfg(model, **changes):
    base = dict(d=8, L=L, B=1024, n_neg=2, steps=30, sigma=0.1, lr=1.0 if model == "sgns" else 3e-4, **(dict(subsample=1e-3) if model == "sgns" else {}))
    return model_config(model, **{**base, **changes})

def run(tok, off, V, c, model, **kw):
    return train(tok, off, V, cfg(model, **kw.pop("changes", {})), counts=c, progress=False, **kw)

@pytest.mark.parametrize("model", ["qwem", "sgns"])
def test_resume_after_ctrl_c_is_bit_for_bit(tmp_path, stream, model):
    tok, off, c = stream
    straight = run(tok, off, V, c, model)
    def ctrl_c(step, params):
        if step == 13: raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run(tok, off, V, c, model, checkpoint_dir=tmp_path, callback=ctrl_c, eval_every=1)
    assert (tmp_path / "checkpoint.npz").exists()
    resumed = run(tok, off, V, c, model, checkpoint_dir=tmp_path)
    assert resumed.meta["resumed_from"] == 13
    np.testing.assert_array_equal(resumed.W, straight.W)
    np.testing.assert_array_equal(resumed.losses, straight.losses)
    assert resumed.log["step"].tolist() == straight.log["step"].tolist()

def test_unreadable_or_foreign_checkpoint(tmp_path, stream):
    tok, off, c = stream
    run(tok, off, V, c, "qwem", checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="different run.*seed: 0 there, 1 here"):
        run(tok, off, V, c, "qwem", checkpoint_dir=tmp_path, changes=dict(seed=1))
    with pytest.raises(ValueError, match="different run.*stream"):
        run(tok[:off[-2]], off[:-1], V, c, "qwem", checkpoint_dir=tmp_path)     # the stream without its last document
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="unreadable"):
        run(tok, off, V, c, "qwem", checkpoint_dir=tmp_path)

def test_checkpoint_write_is_atomic(tmp_path, stream, monkeypatch):
    "A crash while the second checkpoint is written leaves the first one intact and no temp files behind."
    tok, off, c = stream
    real, calls = np.savez, []
    def boom(f, **arrays):
        calls.append(1); real(f, **arrays)
        if len(calls) == 2: raise OSError("disk full")
    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        run(tok, off, V, c, "qwem", checkpoint_dir=tmp_path, checkpoint_every=10)
    monkeypatch.setattr(np, "savez", real)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]
    with np.load(tmp_path / "checkpoint.npz") as z: assert int(z["step"]) == 10
    straight = run(tok, off, V, c, "qwem")
    resumed = run(tok, off, V, c, "qwem", checkpoint_dir=tmp_path, checkpoint_every=10)
    assert resumed.meta["resumed_from"] == 10
    np.testing.assert_array_equal(resumed.W, straight.W)

def test_divergence_names_the_learning_rate(stream):
    tok, off, c = stream
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ \(lr=10.*lower the learning rate, e.g. --lr 2.5"):
        run(tok, off, V, c, "qwem", changes=dict(lr=10.0))

def test_trained_vectors_load_in_gensim(tmp_path, stream):
    from gensim.models import KeyedVectors
    tok, off, c = stream
    r = run(tok, off, V, c, "sgns")
    words = [f"w{i}" for i in range(V)]
    save_word2vec(tmp_path / "vec.txt", r.W, words)
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "vec.txt"), binary=False)
    assert kv.index_to_key == words
    np.testing.assert_array_equal(kv.vectors, r.W)
    assert kv.most_similar("w0", topn=1)[0][0] != "w0"

_DP_SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, jax
    from qwem.counting import random_stream, cooccurrence_counts
    from qwem.step import model_config, configure
    from qwem.train import train
    assert len(jax.devices()) == 2, jax.devices()
    model, extra = sys.argv[1], json.loads(sys.argv[2])
    tok, off = random_stream(400, 60, rng=0, max_len=30)
    c = cooccurrence_counts(tok, off, 60, 4, progress=False)
    base = model_config(model, d=8, L=4, B=512, n_neg=2, steps=30, lr=2.0 if model == "sgns" else 3e-4, sigma=0.1, snapshot_steps=(0,), **extra)
    a = train(tok, off, 60, base, counts=c, progress=False)
    b = train(tok, off, 60, configure(base, devices=2), counts=c, progress=False)
    print(json.dumps(dict(rel=float(np.linalg.norm(a.W - b.W) / np.linalg.norm(a.W)), devices=b.meta["devices"],
                          moved=float(np.linalg.norm(a.W - a.snapshots[0]) / np.linalg.norm(a.snapshots[0])))))
""")

@pytest.mark.parametrize("model,extra", [("qwem", {}), ("sgns", {}), ("sgns", {"group": 64}), ("qwem", {"group": 64}),
                                         ("qwem", {"negatives": "exact", "positives": "entries"}), ("sgns", {"windows": True, "group": 4})])
def test_two_devices_match_one(model, extra):
    """One device against two forced CPU devices (a fresh process: JAX fixes its devices at start-up). The sampled pairs are
    identical, only the order of float32 additions differs: relative Frobenius error below 1e-5, while W moved by more than 5%."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    p = subprocess.run([sys.executable, "-c", _DP_SCRIPT, model, json.dumps(extra)], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(r["devices"]) == 2 and r["rel"] < 1e-5 and r["moved"] > 0.05, r

def test_bad_input(stream):
    tok, off, c = stream
    with pytest.raises(ValueError, match="model"): model_config("glove")
    with pytest.raises(ValueError, match="lr"): cfg("qwem", lr=-1.0)
    with pytest.raises(ValueError, match="V=40"): train(tok, off, 40, cfg("sgns"), progress=False)
    with pytest.raises(ValueError, match="counts"): train(tok, off, V, cfg("qwem"), progress=False)
    c20 = cooccurrence_counts(tok, off, V, 2, progress=False)
    with pytest.raises(ValueError, match="L="): train(tok, off, V, cfg("qwem"), counts=c20, progress=False)
    with pytest.raises(ValueError, match="schedule"): cfg("qwem", schedule="cosine")
    with pytest.raises(ValueError, match="devices"): run(tok, off, V, c, "qwem", changes=dict(devices=64))

def test_train_corpus_writes_gensim_readable_vectors_and_resumes(tmp_path):
    from gensim.models import KeyedVectors
    from qwem.corpus import brown_corpus
    from qwem.experiments import train_corpus, preset
    ts = brown_corpus(progress=False)
    for model in ("qwem", "sgns"):
        folder = tmp_path / model
        r = train_corpus(preset(model, "test", d=16), ts, V=500, folder=folder, progress=False)
        kv = KeyedVectors.load_word2vec_format(str(folder / "vectors.txt"))
        assert kv.index_to_key == ts.vocab(500)
        np.testing.assert_array_equal(kv.vectors, r.W)
        np.testing.assert_array_equal(np.load(folder / "W.npy"), r.W)
        rec = json.loads((folder / "log.json").read_text())
        assert rec["meta"]["key"] == r.config.key() and len(rec["log"]["step"]) == len(r.log["step"])
        again = train_corpus(preset(model, "test", d=16), ts, V=500, folder=folder, progress=False)
        assert again.meta["resumed_from"] == r.config.steps       # finished: nothing to redo
        np.testing.assert_array_equal(again.W, r.W)
    with pytest.raises(ValueError, match="preset"): preset("qwem", "gpu")

@pytest.mark.parametrize("model,tied", [("sgns", False), ("sgns", True), ("qwem", True)])
def test_inner_updates_match_a_sequential_reference(stream, model, tied):
    "`inner_updates=True` (word2vec's preset): each chunk's update applied at once, checked against plain numpy, chunk by chunk."
    import jax
    from qwem.step import make_step, PairSource, init_params, sample_batch, qwem_terms, sgns_terms
    tok, off, c = stream
    B, n, d, lr, chunk = 1024, 2, 8, 0.025 * 1024 if model == "sgns" else 3e-3, 96   # 96 // (1 + n) = 32 pairs per chunk: 32 chunks
    conf = model_config(model, d=d, L=L, B=B, n_neg=n, tied=tied, sigma=0.3, chunk=chunk, inner_updates=True)
    data = PairSource(conf, tok, off, V, counts=c if model == "qwem" else None).data(0)
    params = init_params(jax.random.key(0), V, conf)
    key = jax.random.key(7)
    batch = [np.asarray(a) for a in sample_batch(key, data, B=B, n_neg=n)]
    W0 = np.asarray(params["W"], np.float64); C0 = W0 if tied else np.asarray(params["C"], np.float64)
    W = W0.copy(); C = W if tied else C0.copy()
    for s in range(0, B, 32):
        i, j, jn = (a[s:s + 32].astype(np.int64) for a in batch[:3])
        xp, xn = np.sum(W[i] * C[j], -1), np.einsum("cd,cnd->cn", W[i], C[jn])
        if model == "qwem": gp, gn = (np.asarray(qwem_terms(x, a[s:s + 32], neg)[1], np.float64) for x, a, neg in ((xp, batch[3], False), (xn, batch[4], True)))
        else: gp, gn = (np.asarray(sgns_terms(x, neg)[1], np.float64) / B for x, neg in ((xp, False), (xn, True)))
        ui = gp[:, None] * C[j] + np.einsum("cn,cnd->cd", gn, C[jn])
        uj, un = gp[:, None] * W[i], (gn[..., None] * W[i][:, None, :]).reshape(-1, d)
        if tied: np.add.at(W, np.concatenate([i, j, jn.ravel()]), -lr * np.concatenate([ui, uj, un]))
        else: np.add.at(W, i, -lr * ui); np.add.at(C, np.concatenate([j, jn.ravel()]), -lr * np.concatenate([uj, un]))
    step, _ = make_step(conf)
    new, _, _ = step(params, data, key, lr)          # params are donated: W0, C0 hold the start
    moved = np.linalg.norm(W - W0)
    assert moved > 1e-2 * np.linalg.norm(W)          # the step really moves W
    # float32 against float64: rounding only (about 1e-7 per operation, a few hundred operations per row)
    assert np.linalg.norm(np.asarray(new["W"], np.float64) - W) < 1e-4 * moved
    if not tied: assert np.linalg.norm(np.asarray(new["C"], np.float64) - C) < 1e-4 * np.linalg.norm(C - C0)
    # and the chunks really see each other's updates: one update per step from the same W lands elsewhere
    plain, _ = make_step(configure(conf, inner_updates=False))
    once, _, _ = plain(init_params(jax.random.key(0), V, conf), data, key, lr)
    assert np.linalg.norm(np.asarray(once["W"], np.float64) - W) > 1e-2 * moved

def test_qwem_past_memory_fails_before_counting(monkeypatch, tmp_path):
    "QWEM's dense V x V arrays that would not fit stop `train_corpus` at once: before the counts and any V x V array."
    import qwem.train_data, qwem.experiments
    from qwem.train_data import DenseTablesTooLarge
    from qwem.experiments import train_corpus, preset
    monkeypatch.setattr(qwem.train_data, "available_memory", lambda: 2**30)           # a 1 GiB machine
    monkeypatch.setattr(qwem.experiments, "count_corpus", lambda *a, **k: pytest.fail("counted before the memory check"))
    with pytest.raises(DenseTablesTooLarge, match=r"at V=10,000 they need at least .* 1.0 GiB are available.*about 8,000 fits.*sgns"):
        train_corpus(preset("qwem", "test"), "brown", V=10_000, folder=tmp_path, progress=False)
    monkeypatch.setenv("QWEM_DENSE_MEMORY_CHECK", "0")
    with pytest.raises(pytest.fail.Exception, match="counted"):                  # the check can be turned off
        train_corpus(preset("qwem", "test"), "brown", V=10_000, folder=tmp_path, progress=False)

@pytest.mark.parametrize("positives", ["stream", "entries"])
def test_sparse_pairs_train_like_dense(stream, positives):
    """QWEM trained from P_ij as a scipy.sparse matrix against the dense table: the same pairs are drawn, Psi differs by float32
    rounding only (1/(P_i P_j) as a float32 product), so after 30 steps W agrees to a relative 1e-5 while it moved by > 2%
    (measured: 4.7% with the entries sampler, whose weights are bounded; more with stream pairs)."""
    import scipy.sparse as sp
    tok, off, c = stream
    P, Pi = c.pair_probabilities(weighted=True), c.unigram_probabilities()
    dense = run(tok, off, V, (P, Pi), "qwem", changes=dict(positives=positives, snapshot_steps=(0,)))
    sparse = run(tok, off, V, (sp.csr_array(P), Pi), "qwem", changes=dict(positives=positives))
    assert np.linalg.norm(sparse.W - dense.W) < 1e-5 * np.linalg.norm(dense.W)
    assert np.linalg.norm(dense.W - dense.snapshots[0]) > 0.02 * np.linalg.norm(dense.snapshots[0])
