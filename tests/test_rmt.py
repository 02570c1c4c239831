"""qwem.rmt_analysis end to end: `rmt_command` on a gensim-trained word2vec file (Brown, V = 2000), the eigenpair cache
(written through qwem.storage, then loaded, and refused when it does not match its info.json), and the error messages
for bad input."""
import json

import numpy as np
import pytest

import qwem.rmt_analysis as A
from qwem.features import load_word2vec_vectors
from qwem.benchmarks import gensim_word2vec, to_keyedvectors
from qwem.corpus import brown_corpus
from qwem.counting import count_corpus


@pytest.fixture(scope="module")
def brown_vectors(tmp_path_factory):
    "gensim skip-gram on Brown (V = 2000, d = 40, 2 epochs), saved in word2vec text format by gensim itself."
    ts = brown_corpus(progress=False)
    tokens, offsets = ts.restrict(2000)
    W = gensim_word2vec(tokens, offsets, ts.vocab(2000), d=40, window=5, negative=5, epochs=2, workers=2, seed=0,
                        progress=False)
    path = tmp_path_factory.mktemp("w2v") / "brown40.txt"
    to_keyedvectors(W, ts.vocab(2000)).save_word2vec_format(str(path), binary=False)
    return path, W, ts.vocab(2000)


def test_command_on_gensim_vectors(brown_vectors, tmp_path, capsys):
    path, W, words = brown_vectors
    res = A.rmt_command(path, out=tmp_path, n_sub=20, null_draws=20)
    table = capsys.readouterr().out
    assert "skipping category 'currency'" in table and "Spearman" in table
    assert res["d_grid"] == [40] and not res["closed_form"]
    saved = json.loads((tmp_path / "rmt.json").read_text())
    assert saved["binaries_missing"] == res["binaries_missing"] > 0 and saved["binaries_total"] == 573
    assert {"figure4_spectra.png", "figure4_snr.png"} <= set(res["figures"])
    assert all((tmp_path / f).stat().st_size > 1000 for f in res["figures"])
    Wf, wf = load_word2vec_vectors(path)                      # our reader against gensim's vectors
    idx = {w: i for i, w in enumerate(wf)}
    np.testing.assert_allclose(Wf[[idx[w] for w in words[:50]]], W[:50], rtol=1e-5, atol=1e-6)


def test_eigen_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("QWEM_CACHE", str(tmp_path))
    counts = count_corpus(brown_corpus(progress=False), 300, 4, cache=False, progress=False)
    counts.meta.setdefault("fingerprint", "test")
    vals, vecs, info = A.cached_eigenpairs(counts, progress=False)
    folder = A.eigen_cache_folder(counts)
    assert folder.parent == tmp_path / "rmt" / "eigenpairs" and folder.name.endswith("_V300_L4_drop_canonical")
    assert vals.shape == (300,) and vecs.shape == (300, info["non_negative"]) and np.all(np.diff(vals) <= 0)
    vals2, vecs2, _ = A.cached_eigenpairs(counts, progress=False)   # loaded, not recomputed
    np.testing.assert_array_equal(vecs2, vecs)
    info["non_negative"] += 1
    (folder / "info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="does not match its info.json"): A.cached_eigenpairs(counts)


def test_bad_input(brown_vectors, tmp_path):
    path, _, _ = brown_vectors
    (tmp_path / "q.txt").write_text("athens greece baghdad iraq\n")
    with pytest.raises(ValueError, match="needs a ': category' line above"):
        A.rmt_command(path, analogies=tmp_path / "q.txt", out=tmp_path)
    with pytest.raises(ValueError, match="not both or neither"): A.rmt_command(path, corpus="brown")
    (tmp_path / "short.txt").write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(ValueError, match="the header says 3 x 2 but the file has 2 rows"): A.rmt_command(tmp_path / "short.txt", out=tmp_path)
    W, words = load_word2vec_vectors(path)
    with pytest.raises(ValueError, match="above the embeddings' width 40"):
        A.rmt_analysis(W, words, tmp_path, d_grid=[64], closed_form=True)
