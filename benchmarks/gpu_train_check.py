"""Train our two CPU presets to the end on the first GPU and score them, beside the CPU's published scores.

    python benchmarks/gpu_train_check.py                      # the default corpus (fetched and cached as usual)
    python benchmarks/gpu_train_check.py --corpus FOLDER --json out.json

On a GPU `kernel="auto"` picks the XLA step (the compiled kernels are CPU code), so this checks that the step the GPU runs
learns what the CPU's kernels learn: the scores should land within the spread over seeds (`nbs/reproduced/table.json`
holds the CPU run's: QWEM 27.2% / 0.737 / 0.611 / 0.331, our word2vec 25.0% / 0.754 / 0.654 / 0.367; over seeds 0-3 QWEM's
analogies move 26.8-29.1% and its WordSim353 0.606-0.642). Training time is the wall time of `train_corpus` with its data
and compile included; it writes nothing (folder=False). The counts are read once for both presets.
"""
import argparse, json, time
import numpy as np
import jax

from qwem.benchmarks import evaluate_all
from qwem.counting import count_corpus
from qwem.experiments import open_corpus, preset, train_corpus


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default="default", help="'default', 'brown' or a token-stream folder")
    ap.add_argument("--V", type=int, default=10_000)
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    a = ap.parse_args()
    device = jax.devices()[0]
    print(f"device: {getattr(device, 'device_kind', device.platform)}; JAX {jax.__version__}", flush=True)
    ts = open_corpus(a.corpus, progress=False)
    words = ts.vocab(a.V)
    out = {"device": str(getattr(device, "device_kind", device.platform)), "jax": jax.__version__}
    counts = {}
    for model in ("qwem", "sgns"):
        config = preset(model)
        if config.L not in counts: counts[config.L] = count_corpus(ts, a.V, config.L, progress=False)
        t = time.perf_counter()
        r = train_corpus(config, ts, a.V, counts=counts[config.L], folder=False, progress=False)
        seconds = time.perf_counter() - t
        s = evaluate_all(np.asarray(r.W), words)
        row = dict(seconds=seconds, steps=config.steps, analogies=s["analogies"]["accuracy"],
                   **{k: s[k]["score"] for k in ("men", "wordsim353", "simlex999")})
        out[model] = row
        print(f"  {model} cpu preset on {out['device']}: {config.steps:,} steps in {seconds:.1f} s (data and compile included); "
              f"analogies {row['analogies']:.1%}, MEN {row['men']:.3f}, WS353 {row['wordsim353']:.3f}, SimLex {row['simlex999']:.3f}", flush=True)
    if a.json: json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
