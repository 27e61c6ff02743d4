#!/usr/bin/python3
"""Time the C++ trainer (`emnist simulate`) against its PyTorch peer
(bench/torch_peer.py) on the standard split: train on test[:100000],
evaluate on test[100000:] every 500 minibatches, stop at accuracy 0.75.
Batch 32, 100 hidden units, learning rate 0.1, embedded memory store.

  bench/simulate_vs_torch.py                        # C++ 1 replica x3, torch 1 and 2 threads x3
  bench/simulate_vs_torch.py --replicas 1,2 --repeat 5 --torch-repeat 5
  bench/simulate_vs_torch.py --torch-threads 1      # the peer on one thread only
  bench/simulate_vs_torch.py --json > result.json
  bench/simulate_vs_torch.py --prototype-repeat 1 --svg docs/accuracy_vs_time.svg

Runs one thing at a time (C++ and torch runs interleaved, so that a slow
spell of the machine falls on both), then prints the medians side by side,
the ratios C++/torch, and every run's figures. Exit status: 0 when every run
reached the target, 3 when some did not, 1 when a run failed.

The peer at its best: Debian's torch does its matrix products through
libblas.so.3, the reference (netlib) BLAS unless libopenblas0-pthread is
installed (`WITH_BENCH=1 scripts/install-deps.sh` installs it). The peer
runs at each of --torch-threads (1 and 2 by default) with each of
--torch-coretypes: `auto`, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed
from its environment alone (a machine may set them for older OpenBLAS
builds; OpenBLAS then runs the kernel it detects), and `native`, the kernel
this processor's instruction sets can run (SkylakeX with AVX-512, Haswell
with AVX2): OpenBLAS 0.3.21 falls back to its generic Prescott kernel on a
processor it does not know, as virtual machines' often are, and runs 1.2-1.7x
slower there. Above one thread OMP_WAIT_POLICY=PASSIVE (see peer_env). Each
run reports the kernel it ran (python3-threadpoolctl). The setting with the
lowest median seconds to target is the peer the ratios compare against.

--prototype-repeat N also runs the prototype's algorithm
(bench/prototype_peer.py: one numpy worker sharing whole float64 weights
through a memcached started here, on a free loopback port) N times, after
the others, with the same split, model and evaluation schedule.
--svg PATH writes a chart of test accuracy against seconds of training
(logarithmic: the peers differ by orders of magnitude), one line per
program: the evaluations of its median run (by seconds to target).
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import RunFailed, log, start_memcached, stop_process, tail  # noqa: E402
from blas_info import OPENBLAS_TUNING_VARS  # noqa: E402
from svg_chart import Series, line_chart, write_svg  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
TORCH_PEER = Path(__file__).resolve().parent / "torch_peer.py"
PROTOTYPE_PEER = Path(__file__).resolve().parent / "prototype_peer.py"
TRAIN_SLICE = "test[:100000]"
EVAL_SLICE = "test[100000:]"
BATCH_SIZE = 32
HIDDEN = 100
LEARNING_RATE = 0.1
DROPOUT = 0.2
EVAL_EVERY = 500
TARGET = 0.75
DATA_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz")
CPP_KEYS = ("reached", "accuracy", "seconds_to_target", "seconds", "load_seconds",
            "replicas", "samples", "samples_per_second", "evaluations")
TORCH_KEYS = ("reached", "accuracy", "seconds_to_target", "train_seconds_excluding_eval",
              "samples", "samples_per_second", "evaluations", "threads")
PROTOTYPE_KEYS = ("reached", "accuracy", "seconds_to_target", "seconds", "samples",
                  "samples_per_second", "evaluations", "history")


def parse_json_output(stdout):
    """The JSON object a run printed: all of stdout, or else its last line
    that parses as an object (a program may print progress lines first)."""
    try:
        value = json.loads(stdout)
        if isinstance(value, dict):
            return value
    except ValueError:
        pass
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def run_json(what, cmd, keys, timeout, env=None):
    """Runs cmd; returns (its JSON summary, wall seconds). Exit 0 (target
    reached) and 3 (not reached) are results; anything else is a failure."""
    shown = " ".join(shlex.quote(str(c)) for c in cmd)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except FileNotFoundError as e:
        raise RunFailed(f"{what}: cannot start {shown}: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise RunFailed(f"{what}: no result after {timeout} s (--timeout): {shown}") from e
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 3):
        raise RunFailed(f"{what}: exit status {proc.returncode}: {shown}\n"
                        f"--- stderr (last lines) ---\n{tail(proc.stderr)}\n"
                        f"--- stdout (last lines) ---\n{tail(proc.stdout)}")
    summary = parse_json_output(proc.stdout)
    if summary is None:
        raise RunFailed(f"{what}: no JSON object on stdout: {shown}\n"
                        f"--- stdout (last lines) ---\n{tail(proc.stdout)}\n"
                        f"--- stderr (last lines) ---\n{tail(proc.stderr)}")
    missing = [k for k in keys if k not in summary]
    if missing:
        raise RunFailed(f"{what}: JSON summary lacks {', '.join(missing)}: {shown}\n"
                        f"{tail(proc.stdout, 5)}")
    if bool(summary["reached"]) != (proc.returncode == 0):
        log(f"warning: {what}: exit status {proc.returncode} but reached={summary['reached']}")
    summary["exit_status"] = proc.returncode
    summary["wall_seconds"] = wall
    return summary


def cpp_command(args, replicas):
    sets = [
        f"data.train={TRAIN_SLICE}",
        f"data.eval={EVAL_SLICE}",
        f"train.batch_size={BATCH_SIZE}",
        f"model.hidden={HIDDEN}",
        f"train.learning_rate={LEARNING_RATE}",
        f"train.eval_every={EVAL_EVERY}",
        "sync.store=memory",
        f"train.replicas={replicas}",
    ] + list(args.cpp_set)
    cmd = [args.emnist, "simulate", "--json", "--data", args.data]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def native_coretype():
    """The OpenBLAS kernel this processor's instruction sets run, from
    /proc/cpuinfo: SkylakeX (AVX-512), Haswell (AVX2+FMA), else None."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return None
    if "avx512f" in flags:
        return "SkylakeX"
    if "avx2" in flags and "fma" in flags:
        return "Haswell"
    return None


