#!/usr/bin/python3
"""What an evaluation costs against the training it follows (issue 21).

  bench/evaluation_bench.py                       # N=1,2, 5 runs each
  bench/evaluation_bench.py --replicas 1 --repeat 9 --store memcached

Two measures, side by side:

- In a job: `emnist simulate` on the standard split (train test[:100000],
  evaluate test[100000:], 16,323 rows, every 500 minibatches of the job,
  to 0.75), from its history: each evaluation's seconds (asked for ->
  scored, the store's fetch included) against the seconds of training
  between it and the one before (asked for -> asked for). The evaluator
  runs on its own thread while the replicas train on: the share is the
  time an evaluation holds a core against the job's time for the training
  it follows. Per run the sums over the run's evaluations; medians of runs.
- In the kernels: `emnist_kernel_bench`'s rates on the same data: one pass
  of the evaluator over the 16,323 rows (with the fastest variant's
  product: amx's tiles where the processor has them) against 500 x 32
  samples at the fastest training step's rate (the kernel alone, one core,
  nothing beside it).

The target (issue 21): an evaluation at most a quarter of the time of the
training it follows, evaluating as often as train.eval_every asks.
Exit status: 0 when every run reached 0.75, 3 when one did not, 1 when a
run failed, 2 on bad arguments.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import RunFailed, check_inputs, log, start_memcached, stop_process, tail  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SPLIT = ["--set", "data.train=test[:100000]", "--set", "data.eval=test[100000:]"]
DATA_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz")
EVAL_EVERY = 500
BATCH = 32


def int_list(text):
    values = [int(v) for v in text.split(",") if v]
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"'{text}': positive integers, comma separated")
    return values


def job_share(args, n, servers):
    """One simulate run: (evaluation seconds, training seconds, evaluations, reached)."""
    cmd = [args.emnist, "simulate", "--json", "-q", "--data", args.data, *SPLIT,
           "--set", f"train.replicas={n}", "--set", f"train.eval_every={EVAL_EVERY}",
           "--set", f"train.batch_size={BATCH}", "--set", "train.target_accuracy=0.75",
           "--set", f"sync.store={args.store}"]
    if servers:
        cmd += ["--set", f"sync.servers=[\"{servers}\"]", "--set", f"sync.job=evalbench{n}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode not in (0, 3):
        raise RunFailed(f"emnist simulate exited {p.returncode}: {tail(p.stderr)}")
    r = json.loads(p.stdout)
    history = r["history"]
    evaluating = sum(e["finished"] - e["requested"] for e in history)
    asked = [e["requested"] for e in history]
    training = asked[-1] if asked else 0.0  # from the start to the last one asked
    return evaluating, training, len(history), r["reached"]


def kernel_share(args):
    """(seconds of one evaluation, seconds of 500 x 32 samples at the fastest
    step), from emnist_kernel_bench's medians."""
    p = subprocess.run([args.kernel_bench, "--data", args.data, "--rounds", str(args.rounds)],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RunFailed(f"emnist_kernel_bench exited {p.returncode}: {tail(p.stderr)}")
    steps, evaluations, rows = [], [], None
    for line in p.stdout.splitlines():
        m = re.match(r"(dense Eigen \(peer\)|sparse \w+)\s+(\d+)", line)
        if m:
            steps.append((m.group(1), float(m.group(2))))
        m = re.match(r"evaluation (\w+)\s+(\d+)\s+\(rows scored per second, (\d+) a pass\)",
                     line)
        if m:
            evaluations.append((m.group(1), float(m.group(2))))
            rows = int(m.group(3))
    if not steps or not evaluations:
        raise RunFailed(f"emnist_kernel_bench printed no rates: {tail(p.stdout)}")
    name, step_rate = max(steps, key=lambda s: s[1])
    # Variants print slowest first: the last is the one a job uses.
    eval_name, rate = evaluations[-1]
    return (rows / rate, EVAL_EVERY * BATCH / step_rate, f"{eval_name}; step {name}",
            step_rate, rate, evaluations)


def main(argv=None):
    shared = REPO.parent / "shared" / "data" / "emnist"
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--emnist", default=str(REPO / "build" / "emnist"))
    p.add_argument("--kernel-bench", default=str(REPO / "build" / "emnist_kernel_bench"))
    p.add_argument("--data", default=str(shared))
    p.add_argument("--replicas", type=int_list, default=[1, 2])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--rounds", type=int, default=7, help="emnist_kernel_bench --rounds")
    p.add_argument("--store", choices=["memory", "memcached"], default="memory")
    args = p.parse_args(argv)
    if args.repeat <= 0 or args.rounds <= 0:
        p.error("--repeat and --rounds must be positive")
    check_inputs(p, args, DATA_FILES)

    memcached, servers = None, None
    status = 0
    try:
        if args.store == "memcached":
            memcached, port = start_memcached()
            servers = f"127.0.0.1:{port}"
        rows = []
        for n in args.replicas:
            shares, per_eval, per_train, counts = [], [], [], []
            for i in range(args.repeat):
                evaluating, training, count, reached = job_share(args, n, servers)
                if not reached:
                    status = 3
                log(f"N={n} run {i + 1}/{args.repeat}: {count} evaluations, "
                    f"{evaluating:.3f} s evaluating, {training:.3f} s of training; "
                    f"reached={reached}")
                if count and training > 0:
                    shares.append(evaluating / training)
                    per_eval.append(evaluating / count)
                    per_train.append(training / count)
                    counts.append(count)
            rows.append((n, statistics.median(per_eval) if per_eval else None,
                         statistics.median(per_train) if per_train else None,
                         statistics.median(shares) if shares else None,
                         statistics.median(counts) if counts else 0))
        k_eval, k_train, k_name, k_step, k_rate, k_evals = kernel_share(args)
    except RunFailed as e:
        log(f"error: {e}")
        return 1
    finally:
        if memcached:
            stop_process(memcached)

    print(f"evaluation of 16,323 rows every {EVAL_EVERY} minibatches of {BATCH}; "
          f"store {args.store}; medians of {args.repeat} runs; target: share <= 0.25")
    print(f"{'shape':<34} {'evaluation s':>13} {'training s':>11} {'share':>7}")
    for n, e, t, share, count in rows:
        label = f"job N={n} ({count:g} evaluations a run)"
        if share is None:
            print(f"{label:<34} {'-':>13} {'-':>11} {'-':>7}")
        else:
            verdict = "met" if share <= 0.25 else "NOT MET"
            print(f"{label:<34} {e:>13.4f} {t:>11.4f} {share:>6.2f}x  {verdict}")
    share = k_eval / k_train
    verdict = "met" if share <= 0.25 else "NOT MET"
    label = f"kernels (eval {k_name})"
    print(f"{label:<34} {k_eval:>13.4f} {k_train:>11.4f} {share:>6.2f}x  {verdict}")
    print(f"  kernels, one core: evaluation {k_rate:,.0f} rows/s, training step "
          f"{k_step:,.0f} samples/s")
    print("  evaluation by variant: " +
          ", ".join(f"{name} {rate:,.0f} rows/s" for name, rate in k_evals))
    return status


if __name__ == "__main__":
    sys.exit(main())
