#!/usr/bin/python3
"""Faults injected into a training job on real memcached servers (issue
11), each beside the quiet run it is compared to. N=2 replicas of
`emnist simulate` on the standard split (train test[:100000], evaluate
test[100000:] every --eval-every minibatches) to --target; each fault is
injected 0.3 s after the first progress line, that is mid-training:

  quiet     no fault: the baseline
  restart   memcached killed (-9) and started again, empty, on its port
  pause     memcached stopped (SIGSTOP) for --pause seconds, then SIGCONT
            (sync.timeout_ms 200, sync.retry_ms 5000: every call times out
            and is retried meanwhile)
  failover  a pool of three, one killed (-9) for good; failover policy,
            sync.retry_ms 1000
  dead      the only server killed for good; fail policy, sync.retry_ms
            2000: the job must fail, naming it, within retry_ms and a
            timeout

Printed per fault: runs that ended as they must, the median seconds to
the target and its cost against the quiet median (for the pause: beyond
the pause itself), the median samples to the target, samples trained
while the fault lasted (pause), and the store's counts.

  bench/fault_bench.py                      # 5 rounds, interleaved
  bench/fault_bench.py --rounds 9 --json > faults.json

Exit status: 0 when every run ended as it must, 1 otherwise, 2 on bad
arguments.
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (RunFailed, check_inputs, log, start_memcached,  # noqa: E402
                          stop_process, tail)

REPO = Path(__file__).resolve().parent.parent
DATA_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz")
PROGRESS = re.compile(r"\] replica \d+ +epoch \d+ +samples (\d+)")


def run_one(args, fault):
    """One job with `fault`: (summary or None, exit status, facts)."""
    servers = [start_memcached()]
    if fault == "failover":
        servers += [start_memcached(), start_memcached()]
    addresses = ",".join(f'"127.0.0.1:{p}"' for _, p in servers)
    extra = ["--set", f"sync.servers=[{addresses}]",
             "--set", "sync.store=memcached",
             "--set", f"sync.job=fault-{fault}-{time.monotonic_ns()}"]
    if fault == "pause":
        extra += ["--set", "sync.timeout_ms=200", "--set", "sync.retry_ms=5000"]
    elif fault == "failover":
        extra += ["--set", 'sync.on_server_failure="failover"',
                  "--set", "sync.retry_ms=1000"]
    elif fault == "dead":
        extra += ["--set", "sync.retry_ms=2000"]
    cmd = [args.emnist, "simulate", "--json", "--data", args.data,
           "--set", "data.train=test[:100000]",
           "--set", "data.eval=test[100000:]",
           "--set", "train.replicas=2",
           "--set", f"train.eval_every={args.eval_every}",
           "--set", f"train.target_accuracy={args.target}",
           "--set", "train.max_epochs=20"] + extra
    facts = {}
    samples = []  # (time, samples of both replicas)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    started = threading.Event()
    stderr_lines = []

    def read_stderr():
        latest = {}
        for line in proc.stderr:
            stderr_lines.append(line)
            m = PROGRESS.search(line)
            if m:
                rid = line.split("replica", 1)[1].split()[0]
                latest[rid] = int(m.group(1))
                samples.append((time.monotonic(), sum(latest.values())))
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        if fault != "quiet":
            if not started.wait(60):
                raise RunFailed(f"{fault}: no progress within 60 s")
            time.sleep(0.3)
            victim, port = servers[-1] if fault == "failover" else servers[0]
            t_fault = time.monotonic()
            if fault == "restart":
                victim.kill()
                victim.wait()
                servers[0] = start_memcached(port=port)
            elif fault == "pause":
                victim.send_signal(signal.SIGSTOP)
                time.sleep(args.pause)
                victim.send_signal(signal.SIGCONT)
                t_end = time.monotonic()
                during = [n for t, n in samples if t_fault + 0.5 <= t <= t_end]
                before = [n for t, n in samples if t <= t_fault + 0.5]
                if during and before:
                    facts["samples_in_pause"] = max(during) - before[-1]
                else:
                    facts["samples_in_pause"] = 0
            elif fault in ("failover", "dead"):
                victim.kill()
                victim.wait()
        out, _ = proc.communicate(timeout=300)
        if fault == "dead":
            facts["seconds_to_fail"] = time.monotonic() - t_fault
        reader.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
        for p, _ in servers:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
            stop_process(p)
    summary = None
    try:
        summary = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        pass
    facts["stderr"] = "".join(stderr_lines)
    return summary, proc.returncode, facts


def ok(fault, summary, status, facts):
    if fault == "dead":
        return status == 1 and "memcached server 127.0.0.1:" in facts["stderr"]
    return status == 0 and summary is not None and summary.get("reached")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--emnist", default=str(REPO / "build" / "emnist"))
    p.add_argument("--data", default=os.environ.get(
        "EMNIST_DIR", str(REPO.parent / "shared" / "data" / "emnist")))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--target", type=float, default=0.80)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--pause", type=float, default=2.0)
    p.add_argument("--faults", default="quiet,restart,pause,failover,dead")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    check_inputs(p, args, DATA_FILES)
    faults = args.faults.split(",")
    if args.rounds < 1 or any(f not in ("quiet", "restart", "pause", "failover",
                                        "dead") for f in faults):
        p.error("--rounds must be >= 1; --faults a list of quiet, restart, "
                "pause, failover, dead")
    runs = {f: [] for f in faults}
    for r in range(args.rounds):
        for f in faults:
            summary, status, facts = run_one(args, f)
            good = ok(f, summary, status, facts)
            facts["stderr"] = tail(facts["stderr"], 3)
            runs[f].append({"ok": bool(good), "status": status,
                            "summary": summary, "facts": facts})
            s = summary or {}
            log(f"round {r + 1} {f:9s} exit {status} ok={bool(good)} "
                f"t={s.get('seconds_to_target')} "
                f"samples={s.get('samples_to_target')} "
                + " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in facts.items() if k != "stderr"))
    quiet_t = median([(x["summary"] or {}).get("seconds_to_target")
                      for x in runs.get("quiet", [])])
    log("")
    log(f"{'fault':9s} {'as must':>8s} {'s to target':>12s} {'cost s':>8s} "
        f"{'samples':>9s}  store")
    table = {}
    failures = 0
    for f in faults:
        xs = runs[f]
        good = sum(x["ok"] for x in xs)
        failures += len(xs) - good
        t = median([(x["summary"] or {}).get("seconds_to_target") for x in xs])
        n = median([(x["summary"] or {}).get("samples_to_target") for x in xs])
        cost = None
        if t is not None and quiet_t is not None and f != "quiet":
            cost = t - quiet_t - (args.pause if f == "pause" else 0)
        sync = [(x["summary"] or {}) for x in xs]
        store = {k: median([s.get(k) for s in sync])
                 for k in ("blocks_restored", "servers_failed_over",
                           "pushes_held", "server_retries")}
        extra = {k: median([x["facts"].get(k) for x in xs])
                 for k in ("samples_in_pause", "seconds_to_fail")}
        table[f] = {"runs": len(xs), "as_must": good, "seconds_to_target": t,
                    "cost_seconds": cost, "samples_to_target": n,
                    "store": store,
                    **{k: v for k, v in extra.items() if v is not None}}
        fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        log(f"{f:9s} {good:>4d}/{len(xs):<3d} {fmt(t, '12.2f')} "
            f"{fmt(cost, '8.2f')} {fmt(n, '9.0f')}  "
            + " ".join(f"{k}={v:g}" for k, v in store.items() if v)
            + "".join(f" {k}={v:.2f}" for k, v in extra.items() if v is not None))
    if args.json:
        print(json.dumps(table, indent=2))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunFailed as e:
        log(f"fault_bench: {e}")
        sys.exit(1)
