#!/usr/bin/python3
"""The PyTorch peer of the C++ EMNIST trainer: the same model, data, loss,
optimiser and stopping rule, written as a plain idiomatic PyTorch loop.

Model: 784 -> hidden tanh (no bias) -> inverted dropout -> 47 softmax (no bias).
Init W1 ~ U[-0.01, 0.01), W2 ~ U[-0.1, 0.1). Mean cross-entropy over the
minibatch, plain SGD, shuffle each epoch, drop the last partial batch.
Evaluate on the held-out slice (no dropout) every --eval-every minibatches
and stop at accuracy >= --target (or after --max-epochs).

Run with Debian's Python (python3-torch, python3-numpy; libopenblas0-pthread
for its BLAS, python3-threadpoolctl to report the kernel it ran):

  /usr/bin/python3 bench/torch_peer.py --data ../shared/data/emnist \
      --train-slice 'test[:100000]' --eval-slice 'test[100000:]' --json

Prints a JSON object on stdout (with --json; a short text line otherwise).
Exit status: 0 target reached, 3 not reached, 2 bad arguments or data.
"""

import argparse
import gzip
import json
import os
import re
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import blas_info  # noqa: E402

# torch is imported in main(), after the thread variables are set: a BLAS
# library (OpenBLAS, MKL) reads them when it is loaded. Module-level names:
torch = F = nn = None

IMAGE_MAGIC = 0x803
LABEL_MAGIC = 0x801
FILE_STEM = "emnist-bymerge-{name}-{kind}-idx{dims}-ubyte.gz"
SLICE_RE = re.compile(r"^(train|test)(?:\[\s*(-?\d+)?\s*:\s*(-?\d+)?\s*\])?$")


class DataError(Exception):
    pass


def read_idx(path, magic, dims):
    """Reads a gzip IDX file: big-endian u32 magic, `dims` u32 sizes, uint8."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
    header = 4 * (1 + dims)
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    fields = struct.unpack(">" + "I" * (1 + dims), raw[:header])
    if fields[0] != magic:
        raise DataError(f"{path}: magic {fields[0]:#x}, expected {magic:#x}")
    shape = fields[1:]
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: {len(raw) - header} data bytes, expected {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def parse_slice(text):
    """'test[:100000]' -> ('test', slice(None, 100000)); 'train' -> all."""
    m = SLICE_RE.match(text.strip())
    if not m:
        raise DataError(f"bad slice {text!r}: expected train|test[start:stop]")
    start = int(m.group(2)) if m.group(2) is not None else None
    stop = int(m.group(3)) if m.group(3) is not None else None
    return m.group(1), slice(start, stop)


class Files:
    """Loads each named IDX pair once."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.cache = {}

    def get(self, name):
        if name not in self.cache:
            images = read_idx(
                os.path.join(self.data_dir, FILE_STEM.format(name=name, kind="images", dims=3)),
                IMAGE_MAGIC, 3)
            labels = read_idx(
                os.path.join(self.data_dir, FILE_STEM.format(name=name, kind="labels", dims=1)),
                LABEL_MAGIC, 1)
            if images.shape[0] != labels.shape[0]:
                raise DataError(f"{name}: {images.shape[0]} images but {labels.shape[0]} labels")
            self.cache[name] = (images, labels)
        return self.cache[name]

    def select(self, text):
        """Returns (x float32 [n, 784] in [0, 1], y int64 [n]) as tensors."""
        name, sl = parse_slice(text)
        images, labels = self.get(name)
        images, labels = images[sl], labels[sl]
        if images.shape[0] == 0:
            raise DataError(f"slice {text!r} selects no samples")
        x = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)
        y = torch.from_numpy(labels.astype(np.int64))
        return x.contiguous(), y


def make_mlp(inputs, hidden, classes, dropout):
    """784 -> hidden tanh (no bias) -> dropout -> classes logits (no bias)."""
    model = nn.Sequential(
        nn.Linear(inputs, hidden, bias=False),
        nn.Tanh(),
        nn.Dropout(dropout),  # inverted dropout; identity in eval()
        nn.Linear(hidden, classes, bias=False),
    )
    with torch.no_grad():
        model[0].weight.uniform_(-0.01, 0.01)
        model[3].weight.uniform_(-0.1, 0.1)
    return model


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        correct = (model(x).argmax(dim=1) == y).sum().item()
    model.train()
    return correct / y.shape[0]


