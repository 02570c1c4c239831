"""Multi-process training (qwem.multihost): 2 CPU processes x 1 device on 127.0.0.1 against 1 process x 2 devices.

Every subprocess runs under a timeout and is killed past it (`run_local_processes`, `subprocess.run(timeout=...)`)."""
import json, os, subprocess, sys, textwrap, numpy as np, pytest
from qwem.multihost import run_local_processes

CLI = "from qwem.cli import main; raise SystemExit(main())"
TWO_DEVICES = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}

def _train_args(model, out):
    "The test preset on Brown, V = 500, 30 steps; QWEM with a larger lr than the preset's so that W moves far from its tiny init."
    return ["train", "--model", model, "--corpus", "brown", "-V", "500", "-d", "8", "--preset", "test", "--steps", "30",
            "--devices", "2", "--out", str(out), "--no-progress", *(["--lr", "1e-3"] if model == "qwem" else [])]

@pytest.mark.parametrize("model", ["qwem", pytest.param("sgns", marks=pytest.mark.slow)])   # about 45 s each on 2 cores
def test_two_processes_match_one_process_with_two_devices(tmp_path, model):
    """`qwem train` as 2 processes x 1 CPU device (Gloo collectives) and as 1 process x 2 devices, on the Brown corpus (V = 500).
    Each device draws the same rows of every minibatch in both layouts and the psum adds the same two partial gradients, so the
    result is expected bit for bit; the bound allows a different float32 reduction order: relative Frobenius error < 1e-6,
    while W moved from its initialisation by more than 5% (the vectors of process 1 equal those of process 0 exactly)."""
    run_local_processes(lambda i, addr: [sys.executable, "-c", CLI, *_train_args(model, tmp_path / "multi"), "--coordinator", addr,
                                         "--num-processes", "2", "--process-id", str(i)], n=2, timeout_s=240)
    p = subprocess.run([sys.executable, "-c", CLI, *_train_args(model, tmp_path / "single")], env=TWO_DEVICES, capture_output=True,
                       text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-2000:]
    W0, W1 = (np.load(tmp_path / "multi" / f / "W.npy") for f in (model, f"{model}.process-1"))
    Ws = np.load(tmp_path / "single" / model / "W.npy")
    log = json.loads((tmp_path / "multi" / model / "log.json").read_text())
    assert len(log["meta"]["devices"]) == 2, log["meta"]["devices"]
    np.testing.assert_array_equal(W0, W1)
    assert np.linalg.norm(W0 - Ws) <= 1e-6 * np.linalg.norm(Ws), np.linalg.norm(W0 - Ws) / np.linalg.norm(Ws)
    from qwem.experiments import preset
    from qwem.step import init_params
    import jax
    W_init = np.asarray(init_params(jax.random.split(jax.random.key(0))[0], 500, preset(model, "test", d=8))["W"])   # as `train` does
    assert np.linalg.norm(Ws - W_init) > 0.05 * np.linalg.norm(W_init)

_ROWS = textwrap.dedent("""
    import json, sys, numpy as np, jax
    from qwem.multihost import initialize, local_rows
    if len(sys.argv) > 2: initialize(sys.argv[1], 2, int(sys.argv[2]))
    from qwem.counting import random_stream
    from qwem.sampling import pair_index, positive_distribution
    from qwem.step import model_config, PairSource, batch_sampler, device_mesh
    tok, off = random_stream(300, 50, rng=2, max_len=30)
    cfg = model_config("qwem", d=4, L=3, B=120, n_neg=2, devices=2)
    P = positive_distribution(pair_index(tok, off, 3), 50), np.bincount(tok, minlength=50) / len(tok)   # exact pairs, no counter to compile
    data = PairSource(cfg, tok, off, 50, counts=P).data(0)
    rows, vals = local_rows(jax.jit(batch_sampler(cfg, device_mesh(2)))(jax.random.key(11), data))
    print(json.dumps(dict(process=jax.process_index(), rows=rows.tolist(), vals=[v.tolist() for v in vals])))
""")

def test_each_process_draws_its_own_rows_of_the_single_process_batch():
    """The per-process input split: process p holds rows [60p, 60p + 60) of the B = 120 minibatch, and the union of the two
    processes' rows equals the minibatch that one process with 2 devices draws from the same key (ids and weights exactly)."""
    outs = run_local_processes(lambda i, addr: [sys.executable, "-c", _ROWS, addr, str(i)], n=2, timeout_s=120)
    parts = sorted((json.loads(o.strip().splitlines()[-1]) for o in outs), key=lambda r: r["process"])
    p = subprocess.run([sys.executable, "-c", _ROWS, "single"], env=TWO_DEVICES, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    single = json.loads(p.stdout.strip().splitlines()[-1])
    assert [r["rows"] for r in parts] == [list(range(60)), list(range(60, 120))]
    assert single["rows"] == list(range(120))
    for k, want in enumerate(single["vals"]):
        np.testing.assert_array_equal(np.concatenate([np.asarray(r["vals"][k]) for r in parts]), np.asarray(want))

def test_partial_multi_process_flags_are_refused(tmp_path):
    p = subprocess.run([sys.executable, "-c", CLI, *_train_args("qwem", tmp_path), "--num-processes", "2"], env=TWO_DEVICES,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "--coordinator, --num-processes and --process-id" in p.stderr, p.stderr[-1000:]
