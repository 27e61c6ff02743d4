#!/usr/bin/python3
"""Replicas in processes of their own (the deployed shape) against the same
number of replicas in one process, side by side: samples and seconds to
the target accuracy.

The deployed shape: N `emnist serve --function train` processes (one call
at a time each, http.max_inflight = 1, as a train pod that takes one
replica; one scheduler thread each), one `emnist serve --function setup`
and tests/deploy/gateway_standin.py in front of them, the OpenFaaS CE
stand-in (sync calls at once, async ones by a single queue-worker). A job
is set up through the gateway as `faas-cli invoke emnist-setup` does it;
setup calls each replica through the gateway. The processes are started
once per N and pool and stay warm, as function pods do: the job's time
starts at the setup call.

One process: `emnist simulate` with the same N, on the same memcached.

  bench/processes_bench.py                               # N=2,4,8, 3 rounds
  bench/processes_bench.py --replicas 2,3,4,6,8 --repeat 3 --pools 1,3
  bench/processes_bench.py --defaults                    # eval_every = 0
  bench/processes_bench.py --queue-workers 8             # a scaled queue-worker
  bench/processes_bench.py --json > processes.json       # table on stderr
  (also: bench/scaling_bench.py --processes ARGS...)

Samples to target across processes: every replica's record says how many
samples it had trained when it was written (about twice a second); the
replica whose evaluation reached the target says when that evaluation was
asked for (reached_at_ms). The job's samples to target are the sum of each
replica's samples at that moment, interpolated between its records (the
status is read every 50 ms). In one process they come from the summary.

Lost updates: pushes against pushes applied, from every train process's
/metrics and the simulate summaries: 0 expected.

Exit status: 0 when every run reached the target, 3 when some did not, 1
when a run failed, 2 on bad arguments.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (RunFailed, check_inputs, free_port, log,  # noqa: E402
                          start_memcached, stop_process, tail, wait_for_port)

REPO = Path(__file__).resolve().parent.parent
STANDIN = REPO / "tests" / "deploy" / "gateway_standin.py"
DATA_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz")
SPLIT = ["--set", "data.train=test[:100000]", "--set", "data.eval=test[100000:]"]


def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected numbers separated by commas")
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"'{text}': expected positive numbers")
    return values


def http(method, url, body=b"", timeout=30):
    req = urllib.request.Request(url, data=body if method == "POST" else None,
                                 method=method, headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Deployment:
    """memcached servers, N train processes, a setup process, the gateway."""

    def __init__(self, args, n, pool):
        self.procs, self.logs = [], []
        self.memcached = []
        for _ in range(pool):
            self.memcached.append(start_memcached())
        servers = json.dumps([f"127.0.0.1:{port}" for _, port in self.memcached])
        self.servers = servers
        self.gateway_port = free_port()
        common = ["--data", args.data, *SPLIT, "--set", "sync.store=memcached",
                  "--set", f"sync.servers={servers}",
                  "--set", f"http.gateway_url=http://127.0.0.1:{self.gateway_port}",
                  "--set", "http.secret_file=/nonexistent/emnist-token",
                  "--set", "actors.scheduler_threads=1",
                  *extra_sets(args)]
        self.train_ports = []
        for i in range(n):
            port = free_port()
            self.start([args.emnist, "serve", "--function", "train", *common,
                        "--set", "http.max_inflight=1",
                        "--set", f"http.listen=127.0.0.1:{port}"], port, f"train {i}")
            self.train_ports.append(port)
        setup_port = free_port()
        self.start([args.emnist, "serve", "--function", "setup", *common,
                    "--set", f"http.listen=127.0.0.1:{setup_port}"], setup_port, "setup")
        backends = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"emnist-train": [f"127.0.0.1:{p}" for p in self.train_ports],
                   "emnist-setup": [f"127.0.0.1:{setup_port}"]}, backends)
        backends.close()
        self.backends = backends.name
        self.start(["/usr/bin/python3", str(STANDIN), str(self.gateway_port), self.backends,
                    "--queue-workers", str(args.queue_workers)],
                   self.gateway_port, "gateway")

    def start(self, cmd, port, what):
        logf = tempfile.TemporaryFile()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=logf)
        self.procs.append(p)
        self.logs.append((what, logf))
        # Data loads before a serve process listens.
        for _ in range(600):
            try:
                wait_for_port(port, p, what)
                return
            except RunFailed:
                if p.poll() is not None:
                    logf.seek(0)
                    raise RunFailed(f"{what} exited: {tail(logf.read().decode())}")
        raise RunFailed(f"{what} did not listen")

    def url(self, path):
        return f"http://127.0.0.1:{self.gateway_port}{path}"

    def pushes(self):
        """(pushes, pushes applied) summed over the train processes."""
        total = [0, 0]
        for port in self.train_ports:
            _, text = http("GET", f"http://127.0.0.1:{port}/metrics")
            for line in text.splitlines():
                for i, name in enumerate(("emnist_pushes_total ", "emnist_pushes_applied_total ")):
                    if line.startswith(name):
                        total[i] += int(float(line.split()[1]))
        return total

    def close(self):
        for p in self.procs:
            stop_process(p, timeout=5)
        for p, _ in self.memcached:
            stop_process(p)
        os.unlink(self.backends)


def interpolate(points, t):
    """Samples at Unix ms `t` from (ms, samples) points of one replica."""
    points = sorted(points)
    if not points or t <= points[0][0]:
        return 0.0
    for (ta, sa), (tb, sb) in zip(points, points[1:]):
        if ta <= t <= tb:
            return sa + (sb - sa) * (t - ta) / (tb - ta) if tb > ta else sb
    return float(points[-1][1])


def run_processes(args, d, n, job, eval_every):
    body = json.dumps({"train": {"replicas": n, "target_accuracy": args.target,
                                 "eval_every": eval_every, "max_epochs": args.max_epochs},
                       "sync": {"job": job}}).encode()
    before = d.pushes()
    t0 = time.time()
    status, text = http("POST", d.url("/function/emnist-setup"), body)
    if status != 200:
        raise RunFailed(f"setup answered {status}: {text}")
    series = [set() for _ in range(n)]
    deadline = time.monotonic() + args.run_timeout
    last = None
    while time.monotonic() < deadline:
        code, text = http("GET", d.url(f"/function/emnist-setup/status?job={job}"))
        if code == 200:
            last = json.loads(text)
            for i, w in enumerate(last["workers"]):
                if w:
                    series[i].add((int(round(time.time() * 1000 - w["heartbeat_age_seconds"] * 1000)),
                                   w["samples"]))
            if last["state"] == "finished" or (
                    last["state"] == "idle" and all(w and w["done"] for w in last["workers"])):
                break
        time.sleep(0.05)
    else:
        raise RunFailed(f"job {job} did not finish in {args.run_timeout} s")
    # Setup's calls answered, their counters are in.
    time.sleep(0.5)
    after = d.pushes()
    reached_at = [w.get("reached_at_ms") for w in last["workers"] if w and w.get("reached_at_ms")]
    out = {"reached": bool(last["reached"]), "per_replica": [w["samples"] if w else 0
                                                             for w in last["workers"]],
           "lost_updates": (after[0] - before[0]) - (after[1] - before[1]),
           "accuracy": last["best_accuracy"]}
    if reached_at:
        t = min(reached_at)
        out["samples"] = int(sum(interpolate(s, t) for s in series))
        out["seconds"] = t / 1000.0 - t0
    else:
        out["samples"] = out["seconds"] = None
    return out


def run_simulate(args, d, n, job, eval_every):
    cmd = [args.emnist, "simulate", "--json", "-q", "--data", args.data, *SPLIT,
           "--set", f"train.replicas={n}", "--set", f"train.eval_every={eval_every}",
           "--set", f"train.target_accuracy={args.target}",
           "--set", f"train.max_epochs={args.max_epochs}",
           "--set", "sync.store=memcached", "--set", f"sync.servers={d.servers}",
           "--set", f"sync.job={job}", *extra_sets(args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.run_timeout)
    if p.returncode not in (0, 3):
        raise RunFailed(f"emnist simulate exited {p.returncode}: {tail(p.stderr)}")
    r = json.loads(p.stdout)
    return {"reached": r["reached"], "samples": r.get("samples_to_target"),
            "seconds": r.get("seconds_to_target"),
            "lost_updates": r["pushes"] - r["pushes_applied"],
            "per_replica": [w["samples"] for w in r["workers"]], "accuracy": r["accuracy"]}


def extra_sets(args):
    """--set KEY=VALUE of the command line, for every process on both sides."""
    return [x for kv in args.set for x in ("--set", kv)]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv=None):
    shared = REPO.parent / "shared" / "data" / "emnist"
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--emnist", default=str(REPO / "build" / "emnist"))
    p.add_argument("--data", default=os.environ.get("EMNIST_DIR") or str(shared))
    p.add_argument("--replicas", type=int_list, default=[2, 4, 8])
    p.add_argument("--pools", type=int_list, default=[1],
                   help="memcached servers in the pool, e.g. 1,3")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--target", type=float, default=0.80)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--defaults", action="store_true",
                   help="the shipped evaluation schedule (eval_every = 0, after each pass)")
    p.add_argument("--max-epochs", type=int, default=20)
    p.add_argument("--queue-workers", type=int, default=1,
                   help="the stand-in's queue-workers (1: OpenFaaS CE's; setup's calls "
                        "of the replicas are synchronous and never queue)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra --set for every process, both sides (repeatable)")
    p.add_argument("--run-timeout", type=float, default=300)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.repeat <= 0:
        p.error("--repeat must be positive")
    check_inputs(p, args, DATA_FILES)
    eval_every = 0 if args.defaults else args.eval_every

    rows = []
    status = 0
    try:
        for pool in args.pools:
            for n in args.replicas:
                log(f"starting {n} train processes, setup, gateway, {pool} memcached ...")
                d = Deployment(args, n, pool)
                runs = {"processes": [], "one process": []}
                try:
                    for round_ in range(args.repeat):
                        for shape, run in (("one process", run_simulate),
                                           ("processes", run_processes)):
                            job = f"pb-{'p' if run is run_processes else 's'}-{n}-{pool}-{round_}"
                            r = run(args, d, n, job, eval_every)
                            runs[shape].append(r)
                            if not r["reached"]:
                                status = 3
                            secs = "-" if r["seconds"] is None else f"{r['seconds']:.2f}"
                            log(f"  N={n} pool={pool} round {round_ + 1} {shape}: "
                                f"{'reached' if r['reached'] else 'NOT reached'} "
                                f"{r['samples']} samples, {secs} s; "
                                f"replicas {r['per_replica']}")
                finally:
                    d.close()
                row = {"replicas": n, "pool": pool, "eval_every": eval_every}
                for shape, rs in runs.items():
                    row[shape] = {"samples": median([r["samples"] for r in rs]),
                                  "seconds": median([r["seconds"] for r in rs]),
                                  "reached": sum(r["reached"] for r in rs), "runs": len(rs),
                                  "lost_updates": sum(r["lost_updates"] for r in rs),
                                  "least_share": min(
                                      (min(r["per_replica"]) / (sum(r["per_replica"]) / n)
                                       for r in rs if sum(r["per_replica"]) > 0), default=None)}
                rows.append(row)
    except (RunFailed, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as e:
        log(f"processes_bench: {e}")
        status = 1

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    log(f"\ntarget {args.target}, eval every "
        f"{'pass' if eval_every == 0 else eval_every} minibatches, medians of {args.repeat}; "
        f"{os.cpu_count()} cores")
    log(f"{'N':>2} {'pool':>4} | {'one process: samples':>20} {'s':>6} | "
        f"{'processes: samples':>18} {'s':>6} {'reached':>7} | {'samples x':>9} "
        f"{'time x':>6} | {'least replica':>13} | lost")
    for row in rows:
        one, pr = row["one process"], row["processes"]
        ratio = pr["samples"] / one["samples"] if pr["samples"] and one["samples"] else None
        tratio = pr["seconds"] / one["seconds"] if pr["seconds"] and one["seconds"] else None
        log(f"{row['replicas']:>2} {row['pool']:>4} | {fmt(one['samples'], '>20,.0f')} "
            f"{fmt(one['seconds'], '>6.2f')} | {fmt(pr['samples'], '>18,.0f')} "
            f"{fmt(pr['seconds'], '>6.2f')} {pr['reached']:>3}/{pr['runs']:<3} | "
            f"{fmt(ratio, '>8.2f')}x {fmt(tratio, '>5.2f')}x | "
            f"{fmt(pr['least_share'], '>12.2f')}x | "
            f"{one['lost_updates'] + pr['lost_updates']}")
    if args.json:
        print(json.dumps({"rows": rows}), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