class ModuleImpl:
    """nn.Sequential of nn.Linear(bias=False) layers + torch.optim.SGD."""

    def __init__(self, inputs, hidden, classes, dropout, lr):
        self.model = make_mlp(inputs, hidden, classes, dropout)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.model.train()

    def step(self, x, y):
        loss = F.cross_entropy(self.model(x), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def accuracy(self, x, y):
        return accuracy(self.model, x, y)


class RawImpl:
    """Raw weight tensors, autograd, and an in-place SGD update. Same
    initial weights and random stream as ModuleImpl (W drawn as [out, in]),
    stored [in, out] so that the forward pass needs no transpose."""

    def __init__(self, inputs, hidden, classes, dropout, lr):
        self.w1 = torch.empty(hidden, inputs).uniform_(-0.01, 0.01).t().contiguous()
        self.w2 = torch.empty(classes, hidden).uniform_(-0.1, 0.1).t().contiguous()
        self.params = [self.w1.requires_grad_(), self.w2.requires_grad_()]
        self.dropout = dropout
        self.lr = lr

    def step(self, x, y):
        h = F.dropout(torch.tanh(x @ self.w1), self.dropout, training=True)
        F.cross_entropy(h @ self.w2, y).backward()
        with torch.no_grad():
            for p in self.params:
                p.sub_(p.grad, alpha=self.lr)
                p.grad = None

    def accuracy(self, x, y):
        with torch.no_grad():
            logits = torch.tanh(x @ self.w1) @ self.w2
            return (logits.argmax(dim=1) == y).sum().item() / y.shape[0]


IMPLS = {"module": ModuleImpl, "raw": RawImpl}


def train(args, x_train, y_train, x_eval, y_eval):
    torch.manual_seed(args.seed)
    classes = int(max(y_train.max().item(), y_eval.max().item())) + 1
    classes = max(classes, args.classes)
    net = IMPLS[args.impl](x_train.shape[1], args.hidden, classes, args.dropout, args.lr)
    n = x_train.shape[0]
    b = args.batch_size
    batches_per_epoch = n // b
    if batches_per_epoch == 0:
        raise DataError(f"{n} training samples, fewer than one batch of {b}")

    minibatches = 0
    evaluations = 0
    eval_seconds = 0.0
    acc = 0.0
    reached = False
    seconds_to_target = None
    history = []
    start = time.perf_counter()

    def evaluate():
        nonlocal evaluations, eval_seconds, acc, reached, seconds_to_target
        t0 = time.perf_counter()
        acc = net.accuracy(x_eval, y_eval)
        t1 = time.perf_counter()
        evaluations += 1
        eval_seconds += t1 - t0
        history.append({"minibatches": minibatches, "samples": minibatches * b,
                        "accuracy": acc, "seconds": t1 - start})
        if acc >= args.target:
            reached = True
            seconds_to_target = t1 - start
        return reached

    epoch = 0
    for epoch in range(1, args.max_epochs + 1):
        perm = torch.randperm(n)
        for i in range(batches_per_epoch):
            idx = perm[i * b:(i + 1) * b]
            net.step(x_train[idx], y_train[idx])
            minibatches += 1
            if minibatches % args.eval_every == 0 and evaluate():
                break
        if reached:
            break
    if not reached and (not history or history[-1]["minibatches"] != minibatches):
        evaluate()  # a final evaluation at the end of the last epoch
    end = time.perf_counter()

    seconds = (seconds_to_target if reached else end - start)
    train_seconds = seconds - eval_seconds
    samples = minibatches * b
    return {
        "reached": reached,
        "accuracy": acc,
        "target": args.target,
        "seconds_to_target": seconds_to_target,
        "seconds": seconds,
        "train_seconds_excluding_eval": train_seconds,
        "eval_seconds": eval_seconds,
        "samples": samples,
        "samples_per_second": samples / train_seconds if train_seconds > 0 else None,
        "minibatches": minibatches,
        "epochs": epoch,
        "evaluations": evaluations,
        "history": history,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("EMNIST_DIR"),
                   help="folder with emnist-bymerge-*-idx*-ubyte.gz (default $EMNIST_DIR)")
    p.add_argument("--train-slice", default="test[:100000]")
    p.add_argument("--eval-slice", default="test[100000:]")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--classes", type=int, default=47)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--eval-every", type=int, default=500, help="minibatches between evaluations")
    p.add_argument("--target", type=float, default=0.75)
    p.add_argument("--max-epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--impl", choices=sorted(IMPLS), default="raw",
                   help="raw: weight tensors + manual SGD (default, the faster here); "
                        "module: nn.Linear + torch.optim.SGD")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)

    if not args.data:
        p.error("--data DIR is required (or set EMNIST_DIR)")
    for name in ("batch_size", "hidden", "eval_every", "max_epochs", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0.0 <= args.dropout < 1.0:
        p.error("--dropout must be in [0, 1)")

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    global torch, F, nn
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (only possible once per process)

    try:
        t0 = time.perf_counter()
        files = Files(args.data)
        x_train, y_train = files.select(args.train_slice)
        x_eval, y_eval = files.select(args.eval_slice)
        load_seconds = time.perf_counter() - t0
        result = train(args, x_train, y_train, x_eval, y_eval)
    except DataError as e:
        print(f"torch_peer: {e}", file=sys.stderr)
        return 2

    result.update({
        "load_seconds": load_seconds,
        "train_samples_available": int(x_train.shape[0]),
        "eval_samples": int(x_eval.shape[0]),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "torch": torch.__version__,
        **blas_info.summary(),
        "config": {k: getattr(args, k) for k in (
            "train_slice", "eval_slice", "batch_size", "hidden", "lr", "dropout",
            "eval_every", "target", "max_epochs", "seed", "impl")},
    })
    if args.json:
        print(json.dumps(result))
    else:
        stt = result["seconds_to_target"]
        print(f"reached={result['reached']} accuracy={result['accuracy']:.4f} "
              f"seconds_to_target={'n/a' if stt is None else f'{stt:.2f}'} "
              f"samples={result['samples']} samples/s={result['samples_per_second']:.0f} "
              f"evaluations={result['evaluations']} threads={result['threads']}")
        print(f"kernel: {result['kernel']}")
    return 0 if result["reached"] else 3


if __name__ == "__main__":
    sys.exit(main())
