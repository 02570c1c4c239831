"""Tests of qwem.counting that are awkward in a notebook: fault injection (a run killed after chunk 2
resumes from its checkpoint), corrupt and mismatched caches, thread counts."""
import json, subprocess, sys, textwrap, warnings
from pathlib import Path

import numba
import numpy as np
import pytest

import qwem.counting as qc
import qwem.storage as qs
from qwem.counting import (CacheError, CooccurrenceCounts, brute_force_counts, cooccurrence_counts,
                           count_corpus, random_stream)


class FakeStream:
    "Duck-typed stand-in for qwem.corpus.TokenStream: ids are ranks in a frequency-sorted word list."

    def __init__(self, folder, tokens, offsets, fingerprint="corpus-A", tokenizer="tok-1"):
        self.folder, self.fingerprint, self.manifest = Path(folder), fingerprint, {"tokenizer": tokenizer}
        self.tokens, self.offsets = np.asarray(tokens, np.uint32), np.asarray(offsets, np.int64)
        self.restrict_calls = 0

    def restrict(self, V, oov="drop"):
        self.restrict_calls += 1
        inv = self.tokens < V
        if oov == "gap":
            return np.where(inv, self.tokens, V).astype(np.uint16), self.offsets.copy()
        kept = np.concatenate([[0], np.cumsum(inv)])[self.offsets]
        return self.tokens[inv].astype(np.uint16), kept.astype(np.int64)


def assert_same(a, b):
    np.testing.assert_array_equal(a.raw, b.raw)
    np.testing.assert_array_equal(a.weighted, b.weighted)
    np.testing.assert_array_equal(a.unigram, b.unigram)
    assert a.L == b.L


@pytest.fixture
def stream_arrays():
    return random_stream(400, 40, rng=np.random.default_rng(7), max_len=60, gap_rate=0.1)


# ---- agreement with the brute-force definition -------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("L", [1, 3, 16])
@pytest.mark.parametrize("gap_rate", [0.0, 0.25])
def test_fast_equals_brute_force(seed, L, gap_rate):
    toks, offs = random_stream(40, 15, rng=np.random.default_rng(100 + seed), max_len=2 * L + 3, gap_rate=gap_rate)
    ref = brute_force_counts(toks, offs, 15, L)
    for layout in ("packed", "separate"):
        c = cooccurrence_counts(toks, offs, 15, L, progress=False, layout=layout, chunk_tokens=17)
        np.testing.assert_array_equal(c.raw, ref.raw)
        np.testing.assert_array_equal(c.unigram, ref.unigram)
        np.testing.assert_allclose(c.weighted, ref.weighted, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(c.raw, c.raw.T)
        np.testing.assert_array_equal(c.weighted, c.weighted.T)


def test_total_mass_formula():
    toks, offs = random_stream(500, 30, rng=np.random.default_rng(3), max_len=50)  # no gaps: oov="drop" semantics
    L = 16
    c = cooccurrence_counts(toks, offs, 30, L, progress=False)
    lens = np.diff(offs)
    pairs = sum(max(0, int(n) - k) for n in lens for k in range(1, L + 1))
    wpairs = sum(max(0, int(n) - k) * (L - k + 1) / L for n in lens for k in range(1, L + 1))
    assert int(c.raw.sum()) == 2 * pairs
    assert c.meta["n_pairs"] == pairs
    np.testing.assert_allclose(c.weighted.sum(), 2 * wpairs, rtol=1e-12)
    assert c.meta["n_docs_shorter_than_window"] == int((lens < 2 * L + 1).sum())


def test_thread_counts_agree(stream_arrays):
    toks, offs = stream_arrays
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = cooccurrence_counts(toks, offs, 40, 5, progress=False)
        numba.set_num_threads(old)
        many = cooccurrence_counts(toks, offs, 40, 5, progress=False)
    finally:
        numba.set_num_threads(old)
    assert one.meta["threads"] == 1
    assert_same(one, many)


# ---- checkpoints: fault injection ----------------------------------------------------------------------

class Boom(RuntimeError):
    pass


REAL_COUNT_CHUNK = qc._count_chunk


def count_chunks(monkeypatch, fail_after=None):
    "Wrap qc._count_chunk: record the chunk starts and raise after `fail_after` chunks."
    calls, real = [], REAL_COUNT_CHUNK

    def wrapped(tokens, offsets, s, *args):
        if fail_after is not None and len(calls) == fail_after:
            raise Boom(f"injected failure before chunk {len(calls)}")
        calls.append(s)
        return real(tokens, offsets, s, *args)

    monkeypatch.setattr(qc, "_count_chunk", wrapped)
    return calls


@pytest.mark.parametrize("layout", ["packed", "separate"])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch, stream_arrays, layout):
    toks, offs = stream_arrays
    kw = dict(V=40, L=7, progress=False, chunk_tokens=2000, checkpoint_every=0, layout=layout)
    n_chunks = -(-len(toks) // 2000)
    assert n_chunks >= 5
    full = cooccurrence_counts(toks, offs, **kw)
    ckpt = tmp_path / "ckpt"
    calls = count_chunks(monkeypatch, fail_after=2)
    with pytest.raises(Boom):
        cooccurrence_counts(toks, offs, checkpoint_dir=ckpt, **kw)
    assert calls == [0, 2000]
    assert json.loads((ckpt / "checkpoint.json").read_text())["done"] == 2
    calls = count_chunks(monkeypatch)
    resumed = cooccurrence_counts(toks, offs, checkpoint_dir=ckpt, **kw)
    assert calls == [2000 * c for c in range(2, n_chunks)]  # finished chunks are not recounted
    assert_same(resumed, full)
    assert not (ckpt / "checkpoint.json").exists()  # removed once the count is complete


def test_killed_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, stream_arrays):
    toks, offs = stream_arrays
    kw = dict(V=40, L=7, progress=False, chunk_tokens=2000, checkpoint_every=0)
    real_write, written = qs.write_json_atomic, []

    def write(path, obj, indent=1):  # dies after the arrays of the second checkpoint, before its checkpoint.json
        if Path(path).name == "checkpoint.json":
            written.append(path)
            if len(written) == 2: raise Boom("killed while checkpointing")
        return real_write(path, obj, indent)

    monkeypatch.setattr(qs, "write_json_atomic", write)   # qwem.storage.save_arrays writes its manifest with it
    with pytest.raises(Boom):
        cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    monkeypatch.setattr(qs, "write_json_atomic", real_write)
    assert json.loads((tmp_path / "checkpoint.json").read_text())["done"] == 1
    calls = count_chunks(monkeypatch)
    c = cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    assert calls[0] == 2000  # resumed after chunk 1, the last complete checkpoint
    assert_same(c, cooccurrence_counts(toks, offs, **kw))
    assert not tmp_path.exists()  # checkpoint folder removed, including the orphans of the failed write


