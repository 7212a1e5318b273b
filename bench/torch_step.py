#!/usr/bin/python3
"""PyTorch peer of mtlc's reference training step (issue 7).

The exact network of examples/fashion_detect.toml (or, with --spec, of
examples/sequential_lstm.toml, multi_fashion.toml or vae.toml), the spec's
batch, fp32 on the CPU: forward, the task losses (weighted as in the
spec), backward and the spec's Adam update (lr 1e-3), timed step by step;
prints the median ms/step after warm-up.
Never part of `make test`: a benchmark only.

    /usr/bin/python3 bench/torch_step.py --threads 2 [--compile] [--json]
                                         [--spec examples/sequential_lstm.toml]

Debian's python3-torch is importable only from /usr/bin/python3 (a pyenv
python3 earlier in PATH has no torch). Layouts: NCHW by default (PyTorch's
native one); --channels-last runs NHWC like mtlc.
"""
import argparse
import json
import os
import platform
import re
import statistics
import sys
import time

from peer_args import threads_from_argv


# Before torch loads: Debian's torch calls BLAS (libblas.so.3, OpenBLAS where
# libopenblas0 is installed) for its GEMMs, and OpenBLAS sizes its own
# thread pool from the environment, not from torch.set_num_threads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, str(threads_from_argv()))

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - reported, not a crash
    print(f"torch_step.py: error: cannot import torch ({e}); run it with "
          "/usr/bin/python3 (Debian's python3-torch)", file=sys.stderr)
    sys.exit(3)

BATCH = 128


class FashionDetect(nn.Module):
    """examples/fashion_detect.toml, layer for layer."""

    def __init__(self):
        super().__init__()
        layers = []
        cin = 1
        for cout in (32, 64, 128):  # conv3x3 pad 1 -> bn -> relu -> pool 2
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout,
                       eps=1e-5, momentum=0.1), nn.ReLU(), nn.MaxPool2d(2)]
            cin = cout
        self.backbone = nn.Sequential(*layers, nn.Flatten())  # 5*5*128 = 3200
        self.label = nn.Sequential(nn.Linear(3200, 256), nn.ReLU(),
                                   nn.Linear(256, 10))
        self.group = nn.Sequential(nn.Linear(3200, 64), nn.ReLU(),
                                   nn.Linear(64, 4))
        self.box = nn.Sequential(nn.Linear(3200, 128), nn.ReLU(),
                                 nn.Linear(128, 4), nn.Sigmoid())
        self.recon_fc = nn.Sequential(nn.Linear(3200, 1568), nn.ReLU())
        self.recon = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),  # 7 -> 14
            nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),  # 14 -> 28
            nn.Conv2d(16, 1, 3, padding=1))               # logits
        for m in self.modules():  # the spec's init: glorot_uniform, bias 0
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, image):
        f = self.backbone(image)
        # mtlc's reshape [7, 7, 32] is HWC; the layout of a reshape does not
        # change the work, so PyTorch's [32, 7, 7] stands in for it.
        grid = self.recon_fc(f).view(-1, 32, 7, 7)
        return self.label(f), self.group(f), self.box(f), self.recon(grid)


def loss_of(outputs, batch):
    label, group, box, recon = outputs
    # The spec's weights (box 5, the others 1) and smooth-L1 beta (2/40);
    # every loss a mean, as mtlc's.
    return (F.cross_entropy(label, batch["label"]) +
            F.cross_entropy(group, batch["group"]) +
            5.0 * F.smooth_l1_loss(box, batch["box"], beta=0.05) +
            F.binary_cross_entropy_with_logits(recon, batch["item"]))


def random_images(gen, n, side, channels_last):
    """n one-channel side x side images in [0, 1), NCHW or channels-last."""
    image = torch.rand(n, 1, side, side, generator=gen)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    return image


