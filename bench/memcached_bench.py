#!/usr/bin/python3
"""The memcached parameter store's benchmark (issue 3), in one run, on the
standard split (train test[:100000], evaluate test[100000:] every 500
minibatches of the job, stop at 0.75):

  (a) `emnist simulate` with sync.store=memory against sync.store=memcached
      on loopback, N replicas: training samples/s and seconds to 0.75, and
      the ratios memcached/memory. Targets: throughput >= 0.9x (N=1),
      >= 0.8x (N=2); time to 0.75 <= 1.2x.
  (b) memcached behind a delay proxy (--delay-ms each way, default 1 ms,
      so 2 ms RTT) against memcached on loopback, N replicas: seconds to
      0.75 and the ratio delayed/loopback. Target <= 1.5x.
  (c) the prototype's algorithm (bench/prototype_peer.py, one worker: whole
      float64 weights fetched and stored around every minibatch) against
      `emnist simulate` memcached N=1 on loopback: seconds to 0.75 and the
      speedup, for each of --peer-gradients (default prototype,mean):
      prototype, the prototype's update as it was (output delta / batch**2):
      the issue's figure, target >= 50x; mean, the corrected-gradient peer,
      shown beside it with no target. A peer run stopped by its cap
      (--peer-max-seconds, default 900) counts as taking the cap, so its
      speedup is printed as a lower bound (">= Nx").

  bench/memcached_bench.py                            # all, N=1,2, 5 runs
  bench/memcached_bench.py --sections a --repeat 9
  bench/memcached_bench.py --sections a,c --repeat 1 --replicas 1
  bench/memcached_bench.py --sections c --peer-gradients mean --repeat 3
  bench/memcached_bench.py --json > result.json       # table on stderr

The memcached-on-loopback runs of a configuration serve every section that
needs them (a, b, and c for N=1); runs of the different configurations are
interleaved, round by round, so that a slow spell of the shared machine
falls on all of them. Figures are medians. The script starts its own
memcached on a free loopback port (and the delay proxy, --proxy, for (b))
and stops them at the end. It also prints pushes against pushes_applied of
every memcached run: they differ when an update was lost.

Exit status: 0 when every run reached 0.75, 3 when some did not (a peer run
stopped by its cap included), 1 when a run failed, 2 on bad arguments.
"""

import argparse
import json
import os
import select
import shlex
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (RunFailed, check_inputs, log, start_memcached,  # noqa: E402
                          stop_process, tail, wait_for_port)

REPO = Path(__file__).resolve().parent.parent
PEER = Path(__file__).resolve().parent / "prototype_peer.py"
TARGET = 0.75
SPLIT = ["--set", "data.train=test[:100000]", "--set", "data.eval=test[100000:]",
         "--set", "train.eval_every=500"]
DATA_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz")
SECTIONS = {"a": "embedded store vs memcached on loopback",
            "b": "memcached behind the delay proxy vs loopback",
            "c": "prototype peer vs emnist simulate memcached N=1 loopback"}
PEER_GRADIENTS = ("prototype", "mean")
PEER_GROUPS = {"prototype": "prototype-gradient peer (output delta / batch**2): the issue's figure",
               "mean": "corrected-gradient peer (mean gradient): no target"}


def start_proxy(binary, target_port, delay_ms):
    """Starts the delay proxy and reads its `listening HOST:PORT` line."""
    cmd = [binary, "--listen", "127.0.0.1:0", "--target", f"127.0.0.1:{target_port}",
           "--delay-ms", str(delay_ms)]
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    except OSError as e:
        raise RunFailed(f"cannot start the delay proxy: {e}") from e
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().strip() if ready else ""
    words = line.split()
    if len(words) != 2 or words[0] != "listening" or ":" not in words[1]:
        stop_process(proc)
        raise RunFailed(f"delay proxy: expected 'listening HOST:PORT' on stdout, got "
                        f"{line!r}: {' '.join(cmd)}")
    host, port = words[1].rsplit(":", 1)
    wait_for_port(int(port), proc, "delay proxy")
    return proc, f"{host}:{port}"