def test_checkpoint_of_other_inputs_is_ignored(tmp_path, monkeypatch, stream_arrays):
    toks, offs = stream_arrays
    kw = dict(V=40, L=7, progress=False, chunk_tokens=2000, checkpoint_every=0)
    count_chunks(monkeypatch, fail_after=2)
    with pytest.raises(Boom):
        cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    calls = count_chunks(monkeypatch)
    other = toks.copy(); other[5] = (other[5] + 1) % 40
    with pytest.warns(UserWarning, match="made for other inputs"):
        c = cooccurrence_counts(other, offs, checkpoint_dir=tmp_path, **kw)
    assert calls[0] == 0  # counted from the start
    assert_same(c, cooccurrence_counts(other, offs, **kw))


def test_corrupt_checkpoint_is_ignored(tmp_path, monkeypatch, stream_arrays):
    toks, offs = stream_arrays
    kw = dict(V=40, L=7, progress=False, chunk_tokens=2000, checkpoint_every=0)
    count_chunks(monkeypatch, fail_after=3)
    with pytest.raises(Boom):
        cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    f = next(tmp_path.glob("acc*.npy"))
    b = bytearray(f.read_bytes()); b[-1] ^= 1; f.write_bytes(bytes(b))
    calls = count_chunks(monkeypatch)
    with pytest.warns(UserWarning, match="corrupt"):
        c = cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    assert calls[0] == 0
    assert_same(c, cooccurrence_counts(toks, offs, **kw))


# ---- count_corpus: the cache ---------------------------------------------------------------------------

@pytest.fixture
def stream(tmp_path):
    toks, offs = random_stream(300, 60, rng=np.random.default_rng(11), max_len=50)  # ids up to 59: V=40 leaves OOV words
    return FakeStream(tmp_path, toks, offs)


