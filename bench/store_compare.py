#!/usr/bin/python3
"""Embedded store against memcached on loopback: `emnist simulate` on the
standard split (train test[:100000], evaluate test[100000:] every 500
minibatches, stop at 0.75) with sync.store=memory and sync.store=memcached,
N replicas each, runs interleaved; prints medians side by side and the
ratios memcached/memory.

  bench/store_compare.py                       # N=1,2, 5 runs each
  bench/store_compare.py --replicas 1 --repeat 9

Starts its own memcached on a free loopback port (Debian's memcached) and
stops it at the end. Exit status 0 when every run reached the target.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_memcached():
    port = free_port()
    cmd = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-m", "256", "-t", "2"]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]
    proc = subprocess.Popen(cmd)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    sys.exit("memcached did not start")


def run(binary, data, store, replicas, port, extra):
    cmd = [binary, "simulate", "-q", "--json", "--data", data,
           "--set", "data.train=test[:100000]", "--set", "data.eval=test[100000:]",
           "--set", "train.eval_every=500", "--set", f"train.replicas={replicas}",
           "--set", f"sync.store={store}",
           "--set", f'sync.servers=["127.0.0.1:{port}"]',
           "--set", f"sync.job=bench{replicas}{store}"] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode not in (0, 3):
        sys.exit(f"run failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emnist", default=str(REPO / "build" / "emnist"))
    ap.add_argument("--data", default=os.environ.get(
        "EMNIST_DIR", str(REPO.parent / "shared" / "data" / "emnist")))
    ap.add_argument("--replicas", default="1,2")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra --set for every run")
    args = ap.parse_args()
    extra = [x for kv in args.set for x in ("--set", kv)]
    proc, port = start_memcached()
    results = {}
    try:
        for n in [int(x) for x in args.replicas.split(",")]:
            for i in range(args.repeat):
                for store in ("memory", "memcached"):
                    r = run(args.emnist, args.data, store, n, port, extra)
                    results.setdefault((n, store), []).append(r)
                    print(f"[N={n} {store} run {i + 1}] reached={r['reached']} "
                          f"seconds_to_target={r['seconds_to_target']} "
                          f"samples/s={r['samples_per_second']:.0f}", file=sys.stderr)
    finally:
        proc.kill()

    def med(rs, key):
        vals = [r[key] for r in rs if r[key] is not None]
        return statistics.median(vals) if vals else float("nan")

    print(f"median of {args.repeat} runs; memcached on loopback, same machine")
    print(f"{'':28}{'memory':>10}{'memcached':>11}{'ratio':>8}")
    ok = True
    for n in sorted({k[0] for k in results}):
        mem, mc = results[(n, "memory")], results[(n, "memcached")]
        ok &= all(r["reached"] for r in mem + mc)
        print(f"N={n}")
        for key, label in (("seconds_to_target", "seconds to 0.75"),
                           ("samples_per_second", "training samples/s")):
            a, b = med(mem, key), med(mc, key)
            print(f"  {label:26}{a:10.3f}{b:11.3f}{b / a:8.2f}x" if key.startswith("sec")
                  else f"  {label:26}{a:10.0f}{b:11.0f}{b / a:8.2f}x")
        print(f"  {'pushes applied/pushes':26}{'':10}"
              f"{sum(r['pushes_applied'] for r in mc):>6}/{sum(r['pushes'] for r in mc)}")
        print(f"  {'cas retries (median)':26}{'':10}{med(mc, 'cas_retries'):11.0f}")
        print(f"  {'sync wait s (median)':26}{med(mem, 'sync_wait_seconds'):10.3f}"
              f"{med(mc, 'sync_wait_seconds'):11.3f}")
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