def random_batch(gen, channels_last):
    image = random_images(gen, BATCH, 40, channels_last)
    item = torch.rand(BATCH, 1, 28, 28, generator=gen)
    return {
        "image": image,
        "label": torch.randint(0, 10, (BATCH,), generator=gen),
        "group": torch.randint(0, 4, (BATCH,), generator=gen),
        "box": torch.rand(BATCH, 4, generator=gen),
        "item": item,
    }


class SequentialLstm(nn.Module):
    """examples/sequential_lstm.toml: an LSTM 128 over the 28 rows (28
    pixels each) of an image, both heads on its last hidden state."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(28, 128, batch_first=True)
        self.label = nn.Linear(128, 10)
        self.group = nn.Linear(128, 4)

    def forward(self, image):
        _, (h, _) = self.rnn(image)
        return self.label(h[-1]), self.group(h[-1])


def lstm_loss_of(outputs, batch):
    label, group = outputs
    return (F.cross_entropy(label, batch["label"]) +
            F.cross_entropy(group, batch["group"]))


def lstm_random_batch(gen, channels_last):
    del channels_last  # a sequence: no image layout
    return {
        "image": torch.rand(BATCH, 28, 28, generator=gen),
        "label": torch.randint(0, 10, (BATCH,), generator=gen),
        "group": torch.randint(0, 4, (BATCH,), generator=gen),
    }


def lstm_count_flops():
    """2 x the multiply-adds of the recurrence's gate sums (forward; the
    backward's dh sums and weight gradients, no dx of the image) and of the
    heads' GEMMs (forward, dx, dw)."""
    n, t, f, h = BATCH, 28, 28, 128
    gates = n * t * 4 * h
    macs = gates * (f + h) + gates * h + gates * (f + h)
    macs += 3 * n * h * (10 + 4)
    return 2 * macs


def count_flops():
    """2 x the multiply-adds of the convs and GEMMs: forward and both
    backward products, except the first conv's grad-input (the image needs
    none). Elementwise work is left out: a lower bound of mtlc's
    codegen/Flops.cpp count."""
    macs = 0
    n = BATCH
    first = n * 40 * 40 * 32 * 1 * 9
    for (hw, ci, co) in ((20, 32, 64), (10, 64, 128), (14, 32, 16),
                         (28, 16, 1)):
        macs += n * hw * hw * co * ci * 9
    for (k, m) in ((3200, 256), (256, 10), (3200, 64), (64, 4), (3200, 128),
                   (128, 4), (3200, 1568)):
        macs += n * k * m
    return 2 * (3 * macs + 2 * first)


def glorot(model):
    """The specs' default init: glorot_uniform weights, zero biases."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)


MULTI_BATCH = 256  # examples/multi_fashion.toml's [train] batch


class MultiFashion(nn.Module):
    """examples/multi_fashion.toml: conv1 5x5 (36 -> 32), pool, relu shared;
    per task conv 5x5 64 (16 -> 12), pool, relu, dense 128, dense 50, relu,
    dense 10."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(1, 32, 5), nn.MaxPool2d(2),
                                   nn.ReLU())

        def head():
            return nn.Sequential(nn.Conv2d(32, 64, 5), nn.MaxPool2d(2),
                                 nn.ReLU(), nn.Flatten(),  # 6*6*64 = 2304
                                 nn.Linear(2304, 128), nn.Linear(128, 50),
                                 nn.ReLU(), nn.Linear(50, 10))
        self.left, self.right = head(), head()
        glorot(self)

    def forward(self, image):
        f = self.trunk(image)
        return self.left(f), self.right(f)


def multi_loss_of(outputs, batch):
    left, right = outputs
    return (F.cross_entropy(left, batch["left"]) +
            F.cross_entropy(right, batch["right"]))


def multi_random_batch(gen, channels_last):
    return {
        "image": random_images(gen, MULTI_BATCH, 36, channels_last),
        "left": torch.randint(0, 10, (MULTI_BATCH,), generator=gen),
        "right": torch.randint(0, 10, (MULTI_BATCH,), generator=gen),
    }