def test_cache_roundtrip_and_reuse(stream, monkeypatch):
    c = count_corpus(stream, V=40, L=5, progress=False)
    folder = stream.folder / "counts" / "V40_L5_drop"
    assert (folder / "manifest.json").exists()
    assert c.meta["fingerprint"] == "corpus-A" and c.meta["oov"] == "drop" and c.meta["tokenizer"] == "tok-1"
    monkeypatch.setattr(qc, "cooccurrence_counts", lambda *a, **k: pytest.fail("cache not used"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = count_corpus(stream, V=40, L=5, progress=False)
    assert_same(again, c)
    assert stream.restrict_calls == 1


def test_oov_modes_agree_with_brute_force(stream):
    for oov in ("drop", "gap"):
        c = count_corpus(stream, V=40, L=4, oov=oov, progress=False)
        ref = brute_force_counts(*stream.restrict(40, oov=oov), 40, 4)
        np.testing.assert_array_equal(c.raw, ref.raw)
        np.testing.assert_allclose(c.weighted, ref.weighted, rtol=1e-12)
    assert (stream.folder / "counts" / "V40_L4_gap" / "manifest.json").exists()


@pytest.mark.parametrize("damage, message", [
    ("flip", "corrupt"), ("truncate", "truncated"), ("manifest", "incomplete save"), ("garble", "not valid JSON")])
def test_damaged_cache_is_detected_and_recomputed(stream, damage, message):
    c = count_corpus(stream, V=40, L=5, progress=False)
    folder = stream.folder / "counts" / "V40_L5_drop"
    raw = folder / "raw.npy"
    if damage == "flip":
        b = bytearray(raw.read_bytes()); b[200] ^= 0x10; raw.write_bytes(bytes(b))
    elif damage == "truncate":
        raw.write_bytes(raw.read_bytes()[:-100])
    elif damage == "manifest":
        (folder / "manifest.json").unlink()
    else:
        (folder / "manifest.json").write_text("{not json")
    with pytest.warns(UserWarning, match=message):
        again = count_corpus(stream, V=40, L=5, progress=False)
    assert_same(again, c)
    assert stream.restrict_calls == 2
    CooccurrenceCounts.load(folder)  # the recomputed cache verifies again


@pytest.mark.parametrize("key, value", [("fingerprint", "corpus-B"), ("tokenizer", "tok-2")])
def test_mismatched_cache_is_detected_and_recomputed(stream, key, value):
    count_corpus(stream, V=40, L=5, progress=False)
    other = FakeStream(stream.folder, stream.tokens[::-1].copy(), stream.offsets[-1] - stream.offsets[::-1],
                       **{key: value})
    with pytest.warns(UserWarning, match=f"other inputs.*{key}"):
        c = count_corpus(other, V=40, L=5, progress=False)
    assert c.meta[key] == value
    assert_same(c, cooccurrence_counts(*other.restrict(40), 40, 5, progress=False))


def test_killed_count_corpus_resumes(stream, monkeypatch):
    kw = dict(V=40, L=5, progress=False, chunk_tokens=1000, checkpoint_every=0)
    full = count_corpus(stream, cache=False, **kw)
    count_chunks(monkeypatch, fail_after=2)
    with pytest.raises(Boom):
        count_corpus(stream, **kw)
    folder = stream.folder / "counts" / "V40_L5_drop"
    assert not (folder / "manifest.json").exists() and (folder / "checkpoint" / "checkpoint.json").exists()
    calls = count_chunks(monkeypatch)
    c = count_corpus(stream, **kw)
    assert calls[0] == 2000
    assert_same(c, full)
    assert not (folder / "checkpoint").exists()
    assert_same(CooccurrenceCounts.load(folder), full)


def test_load_errors(tmp_path):
    with pytest.raises(CacheError, match="missing"):
        CooccurrenceCounts.load(tmp_path)
    with pytest.raises(ValueError, match="oov must be"):
        count_corpus(FakeStream(tmp_path, [0, 1], [0, 2]), V=2, oov="keep")
    with pytest.raises(ValueError, match="needs a qwem.corpus.TokenStream"):
        count_corpus(np.zeros(3), V=2)


def test_brown_matches_numpy_route():
    "Real text: the counter against np.bincount per offset k (an independent route), Brown at V=1000."
    try:
        from qwem.corpus import brown_corpus
        brown = brown_corpus(progress=False)
    except Exception as e:  # no npm / no network to the registry
        pytest.skip(f"Brown corpus unavailable: {e}")
    V, L = 1000, 8
    tokens, offsets = brown.restrict(V)
    c = cooccurrence_counts(tokens, offsets, V, L, progress=False)
    tok = np.asarray(tokens).astype(np.int64)
    doc = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    acc = np.zeros(V * V, np.int64)
    for k in range(1, L + 1):
        same = doc[:-k] == doc[k:]
        acc += np.bincount(tok[:-k][same] * V + tok[k:][same], minlength=V * V)
    acc = acc.reshape(V, V)
    np.testing.assert_array_equal(c.raw, acc + acc.T)
    np.testing.assert_array_equal(c.unigram, np.bincount(tok, minlength=V))


def test_two_processes_count_a_corpus_once(tmp_path):
    "Two processes asking for the same counts at once: one counts (under the lock), the other loads its result."
    from qwem.corpus import build_token_stream
    build_token_stream(["the cat sat on the mat", "a dog and a cat sat", "the end"] * 50, tmp_path / "s", progress=False)
    script = textwrap.dedent("""
        import sys, time
        import qwem.counting as qc
        from qwem.corpus import TokenStream
        real = qc.cooccurrence_counts
        def logged(*a, **k):
            with open(sys.argv[2], "a") as f: f.write("counted\\n")
            time.sleep(1.0)                       # long enough for the other process to arrive meanwhile
            return real(*a, **k)
        qc.cooccurrence_counts = logged
        c = qc.count_corpus(TokenStream.load(sys.argv[1]), V=5, L=2, progress=False)
        print(int(c.raw.sum()))
    """)
    log = tmp_path / "log.txt"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "s"), str(log)], stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1] and len(outs[0]) == 1          # the same counts
    assert log.read_text().splitlines() == ["counted"]       # counted once


