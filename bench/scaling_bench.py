#!/usr/bin/python3
"""The prototype's table, reproduced: N replicas on memcached, time and
samples to 0.75, for N in {1, 3, 6} and batch in {32, 100}, beside the
embedded store (the samples a job needs without a network) and the
prototype's algorithm (bench/prototype_peer.py, whole float64 weights
around every minibatch) where it finishes within its cap.

The prototype's own figures (DESIGN.md), on its cluster: 270-300 s to 0.75
with one replica, 541 s with three, 1288 s with six.

  bench/scaling_bench.py                              # N=1,3,6 x batch 32,100, 3 rounds
  bench/scaling_bench.py --replicas 1,3,6,8 --repeat 7 --peer none
  bench/scaling_bench.py --defaults --replicas 2 --repeat 12
  bench/scaling_bench.py --json > result.json         # table on stderr
  bench/scaling_bench.py --processes --replicas 2,4,8   # one process per replica
                                                      # (bench/processes_bench.py)
  bench/scaling_bench.py --svg docs/throughput_vs_replicas.svg \
      --svg-time docs/time_vs_replicas.svg

Each configuration runs `emnist simulate` on the standard split (train
test[:100000], evaluate test[100000:]) with the shipped config otherwise:
evaluation every --eval-every minibatches of the job (500; 0 is the
shipped default, one per pass), target 0.75, --max-epochs passes at most.
--defaults runs the shipped evaluation schedule (eval_every = 0).
Rounds are interleaved: every configuration once per round, so that a slow
spell of the shared machine falls on all. Figures are medians; samples are
those the job had trained when the evaluation that reached the target was
asked for. The ratio memcached/memory is of those samples (target <= 1.3x).
Time to target must not grow with N: two cores cannot run six replicas
faster than one, but they must not run them slower.

The peer (--peer mean|prototype|none, default mean: the corrected-gradient
peer, since the prototype's own gradient takes 8 minutes at N=1) runs once
per configuration with --peer-max-seconds as its cap; a capped run shows
as ">cap".

--svg PATH charts training samples/s against replicas (the medians, one
line per store and batch, and the peer's); --svg-time PATH charts seconds
to 0.75 against replicas, beside the prototype's published figures.

Exit status: 0 when every emnist run reached 0.75, 3 when some did not,
1 when a run failed, 2 on bad arguments.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (RunFailed, check_inputs, log, start_memcached,  # noqa: E402
                          stop_process, tail)
from blas_info import OPENBLAS_TUNING_VARS  # noqa: E402
from svg_chart import Series, line_chart, write_svg  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PEER = Path(__file__).resolve().parent / "prototype_peer.py"
TARGET = 0.75
DATA_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz")
PROTOTYPE_PUBLISHED = {1: "270-300 s", 3: "541 s", 6: "1288 s"}
# The same, as numbers for the chart (the middle of 270-300 s).
PROTOTYPE_PUBLISHED_SECONDS = {1: 285.0, 3: 541.0, 6: 1288.0}


def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected numbers separated by commas")
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"'{text}': expected positive numbers")
    return values


def run_emnist(args, store, replicas, batch, port, job):
    cmd = [args.emnist, "simulate", "--json", "--data", args.data,
           "--set", "data.train=test[:100000]", "--set", "data.eval=test[100000:]",
           "--set", f"train.eval_every={0 if args.defaults else args.eval_every}",
           "--set", f"train.replicas={replicas}", "--set", f"train.batch_size={batch}",
           "--set", f"train.max_epochs={args.max_epochs}",
           "--set", f"train.target_accuracy={TARGET}",
           "--set", f"sync.store={store}", "--set", f"sync.job={job}"]
    if store == "memcached":
        cmd += ["--set", f'sync.servers=["127.0.0.1:{port}"]']
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.run_timeout)
    if p.returncode not in (0, 3):
        raise RunFailed(f"emnist exited {p.returncode}: {tail(p.stderr)}")
    r = json.loads(p.stdout)
    # Builds before samples_to_target reported what they trained in all.
    samples = r.get("samples_to_target", r["samples"] if r["reached"] else None)
    return {"reached": r["reached"], "seconds": r["seconds_to_target"],
            "samples": samples, "trained": r["samples"],
            "samples_per_second": r["samples_per_second"],
            "evaluations": r["evaluations"], "accuracy": r["accuracy"],
            "pushes": r.get("pushes"), "pushes_applied": r.get("pushes_applied")}


def run_peer(args, replicas, batch, port, job):
    cmd = ["/usr/bin/python3", str(PEER), "--server", f"127.0.0.1:{port}",
           "--data", args.data, "--workers", str(replicas), "--batch-size", str(batch),
           "--gradient", args.peer, "--max-seconds", str(args.peer_max_seconds),
           "--job", job]
    # The kernel OpenBLAS picks (a machine may name an older one), one
    # thread per worker process (prototype_peer.py's default).
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_TUNING_VARS}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env,
                       timeout=args.peer_max_seconds + 300)
    if p.returncode not in (0, 3):
        raise RunFailed(f"prototype peer exited {p.returncode}: {tail(p.stderr)}")
    r = json.loads(p.stdout)
    return {"reached": r["reached"], "seconds": r.get("seconds_to_target") or r.get("seconds"),
            "samples": r.get("samples"), "samples_per_second": r.get("samples_per_second"),
            "kernel": r.get("kernel", "?")}


def write_charts(args, table, stores, cores):
    """The --svg and --svg-time charts from the table's medians."""
    notes = [f"EMNIST ByMerge, train test[:100000], eval test[100000:], target {TARGET}, "
             f"eval every {'pass' if args.defaults else args.eval_every}; {cores} cores",
             f"C++ simulate: medians of {args.repeat} rounds"]
    if args.peer != "none":
        kernels = sorted({r["peer"]["kernel"] for r in table if "peer" in r})
        notes.append(f"prototype peer (dashed): bench/prototype_peer.py, {args.peer} gradient, "
                     f"one run, capped at {args.peer_max_seconds:g} s; numpy on "
                     f"{', '.join(kernels) or '?'}")

    def series(key, with_peer):
        out = []
        for b in args.batches:
            rows = [r for r in table if r["batch"] == b]
            for store in stores:
                out.append(Series(f"{store}, batch {b}",
                                  [(r["replicas"], r[store][key]) for r in rows]))
            if with_peer and any("peer" in r for r in rows):
                out.append(Series(f"prototype peer, batch {b}",
                                  [(r["replicas"], r["peer"].get(key)) for r in rows
                                   if "peer" in r and (key != "seconds" or r["peer"]["reached"])],
                                  dashed=True))
        return out

    x_range = (0, max(args.replicas) + 1)
    if args.svg:
        svg = line_chart(series("samples_per_second", True),
                         title="Training throughput against replicas",
                         x_label="replicas (N)", y_label="training samples/s (log scale)",
                         y_log=True, x_range=x_range, notes=notes)
        log(f"chart: {write_svg(args.svg, svg)}")
    if args.svg_time:
        lines = series("seconds", True)
        lines.append(Series("prototype, published", sorted(PROTOTYPE_PUBLISHED_SECONDS.items()),
                            color="#777777", dashed=True))
        svg = line_chart(lines, title=f"Seconds to test accuracy {TARGET} against replicas",
                         x_label="replicas (N)", y_label=f"seconds to {TARGET} (log scale)",
                         y_log=True, x_range=x_range,
                         notes=notes + ["prototype, published: its own figures on its "
                                        "cluster (DESIGN.md), not run here"])
        log(f"chart: {write_svg(args.svg_time, svg)}")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    # Replicas in processes of their own against one process: another
    # bench, with its own options (bench/processes_bench.py --help).
    if "--processes" in sys.argv[1:]:
        import processes_bench
        return processes_bench.main([a for a in sys.argv[1:] if a != "--processes"])
    shared = REPO.parent / "shared" / "data" / "emnist"
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--emnist", default=str(REPO / "build" / "emnist"))
    p.add_argument("--data", default=os.environ.get("EMNIST_DIR") or str(shared))
    p.add_argument("--replicas", type=int_list, default=[1, 3, 6])
    p.add_argument("--batches", type=int_list, default=[32, 100])
    p.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--defaults", action="store_true",
                   help="the shipped evaluation schedule (eval_every = 0)")
    p.add_argument("--max-epochs", type=int, default=20)
    p.add_argument("--no-memory", action="store_true", help="skip the embedded store")
    p.add_argument("--peer", choices=("mean", "prototype", "none"), default="mean")
    p.add_argument("--peer-max-seconds", type=float, default=300)
    p.add_argument("--run-timeout", type=float, default=600)
    p.add_argument("--json", action="store_true")
    p.add_argument("--svg", metavar="PATH", help="write the throughput chart there")
    p.add_argument("--svg-time", metavar="PATH",
                   help="write the chart of seconds to target there")
    args = p.parse_args()
    if args.repeat <= 0:
        p.error("--repeat must be positive")
    check_inputs(p, args, DATA_FILES)

    stores = ["memcached"] + ([] if args.no_memory else ["memory"])
    configs = [(s, n, b) for b in args.batches for n in args.replicas for s in stores]
    results = {c: [] for c in configs}
    peers = {}
    status = 0
    memcached, port = start_memcached()
    try:
        for round_ in range(args.repeat):
            for (store, n, b) in configs:
                job = f"scale-{store}-{n}-{b}-{round_}"
                r = run_emnist(args, store, n, b, port, job)
                results[(store, n, b)].append(r)
                if not r["reached"]:
                    status = 3
                log(f"round {round_ + 1}: {store} N={n} batch={b}: "
                    f"{'reached' if r['reached'] else 'NOT reached'} "
                    f"{r['seconds'] if r['seconds'] is not None else '-'} s, "
                    f"{r['samples']} samples, {r['samples_per_second']:.0f} samples/s")
        if args.peer != "none":
            for b in args.batches:
                for n in args.replicas:
                    log(f"prototype peer ({args.peer} gradient) N={n} batch={b} ...")
                    peers[(n, b)] = run_peer(args, n, b, port, f"peer-{n}-{b}")
    except (RunFailed, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as e:
        log(f"scaling_bench: {e}")
        status = 1
    finally:
        stop_process(memcached)

    table = []
    for b in args.batches:
        for n in args.replicas:
            row = {"replicas": n, "batch": b}
            for store in stores:
                rs = results[(store, n, b)]
                row[store] = {"seconds": median([r["seconds"] for r in rs]),
                              "samples": median([r["samples"] for r in rs]),
                              "samples_per_second": median([r["samples_per_second"] for r in rs]),
                              "reached": sum(r["reached"] for r in rs), "runs": len(rs),
                              "lost_updates": sum((r["pushes"] or 0) - (r["pushes_applied"] or 0)
                                                  for r in rs)}
            if (n, b) in peers:
                row["peer"] = peers[(n, b)]
            row["prototype_published"] = PROTOTYPE_PUBLISHED.get(n) if b == 32 else None
            table.append(row)

    def fmt(v, unit=""):
        return "-" if v is None else (f"{v:.2f}{unit}" if isinstance(v, float) else f"{v}{unit}")

    lines = [f"{'N':>2} {'batch':>5} | {'memcached s':>11} {'samples':>8} {'reached':>7} | "
             f"{'memory s':>8} {'samples':>8} | {'samples ratio':>13} | {'peer s':>8} | prototype"]
    for row in table:
        m = row["memcached"]
        mem = row.get("memory", {})
        ratio = (m["samples"] / mem["samples"]) if m["samples"] and mem.get("samples") else None
        peer = row.get("peer")
        peer_s = ("-" if peer is None else
                  fmt(peer["seconds"]) if peer["reached"] else f">{args.peer_max_seconds:.0f}")
        lines.append(f"{row['replicas']:>2} {row['batch']:>5} | {fmt(m['seconds']):>11} "
                     f"{fmt(m['samples']):>8} {m['reached']:>3}/{m['runs']:<3} | "
                     f"{fmt(mem.get('seconds')):>8} {fmt(mem.get('samples')):>8} | "
                     f"{fmt(ratio, 'x'):>13} | {peer_s:>8} | {row['prototype_published'] or '-'}")
    lost = sum(row["memcached"]["lost_updates"] for row in table)
    lines.append(f"lost updates (pushes - pushes_applied) over every memcached run: {lost}")
    for line in lines:
        log(line)
    if args.json:
        print(json.dumps({"table": table, "runs": {f"{s}/{n}/{b}": rs for (s, n, b), rs
                                                   in results.items()}}), flush=True)
    write_charts(args, table, stores, os.cpu_count() or 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