def round_trip_ms(address, count=21):
    """Median time of a text-protocol `version` round trip, in ms."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            s.sendall(b"version\r\n")
            buf = b""
            while not buf.endswith(b"\r\n"):
                chunk = s.recv(256)
                if not chunk:
                    raise RunFailed(f"{address} closed the connection")
                buf += chunk
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def parse_json(stdout):
    """All of stdout as one object, else its last line that is one."""
    for text in [stdout] + list(reversed(stdout.strip().splitlines())):
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def run_json(what, cmd, timeout):
    shown = " ".join(shlex.quote(str(c)) for c in cmd)
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout)
    except OSError as e:
        raise RunFailed(f"{what}: cannot start {shown}: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise RunFailed(f"{what}: no result after {timeout} s (--timeout): {shown}") from e
    summary = parse_json(proc.stdout) if proc.returncode in (0, 3) else None
    if summary is None or "reached" not in summary:
        raise RunFailed(f"{what}: exit status {proc.returncode}: {shown}\n"
                        f"--- stderr ---\n{tail(proc.stderr)}\n"
                        f"--- stdout ---\n{tail(proc.stdout)}")
    summary["exit_status"] = proc.returncode
    return summary


class Config:
    """One kind of run: C++ (store, replicas, where) or the peer."""

    def __init__(self, kind, store=None, replicas=1, where="loopback"):
        self.kind, self.store, self.replicas, self.where = kind, store, replicas, where

    @property
    def name(self):
        if self.kind == "peer":  # store holds the peer's gradient
            return f"peer {self.store} N=1"
        return f"{self.store} N={self.replicas}" + (
            f" {self.where}" if self.store == "memcached" else "")

    def key(self):
        return (self.kind, self.store, self.replicas, self.where)


def plan(sections, replicas):
    configs = []

    def need(c):
        if all(c.key() != x.key() for x in configs):
            configs.append(c)

    for n in replicas:
        if "a" in sections:
            need(Config("cpp", "memory", n))
            need(Config("cpp", "memcached", n))
        if "b" in sections:
            need(Config("cpp", "memcached", n))
            need(Config("cpp", "memcached", n, "delayed"))
    if "c" in sections:
        need(Config("cpp", "memcached", 1))
    return configs


def cpp_command(args, cfg, servers, job):
    cmd = [args.emnist, "simulate", "-q", "--json", "--data", args.data] + SPLIT + [
        "--set", f"train.replicas={cfg.replicas}", "--set", f"sync.store={cfg.store}",
        "--set", f"sync.servers=[\"{servers}\"]", "--set", f"sync.job={job}"]
    for kv in args.set:
        cmd += ["--set", kv]
    return cmd


def peer_command(args, server, job, gradient):
    return [args.python, PEER, "--server", server, "--data", args.data, "--workers", "1",
            "--gradient", gradient, "--max-seconds", args.peer_max_seconds, "--job", job,
            "--target", TARGET]


def capped_seconds(runs, cap):
    """Median seconds to 0.75 of peer runs, a run stopped by the cap counting
    as the cap, and whether that median is only a lower bound (some run did
    not reach 0.75: its true time is longer than the cap)."""
    vals = [r["seconds_to_target"] if r.get("reached") and r.get("seconds_to_target") is not None
            else cap for r in runs]
    if not vals:
        return None, False
    return statistics.median(vals), not all(r.get("reached") for r in runs)


def median(runs, key, reached_only=False):
    vals = [r[key] for r in runs
            if r.get(key) is not None and (r.get("reached") or not reached_only)]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fnum(v, spec):
    return "-" if v is None else format(v, spec)


def verdict(value, op, bound, lower_bound=False):
    if value is None:
        return "n/a"
    if lower_bound:  # only a ">=" bound can be decided from below
        return "met" if value >= bound else "undecided (cap)"
    return "met" if (value >= bound if op == ">=" else value <= bound) else "NOT MET"


def build_report(args, runs, rtt):
    """The sections' rows (for the table and the JSON)."""
    def get(kind, store=None, n=1, where="loopback"):
        return runs.get((kind, store, n, where), [])

    report = {}
    if "a" in args.sections:
        rows = []
        for n in args.replicas:
            mem, mc = get("cpp", "memory", n), get("cpp", "memcached", n)
            tput = ratio(median(mc, "samples_per_second"), median(mem, "samples_per_second"))
            t_bound = 0.9 if n == 1 else 0.8
            secs = ratio(median(mc, "seconds_to_target", True),
                         median(mem, "seconds_to_target", True))
            rows += [
                {"n": n, "what": "runs reaching 0.75",
                 "left": f"{sum(r['reached'] for r in mem)}/{len(mem)}",
                 "right": f"{sum(r['reached'] for r in mc)}/{len(mc)}"},
                {"n": n, "what": "training samples/s", "left": median(mem, "samples_per_second"),
                 "right": median(mc, "samples_per_second"), "ratio": tput,
                 "target": f">= {t_bound}x", "verdict": verdict(tput, ">=", t_bound),
                 "fmt": ",.0f"},
                {"n": n, "what": "seconds to 0.75",
                 "left": median(mem, "seconds_to_target", True),
                 "right": median(mc, "seconds_to_target", True), "ratio": secs,
                 "target": "<= 1.2x", "verdict": verdict(secs, "<=", 1.2), "fmt": ".3f"},
                {"n": n, "what": "cas retries (median)", "right": median(mc, "cas_retries"),
                 "fmt": ".0f"},
                {"n": n, "what": "sync wait s (median)", "left": median(mem, "sync_wait_seconds"),
                 "right": median(mc, "sync_wait_seconds"), "fmt": ".3f"},
            ]
        report["a"] = {"columns": ["memory", "memcached"], "rows": rows}
    if "b" in args.sections:
        rows = []
        for n in args.replicas:
            lo, de = get("cpp", "memcached", n), get("cpp", "memcached", n, "delayed")
            t = ratio(median(de, "seconds_to_target", True), median(lo, "seconds_to_target", True))
            rows += [
                {"n": n, "what": "runs reaching 0.75",
                 "left": f"{sum(r['reached'] for r in lo)}/{len(lo)}",
                 "right": f"{sum(r['reached'] for r in de)}/{len(de)}"},
                {"n": n, "what": "seconds to 0.75", "left": median(lo, "seconds_to_target", True),
                 "right": median(de, "seconds_to_target", True), "ratio": t,
                 "target": "<= 1.5x", "verdict": verdict(t, "<=", 1.5), "fmt": ".3f"},
                {"n": n, "what": "training samples/s", "left": median(lo, "samples_per_second"),
                 "right": median(de, "samples_per_second"),
                 "ratio": ratio(median(de, "samples_per_second"),
                                median(lo, "samples_per_second")), "fmt": ",.0f"},
                {"n": n, "what": "sync wait s (median)", "left": median(lo, "sync_wait_seconds"),
                 "right": median(de, "sync_wait_seconds"), "fmt": ".3f"},
            ]
        report["b"] = {"columns": ["loopback", f"+{args.delay_ms:g} ms/way"], "rows": rows,
                       "round_trip_ms": rtt}
    if "c" in args.sections:
        mc = get("cpp", "memcached", 1)
        cpp_secs = median(mc, "seconds_to_target", True)
        rows = []
        blas = None
        for g in args.peer_gradients:
            peer = get("peer", g)
            blas = blas or (peer[0].get("blas") if peer else None)
            secs, bound = capped_seconds(peer, args.peer_max_seconds)
            speed = ratio(secs, cpp_secs)
            target = {"target": ">= 50x", "verdict": verdict(speed, ">=", 50, bound)} \
                if g == "prototype" else {"target": "none"}
            rows += [
                {"group": g, "what": "runs reaching 0.75",
                 "left": f"{sum(bool(r['reached']) for r in peer)}/{len(peer)}",
                 "right": f"{sum(bool(r['reached']) for r in mc)}/{len(mc)}"},
                {"group": g, "what": "seconds to 0.75", "left": secs, "right": cpp_secs,
                 "ratio": speed, "lower_bound": bound, "fmt": ".3f", **target},
                {"group": g, "what": "training samples/s",
                 "left": median(peer, "samples_per_second"),
                 "right": median(mc, "samples_per_second"),
                 "ratio": ratio(median(mc, "samples_per_second"),
                                median(peer, "samples_per_second")), "fmt": ",.0f"},
                {"group": g, "what": "samples trained to 0.75",
                 "left": median(peer, "samples", True), "right": median(mc, "samples", True),
                 "fmt": ",.0f"},
            ]
            if bound:
                rows.append({"group": g, "what": "accuracy at the cap (median)",
                             "left": median([r for r in peer if not r.get("reached")],
                                            "accuracy"), "fmt": ".4f"})
        report["c"] = {"columns": ["peer", "C++ memcached"], "rows": rows,
                       "peer_max_seconds": args.peer_max_seconds, "peer_blas": blas}
    return report


