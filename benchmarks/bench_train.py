"""Training speed of our JAX steps (QWEM and word2vec SGNS) against gensim's Word2Vec, measured in the same run.

    python benchmarks/bench_train.py             # throughput, then time to quality of the "cpu" presets (~20 min on 2 cores)
    python benchmarks/bench_train.py --quick     # throughput only, fewer steps (~8 min)
    python benchmarks/bench_train.py --ttq-only --figure nbs/reproduced/time_to_quality.png
    python benchmarks/bench_train.py --device gpu  # the "paper" presets on a GPU (pip install -e ".[dev,gpu]")
    python benchmarks/bench_train.py --device gpu --presets paper,cpu --corpus FOLDER --json nbs/reproduced/bench_gpu.json

Throughput: pairs per second, counted the same way for everyone, 1 + negative per positive pair. gensim's skip-gram
trains, per epoch, every (centre, context) pair of its subsampled stream within a window drawn uniformly from 1..L on
each side, each with `negative` negative pairs: in expectation 2 * sum_k (L-k+1)/L * n_k positive pairs, n_k the number
of positions with a neighbour at distance k in the same sentence of the subsampled stream (we draw one subsample with
gensim's formula to count them). Our steps take B positive pairs; a negative shared by a group of positives counts
once for each positive whose loss term it enters; a step on whole windows (`windows=True`) counts its B/2L
centres times the weighted pairs of an average window, T/N (the pairs gensim trains per centre in expectation, with
the same weights); QWEM's exact negative term (a sum over all V^2 pairs) is counted
as `negative` pairs per positive too, and its sampled Gram term (`negatives="gram"`: m = n_neg * B / V rows drawn, each
paired with all V rows; the cpu preset draws 100, n_neg = 20) is counted as `negative` pairs per positive as well. So a step counts B * (1 + negative) pairs, a windows step (B/2L)(T/N)(1 + negative). gensim's epochs and our steps are
interleaved (gensim, ours, gensim, ...) and the medians over `--repeats` rounds are compared: this machine's speed
varies up to 2x between minutes. Each of our steps is timed over consecutive steps for 10 s a round (3 s with --quick),
all work of a step included, as gensim's pairs are counted over its whole epoch.

Time to quality: the wall time (evaluation excluded) until the analogy accuracy reaches 90% of gensim's final
accuracy, for gensim's 5 epochs and our two presets, in the same run.

Our XLA steps run on 2 forced CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=2, set below before JAX
loads) so that data parallelism uses both cores, as gensim's 2 worker threads do; the compiled kernels
(`kernel="numba"`, qwem.cpu_kernels) run on one device with 2 threads; `--devices 0` also times 1 device (1 thread).

GPU (`--device gpu`): the "paper" presets (the paper's B, samplers and run lengths: 4M QWEM steps, 2M word2vec steps) are
timed on the first GPU for `--gpu-seconds` each, at their learning rates, and their steps/s, pairs/s and the projected time
of the paper's run lengths are printed beside the paper's figure: both trainers in 75 minutes on a GeForce GTX 1660.
`--presets paper,cpu` times our CPU presets there too; `--corpus FOLDER` reads a copy of the default corpus's folder (its
manifest, tokens, offsets, words and counts) on a machine that cannot fetch the sources.
"""
import os, sys
ON_GPU = "--device=gpu" in sys.argv or any(x == "--device" and y == "gpu" for x, y in zip(sys.argv, sys.argv[1:]))
if not ON_GPU:   # read before JAX loads, so before argparse runs
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
import argparse, json, time
import numpy as np
import jax

from qwem.counting import count_corpus
from qwem.sampling import keep_probability, subsample_stream, window_weights
from qwem.config import configure, exact_negatives, model_config
from qwem.step import PairSource, device_mesh, init_params, make_step, training_mesh
from qwem.train import train
from qwem.experiments import PRESETS, on_devices, open_corpus, resolve_lr
from qwem.benchmarks import analogy_accuracy, stream_sentences
from jax.sharding import NamedSharding, PartitionSpec as P
from _machine import cpu_model


