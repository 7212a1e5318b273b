#!/usr/bin/env python3
"""JAX peer of mtlc's reference training step (issue 7).

The network of examples/fashion_detect.toml (as bench/torch_step.py builds
it in PyTorch), batch 128, fp32 on the CPU, NHWC: forward in train mode
(batch-norm batch statistics and running averages), the four task losses
weighted as in the spec, the gradient and the spec's Adam update (lr 1e-3),
all in one jax.jit step; prints the median ms/step after warm-up (the first
call compiles). A benchmark only: PyPI's jax (bench/pypi_peers.sh --jax),
never part of `make test`.

    out/bench/pypi-venv/bin/python bench/jax_step.py --threads 2 [--json]

The process is pinned to the first N cores before XLA starts (XLA sizes its
thread pool from the cores it may use).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

from peer_args import threads_from_argv


# Before jax loads: XLA's CPU client sizes its Eigen pool from the affinity.
_THREADS = threads_from_argv()
try:
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:_THREADS]))
except (AttributeError, OSError):  # pragma: no cover - not Linux
    pass

try:
    import jax
    import jax.numpy as jnp
    from jax import lax
except ImportError as e:  # pragma: no cover - reported, not a crash
    print(f"jax_step.py: error: cannot import jax ({e}); run it with the "
          "venv of bench/pypi_peers.sh --jax", file=sys.stderr)
    sys.exit(3)

BATCH = 128
EPS_BN, MOMENTUM = 1e-5, 0.1
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8


def glorot(key, shape, fan_in, fan_out):
    limit = (6.0 / (fan_in + fan_out)) ** 0.5
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def init_params(key):
    """Conv filters HWIO, dense weights (in, out); glorot_uniform, bias 0."""
    params, state = {}, {}
    keys = iter(jax.random.split(key, 16))

    def conv(name, ci, co):
        params[name] = {"w": glorot(next(keys), (3, 3, ci, co), 9 * ci, 9 * co),
                        "b": jnp.zeros((co,), jnp.float32)}

    def dense(name, k, m):
        params[name] = {"w": glorot(next(keys), (k, m), k, m),
                        "b": jnp.zeros((m,), jnp.float32)}

    cin = 1
    for i, cout in enumerate((32, 64, 128)):
        conv(f"conv{i}", cin, cout)
        params[f"bn{i}"] = {"gamma": jnp.ones((cout,), jnp.float32),
                            "beta": jnp.zeros((cout,), jnp.float32)}
        state[f"bn{i}"] = {"mean": jnp.zeros((cout,), jnp.float32),
                           "var": jnp.ones((cout,), jnp.float32)}
        cin = cout
    dense("label_fc", 3200, 256), dense("label_out", 256, 10)
    dense("group_fc", 3200, 64), dense("group_out", 64, 4)
    dense("box_fc", 3200, 128), dense("box_out", 128, 4)
    dense("recon_fc", 3200, 1568)
    conv("recon_conv1", 32, 16), conv("recon_out", 16, 1)
    return params, state


def conv2d(x, p):
    y = lax.conv_general_dilated(x, p["w"], (1, 1), "SAME",
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + p["b"]


def batch_norm(x, p, s):
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    y = (x - mean) * lax.rsqrt(var + EPS_BN) * p["gamma"] + p["beta"]
    n = x.shape[0] * x.shape[1] * x.shape[2]
    new = {"mean": (1 - MOMENTUM) * s["mean"] + MOMENTUM * mean,
           "var": (1 - MOMENTUM) * s["var"] + MOMENTUM * var * n / (n - 1)}
    return y, new


def max_pool(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                             "VALID")


def upsample2(x):
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def dense(x, p):
    return x @ p["w"] + p["b"]


def forward(params, state, image):
    x, new_state = image, {}
    for i in range(3):
        x, new_state[f"bn{i}"] = batch_norm(conv2d(x, params[f"conv{i}"]),
                                            params[f"bn{i}"], state[f"bn{i}"])
        x = max_pool(jax.nn.relu(x))
    f = x.reshape(x.shape[0], -1)  # 5 x 5 x 128 = 3200
    label = dense(jax.nn.relu(dense(f, params["label_fc"])), params["label_out"])
    group = dense(jax.nn.relu(dense(f, params["group_fc"])), params["group_out"])
    box = jax.nn.sigmoid(dense(jax.nn.relu(dense(f, params["box_fc"])),
                               params["box_out"]))
    grid = jax.nn.relu(dense(f, params["recon_fc"])).reshape(-1, 7, 7, 32)
    r = jax.nn.relu(conv2d(upsample2(grid), params["recon_conv1"]))
    recon = conv2d(upsample2(r), params["recon_out"])
    return (label, group, box, recon), new_state


def cross_entropy(logits, labels):
    logp = jax.nn.log_softmax(logits)
    return -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()


def smooth_l1(pred, target, beta):
    d = jnp.abs(pred - target)
    return jnp.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta).mean()


def bce_with_logits(logits, target):
    return (jnp.maximum(logits, 0) - logits * target +
            jnp.log1p(jnp.exp(-jnp.abs(logits)))).mean()


def loss_fn(params, state, batch):
    (label, group, box, recon), new_state = forward(params, state,
                                                    batch["image"])
    loss = (cross_entropy(label, batch["label"]) +
            cross_entropy(group, batch["group"]) +
            5.0 * smooth_l1(box, batch["box"], 0.05) +
            bce_with_logits(recon, batch["item"]))
    return loss, new_state


@jax.jit
def train_step(params, state, m, v, t, batch):
    (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, state, batch)
    t = t + 1
    m = jax.tree_util.tree_map(lambda a, g: BETA1 * a + (1 - BETA1) * g, m, grads)
    v = jax.tree_util.tree_map(lambda a, g: BETA2 * a + (1 - BETA2) * g * g, v,
                               grads)
    c1, c2 = 1 - BETA1 ** t, 1 - BETA2 ** t
    params = jax.tree_util.tree_map(
        lambda p, a, b: p - LR * (a / c1) / (jnp.sqrt(b / c2) + EPS), params, m, v)
    return params, new_state, m, v, t, loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    key = jax.random.PRNGKey(1)
    params, state = init_params(key)
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    t = jnp.zeros((), jnp.float32)
    k = jax.random.split(key, 5)
    batch = {"image": jax.random.uniform(k[0], (BATCH, 40, 40, 1)),
             "item": jax.random.uniform(k[1], (BATCH, 28, 28, 1)),
             "label": jax.random.randint(k[2], (BATCH,), 0, 10),
             "group": jax.random.randint(k[3], (BATCH,), 0, 4),
             "box": jax.random.uniform(k[4], (BATCH, 4))}

    def step():
        nonlocal params, state, m, v, t
        params, state, m, v, t, loss = train_step(params, state, m, v, t, batch)
        loss.block_until_ready()
        return loss

    start = time.perf_counter()
    first_loss = float(step())  # compiles
    compile_s = time.perf_counter() - start
    for _ in range(max(0, args.warmup - 1)):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    ms = statistics.median(times)
    info = {
        "torch": f"jax {jax.__version__}",  # the field reference_step.sh prints
        "framework": "jax",
        "python": platform.python_version(),
        "threads": len(os.sched_getaffinity(0)),
        "batch": BATCH,
        "layout": "NHWC",
        "source": "pip wheel (jax " + jax.__version__ + ", XLA CPU)",
        "blas": "XLA (Eigen / oneDNN)",
        "steps": args.steps,
        "warmup": args.warmup,
        "compile_s": round(compile_s, 1),
        "first_loss": first_loss,
        "results": [{"variant": "jit", "ms_per_step": ms,
                     "samples_per_s": BATCH * 1e3 / ms,
                     "times_ms": [round(x, 2) for x in times]}],
    }
    if args.json:
        print(json.dumps(info))
        return
    print(f"jax {jax.__version__} (python {info['python']}), {info['threads']} "
          f"threads, batch {BATCH}, NHWC, median of {args.steps} steps after "
          f"{args.warmup} warm-up (jit compile {compile_s:.1f} s)")
    print(f"  jit      {ms:9.1f} ms/step {BATCH * 1e3 / ms:8.1f} samples/s")


if __name__ == "__main__":
    main()