def print_report(args, report, runs, out):
    print(f"EMNIST ByMerge, train test[:100000], eval test[100000:] every 500 minibatches, "
          f"target {TARGET}; medians of {args.repeat} C++ run(s)"
          + (f", {args.repeat_peer} peer run(s) per gradient" if "c" in args.sections else "")
          + f"; {os.cpu_count()} cores", file=out)
    for sec in "abc":
        if sec not in report:
            continue
        rep = report[sec]
        left, right = rep["columns"]
        print(f"\n({sec}) {SECTIONS[sec]}", file=out)
        if sec == "b":
            rt = rep["round_trip_ms"]
            print(f"    measured round trip: loopback {rt['loopback']:.3f} ms, "
                  f"through the proxy {rt['delayed']:.3f} ms", file=out)
        label = "speedup" if sec == "c" else "ratio"
        header = f"    {'':28}{left:>14}{right:>15}{label:>13}  {'target':<9}"
        print(header, file=out)
        last_group = None
        for row in rep["rows"]:
            group = row["group"] if sec == "c" else row["n"]
            if group != last_group:
                print(f"  {PEER_GROUPS[group]}" if sec == "c" else f"  N={group}", file=out)
                last_group = group
            spec = row.get("fmt")
            bound = ">= " if row.get("lower_bound") else ""
            cells = []
            for side in ("left", "right"):
                v = row.get(side)
                cells.append(v if isinstance(v, str) else ("" if v is None and side not in row
                                                          else fnum(v, spec)))
            if bound and row.get("left") is not None:
                cells[0] = bound + cells[0]
            r = row.get("ratio")
            rtxt = "" if "ratio" not in row else ("-" if r is None else f"{bound}{r:.2f}x")
            tgt = row.get("target", "")
            ver = row.get("verdict", "")
            print(f"    {row['what']:28}{cells[0]:>14}{cells[1]:>15}{rtxt:>13}  {tgt:<9}{ver}",
                  file=out)
        if sec == "a":
            print("    ratio: memcached / memory", file=out)
        elif sec == "b":
            print("    ratio: delayed / loopback", file=out)
        else:
            print("    speedup: peer / C++ for seconds, C++ / peer for samples/s", file=out)
            if any(row.get("lower_bound") for row in rep["rows"]):
                print(f"    \">= \": some peer run stopped at its cap "
                      f"({rep['peer_max_seconds']:g} s) before 0.75; the cap stands in for "
                      f"its time, so the speedup is a lower bound", file=out)
            blas = rep.get("peer_blas") or []
            if blas and not any(k in b.lower() for b in blas for k in ("openblas", "mkl", "blis")):
                print(f"    note: the peer's numpy runs on {', '.join(blas)} (reference BLAS)",
                      file=out)

    mc_runs = [(k, r) for k, rs in runs.items() if k[1] == "memcached" for r in rs]
    if mc_runs:
        print("\npushes applied / pushes (memcached runs, all rounds)", file=out)
        for key in sorted({k for k, _ in mc_runs}, key=lambda k: (k[2], k[3])):
            rs = runs[key]
            pushes = sum(r.get("pushes", 0) for r in rs)
            applied = sum(r.get("pushes_applied", 0) for r in rs)
            lost = [i + 1 for i, r in enumerate(rs) if r.get("pushes_applied") != r.get("pushes")]
            flag = "ok" if not lost else f"LOST UPDATES in run(s) {lost}"
            print(f"    {Config(*key).name:28}{applied:>10,}/{pushes:<10,}  {flag}", file=out)

    print("\nper run (seconds to 0.75, training samples/s; a run that did not reach "
          "0.75: >seconds run [accuracy]):", file=out)
    for key, rs in runs.items():
        cells = " ".join((f"{fnum(r.get('seconds_to_target'), '.3f')}" if r.get("reached") else
                          f">{fnum(r.get('seconds'), '.1f')}[{fnum(r.get('accuracy'), '.4f')}]")
                         + f"/{fnum(r.get('samples_per_second'), ',.0f')}" for r in rs)
        print(f"    {Config(*key).name:28}{cells}", file=out)