def parse_coretypes(text):
    out = []
    for name in text.split(","):
        name = name.strip()
        if not name:
            raise argparse.ArgumentTypeError(f"an empty kernel name in {text!r}")
        if name == "native":
            name = native_coretype()
            if name is None:
                continue  # no kernel beyond what OpenBLAS detects
        if name not in out:
            out.append(name)
    return out or ["auto"]


def setting_name(threads, coretype):
    """'1' (the detected kernel) or '1 SkylakeX'."""
    return str(threads) if coretype == "auto" else f"{threads} {coretype}"


def peer_env(threads, coretype="auto"):
    """A Python peer's environment: this one, less the OpenBLAS tuning
    variables (the peer runs the kernel OpenBLAS picks, or `coretype`'s
    when it is not "auto"), with every
    threading library told `threads`. With more than one thread, OpenMP's
    threads sleep when idle (OMP_WAIT_POLICY=PASSIVE, unless set): their
    default spinning, with anything else runnable on the two cores, took
    a 2-thread run from 7.5 s to 70.6 s (a compile beside it)."""
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_TUNING_VARS}
    if coretype != "auto":
        env["OPENBLAS_CORETYPE"] = coretype
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if threads > 1:
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def torch_command(args, seed, threads):
    return [args.python, TORCH_PEER, "--data", args.data, "--threads", threads,
            "--train-slice", TRAIN_SLICE, "--eval-slice", EVAL_SLICE,
            "--batch-size", BATCH_SIZE, "--hidden", HIDDEN, "--lr", LEARNING_RATE,
            "--dropout", DROPOUT, "--eval-every", EVAL_EVERY, "--target", TARGET,
            "--max-epochs", args.max_epochs, "--seed", seed, "--impl", args.torch_impl,
            "--json"]



