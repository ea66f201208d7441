#!/usr/bin/python3
"""PyTorch side of the Trainer-vs-PyTorch benchmark: the Fashion-MNIST CNN on CPU.

Run with Debian's interpreter (python3-torch is installed there; see setup-pytorch.sh):

    /usr/bin/python3 pytorch_side.py --threads 2 --batch-size 64 --steps 300 --eval-batch-size 256

Human-readable progress goes to stderr; stdout gets exactly one JSON line.

Step counting: the batches form one stream (a fresh permutation per epoch). The first
--warmup-steps of it are trained but not timed. With --steps N > 0, N timed steps follow
the warm-up (N + warm-up steps in all). With --steps 0, exactly --epochs epochs are trained
and the warm-up steps are the first ones of the first epoch. "steps" in the JSON is the
timed count. With --warmup-steps 0 the arithmetic is the reference run's, step for step.
"""
import argparse
import os
import sys


def _threads_from_argv(argv, default="2"):
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return default


# OpenMP and OpenBLAS size their pools when torch loads; torch.set_num_threads does not
# resize OpenBLAS's. Pin both to --threads first unless the caller already set them.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, _threads_from_argv(sys.argv))

import gzip  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training pixels, after /255


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def idx_array(path):
    """uint8 array from a (gzip'd) IDX file: 0x00 0x00 0x08 ndim, ndim big-endian u32 sizes, data."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(data_dir, prefix):
    def path(stem):
        p = os.path.join(data_dir, stem)
        return p + ".gz" if os.path.exists(p + ".gz") else p

    images = idx_array(path(f"{prefix}-images-idx3-ubyte"))
    labels = idx_array(path(f"{prefix}-labels-idx1-ubyte"))
    # x/255 in float32 (numpy), then -MEAN and /STD in float32 (torch).
    x = torch.from_numpy(images.astype(np.float32) / 255.0).sub_(MEAN).div_(STD)
    return x.unsqueeze(1).contiguous(), torch.from_numpy(labels.astype(np.int64))


def fashion_cnn():
    # Layers are created in this order so that torch.manual_seed(seed) gives the same
    # initial weights as the reference run.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128 * 7 * 7, 256), nn.ReLU(),
        nn.Linear(256, 10),
    )


def evaluate(model, x, y, batch_size):
    model.eval()
    correct, loss_sum = 0, 0.0
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            out = model(x[i:i + batch_size])
            yb = y[i:i + batch_size]
            loss_sum += F.cross_entropy(out, yb, reduction="sum").item()
            correct += (out.argmax(1) == yb).sum().item()
    seconds = time.perf_counter() - t0
    return correct / x.shape[0], loss_sum / x.shape[0], seconds


def blas_libraries():
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if len(line.split()) >= 6}
    except OSError:
        return []
    return sorted(p for p in paths if "blas" in os.path.basename(p).lower())


def debian_torch_version():
    try:
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", "python3-torch"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main():
    ap = argparse.ArgumentParser(description="PyTorch side of the Fashion-MNIST CNN benchmark")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--eval-batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=0,
                    help="timed training steps after the warm-up; 0 = train --epochs full epochs")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup-steps", type=int, default=20,
                    help="untimed training steps before timing starts (not counted in --steps)")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--log-every", type=int, default=100)
    args = ap.parse_args()
    if args.batch_size <= 0 or args.eval_batch_size <= 0 or args.steps < 0 or args.warmup_steps < 0:
        ap.error("sizes and step counts must be positive")

    torch.set_num_threads(args.threads)
    x_train, y_train = load(args.data_dir, "train")
    x_test, y_test = load(args.data_dir, "t10k")
    log(f"data: train {tuple(x_train.shape)}, test {tuple(x_test.shape)}; rss {peak_rss_mib():.0f} MiB")

    torch.manual_seed(args.seed)
    model = fashion_cnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(args.seed)

    n = x_train.shape[0]
    per_epoch = (n + args.batch_size - 1) // args.batch_size
    if args.steps > 0:
        total = args.warmup_steps + args.steps
    else:
        total = per_epoch * args.epochs
        if args.warmup_steps >= total:
            ap.error(f"--warmup-steps {args.warmup_steps} leaves no timed step of {total}")
    timed = total - args.warmup_steps
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.warmup_steps} warm-up + {timed} timed steps at batch {args.batch_size}")

    model.train()
    first_losses, loss = [], None
    step, timed_samples, t_start = 0, 0, None
    if args.warmup_steps == 0:
        t_start = time.perf_counter()
    while step < total:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, args.batch_size):
            if step >= total:
                break
            idx = perm[i:i + args.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if len(first_losses) < 3:
                first_losses.append(round(loss.item(), 5))
            if step > args.warmup_steps:
                timed_samples += xb.shape[0]
            elif step == args.warmup_steps:
                t_start = time.perf_counter()
            if step % args.log_every == 0 or step == total:
                el = time.perf_counter() - t_start if t_start is not None else 0.0
                rate = f"{timed_samples / el:.1f} samples/s" if timed_samples else "warm-up"
                log(f"  step {step}/{total} loss {loss.item():.4f} {rate}")
    train_s = time.perf_counter() - t_start
    final_loss = loss.item()

    acc, test_loss, eval_s = evaluate(model, x_test, y_test, args.eval_batch_size)
    log(f"test accuracy {acc:.4f}, test loss {test_loss:.4f}, eval {x_test.shape[0] / eval_s:.1f} samples/s")

    print(json.dumps({
        "framework": "pytorch",
        "torch": torch.__version__,
        "torch_package": debian_torch_version(),
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "eval_batch_size": args.eval_batch_size,
        "seed": args.seed,
        "warmup_steps": args.warmup_steps,
        "steps": timed,
        "train_samples": timed_samples,
        "train_seconds": round(train_s, 3),
        "train_samples_per_s": round(timed_samples / train_s, 2),
        "eval_samples": int(x_test.shape[0]),
        "eval_seconds": round(eval_s, 3),
        "eval_samples_per_s": round(x_test.shape[0] / eval_s, 2),
        "first_losses": first_losses,
        "final_train_loss": round(final_loss, 5),
        "test_accuracy": round(acc, 5),
        "test_loss": round(test_loss, 5),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "blas": blas_libraries(),
    }), flush=True)


if __name__ == "__main__":
    main()