def multi_count_flops():
    n = MULTI_BATCH
    conv1 = n * 32 * 32 * 32 * 1 * 25        # no grad-input: the image
    conv2 = n * 12 * 12 * 64 * 32 * 25       # per head
    dense = n * (2304 * 128 + 128 * 50 + 50 * 10)
    return 2 * (2 * conv1 + 2 * 3 * conv2 + 2 * 3 * dense)


class Vae(nn.Module):
    """examples/vae.toml: encoder convs 3x3 / 2 (28 -> 14 -> 7), dense 256,
    the latent mean and log-variance (16), the reparameterized sample into
    a dense decoder (256, 784 logits), a classifier on the mean (64, 10)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(3136, 256), nn.ReLU())
        self.z_mean, self.z_logvar = nn.Linear(256, 16), nn.Linear(256, 16)
        self.decoder = nn.Sequential(nn.Linear(16, 256), nn.ReLU(),
                                     nn.Linear(256, 784))
        self.classifier = nn.Sequential(nn.Linear(16, 64), nn.ReLU(),
                                        nn.Linear(64, 10))
        glorot(self)

    def forward(self, image):
        f = self.encoder(image)
        mean, logvar = self.z_mean(f), self.z_logvar(f)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        return (self.decoder(z).view(-1, 1, 28, 28), mean, logvar,
                self.classifier(mean))


def vae_loss_of(outputs, batch):
    recon, mean, logvar, label = outputs
    # The spec's weights: recon 1, kl 0.005 (summed over the latent dims,
    # a mean over the batch), label 1.
    kl = (-0.5 * (1 + logvar - mean * mean - logvar.exp()).sum(1)).mean()
    return (F.binary_cross_entropy_with_logits(recon, batch["image"]) +
            0.005 * kl + F.cross_entropy(label, batch["label"]))


def vae_random_batch(gen, channels_last):
    return {"image": random_images(gen, BATCH, 28, channels_last),
            "label": torch.randint(0, 10, (BATCH,), generator=gen)}


def vae_count_flops():
    n = BATCH
    conv1 = n * 14 * 14 * 32 * 1 * 9          # no grad-input: the image
    conv2 = n * 7 * 7 * 64 * 32 * 9
    dense = n * (3136 * 256 + 2 * 256 * 16 + 16 * 256 + 256 * 784 +
                 16 * 64 + 64 * 10)
    return 2 * (2 * conv1 + 3 * conv2 + 3 * dense)


# The networks by the spec's [model] name: (module, loss, batch, GEMM FLOPs,
# batch size).
WORKLOADS = {
    "fashion_detect": (FashionDetect, loss_of, random_batch, count_flops,
                       BATCH),
    "sequential_lstm": (SequentialLstm, lstm_loss_of, lstm_random_batch,
                        lstm_count_flops, BATCH),
    "multi_fashion": (MultiFashion, multi_loss_of, multi_random_batch,
                      multi_count_flops, MULTI_BATCH),
    "vae": (Vae, vae_loss_of, vae_random_batch, vae_count_flops, BATCH),
}


def model_name(spec):
    """The [model] name of a spec (tomllib: python >= 3.11)."""
    import tomllib
    with open(spec, "rb") as f:
        return tomllib.load(f)["model"]["name"]


def blas_library():
    """The BLAS this torch uses: Debian's torch calls the system's
    libblas.so.3 alternative (reference BLAS or OpenBLAS, as loaded into
    this process); PyPI's wheels link MKL in (torch.__config__ says so)."""
    if not torch_source().startswith("Debian"):
        config_blas = blas_from_config()
        if config_blas:
            return config_blas
    try:
        with open("/proc/self/maps") as maps:
            libs = {line.split()[-1] for line in maps
                    if "blas" in line.split()[-1].lower()}
    except OSError:
        libs = set()
    real = {os.path.realpath(l) for l in libs}
    openblas = [l for l in real if "openblas" in os.path.basename(l)]
    if openblas:
        return "OpenBLAS (" + os.path.basename(sorted(openblas)[-1]) + ")"
    blas = [l for l in real if os.path.basename(l).startswith("libblas")]
    if blas:
        return "reference BLAS (" + blas[0] + ")"
    return blas_from_config() or "none loaded"