def prototype_command(args, server, seed):
    return [args.python, PROTOTYPE_PEER, "--server", server, "--data", args.data,
            "--workers", 1, "--gradient", args.prototype_gradient,
            "--max-seconds", args.prototype_max_seconds, "--seed", seed,
            "--batch-size", BATCH_SIZE, "--hidden", HIDDEN, "--lr", LEARNING_RATE,
            "--dropout", DROPOUT, "--eval-every", EVAL_EVERY, "--target", TARGET]


def median_run(runs):
    """The run whose time is the median (the lower middle of an even
    count): what the chart draws for a program."""
    if not runs:
        return None

    def time_of(r):
        t = r.get("seconds_to_target") if r.get("reached") else None
        return t if t is not None else float("inf")

    ordered = sorted(runs, key=time_of)
    return ordered[(len(ordered) - 1) // 2]


def curve(run, time_key):
    """(seconds, accuracy) of each evaluation in a run's history."""
    if run is None:
        return []
    return [(e.get(time_key), e.get("accuracy")) for e in run.get("history") or []]


def write_chart(path, result, torch_runs, cpp_runs, prototype_runs, gradient):
    series = []
    for n, runs in cpp_runs.items():
        if runs:
            series.append(Series(f"C++ simulate, {n} repl.", curve(median_run(runs), "finished")))
    peer = result["torch"]
    if torch_runs:
        series.append(Series(f"PyTorch peer, {peer['threads']} thr.",
                             curve(median_run(torch_runs), "seconds")))
    if prototype_runs:
        label = "prototype peer" + ("" if gradient == "prototype" else f" ({gradient} grad.)")
        series.append(Series(label, curve(median_run(prototype_runs), "seconds")))
    cfg = result["config"]
    notes = [f"EMNIST ByMerge, train {cfg['train']}, eval {cfg['eval']}, "
             f"batch {cfg['batch_size']}, hidden {cfg['hidden']}, lr {cfg['learning_rate']}",
             f"an evaluation every {cfg['eval_every']} minibatches; the median run of each "
             f"program; {cfg['cores']} cores"]
    if torch_runs:
        others = [f"t={t}" for t in result["torch_by_threads"] if t != peer["setting"]]
        notes.append(f"PyTorch peer: torch {torch_runs[0].get('torch', '?')} on "
                     f"{torch_runs[0].get('kernel', '?')}"
                     + (f" (faster than at {', '.join(others)})" if others else ""))
    if prototype_runs:
        notes.append(f"prototype peer: numpy on {prototype_runs[0].get('kernel', '?')}, "
                     "weights via memcached")
    svg = line_chart(series, title=f"Test accuracy against training time, to {TARGET}",
                     x_label="seconds since training started (log scale)",
                     y_label="test accuracy", x_log=True, y_range=(0.0, 1.0),
                     hlines=[(TARGET, f"target {TARGET}")], notes=notes)
    return write_svg(path, svg)


def derive(run, per):
    """Adds the figures the table compares. `per` is replicas (C++) or
    threads (torch): the number of cores the run's training used."""
    samples = run.get("samples") or 0
    sps = run.get("samples_per_second")
    stt = run.get("seconds_to_target")
    run["samples_per_second_per_core"] = sps / per if sps and per else None
    run["end_to_end_samples_per_second"] = samples / stt if stt else None
    return run


def median(runs, key, reached_only=False):
    values = [r[key] for r in runs
              if r.get(key) is not None and (r.get("reached") or not reached_only)]
    return statistics.median(values) if values else None


ROWS = [
    # key, label, format, reached_only, which way is better for C++
    ("seconds_to_target", f"seconds to {TARGET}", "{:.2f}", True, "lower"),
    ("samples", f"samples trained to {TARGET}", "{:,.0f}", True, "lower"),
    ("evaluations", "evaluations", "{:.0f}", True, "lower"),
    ("samples_per_second", "training samples/s", "{:,.0f}", False, "higher"),
    ("samples_per_second_per_core", "samples/s per replica|thread", "{:,.0f}", False, "higher"),
    ("end_to_end_samples_per_second", "samples / seconds to target", "{:,.0f}", True, "higher"),
    ("load_seconds", "load seconds (outside timing)", "{:.2f}", False, "lower"),
]


def summarize(runs, per_key):
    out = {"runs": len(runs), "reached": sum(1 for r in runs if r.get("reached"))}
    for key, _, _, reached_only, _ in ROWS:
        out[key] = median(runs, key, reached_only)
    out[per_key] = runs[0].get(per_key) if runs else None
    return out


def fmt(fmt_str, value):
    return "-" if value is None else fmt_str.format(value)


def ratio(a, b):
    return a / b if a is not None and b else None


def print_table(result, out):
    torch_med = result["torch"]["median"]
    have_torch = bool(result["torch"]["runs"])
    cols = [(f"torch t={t}" + ("*" if t == result["torch"]["setting"] else ""),
             by["median"], None) for t, by in result["torch_by_threads"].items()]
    for n, cpp in result["cpp"].items():
        cols.append((f"C++ r={n}", cpp["median"], torch_med if have_torch else None))
    header = ["median of runs"] + [
        h for name, _, base in cols for h in ([name] if base is None else [name, "C++/torch"])]
    rows = [["runs reaching target"] + [
        c for name, med, base in cols
        for c in ([f"{med['reached']}/{med['runs']}"] + ([""] if base is not None else []))]]
    for key, label, f, _, _ in ROWS:
        row = [label]
        for name, med, base in cols:
            row.append(fmt(f, med.get(key)))
            if base is not None:
                r = ratio(med.get(key), base.get(key))
                row.append("-" if r is None else f"{r:.2f}x")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                         for i, c in enumerate(cells))

    print(line(header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print(line(r), file=out)
    print(file=out)
    if not have_torch or not result["cpp"]:
        return
    print(f"*: the peer, the fastest setting (torch t={result['torch']['setting']}).",
          file=out)
    print("C++/torch: below 1 is better for C++ in seconds and samples, above 1 in "
          "samples/s.\ntorch samples/s exclude its evaluation time; C++ samples/s are "
          "as `emnist simulate` reports them.\n'samples / seconds to target' counts "
          "evaluation time for both.", file=out)


def print_runs(result, out):
    print("\nPer run:", file=out)
    cols = [("run", "{}"), ("reached", "{}"), ("accuracy", "{:.4f}"),
            ("seconds_to_target", "{:.2f}"), ("seconds", "{:.2f}"),
            ("train_seconds_excluding_eval", "{:.2f}"), ("load_seconds", "{:.2f}"),
            ("samples", "{:,}"), ("samples_per_second", "{:,.0f}"),
            ("evaluations", "{}"), ("wall_seconds", "{:.2f}")]
    groups = []
    for t, by in result["torch_by_threads"].items():
        groups.append((f"torch peer (t={t}; {by['kernel']})", by["runs"], "seed"))
    for n, cpp in result["cpp"].items():
        groups.append((f"C++ replicas={n}", cpp["runs"], None))
    for title, runs, extra in groups:
        names = [c for c, _ in cols] + ([extra] if extra else []) + ["workers"]
        table = []
        for i, r in enumerate(runs, 1):
            row = []
            for c, f in cols:
                v = i if c == "run" else r.get(c)
                row.append("-" if v is None else f.format(v))
            if extra:
                row.append(str(r.get("config", {}).get(extra, "-")))
            workers = r.get("workers")
            row.append(" ".join(
                f"{w.get('id')}:{w.get('samples')}/{w.get('seconds', 0):.1f}s"
                for w in workers) if isinstance(workers, list) and workers else "-")
            table.append(row)
        widths = [max(len(x) for x in [n] + [t[j] for t in table]) for j, n in enumerate(names)]
        print(f"\n{title}", file=out)
        print("  ".join(n.rjust(w) for n, w in zip(names, widths)), file=out)
        for t in table:
            print("  ".join(x.rjust(w) for x, w in zip(t, widths)), file=out)


def print_prototype_runs(runs, gradient, out):
    if not runs:
        return
    print(f"\nprototype peer ({gradient} gradient, 1 worker, memcached)", file=out)
    print(f"{'run':>3}  {'reached':>7}  {'accuracy':>8}  {'seconds_to_target':>17}  "
          f"{'seconds':>8}  {'samples':>9}  {'samples/s':>9}", file=out)
    for i, r in enumerate(runs, 1):
        print(f"{i:>3}  {str(r['reached']):>7}  {r['accuracy']:>8.4f}  "
              f"{fmt('{:.2f}', r['seconds_to_target']):>17}  {r['seconds']:>8.2f}  "
              f"{r['samples']:>9,}  {fmt('{:,.0f}', r['samples_per_second']):>9}", file=out)


def run_prototype_peer(args):
    """args.prototype_repeat runs of the prototype peer on a memcached of
    its own; their JSON summaries."""
    runs = []
    if not args.prototype_repeat:
        return runs
    memcached, port = start_memcached()
    try:
        for i in range(args.prototype_repeat):
            what = f"prototype peer run {i + 1}/{args.prototype_repeat}"
            log(f"[{what}] {args.prototype_gradient} gradient, cap "
                f"{args.prototype_max_seconds:.0f} s ...")
            r = run_json(what, prototype_command(args, f"127.0.0.1:{port}", args.seed + i),
                         PROTOTYPE_KEYS, args.prototype_max_seconds + 600, env=peer_env(1))
            runs.append(r)
            log(f"[{what}] reached={r['reached']} accuracy={r['accuracy']:.4f} "
                f"seconds_to_target={fmt('{:.2f}', r['seconds_to_target'])}")
    finally:
        stop_process(memcached)
    return runs


def parse_replicas(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"replica counts must be >= 1: {text!r}")
    return list(dict.fromkeys(values))


def count(text):
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


def main(argv=None):
    default_data = os.environ.get("EMNIST_DIR") or str(REPO_ROOT.parent / "shared" / "data" / "emnist")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--emnist", default=str(REPO_ROOT / "build" / "emnist"),
                   help="the C++ binary (default: build/emnist in the repo)")
    p.add_argument("--data", default=default_data,
                   help="EMNIST folder (default: $EMNIST_DIR, else ../shared/data/emnist "
                        "beside the repo)")
    p.add_argument("--replicas", type=parse_replicas, default=[1],
                   help="C++ replica counts to run, comma-separated (default 1)")
    p.add_argument("--repeat", type=count, default=3, help="C++ runs per replica count (default 3)")
    p.add_argument("--torch-repeat", type=count, default=3,
                   help="torch runs per thread count (default 3)")
    p.add_argument("--torch-coretypes", type=parse_coretypes, default="auto,native",
                   help="OpenBLAS kernels the peer runs with: auto (detected), native "
                        "(SkylakeX with AVX-512, Haswell with AVX2), or names "
                        "(default auto,native)")
    p.add_argument("--torch-threads", type=parse_replicas, default=[1, 2],
                   help="torch thread counts to run, comma-separated; the faster is the "
                        "peer (default 1,2)")
    p.add_argument("--python", default="/usr/bin/python3",
                   help="the Python with torch for the peer (default /usr/bin/python3)")
    p.add_argument("--torch-impl", choices=("raw", "module"), default="raw",
                   help="torch peer loop: raw tensors + manual SGD (default) or "
                        "nn.Linear + torch.optim.SGD")
    p.add_argument("--seed", type=int, default=1,
                   help="torch runs use seeds SEED, SEED+1, ... (default 1)")
    p.add_argument("--max-epochs", type=int, default=50, help="torch peer's epoch limit (default 50)")
    p.add_argument("--cpp-set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra --set for the C++ runs (repeatable)")
    p.add_argument("--prototype-repeat", type=count, default=0,
                   help="runs of the prototype peer, after the others (default 0)")
    p.add_argument("--prototype-gradient", choices=("prototype", "mean"), default="prototype",
                   help="the prototype peer's gradient: the prototype's own (default, "
                        "batch-size times too small) or the corrected mean")
    p.add_argument("--prototype-max-seconds", type=float, default=900,
                   help="the prototype peer's cap per run (default 900)")
    p.add_argument("--svg", metavar="PATH",
                   help="write the chart of accuracy against time there")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run (default 1800)")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = p.parse_args(argv)

    if args.repeat == 0 and args.torch_repeat == 0 and args.prototype_repeat == 0:
        p.error("nothing to run: --repeat, --torch-repeat and --prototype-repeat are all 0")
    args.data = str(Path(args.data).resolve())
    missing = [f for f in DATA_FILES if not (Path(args.data) / f).is_file()]
    if missing:
        p.error(f"--data {args.data} lacks {', '.join(missing)} (set --data or EMNIST_DIR)")
    if args.repeat:
        args.emnist = str(Path(args.emnist).resolve())
        if not os.access(args.emnist, os.X_OK):
            p.error(f"no executable C++ binary at {args.emnist} (build it with `make build`, "
                    "or pass --emnist PATH)")
    if args.torch_repeat and not TORCH_PEER.is_file():
        p.error(f"missing {TORCH_PEER}")
    for kv in args.cpp_set:
        if "=" not in kv:
            p.error(f"--cpp-set wants KEY=VALUE, got {kv!r}")

    cores = os.cpu_count() or 1
    too_many = [n for n in args.replicas if n > cores]
    if args.repeat and too_many:
        log(f"warning: {cores} cores here; replicas {too_many} share cores")

    settings = [(t, ct) for t in args.torch_threads for ct in args.torch_coretypes]
    torch_by_threads = {setting_name(t, ct): [] for t, ct in settings}
    cpp_runs = {n: [] for n in args.replicas}
    rounds = max(args.repeat, args.torch_repeat)
    try:
        for i in range(rounds):
            for t, ct in settings:
                if i >= args.torch_repeat:
                    continue
                name = setting_name(t, ct)
                what = f"torch t={name} run {i + 1}/{args.torch_repeat}"
                log(f"[{what}] seed {args.seed + i} ...")
                r = run_json(what, torch_command(args, args.seed + i, t), TORCH_KEYS,
                             args.timeout, env=peer_env(t, ct))
                r["setting"] = name
                torch_by_threads[name].append(derive(r, r.get("threads") or t))
                log(f"[{what}] reached={r['reached']} accuracy={r['accuracy']:.4f} "
                    f"seconds_to_target={fmt('{:.2f}', r['seconds_to_target'])}; "
                    f"kernel: {r.get('kernel', '?')}")
            for n in args.replicas:
                if i >= args.repeat:
                    continue
                what = f"C++ replicas={n} run {i + 1}/{args.repeat}"
                log(f"[{what}] ...")
                r = run_json(what, cpp_command(args, n), CPP_KEYS, args.timeout)
                if r.get("replicas") not in (None, n):
                    log(f"warning: {what}: asked for {n} replicas, the summary says {r['replicas']}")
                if r.get("target") not in (None, TARGET):
                    log(f"warning: {what}: its target is {r['target']}, the peer's {TARGET}")
                cpp_runs[n].append(derive(r, n))
                log(f"[{what}] reached={r['reached']} accuracy={r['accuracy']:.4f} "
                    f"seconds_to_target={fmt('{:.2f}', r['seconds_to_target'])}")
        prototype_runs = run_prototype_peer(args)
    except RunFailed as e:
        log(f"simulate_vs_torch: {e}")
        return 1
    except KeyboardInterrupt:
        log("simulate_vs_torch: interrupted")
        return 130

    # The peer: the setting with the lowest median seconds to target (one
    # whose runs all missed the target loses to any that reached).
    by_threads = {t: {"median": summarize(runs, "threads"), "runs": runs,
                      "threads": runs[0].get("threads"),
                      "kernel": runs[0].get("kernel", "?")}
                  for t, runs in torch_by_threads.items() if runs}
    peer_threads = min(
        by_threads, default=None,
        key=lambda t: (by_threads[t]["median"]["seconds_to_target"] is None,
                       by_threads[t]["median"]["seconds_to_target"] or 0.0))
    torch_runs = by_threads[peer_threads]["runs"] if peer_threads else []
    blas = sorted({lib for r in torch_runs for lib in r.get("blas") or []})
    notes = []
    if torch_runs and blas and not any(k in lib.lower() for lib in blas
                                       for k in ("openblas", "mkl", "blis")):
        notes.append("torch is using the reference (netlib) BLAS " + ", ".join(blas) +
                     ", several times slower than OpenBLAS: install libopenblas0-pthread "
                     "for a fair peer.")
    result = {
        "config": {
            "train": TRAIN_SLICE, "eval": EVAL_SLICE, "batch_size": BATCH_SIZE,
            "hidden": HIDDEN, "learning_rate": LEARNING_RATE, "dropout": DROPOUT,
            "eval_every": EVAL_EVERY, "target": TARGET, "data": args.data,
            "emnist": args.emnist if args.repeat else None, "cpp_set": args.cpp_set,
            "torch_impl": args.torch_impl, "cores": cores,
            "cpp_command": [str(c) for c in cpp_command(args, "N")] if args.repeat else None,
            "torch_command": [str(c) for c in torch_command(args, "SEED", "THREADS")],
            "torch_env_unset": list(OPENBLAS_TUNING_VARS),
            "torch_coretypes": args.torch_coretypes,
        },
        "torch": {"median": summarize(torch_runs, "threads"), "runs": torch_runs,
                  "blas": blas, "setting": peer_threads,
                  "threads": by_threads[peer_threads]["threads"] if peer_threads else None,
                  "kernel": by_threads[peer_threads]["kernel"] if peer_threads else None},
        "torch_by_threads": by_threads,
        "cpp": {str(n): {"median": summarize(runs, "replicas"), "runs": runs}
                for n, runs in cpp_runs.items() if runs},
        "prototype": {"gradient": args.prototype_gradient, "runs": prototype_runs},
        "notes": notes,
    }
    result["ratios_cpp_over_torch"] = {} if not torch_runs else {
        n: {key: ratio(c["median"].get(key), result["torch"]["median"].get(key))
            for key, *_ in ROWS}
        for n, c in result["cpp"].items()}

    if args.svg:
        chart = write_chart(args.svg, result, torch_runs, cpp_runs, prototype_runs,
                            args.prototype_gradient)
        log(f"chart: {chart}")
    all_runs = ([r for runs in torch_by_threads.values() for r in runs] + prototype_runs +
                [r for runs in cpp_runs.values() for r in runs])
    unreached = sum(1 for r in all_runs if not r.get("reached"))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        out = sys.stdout
        print(f"EMNIST ByMerge, train {TRAIN_SLICE}, eval {EVAL_SLICE}, batch {BATCH_SIZE}, "
              f"hidden {HIDDEN}, lr {LEARNING_RATE}, eval every {EVAL_EVERY}, "
              f"target {TARGET}; {cores} cores", file=out)
        if torch_runs:
            print(f"torch {torch_runs[0].get('torch', '?')} ({args.torch_impl} loop), "
                  f"BLAS: {', '.join(blas) or '?'}; t=N: N threads, "
                  f"{' and '.join(OPENBLAS_TUNING_VARS)} unset (the detected kernel); "
                  f"t=N KERNEL: OPENBLAS_CORETYPE=KERNEL", file=out)
            for t, by in by_threads.items():
                print(f"  t={t}: kernel {by['kernel']}", file=out)
        print(file=out)
        print_table(result, out)
        print_runs(result, out)
        print_prototype_runs(prototype_runs, args.prototype_gradient, out)
        for n in notes:
            print(f"\nNOTE: {n}", file=out)
    if unreached:
        log(f"simulate_vs_torch: {unreached} of {len(all_runs)} runs did not reach {TARGET}")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
