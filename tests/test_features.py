"""qwem.features end to end on files: `embed_command` on the Brown corpus read back by gensim with the same analogy score,
`features_command` on a gensim-trained file (text and binary) beside our closed form, and bad vectors files. Small sizes
(V <= 1,000, d <= 16) so the file runs in well under a minute on two cores."""
import re

import numpy as np
import pytest
from gensim.models import KeyedVectors

from qwem.benchmarks import analogy_accuracy, to_keyedvectors
from qwem.corpus import brown_corpus
from qwem.reproduce import word2vec_column
import qwem.features as F
from qwem.cli import embed_command

V, L, D = 1000, 4, 16


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    "svd(M*) of the Brown corpus written by `embed_command`: (path, W, words)."
    path = tmp_path_factory.mktemp("embed") / "brown_mstar.txt"
    W, words = embed_command("brown", path, V=V, L=L, d=D, progress=False)
    return path, W, words


def test_embed_file_reads_back_in_gensim_with_the_same_analogy_score(embedded):
    path, W, words = embedded
    kv = KeyedVectors.load_word2vec_format(str(path))
    assert list(kv.index_to_key) == words and kv.vectors.shape == (V, D)
    np.testing.assert_allclose(kv.vectors, W, rtol=1e-6, atol=1e-7)   # 9 significant digits in the text
    mem, back = analogy_accuracy(W, words), analogy_accuracy(kv.vectors, list(kv.index_to_key))
    assert mem.n_used > 0
    assert (back.n_correct, back.n_used) == (mem.n_correct, mem.n_used)
    assert back.accuracy == mem.accuracy and (back.predicted == mem.predicted).all()


def test_embed_other_target_by_name(tmp_path):
    W, words = embed_command("brown", tmp_path / "ppmi.txt", target="PPMI", V=300, L=L, d=8, progress=False)
    W2, words2 = F.load_word2vec_vectors(tmp_path / "ppmi.txt")
    assert words2 == words and np.allclose(W2, W, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="unknown target 'GloVe'"):
        embed_command("brown", tmp_path / "x.txt", target="GloVe", V=300, d=8)


def test_features_command_on_a_gensim_file_and_our_closed_form(embedded, tmp_path, capsys):
    path, W, words = embedded
    ts = brown_corpus(progress=False)
    kv = to_keyedvectors(word2vec_column(ts, V, d=D, L=L, epochs=1, workers=1, seed=0, progress=False), ts.vocab(V))
    kv.save_word2vec_format(str(tmp_path / "gensim.txt")); kv.save_word2vec_format(str(tmp_path / "gensim.bin"), binary=True)
    res = F.features_command([tmp_path / "gensim.txt", tmp_path / "gensim.bin", path], tmp_path / "out",
                             k=D, n=5, search=500, ks=(5, 10))
    printed = capsys.readouterr().out
    assert "gensim.txt vs brown_mstar.txt" in printed and "| PC1 | gensim.bin |" in printed
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"figure3a.md", "figure3a.json", "figure5.png", "overlaps.json"}
    same = res["pairs"]["gensim.txt vs gensim.bin"]   # the binary copy of the same vectors: identical subspaces
    assert same["subspace"][10] == pytest.approx(1.0, abs=1e-5) and same["matched_overlap"] == pytest.approx(1.0, abs=1e-4)
    cross = res["pairs"]["gensim.txt vs brown_mstar.txt"]["subspace"]
    assert 10 / V < cross[10] <= 1.0   # above chance (k/V) for two models of one corpus
    with pytest.raises(ValueError, match=f"k={D + 1} is above the width"):
        F.features_command([tmp_path / "gensim.txt", path], tmp_path / "out2", k=D + 1)


@pytest.mark.parametrize("text, message", [
    ("3 2\ncat 1 2\ndog 1 2\n", "change the header's first number to 2"),
    ("2 2\ncat 1 2\ndog 1 2 3\n", "the header says 2 x 2 but row 2 ('dog') has 3"),
    ("cat 1 2 3\ndog 1 2\n", "row 1 has 3 numbers but row 2 ('dog') has 2"),
])
def test_bad_vectors_files_say_what_to_change(tmp_path, text, message):
    (tmp_path / "bad.txt").write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        F.features_command([tmp_path / "bad.txt"], tmp_path / "out")


def test_too_few_words_in_the_search_range(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="only 8 words lie in the search range"):
        F.component_words(rng.standard_normal((8, 4)), [f"w{i}" for i in range(8)], 0, n=10)