def gensim_positive_pairs(tokens, offsets, L, sample, max_len=10_000, seed=0):
    "Expected positive pairs per gensim epoch: one subsample (gensim's keep formula), sentences cut at max_len."
    keep = keep_probability(np.bincount(tokens), sample)
    tk, of = subsample_stream(tokens, offsets, keep, np.random.default_rng(seed))
    lens = np.diff(of)
    lens = np.concatenate([np.r_[np.full(n // max_len, max_len), n % max_len] for n in lens]) if (lens > max_len).any() else lens
    n_k = np.array([np.maximum(lens - k, 0).sum() for k in range(1, L + 1)])
    return 2 * float((window_weights(L) * n_k).sum()), len(tk)


def gensim_run(tokens, offsets, words, *, d, L, negative, sample, epochs, workers=2, eval_fn=None, seed=0):
    "gensim skip-gram; returns training seconds (evaluation excluded), per-epoch (seconds, score), final vectors."
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec
    sentences = stream_sentences(tokens, offsets, words)
    m = Word2Vec(vector_size=d, window=L, negative=negative, sample=sample, sg=1, hs=0, min_count=1,
                 workers=workers, seed=seed, max_vocab_size=None)
    m.build_vocab(sentences)
    marks = []

    class Eval(CallbackAny2Vec):
        def __init__(self): self.t0, self.excluded = None, 0.0
        def on_train_begin(self, model): self.t0 = time.perf_counter()
        def on_epoch_end(self, model):
            if eval_fn is None: return
            t = time.perf_counter()
            trained = t - self.t0 - self.excluded
            marks.append((trained, eval_fn(np.stack([model.wv[w] for w in words]))))
            self.excluded += time.perf_counter() - t
    cb = Eval()
    t = time.perf_counter()
    m.train(sentences, total_examples=m.corpus_count, epochs=epochs, callbacks=[cb])
    seconds = time.perf_counter() - t - cb.excluded
    return seconds, marks, np.stack([m.wv[w] for w in words])


def time_to_quality(marks, target):
    "First training time at which the score reaches `target` (None if never)."
    return next((t for t, s in marks if s >= target), None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="throughput only, fewer steps")
    ap.add_argument("--parts", action="store_true", help="only time row gathers, scatter-adds and a Gram product (what bounds a step)")
    ap.add_argument("--V", type=int, default=10_000); ap.add_argument("--d", type=int, default=200)
    ap.add_argument("--L", type=int, default=16); ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    ap.add_argument("--figure", default=None, help="time to quality: save the accuracy-against-time figure here")
    ap.add_argument("--ttq-only", action="store_true", help="skip the throughput part, measure time-to-quality only")
    ap.add_argument("--ttq-models", default="sgns,qwem", help="our models whose time-to-quality is measured")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats (gensim, ours, gensim, ...): medians are reported")
    ap.add_argument("--devices", type=int, default=2, help="devices (threads, for the compiled kernels) of our steps (0: both 1 and 2)")
    ap.add_argument("--only", default=None, help="time only the step variants whose name contains this text")
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="gpu: time the 'paper' presets on the first GPU instead")
    ap.add_argument("--gpu-seconds", type=float, default=20, help="--device gpu: seconds each preset's steps are timed")
    ap.add_argument("--presets", default="paper", help="--device gpu: the presets timed, comma-separated ('paper', 'cpu' or both)")
    ap.add_argument("--corpus", default="default", help="'default', 'brown' or a token-stream folder (a copy of the default corpus's "
                    "folder, for a machine that cannot fetch its sources)")
    a = ap.parse_args()
    if a.parts: return parts(a)
    if a.device == "gpu" and jax.default_backend() != "gpu":
        raise SystemExit(f"--device gpu: JAX sees no GPU (backend {jax.default_backend()!r}): install the gpu extra, "
                         'pip install -e ".[dev,gpu]", on a machine with an NVIDIA GPU and its driver')
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; JAX devices: {jax.devices()}")
    ts = open_corpus(a.corpus, progress=False)
    tokens, offsets = ts.restrict(a.V)
    tokens, offsets = np.asarray(tokens), np.asarray(offsets)
    words = ts.vocab(a.V)
    counts = count_corpus(ts, a.V, a.L, progress=False)
    out = {"V": a.V, "d": a.d, "L": a.L, "negative": a.negative, "tokens": int(len(tokens)), "cpu": cpu_model(), "cores": os.cpu_count()}
    if a.device == "gpu":
        paper_presets(a, tokens, offsets, counts, out)
        if a.json: json.dump(out, open(a.json, "w"), indent=1)
        return

    out["parts"] = parts(a)
    if not a.ttq_only: throughput(a, tokens, offsets, words, counts, out)
    if a.quick:
        if a.json: json.dump(out, open(a.json, "w"), indent=1)
        return
    time_to_quality_all(a, tokens, offsets, words, counts, out)
    if a.json: json.dump(out, open(a.json, "w"), indent=1)


PAPER_MINUTES = 75   # the paper (App. A): word2vec and QWEM of Figure 3 "train in 75 minutes" on a GeForce GTX 1660


def paper_presets(a, tokens, offsets, counts, out, models=("qwem", "sgns")):
    "Steps/s, pairs/s and the projected time of each preset's run length (the 'paper' presets by default), on the first device."
    device = jax.devices()[0]
    kind = str(getattr(device, "device_kind", device.platform))
    print(f"device: {kind}; the paper: both trainers {PAPER_MINUTES} min on a GTX 1660", flush=True)
    for name in a.presets.split(","):
        total = 0.0
        for model in models:
            cfg = configure(resolve_lr(PRESETS[model][name], counts), d=a.d, L=a.L, devices=1)
            t = time.perf_counter()
            timed = Timed(cfg, tokens, offsets, a.V, counts, 1, cfg.n_neg, lr=float(cfg.lr))
            setup = time.perf_counter() - t
            pairs_s = timed(a.gpu_seconds)
            steps_s = pairs_s / pairs_per_step(timed.config, timed.data, cfg.n_neg)
            minutes = cfg.steps / steps_s / 60; total += minutes
            print(f"  {model} {name!r} preset: {steps_s:,.0f} steps/s, {pairs_s / 1e6:.1f} M pairs/s; its {cfg.steps:,} steps "
                  f"would take {minutes:.1f} min (data and compile: {setup:.1f} s)", flush=True)
            out.setdefault(f"{name}_presets", {})[model] = dict(device=kind, steps_per_second=steps_s, pairs_per_second=pairs_s,
                                                               steps=cfg.steps, projected_minutes=minutes, setup_seconds=setup)
        print(f"both {name!r} presets: {total:.1f} min projected" + (f", against the paper's {PAPER_MINUTES} min on a GTX 1660 "
              f"({total / PAPER_MINUTES:.2f}x its time)" if name == "paper" else ""), flush=True)


def parts(a, V=10_000, rows=200_000):
    "What bounds a step: moving rows (gather, scatter-add) against a dense product, on one device."
    import jax.numpy as jnp
    W = jax.random.normal(jax.random.key(0), (V, a.d), jnp.float32)
    i = jax.random.randint(jax.random.key(1), (rows,), 0, V).astype(jnp.uint32)
    U = jnp.ones((rows, a.d), jnp.float32)
    def med(f, *x):
        jax.block_until_ready(f(*x)); ts = []
        for _ in range(7):
            t = time.perf_counter(); jax.block_until_ready(f(*x)); ts.append(time.perf_counter() - t)
        return float(np.median(ts))
    gather = med(jax.jit(lambda W, i: W.at[i].get(mode="promise_in_bounds")), W, i) / rows
    scatter = med(jax.jit(lambda W, i, U: W.at[i].add(U, mode="promise_in_bounds")), W, i, U) / rows
    gram = med(jax.jit(lambda W: W @ (W.T @ W)), W)
    flops = 4 * V * a.d * a.d
    print(f"row gather {gather * 1e9:.0f} ns, row scatter-add {scatter * 1e9:.0f} ns ({a.d} float32); "
          f"Gram product W (W^T W) {gram * 1e3:.1f} ms = {flops / gram / 1e9:.0f} GFLOP/s = the time of {gram / (gather + scatter):,.0f} row moves")
    return dict(gather_ns=gather * 1e9, scatter_ns=scatter * 1e9, gram_ms=gram * 1e3, gflops=flops / gram / 1e9)


def step_variants(a):
    "The steps compared, at the benchmark's d, L and negatives: the per-positive steps and the matrix-multiply ones (presets)."
    sgns, qwem = PRESETS["sgns"]["cpu"], PRESETS["qwem"]["cpu"]
    base = dict(d=a.d, L=a.L, n_neg=a.negative)
    return {
        "word2vec, negatives per positive, XLA": configure(sgns, **base, B=50_000, group=0, inner_updates=True, chunk=3072, kernel="xla"),
        "word2vec, shared negatives, XLA": configure(sgns, **base, kernel="xla"),
        "word2vec, whole windows, XLA": configure(sgns, **base, windows=True, group=8, kernel="xla"),
        "word2vec, shared negatives, compiled kernel (cpu preset)": configure(sgns, **base),
        "QWEM, uniform negatives per positive, XLA": configure(qwem, **base, B=50_000, negatives="uniform", kernel="xla"),
        "QWEM, shared negatives, XLA": configure(qwem, **base, B=50_000, negatives="uniform", group=250, kernel="xla"),
        "QWEM, exact negatives, XLA": configure(qwem, **base, negatives="exact", kernel="xla"),
        "QWEM, exact negatives, compiled kernel": configure(qwem, **base, negatives="exact"),
        "QWEM, sampled Gram negatives (100 rows), XLA": configure(qwem, d=a.d, L=a.L, kernel="xla"),
        "QWEM, sampled Gram negatives (25 rows), compiled kernel": configure(qwem, **base, negatives="gram"),
        "QWEM, sampled Gram negatives (100 rows), compiled kernel (cpu preset)": configure(qwem, d=a.d, L=a.L),
    }


def pairs_per_step(config, data, negative):
    """B (1 + n_neg); with whole windows, B/2L centres times the expected weighted pairs of one centre's window, T/N; QWEM's exact
    and Gram negative terms count `negative` (the benchmark's) per positive, whatever their n_neg (the Gram term's rows)."""
    positives = config.B / (2 * config.L) / float(data.index.scale) if config.windows else config.B
    return positives * (1 + (negative if exact_negatives(config) else config.n_neg))


class Timed:
    "One step variant, compiled once, timed over `steps` steps each time it is called."
    def __init__(self, config, tokens, offsets, V, counts, devices, negative, lr=0.0):
        self.config, self.negative, self.lr = configure(config, devices=devices), negative, lr
        mesh = training_mesh(self.config); rep = NamedSharding(mesh, P())
        self.data = PairSource(self.config, tokens, offsets, V, counts=counts, device=rep).data(0)
        self.step, _ = make_step(self.config, mesh)
        self.params = jax.device_put(init_params(jax.random.key(0), V, self.config), rep)
        self.k = 0
        self(1)   # compile

    def __call__(self, seconds):
        """Pairs per second (1 + n_neg per positive) over consecutive steps at `lr` (0 unless given) for at least `seconds` (at least 3 steps), as
        gensim's are counted over a whole epoch: a few steps alone would see only a moment of this shared machine's speed."""
        t, n = time.perf_counter(), 0
        while n < 3 or time.perf_counter() - t < seconds:
            self.k += 1; n += 1
            self.params, loss, _ = self.step(self.params, self.data, jax.random.key(self.k), self.lr)
            if n % 10 == 0: loss.block_until_ready()
        loss.block_until_ready()
        return n * pairs_per_step(self.config, self.data, self.negative) / (time.perf_counter() - t)


def throughput(a, tokens, offsets, words, counts, out):
    "Interleaved repeats: gensim's epoch, then every step variant, `a.repeats` times; the ratio of medians to gensim's."
    pos, kept = gensim_positive_pairs(tokens, offsets, a.L, 1e-5)
    devices = [1, 2] if a.devices == 0 else [a.devices]
    timed = {(name, dev): Timed(cfg, tokens, offsets, a.V, counts, dev, a.negative) for name, cfg in step_variants(a).items() for dev in devices
             if not a.only or a.only in name}
    g, ours = [], {k: [] for k in timed}
    for r in range(a.repeats):
        g_sec, _, _ = gensim_run(tokens, offsets, words, d=a.d, L=a.L, negative=a.negative, sample=1e-5, epochs=1, seed=r)
        g.append(pos * (1 + a.negative) / g_sec)
        print(f"repeat {r + 1}: gensim {g[-1] / 1e6:.2f} M pairs/s ({g_sec:.1f} s/epoch)", flush=True)
        for k, t in timed.items(): ours[k].append(t(3 if a.quick else 10))
    g_med = float(np.median(g))
    out["gensim"] = dict(pairs_per_second=g, median=g_med, positive_pairs=pos, kept_tokens=kept)
    print(f"gensim word2vec (sg, 2 workers, {a.negative} negatives): median {g_med / 1e6:.2f} M pairs/s over {a.repeats} epochs")
    for (name, dev), v in ours.items():
        med = float(np.median(v))
        out.setdefault("ours", {})[f"{name}, {dev} device{'s' * (dev > 1)}"] = dict(pairs_per_second=v, median=med, ratio_to_gensim=med / g_med,
                                                                              config=timed[name, dev].config.as_dict())
        print(f"{med / 1e6:6.2f} M pairs/s = {med / g_med:4.2f} x gensim   {name}, {dev} device{'s' * (dev > 1)}")


def time_to_quality_all(a, tokens, offsets, words, counts, out):
    "Analogy accuracy against training time: gensim (per epoch) and our presets (20 evaluations each), in one run."
    ev = lambda W: analogy_accuracy(W, words).accuracy
    g_sec, marks, _ = gensim_run(tokens, offsets, words, d=a.d, L=a.L, negative=a.negative, sample=1e-5, epochs=a.epochs, eval_fn=ev)
    marks = [(0.0, 0.0)] + marks
    target = 0.9 * marks[-1][1]
    out["gensim_ttq"] = dict(seconds=g_sec, final_accuracy=marks[-1][1], target=target, seconds_to_target=time_to_quality(marks, target), marks=marks)
    print(f"gensim: {a.epochs} epochs in {g_sec:.0f} s, final analogy accuracy {marks[-1][1]:.3f}; target 90% of it = {target:.3f}, "
          f"reached after {out['gensim_ttq']['seconds_to_target']:.0f} s (per-epoch evaluations)")
    for model in a.ttq_models.split(","):
        cfg = on_devices(configure(PRESETS[model]["cpu"], d=a.d, L=a.L, n_log=10), a.devices or None)
        res = train(tokens, offsets, a.V, cfg, counts=counts if cfg.reweighting.kind == "setting1" else None, progress=False,
                    callback=lambda s, p: {"accuracy": ev(np.asarray(p["W"]))}, eval_every=max(1, cfg.steps // 20))
        m = [(e["seconds"], e["accuracy"]) for e in res.evals]
        t = time_to_quality(m, target)
        out[f"{model}_ttq"] = dict(seconds=res.meta["seconds"], final_accuracy=m[-1][1], seconds_to_target=t, marks=m, config=cfg.as_dict())
        print(f"ours {model}: {cfg.steps} steps on {cfg.devices} device(s) in {res.meta['seconds']:.0f} s, final accuracy {m[-1][1]:.3f}; "
              + (f"gensim's target after {t:.0f} s = {t / g_sec:.2f} x gensim's time for {a.epochs} epochs" if t else "target not reached"))
    if a.figure: time_to_quality_figure(out, a.figure)


def time_to_quality_figure(out, path):
    "The three curves, accuracy against training seconds, with gensim's 90% line."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=90, layout="constrained")
    for key, label in (("gensim_ttq", "gensim word2vec (2 workers)"), ("sgns_ttq", "word2vec (ours)"), ("qwem_ttq", "QWEM (ours)")):
        if key in out: ax.plot(*zip(*out[key]["marks"]), "o-", ms=3, label=label)
    ax.axhline(out["gensim_ttq"]["target"], c="gray", ls=":", lw=1, label="90% of gensim's final accuracy")
    ax.set(xlabel="training time (s, evaluation excluded)", ylabel="analogy accuracy", title="Time to quality on the default corpus")
    ax.legend(fontsize=8); fig.savefig(path); plt.close(fig)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