# ---- the sparse counter (qwem.sparse_counts, 01a): equal to the dense one, checkpoints, cache ----------------

import qwem.sparse_counts as qsc
from qwem.sparse_counts import SparseCooccurrenceCounts, count_corpus_sparse, sparse_cooccurrence_counts


def assert_sparse_equals_dense(s, d):
    "Exactly equal counts (the weighted ones too: both divide the same integer sums by L), and a canonical CSR."
    assert isinstance(s, SparseCooccurrenceCounts)
    assert_same(s.to_dense(), d)
    assert s.raw.has_canonical_format and s.weighted.has_canonical_format
    np.testing.assert_array_equal(s.raw.indices, s.weighted.indices)
    assert s.nnz == int((d.raw > 0).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("L", [1, 3, 16])
@pytest.mark.parametrize("gap_rate", [0.0, 0.25])
def test_sparse_equals_dense_and_brute_force(seed, L, gap_rate):
    toks, offs = random_stream(40, 15, rng=np.random.default_rng(100 + seed), max_len=2 * L + 3, gap_rate=gap_rate)
    s = sparse_cooccurrence_counts(toks, offs, 15, L, progress=False, chunk_tokens=17)
    assert_sparse_equals_dense(s, cooccurrence_counts(toks, offs, 15, L, progress=False))
    ref = brute_force_counts(toks, offs, 15, L)
    np.testing.assert_array_equal(s.to_dense().raw, ref.raw)
    np.testing.assert_allclose(s.to_dense().weighted, ref.weighted, rtol=1e-12, atol=0)


@pytest.mark.parametrize("V, chunk", [(300, 1 << 24), (300, 97), (5000, 1000)])
def test_sparse_equals_dense_large_vocabulary(V, chunk):
    "Many rows touching few columns, spread over both levels of the bitmap (V > 4096), chunks that cut documents."
    toks, offs = random_stream(300, V, rng=np.random.default_rng(V), max_len=80, gap_rate=0.05)
    s = sparse_cooccurrence_counts(toks, offs, V, 6, progress=False, chunk_tokens=chunk)
    assert_sparse_equals_dense(s, cooccurrence_counts(toks, offs, V, 6, progress=False))


def test_sparse_thread_counts_agree(stream_arrays):
    toks, offs = stream_arrays
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sparse_cooccurrence_counts(toks, offs, 40, 5, progress=False)
    finally:
        numba.set_num_threads(old)
    assert one.meta["threads"] == 1
    assert_sparse_equals_dense(one, cooccurrence_counts(toks, offs, 40, 5, progress=False))


def test_sparse_save_load_roundtrip(tmp_path, stream_arrays):
    s = sparse_cooccurrence_counts(*stream_arrays, 40, 5, progress=False, meta={"fingerprint": "x"})
    s.save(tmp_path)
    back = SparseCooccurrenceCounts.load(tmp_path)
    assert_same(back.to_dense(), s.to_dense())
    assert back.meta == json.loads(json.dumps(s.meta)) and back.nnz == s.nnz
    (tmp_path / "indices.npy").write_bytes((tmp_path / "indices.npy").read_bytes()[:-4])
    with pytest.raises(CacheError, match="truncated"):
        SparseCooccurrenceCounts.load(tmp_path)


REAL_SPARSE_CHUNK = qsc._count_chunk


def sparse_chunks(monkeypatch, fail_after=None):
    "Wrap qsc._count_chunk: record the chunk starts and raise after `fail_after` chunks."
    calls = []

    def wrapped(tokens, offsets, s, *args):
        if fail_after is not None and len(calls) == fail_after:
            raise Boom(f"injected failure before chunk {len(calls)}")
        calls.append(s)
        return REAL_SPARSE_CHUNK(tokens, offsets, s, *args)

    monkeypatch.setattr(qsc, "_count_chunk", wrapped)
    return calls


def test_sparse_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch, stream_arrays):
    toks, offs = stream_arrays
    kw = dict(V=40, L=7, progress=False, chunk_tokens=2000, checkpoint_every=0)
    n_chunks = -(-len(toks) // 2000)
    full = sparse_cooccurrence_counts(toks, offs, **kw)
    ckpt = tmp_path / "ckpt"
    calls = sparse_chunks(monkeypatch, fail_after=3)
    with pytest.raises(Boom):
        sparse_cooccurrence_counts(toks, offs, checkpoint_dir=ckpt, **kw)
    assert json.loads((ckpt / "checkpoint.json").read_text())["done"] == 3
    calls = sparse_chunks(monkeypatch)
    resumed = sparse_cooccurrence_counts(toks, offs, checkpoint_dir=ckpt, **kw)
    assert calls == [2000 * c for c in range(3, n_chunks)]  # finished chunks are not recounted
    assert_same(resumed.to_dense(), full.to_dense())
    assert not (ckpt / "checkpoint.json").exists()


def test_sparse_checkpoint_of_other_inputs_or_corrupt_is_ignored(tmp_path, monkeypatch, stream_arrays):
    toks, offs = stream_arrays
    kw = dict(V=40, L=7, progress=False, chunk_tokens=2000, checkpoint_every=0)
    sparse_chunks(monkeypatch, fail_after=2)
    with pytest.raises(Boom):
        sparse_cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    calls = sparse_chunks(monkeypatch)
    with pytest.warns(UserWarning, match="made for other inputs"):  # another L
        c = sparse_cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **{**kw, "L": 6})
    assert calls[0] == 0
    assert_same(c.to_dense(), cooccurrence_counts(toks, offs, **{**kw, "L": 6}))
    sparse_chunks(monkeypatch, fail_after=2)
    with pytest.raises(Boom):
        sparse_cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    f = next(tmp_path.glob("acc*.npy"))
    b = bytearray(f.read_bytes()); b[-1] ^= 1; f.write_bytes(bytes(b))
    calls = sparse_chunks(monkeypatch)
    with pytest.warns(UserWarning, match="corrupt"):
        c = sparse_cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    assert calls[0] == 0
    assert_same(c.to_dense(), cooccurrence_counts(toks, offs, **kw))