def blas_from_config():
    """BLAS_INFO of torch's build configuration ("mkl" for PyPI's wheels;
    numpy's own OpenBLAS may be loaded too, torch does not call it)."""
    try:
        config = torch.__config__.show()
    except Exception:  # pragma: no cover - very old torch
        return None
    m = re.search(r"BLAS_INFO=(\w+)", config)
    return m.group(1) + " (linked into torch)" if m else None


def torch_source():
    """Where this torch comes from: Debian's python3-torch or a pip wheel."""
    path = os.path.realpath(torch.__file__)
    if path.startswith("/usr/lib/python3/dist-packages"):
        return "Debian python3-torch"
    return "pip wheel (" + os.path.dirname(os.path.dirname(path)) + ")"


def time_steps(step, steps, warmup):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--compile", action="store_true",
                    help="also time torch.compile (torch >= 2)")
    ap.add_argument("--channels-last", action="store_true",
                    help="NHWC activations (mtlc's layout)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--spec", help="the spec whose network to run "
                    "(fashion_detect.toml, the default, sequential_lstm, "
                    "multi_fashion or vae.toml)")
    args = ap.parse_args()
    name = model_name(args.spec) if args.spec else "fashion_detect"
    if name not in WORKLOADS:
        print(f"torch_step.py: error: no PyTorch peer of model '{name}' "
              f"({args.spec}); known: {', '.join(WORKLOADS)}",
              file=sys.stderr)
        sys.exit(2)
    Model, loss_fn, make_batch, flops, batch_size = WORKLOADS[name]

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    batch = make_batch(gen, args.channels_last)

    results = []

    def run(name, model, forward):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999),
                               eps=1e-8)
        model.train()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(forward(batch["image"]), batch)
            loss.backward()
            opt.step()
            return loss

        ms, times = time_steps(step, args.steps, args.warmup)
        results.append({"variant": name, "ms_per_step": ms,
                        "samples_per_s": batch_size * 1e3 / ms,
                        "times_ms": [round(t, 2) for t in times]})

    model = Model()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    run("eager", model, model)

    compile_note = None
    if args.compile:
        if hasattr(torch, "compile"):
            cmodel = Model()
            if args.channels_last:
                cmodel = cmodel.to(memory_format=torch.channels_last)
            compiled = torch.compile(cmodel)
            # Compilation happens in the first (warm-up) steps.
            run("compile", cmodel, compiled)
        else:
            compile_note = (f"torch.compile needs torch >= 2 (this is "
                            f"{torch.__version__}): not timed")

    info = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "batch": batch_size,
        "layout": ("[N, T, F]" if name == "sequential_lstm" else
                   "NHWC" if args.channels_last else "NCHW"),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "blas": blas_library(),
        "source": torch_source(),
        "steps": args.steps,
        "warmup": args.warmup,
        "model": name,
        "gemm_conv_gflop_per_step": flops() / 1e9,
        "results": results,
    }
    if compile_note:
        info["compile_note"] = compile_note
    if args.json:
        print(json.dumps(info))
        return
    print(f"torch {info['torch']} (python {info['python']}), "
          f"{info['threads']} threads, batch {batch_size}, {info['layout']}, "
          f"median of {args.steps} steps after {args.warmup} warm-up")
    print(f"  {info['source']}; BLAS: {info['blas']}")
    for r in results:
        print(f"  {r['variant']:8s} {r['ms_per_step']:9.1f} ms/step "
              f"{r['samples_per_s']:8.1f} samples/s")
    if compile_note:
        print(f"  {compile_note}")


if __name__ == "__main__":
    main()
