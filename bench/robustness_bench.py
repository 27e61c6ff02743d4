#!/usr/bin/python3
"""Training away from the benchmark's shape (issue 9): other builds, the
shipped defaults, and a busy machine. Each section prints its figures
beside the quiet, native run it is compared to.

  (a) builds: `emnist simulate` on the embedded store, standard split
      (train test[:100000], evaluate test[100000:] every 500 minibatches),
      for each --build NAME=BINARY and each N of --replicas (default 1):
      samples/s and seconds to 0.75, the ratio to the first build at the
      same N, and to the same build at the first N. Targets (on an AVX-512 machine): x86-64-v3
      >= 0.7x the native build's samples/s, portable >= 0.35x.
  (b) defaults: config/default.toml as shipped (one evaluation per pass),
      on the standard split, N=2 on memcached, --default-runs runs in a
      row. Target: every one reaches 0.75 within about 3 passes (330k
      samples).
  (c) busy neighbours: --neighbours busy processes (default 2: as many as
      the machine has cores, with this job's threads they share them)
      beside N=1 on the embedded store and N=2 on memcached, interleaved
      with quiet runs. Targets: samples to 0.75 <= 1.3x the quiet median,
      time <= 2.5x (a fair share of two cores among four busy threads is
      2x), and no failed run.

  bench/robustness_bench.py                         # all sections, 5 rounds
  bench/robustness_bench.py --sections a --build native=build/emnist \\
      --build x86-64-v3=build-v3/emnist --build portable=build-portable/emnist
  bench/robustness_bench.py --sections a --replicas 1,2 \\
      --build before=/tmp/old/emnist --build after=build/emnist
  bench/robustness_bench.py --sections c --repeat 20
  bench/robustness_bench.py --json > result.json    # tables on stderr

The script starts its own memcached on a free loopback port. Figures are
medians of interleaved rounds. Exit status: 0 when every run reached 0.75
(within 330k samples in (b)), 3 when some did not, 1 when a run failed
(a store timeout under load counts: it must not happen), 2 on bad
arguments.
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

REPO = Path(__file__).resolve().parent.parent
DATA_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz")
SPLIT = ["--set", "data.train=test[:100000]", "--set", "data.eval=test[100000:]"]
BUSY = "while True: pass"


def simulate(binary, args, extra, timeout):
    """One `emnist simulate --json` run: its summary, or a RunFailed naming
    what went wrong (exit 1: a store error such as a timeout)."""
    cmd = [binary, "simulate", "--json", "--data", args.data] + SPLIT + extra
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode not in (0, 3):
        raise RunFailed(f"{' '.join(cmd[:2])} exited {p.returncode}: {tail(p.stderr, 4)}")
    r = json.loads(p.stdout)
    # Builds before samples_to_target reported what they trained in all.
    r.setdefault("samples_to_target", r["samples"] if r["reached"] else None)
    return r


def memcached_args(port, job):
    return ["--set", "sync.store=memcached", "--set", f'sync.servers=["127.0.0.1:{port}"]',
            "--set", f"sync.job={job}"]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def section_builds(args, status):
    names = [b[0] for b in args.build]
    runs = {(n, k): [] for n in names for k in args.replicas}
    for round_ in range(args.repeat):
        for k in args.replicas:
            for name, binary in args.build:
                r = simulate(binary, args, ["--set", "train.eval_every=500",
                                            "--set", f"train.replicas={k}"], args.run_timeout)
                runs[(name, k)].append(r)
                status[0] = max(status[0], 0 if r["reached"] else 3)
                log(f"(a) round {round_ + 1} {name} N={k}: {r['samples_per_second']:.0f} "
                    f"samples/s, {fmt(r['seconds_to_target'])} s to 0.75")
    table = []
    log(f"(a) builds, embedded store: medians of {args.repeat}; ratio: to the first build "
        f"at the same N; vs N={args.replicas[0]}: to the same build's")
    log(f"    {'build':<12} {'N':>3} {'samples/s':>10} {'ratio':>7} "
        f"{'vs N=' + str(args.replicas[0]):>8} {'s to 0.75':>10} {'samples':>8}")
    for k in args.replicas:
        base = med([r["samples_per_second"] for r in runs[(names[0], k)]])
        for name in names:
            sps = med([r["samples_per_second"] for r in runs[(name, k)]])
            first = med([r["samples_per_second"] for r in runs[(name, args.replicas[0])]])
            row = {"build": name, "replicas": k, "samples_per_second": sps,
                   "ratio": sps / base if base else None,
                   "scaling": sps / first if first else None,
                   "seconds_to_target": med([r["seconds_to_target"] for r in runs[(name, k)]]),
                   "samples_to_target": med([r["samples_to_target"] for r in runs[(name, k)]])}
            table.append(row)
            log(f"    {name:<12} {k:>3} {sps:>10.0f} {row['ratio']:>6.2f}x "
                f"{row['scaling']:>7.2f}x {fmt(row['seconds_to_target']):>10} "
                f"{fmt(row['samples_to_target'], 0):>8}")
    return table


def section_defaults(args, port, status):
    binary = args.build[0][1]
    rows = []
    for i in range(args.default_runs):
        r = simulate(binary, args, ["--config", str(REPO / "config" / "default.toml"),
                                    "--set", "train.replicas=2"]
                     + memcached_args(port, f"defaults-{i}"), args.run_timeout)
        ok = r["reached"] and r["samples_to_target"] <= 330000
        status[0] = max(status[0], 0 if ok else 3)
        rows.append({"reached": r["reached"], "samples_to_target": r["samples_to_target"],
                     "seconds_to_target": r["seconds_to_target"],
                     "evaluations": r["evaluations"], "ok": ok})
        log(f"(b) run {i + 1}: {'reached' if r['reached'] else 'NOT reached'} after "
            f"{r['samples_to_target']} samples, {fmt(r['seconds_to_target'])} s, "
            f"{r['evaluations']} evaluations")
    good = sum(r["ok"] for r in rows)
    log(f"(b) shipped defaults, N=2 on memcached: {good} of {len(rows)} runs reached 0.75 "
        f"within 330k samples; median {fmt(med([r['samples_to_target'] for r in rows]), 0)} "
        f"samples, worst {max((r['samples_to_target'] or 10**9) for r in rows)}")
    return rows


def section_busy(args, port, status):
    shapes = [("N=1 memory", ["--set", "train.replicas=1"]),
              ("N=2 memcached", ["--set", "train.replicas=2"])]
    runs = {(s, busy): [] for s, _ in shapes for busy in (False, True)}
    failures = []
    for round_ in range(args.repeat):
        for busy in (False, True):
            neighbours = []
            if busy:
                neighbours = [subprocess.Popen(["/usr/bin/python3", "-c", BUSY])
                              for _ in range(args.neighbours)]
            try:
                for name, extra in shapes:
                    job = f"busy-{round_}-{int(busy)}-{name[2]}"
                    more = memcached_args(port, job) if "memcached" in name else []
                    try:
                        r = simulate(args.build[0][1], args,
                                     extra + more + ["--set", "train.eval_every=500"],
                                     args.run_timeout)
                    except RunFailed as e:
                        failures.append(f"{name} {'busy' if busy else 'quiet'}: {e}")
                        log(f"(c) FAILED: {failures[-1]}")
                        status[0] = max(status[0], 1)
                        continue
                    runs[(name, busy)].append(r)
                    status[0] = max(status[0], 0 if r["reached"] else 3)
                    log(f"(c) round {round_ + 1} {name} {'busy' if busy else 'quiet'}: "
                        f"{r['samples_to_target']} samples, {fmt(r['seconds_to_target'])} s")
            finally:
                for n in neighbours:
                    n.kill()
                    n.wait()
    table = []
    log(f"(c) {args.neighbours} busy neighbours against quiet: medians of {args.repeat}")
    log(f"    {'shape':<14} {'quiet s':>8} {'busy s':>8} {'time x':>7} "
        f"{'quiet samples':>13} {'busy samples':>12} {'samples x':>9}")
    for name, _ in shapes:
        q, b = runs[(name, False)], runs[(name, True)]
        qs, bs = med([r["seconds_to_target"] for r in q]), med([r["seconds_to_target"] for r in b])
        qn, bn = med([r["samples_to_target"] for r in q]), med([r["samples_to_target"] for r in b])
        row = {"shape": name, "quiet_seconds": qs, "busy_seconds": bs,
               "time_ratio": bs / qs if qs and bs else None,
               "quiet_samples": qn, "busy_samples": bn,
               "samples_ratio": bn / qn if qn and bn else None,
               "failed": sum(1 for f in failures if f.startswith(name))}
        table.append(row)
        log(f"    {name:<14} {fmt(qs):>8} {fmt(bs):>8} {fmt(row['time_ratio']):>6}x "
            f"{fmt(qn, 0):>13} {fmt(bn, 0):>12} {fmt(row['samples_ratio']):>8}x")
    log(f"(c) failed runs: {len(failures)}")
    return {"table": table, "failures": failures}


def main():
    shared = REPO.parent / "shared" / "data" / "emnist"
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sections", default="a,b,c")
    p.add_argument("--build", action="append", default=[], metavar="NAME=BINARY",
                   help="a build to compare (repeatable; the first is the reference and "
                        "runs (b) and (c)); default native=build/emnist")
    p.add_argument("--data", default=os.environ.get("EMNIST_DIR") or str(shared))
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--replicas", default="1", help="(a): replica counts, e.g. 1,2")
    p.add_argument("--default-runs", type=int, default=12)
    p.add_argument("--neighbours", type=int, default=2)
    p.add_argument("--run-timeout", type=float, default=600)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    sections = set(args.sections.split(","))
    if not sections <= {"a", "b", "c"}:
        p.error("--sections: a comma-separated subset of a,b,c")
    if args.repeat <= 0 or args.default_runs <= 0 or args.neighbours < 0:
        p.error("--repeat and --default-runs must be positive, --neighbours >= 0")
    raw = args.replicas
    try:
        args.replicas = [int(v) for v in raw.split(",")]
    except ValueError:
        args.replicas = []
    if not args.replicas or min(args.replicas) <= 0:
        p.error(f"--replicas '{raw}': positive integers, comma separated")
    builds = []
    for b in args.build or [f"native={REPO / 'build' / 'emnist'}"]:
        name, eq, binary = b.partition("=")
        if not eq or not name:
            p.error(f"--build {b}: expected NAME=BINARY")
        if not os.access(binary, os.X_OK):
            p.error(f"--build {b}: no executable {binary}")
        builds.append((name, binary))
    args.build = builds
    args.emnist = builds[0][1]
    check_inputs(p, args, DATA_FILES)

    status = [0]
    out = {}
    memcached, port = start_memcached()
    try:
        if "a" in sections:
            out["builds"] = section_builds(args, status)
        if "b" in sections:
            out["defaults"] = section_defaults(args, port, status)
        if "c" in sections:
            out["busy"] = section_busy(args, port, status)
    except (RunFailed, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as e:
        log(f"robustness_bench: {e}")
        status[0] = 1
    finally:
        stop_process(memcached)
    if args.json:
        print(json.dumps(out))
    return status[0]


if __name__ == "__main__":
    sys.exit(main())