def test_dense_checkpoint_is_not_taken_for_a_sparse_one(tmp_path, monkeypatch, stream_arrays):
    toks, offs = stream_arrays
    kw = dict(V=40, L=7, progress=False, chunk_tokens=2000, checkpoint_every=0)
    count_chunks(monkeypatch, fail_after=2)
    with pytest.raises(Boom):
        cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="made for other inputs"):
        s = sparse_cooccurrence_counts(toks, offs, checkpoint_dir=tmp_path, **kw)
    assert_same(s.to_dense(), cooccurrence_counts(toks, offs, **kw))


def test_sparse_bad_inputs():
    ok_t, ok_o = np.array([0, 1, 2, 1], np.uint16), np.array([0, 4])
    for args, kw, msg in [((ok_t, ok_o, 3), dict(L=0), "window half-width"), ((ok_t, np.array([0, 3]), 3), {}, "cover"),
                          ((np.array([0, 5, 1]), np.array([0, 3]), 3), {}, "Pass the V you gave"),
                          ((ok_t, ok_o, 3), dict(chunk_tokens=0), "chunk_tokens"),
                          ((np.array([0, 3, 3, 1]), np.array([0, 4]), 3), dict(L=2), "no pair of in-vocabulary")]:
        with pytest.raises(ValueError, match=msg):
            sparse_cooccurrence_counts(*args, progress=False, **kw)