def parse_list(text, cast, allowed=None):
    try:
        vals = [cast(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad list {text!r}")
    if not vals or (allowed and any(v not in allowed for v in vals)):
        raise argparse.ArgumentTypeError(f"bad list {text!r}")
    return list(dict.fromkeys(vals))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", default=["a", "b", "c"],
                   type=lambda t: parse_list(t, str, SECTIONS),
                   help="which of a,b,c to run (default a,b,c)")
    p.add_argument("--replicas", default=[1, 2], type=lambda t: parse_list(t, int),
                   help="replica counts for (a) and (b) (default 1,2)")
    p.add_argument("--repeat", type=int, default=5, help="C++ runs per configuration (default 5)")
    p.add_argument("--repeat-peer", type=int, default=1,
                   help="prototype peer runs for (c) (default 1: it is slow)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra --set for every emnist run (repeatable)")
    p.add_argument("--emnist", default=str(REPO / "build" / "emnist"))
    p.add_argument("--proxy", default=str(REPO / "build" / "emnist_delay_proxy"),
                   help="the delay proxy for (b) (default build/emnist_delay_proxy)")
    p.add_argument("--delay-ms", type=float, default=1.0,
                   help="proxy delay each way for (b) (default 1.0)")
    p.add_argument("--memcached", default="memcached", help="memcached binary")
    p.add_argument("--data", default=os.environ.get("EMNIST_DIR") or str(
        REPO.parent / "shared" / "data" / "emnist"))
    p.add_argument("--python", default="/usr/bin/python3",
                   help="Python for the peer, with numpy and pylibmc (default /usr/bin/python3)")
    p.add_argument("--peer-max-seconds", type=float, default=900,
                   help="cap of each peer run, in seconds (default 900)")
    p.add_argument("--peer-gradients", default=list(PEER_GRADIENTS),
                   type=lambda t: parse_list(t, str, PEER_GRADIENTS),
                   help="the peer's gradients for (c): prototype (the issue's figure) "
                        "and/or mean (default prototype,mean)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per C++ run")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON on stdout (the table goes to stderr)")
    args = p.parse_args(argv)

    if args.repeat < 1 or args.repeat_peer < 1 or any(n < 1 for n in args.replicas):
        p.error("--repeat, --repeat-peer and --replicas must be >= 1")
    if args.peer_max_seconds <= 0:
        p.error("--peer-max-seconds must be > 0")
    check_inputs(p, args, DATA_FILES)
    if "b" in args.sections and not os.access(args.proxy, os.X_OK):
        p.error(f"no executable delay proxy at {args.proxy} (build it, or pass --proxy)")
    if any("=" not in kv for kv in args.set):
        p.error("--set wants KEY=VALUE")

    configs = plan(args.sections, args.replicas)
    runs = {}
    rtt = None
    memcached = proxy = None
    stamp = f"{os.getpid()}"
    try:
        memcached, port = start_memcached(args.memcached)
        loopback = f"127.0.0.1:{port}"
        servers = {"loopback": loopback}
        if "b" in args.sections:
            proxy, servers["delayed"] = start_proxy(args.proxy, port, args.delay_ms)
            rtt = {w: round_trip_ms(a) for w, a in servers.items()}
            log(f"round trip: loopback {rtt['loopback']:.3f} ms, "
                f"proxy {rtt['delayed']:.3f} ms")
        rounds = max(args.repeat, args.repeat_peer if "c" in args.sections else 0)
        for i in range(rounds):
            for cfg in configs:
                if i >= args.repeat:
                    continue
                what = f"{cfg.name} run {i + 1}/{args.repeat}"
                job = f"mcb{stamp}-{cfg.store}{cfg.replicas}{cfg.where}-{i}"
                r = run_json(what, cpp_command(args, cfg, servers[cfg.where], job),
                             args.timeout)
                runs.setdefault(cfg.key(), []).append(r)
                lost = "" if cfg.store != "memcached" or r.get("pushes") == r.get(
                    "pushes_applied") else "  LOST UPDATES"
                log(f"[{what}] reached={r['reached']} seconds_to_target="
                    f"{fnum(r.get('seconds_to_target'), '.3f')} samples/s="
                    f"{fnum(r.get('samples_per_second'), ',.0f')}{lost}")
            for g in (args.peer_gradients if "c" in args.sections else []):
                if i >= args.repeat_peer:
                    break
                what = f"peer {g} run {i + 1}/{args.repeat_peer}"
                log(f"[{what}] ... (up to {args.peer_max_seconds:g} s)")
                r = run_json(what, peer_command(args, loopback, f"mcb{stamp}-peer{g}-{i}", g),
                             args.peer_max_seconds + 900)
                runs.setdefault(Config("peer", g).key(), []).append(r)
                log(f"[{what}] reached={r['reached']} seconds_to_target="
                    f"{fnum(r.get('seconds_to_target'), '.2f')} accuracy="
                    f"{fnum(r.get('accuracy'), '.4f')} seconds={fnum(r.get('seconds'), '.1f')} "
                    f"samples/s={fnum(r.get('samples_per_second'), ',.0f')}")
    except RunFailed as e:
        log(f"memcached_bench: {e}")
        return 1
    finally:
        stop_process(proxy)
        stop_process(memcached)

    report = build_report(args, runs, rtt)
    print_report(args, report, runs, sys.stderr if args.json else sys.stdout)
    all_runs = [r for rs in runs.values() for r in rs]
    if args.json:
        print(json.dumps({
            "config": {"sections": args.sections, "replicas": args.replicas,
                       "repeat": args.repeat, "repeat_peer": args.repeat_peer,
                       "peer_gradients": args.peer_gradients,
                       "peer_max_seconds": args.peer_max_seconds,
                       "delay_ms": args.delay_ms, "set": args.set, "data": args.data,
                       "emnist": args.emnist, "target": TARGET, "cores": os.cpu_count()},
            "report": report,
            "runs": [{"config": Config(*k).name, "runs": rs} for k, rs in runs.items()],
        }, indent=2))
    unreached = sum(1 for r in all_runs if not r.get("reached"))
    if unreached:
        log(f"memcached_bench: {unreached} of {len(all_runs)} runs did not reach {TARGET}")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