def test_count_corpus_sparse_cache(stream, monkeypatch):
    c = count_corpus_sparse(stream, V=40, L=5, progress=False)
    folder = stream.folder / "counts" / "V40_L5_drop_sparse"
    assert (folder / "manifest.json").exists()
    assert c.meta["fingerprint"] == "corpus-A" and c.meta["method"] == "sparse"
    assert_same(c.to_dense(), count_corpus(stream, V=40, L=5, progress=False))  # the dense cache, beside it
    monkeypatch.setattr(qsc, "sparse_cooccurrence_counts", lambda *a, **k: pytest.fail("cache not used"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = count_corpus_sparse(stream, V=40, L=5, progress=False)
    assert_same(again.to_dense(), c.to_dense())
    monkeypatch.undo()
    raw = folder / "raw.npy"
    b = bytearray(raw.read_bytes()); b[-3] ^= 0x10; raw.write_bytes(bytes(b))
    with pytest.warns(UserWarning, match="corrupt"):
        again = count_corpus_sparse(stream, V=40, L=5, progress=False)
    assert_same(again.to_dense(), c.to_dense())
    other = FakeStream(stream.folder, stream.tokens, stream.offsets, tokenizer="tok-2")
    with pytest.warns(UserWarning, match="other inputs.*tokenizer"):
        assert count_corpus_sparse(other, V=40, L=5, progress=False).meta["tokenizer"] == "tok-2"


def test_killed_count_corpus_sparse_resumes(stream, monkeypatch):
    kw = dict(V=40, L=5, progress=False, chunk_tokens=1000, checkpoint_every=0)
    full = count_corpus_sparse(stream, cache=False, **kw)
    sparse_chunks(monkeypatch, fail_after=2)
    with pytest.raises(Boom):
        count_corpus_sparse(stream, **kw)
    folder = stream.folder / "counts" / "V40_L5_drop_sparse"
    assert (folder / "checkpoint" / "checkpoint.json").exists()
    calls = sparse_chunks(monkeypatch)
    c = count_corpus_sparse(stream, **kw)
    assert calls[0] == 2000
    assert_same(c.to_dense(), full.to_dense())
    assert not (folder / "checkpoint").exists()
    assert_same(SparseCooccurrenceCounts.load(folder).to_dense(), full.to_dense())


def test_sparse_brown_equals_dense():
    try:
        from qwem.corpus import brown_corpus
        brown = brown_corpus(progress=False)
    except Exception as e:  # no npm / no network to the registry
        pytest.skip(f"Brown corpus unavailable: {e}")
    tokens, offsets = brown.restrict(3000)
    assert_sparse_equals_dense(sparse_cooccurrence_counts(tokens, offsets, 3000, 16, progress=False),
                               cooccurrence_counts(tokens, offsets, 3000, 16, progress=False))


@pytest.mark.slow
def test_sparse_default_corpus_equals_dense_at_10k():
    "The default corpus at V = 10,000 (about 2 GB, half a minute): sparse == dense exactly; 17.95M non-zeros."
    from qwem.corpus import default_corpus
    tokens, offsets = default_corpus(progress=False).restrict(10_000)
    s = sparse_cooccurrence_counts(tokens, offsets, 10_000, 16, progress=False)
    d = cooccurrence_counts(tokens, offsets, 10_000, 16, progress=False)
    assert_sparse_equals_dense(s, d)


@pytest.mark.parametrize("cuts", [[150], [1, 200, 399]])
def test_sparse_shards_add_up_exactly(cuts, stream_arrays):
    "Counts of sets of documents counted apart and added (a + b, as distributed counting does) == the whole stream's."
    toks, offs = stream_arrays
    bounds = [0, *cuts, len(offs) - 1]
    parts = [sparse_cooccurrence_counts(toks[offs[a]:offs[b]], offs[a:b + 1] - offs[a], 40, 7, progress=False)
             for a, b in zip(bounds, bounds[1:]) if np.diff(offs[a:b + 1]).max() >= 2]
    total = parts[0]
    for p in parts[1:]: total = total + p
    assert_sparse_equals_dense(total, cooccurrence_counts(toks, offs, 40, 7, progress=False))
