#!/usr/bin/python3
"""The HTTP functions' benchmark (issue 4), in one run, on the standard split
(train test[:100000], evaluate test[100000:] every 500 minibatches of the
job, stop at 0.75), with a memcached store and --replicas replicas:

  (1) a job started through HTTP on `emnist serve --function all` (POST
      /function/emnist-setup, which starts the replicas through the server's
      own gateway routes) against `emnist simulate` with the same settings.
      HTTP time: from sending the setup request to the first GET /status
      answer with "reached": true (polled every 10 ms on one keep-alive
      connection, so it includes up to ~10 ms of polling granularity).
      simulate time: its JSON seconds_to_target and nothing else (no
      process start, no data load); its wall time minus load_seconds is
      shown for reference. Target: HTTP <= 1.3x simulate.
  (2) the same HTTP job while another process sends GET /status?job=J and
      GET /metrics alternately at --rate requests/s (default 200), paced by
      a schedule on one keep-alive connection, from the setup's 202 until
      the job has reached 0.75. Every latency and error (non-200 answer or
      exception) is recorded. Targets: median latency < 5 ms on each route,
      no error; training time (as in (1)) with the load <= 1.1x without it.

  bench/serve_bench.py                    # 5 rounds
  bench/serve_bench.py --repeat 3 --rate 100
  bench/serve_bench.py --json > result.json   # table on stderr

The script starts its own memcached on a free loopback port and one
`emnist serve` per HTTP configuration (without load, with load), each on a
free port, its gateway pointing at itself. Both servers stay up across the
rounds, so their data is loaded once (the warm-function case); every job has
its own sync.job name. Runs of the three configurations are interleaved,
round by round, in an order that rotates from round to round, so that a slow
spell of the shared machine falls on all of them. A round's next run starts
only when the previous job's replicas have all answered (the server's
emnist_http_in_flight is 0). Figures are medians. Every process the script
starts is stopped at the end, also on errors.

Exit status: 0 when every run reached 0.75, 3 when some did not, 1 when a
run failed (a server died, an answer was malformed, a timeout), 2 on bad
arguments.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (RunFailed, check_inputs, free_port, log, start_memcached,  # noqa: E402
                          stop_process, tail)

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.75
SPLIT = ["--set", "data.train=test[:100000]", "--set", "data.eval=test[100000:]",
         "--set", "train.eval_every=500"]
DATA_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz")
POLL_S = 0.010
CONFIGS = ("simulate", "http", "http+load")
WORKER_LINE = re.compile(r"Worker ID: (\d+) Iterations: (\d+) Time: ([0-9.]+)")
METRIC_LINE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')













def percentile(sorted_vals, q):
    """Nearest-rank percentile of a sorted list (q in [0, 100])."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def parse_metrics(text):
    """Prometheus text -> {(name, labels): float}."""
    out = {}
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if m:
            try:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return out


class Server:
    """One `emnist serve --function all`, its stderr in a temporary file."""

    def __init__(self, args, name, memcached_port):
        self.name = name
        self.port = free_port()
        self.errfile = tempfile.NamedTemporaryFile(
            mode="w+", prefix=f"serve_bench_{name.replace('+', '_')}_", suffix=".log")
        gateway = f"http://127.0.0.1:{self.port}"
        self.cmd = [args.emnist, "serve", "--function", "all", "--data", args.data] + SPLIT + [
            "--set", "sync.store=memcached",
            "--set", f"sync.servers=[\"127.0.0.1:{memcached_port}\"]",
            "--set", f"http.listen=127.0.0.1:{self.port}",
            "--set", f"http.gateway_url={gateway}"]
        for kv in args.set:
            self.cmd += ["--set", kv]
        self.proc = None
        self.start_seconds = None
        self.final_log = ""

    def start(self, timeout=60):
        t0 = time.perf_counter()
        try:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                         stderr=self.errfile)
        except OSError as e:
            raise RunFailed(f"cannot start {shlex.join(self.cmd)}: {e}") from e
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RunFailed(f"serve ({self.name}) exited with status "
                                f"{self.proc.returncode} at start: {shlex.join(self.cmd)}\n"
                                f"{tail(self.stderr())}")
            if "emnist: serving function" in self.stderr():
                self.start_seconds = time.perf_counter() - t0
                return
            time.sleep(0.02)
        raise RunFailed(f"serve ({self.name}) printed no 'serving' line in {timeout} s:\n"
                        f"{tail(self.stderr())}")

    def stderr(self, offset=0):
        self.errfile.flush()
        with open(self.errfile.name, errors="replace") as f:
            f.seek(offset)
            return f.read()

    def stderr_size(self):
        return os.path.getsize(self.errfile.name)

    def check_alive(self):
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise RunFailed(f"serve ({self.name}) died (exit status {code}):\n"
                            f"{tail(self.stderr())}")

    def stop(self):
        stop_process(self.proc)

    def close(self):
        self.stop()
        self.errfile.close()


class Client:
    """A keep-alive HTTP client for one server; reconnects after an error."""

    def __init__(self, port, timeout=30):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method, path, body=None, headers=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            r = self.conn.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        if r.will_close:
            self.close()
        return r.status, data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- the load


def load_main(port, rate, pipe):
    """The load process: waits for ("start", job), then sends GET /status?job=J
    and GET /metrics alternately at `rate` requests/s until ("stop",), and
    sends back every request's (route, start offset s, latency s, error or
    None). Slots missed while a request was still running are skipped, not
    caught up, so the rate never goes above `rate`."""
    interval = 1.0 / rate
    client = Client(port, timeout=10)
    while True:
        msg = pipe.recv()
        if msg[0] == "quit":
            client.close()
            return
        job = msg[1]
        # A fresh connection for every run, opened before the clock starts:
        # the server closes idle keep-alive connections between runs.
        client.close()
        client.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            client.conn.connect()
        except OSError:
            client.close()  # the first request reconnects, and records the error
        paths = [("status", f"/status?job={job}"), ("metrics", "/metrics")]
        records, skipped = [], 0
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        k = 0
        while not pipe.poll():
            due = t0 + k * interval
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            elif now - due > interval:  # behind: skip the missed slots
                missed = int((now - due) / interval)
                skipped += missed
                k += missed
            route, path = paths[k % 2]
            start = time.perf_counter()
            err = None
            try:
                status, _ = client.request("GET", path)
                if status != 200:
                    err = f"HTTP {status}"
            except Exception as e:  # noqa: BLE001 - every failure is a result here
                err = f"{type(e).__name__}: {e}"
            records.append((route, start - t0, time.perf_counter() - start, err))
            k += 1
        pipe.recv()  # the stop
        pipe.send({"records": records, "skipped": skipped,
                   "seconds": time.perf_counter() - t0,
                   "cpu_seconds": time.process_time() - cpu0})


class Load:
    def __init__(self, port, rate):
        ctx = multiprocessing.get_context("fork")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=load_main, args=(port, rate, child), daemon=True)
        self.proc.start()
        child.close()

    def start(self, job):
        self.pipe.send(("start", job))

    def stop(self, timeout=30):
        self.pipe.send(("stop",))
        if not self.pipe.poll(timeout):
            raise RunFailed("the load process sent no result")
        return self.pipe.recv()

    def close(self):
        try:
            self.pipe.send(("quit",))
        except OSError:
            pass
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


# ---------------------------------------------------------------- the runs


def run_simulate(args, memcached_port, job):
    cmd = [args.emnist, "simulate", "-q", "--json", "--data", args.data] + SPLIT + [
        "--set", f"train.replicas={args.replicas}", "--set", "sync.store=memcached",
        "--set", f"sync.servers=[\"127.0.0.1:{memcached_port}\"]", "--set", f"sync.job={job}"]
    for kv in args.set:
        cmd += ["--set", kv]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired as e:
        raise RunFailed(f"simulate: no result after {args.timeout} s: {shlex.join(cmd)}") from e
    wall = time.perf_counter() - t0
    summary = None
    if proc.returncode in (0, 3):
        for text in [proc.stdout] + list(reversed(proc.stdout.strip().splitlines())):
            try:
                summary = json.loads(text)
                break
            except ValueError:
                continue
    if not isinstance(summary, dict) or "reached" not in summary:
        raise RunFailed(f"simulate: exit status {proc.returncode}: {shlex.join(cmd)}\n"
                        f"--- stderr ---\n{tail(proc.stderr)}\n--- stdout ---\n"
                        f"{tail(proc.stdout)}")
    return {"reached": bool(summary["reached"]),
            "seconds": summary.get("seconds_to_target") if summary["reached"] else None,
            "accuracy": summary.get("accuracy"),
            "wall_seconds": wall,
            "wall_minus_load": wall - (summary.get("load_seconds") or 0.0),
            "load_seconds": summary.get("load_seconds"),
            "job_seconds": summary.get("seconds"),
            "samples": summary.get("samples"),
            "evaluations": summary.get("evaluations"),
            "pushes": summary.get("pushes"), "pushes_applied": summary.get("pushes_applied"),
            "cas_retries": summary.get("cas_retries"),
            "workers": summary.get("workers")}


def wait_idle(server, client, timeout):
    """Waits until no function call runs on the server; returns its metrics."""
    deadline = time.perf_counter() + timeout
    while True:
        server.check_alive()
        status, body = client.request("GET", "/metrics")
        if status != 200:
            raise RunFailed(f"serve ({server.name}): GET /metrics answered {status}")
        m = parse_metrics(body.decode(errors="replace"))
        if m.get(("emnist_http_in_flight", ""), 0) == 0:
            return m
        if time.perf_counter() > deadline:
            raise RunFailed(f"serve ({server.name}): calls still running after {timeout} s")
        time.sleep(POLL_S)


def run_http(args, server, job, load=None):
    """One job through HTTP; `load`: a Load to run while it trains."""
    server.check_alive()
    client = Client(server.port)
    try:
        before = wait_idle(server, client, args.timeout)
        err_offset = server.stderr_size()
        body = json.dumps({"train": {"replicas": args.replicas}})
        t0 = time.perf_counter()
        status, data = client.request("POST", f"/function/emnist-setup?sync.job={job}",
                                      body=body, headers={"Content-Type": "application/json"})
        t_setup = time.perf_counter() - t0
        if status != 202:
            raise RunFailed(f"serve ({server.name}): setup answered {status}: {data[:500]!r}")
        if load is not None:
            load.start(job)
        polls, poll_errors, poll_lat = 0, [], []
        reached, last, elapsed = False, None, None
        due = t0 + t_setup
        try:
            while True:
                due += POLL_S  # every 10 ms; a slot missed is skipped, not caught up
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)
                else:
                    due = now
                if now - t0 > args.timeout:
                    break
                ts = time.perf_counter()
                try:
                    st, data = client.request("GET", f"/status?job={job}")
                except Exception as e:  # noqa: BLE001
                    server.check_alive()
                    poll_errors.append(f"{type(e).__name__}: {e}")
                    continue
                te = time.perf_counter()
                polls += 1
                poll_lat.append(te - ts)
                if st != 200:
                    poll_errors.append(f"HTTP {st}: {data[:200]!r}")
                else:
                    last = json.loads(data)
                    if last.get("reached"):
                        reached, elapsed = True, te - t0
                        break
                    workers = last.get("workers") or []
                    if workers and all(w and w.get("done") for w in workers):
                        break  # every replica is done without reaching the target
        finally:
            load_result = load.stop() if load is not None else None
        after = wait_idle(server, client, args.timeout)
        st, data = client.request("GET", f"/status?job={job}")
        final = json.loads(data) if st == 200 else None
    finally:
        client.close()
    lines = [tuple(float(x) if "." in x else int(x) for x in m.groups())
             for m in WORKER_LINE.finditer(server.stderr(err_offset))]
    other_err = [ln for ln in server.stderr(err_offset).splitlines()
                 if ln.strip() and not WORKER_LINE.search(ln)]

    def delta(name, labels=""):
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    at_reached = (last or {}).get("workers") or []
    replicas = []
    for i, w in enumerate((final or {}).get("workers") or []):
        rep = {"replica": i}
        if i < len(at_reached) and at_reached[i]:
            rep["samples_at_stop"] = at_reached[i].get("samples")
        if w:
            rep.update({k: w.get(k) for k in ("epochs", "steps", "samples", "best_accuracy",
                                                "done", "reached")})
        label = f'{{job="{job}",replica="{i}"}}'
        if ("emnist_training_samples_total", label) in after:
            rep["samples_trained"] = int(after[("emnist_training_samples_total", label)])
        for wid, iters, secs in lines:
            if wid == i:
                rep["call_seconds"], rep["iterations"] = secs, iters
        replicas.append(rep)
    return {"reached": reached, "seconds": elapsed,
            "setup_seconds": t_setup,
            "best_accuracy_at_stop": (last or {}).get("best_accuracy"),
            "best_accuracy_final": (final or {}).get("best_accuracy"),
            "polls": polls, "poll_median_ms": statistics.median(poll_lat) * 1e3 if poll_lat else None,
            "poll_errors": poll_errors,
            "pushes": int(delta("emnist_pushes_total")),
            "pushes_applied": int(delta("emnist_pushes_applied_total")),
            "cas_retries": int(delta("emnist_cas_retries_total")),
            "replicas": replicas, "server_log": other_err,
            "load": summarize_load(load_result) if load_result else None,
            "load_records": load_result["records"] if load_result else None}


def summarize_load(result):
    out = {"requests": len(result["records"]), "seconds": result["seconds"],
           "skipped_slots": result["skipped"], "client_cpu_seconds": result["cpu_seconds"]}
    out["rate"] = out["requests"] / result["seconds"] if result["seconds"] else None
    for route in ("status", "metrics"):
        lat = sorted(r[2] for r in result["records"] if r[0] == route)
        errs = [r[3] for r in result["records"] if r[0] == route and r[3]]
        out[route] = {"requests": len(lat), "errors": len(errs), "error_samples": errs[:5],
                      "median_ms": statistics.median(lat) * 1e3 if lat else None,
                      "p99_ms": percentile(lat, 99) * 1e3 if lat else None,
                      "max_ms": lat[-1] * 1e3 if lat else None}
    return out


# ---------------------------------------------------------------- the report


def med(runs, key, reached_only=True):
    vals = [r[key] for r in runs if r.get(key) is not None and (r["reached"] or not reached_only)]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fnum(v, spec):
    return "-" if v is None else format(v, spec)


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def build_report(args, runs):
    sim, http, loaded = runs["simulate"], runs["http"], runs["http+load"]
    t_sim, t_http, t_load = med(sim, "seconds"), med(http, "seconds"), med(loaded, "seconds")
    r1, r2 = ratio(t_http, t_sim), ratio(t_load, t_http)
    records = [rec for r in loaded for rec in (r.get("load_records") or [])]
    lat = {route: sorted(rec[2] * 1e3 for rec in records if rec[0] == route)
           for route in ("status", "metrics")}
    errors = [rec[3] for rec in records if rec[3]]
    stats = {route: {"requests": len(v), "median_ms": statistics.median(v) if v else None,
                     "p99_ms": percentile(v, 99), "max_ms": v[-1] if v else None,
                     "errors": sum(1 for rec in records if rec[0] == route and rec[3])}
             for route, v in lat.items()}
    seconds = sum(r["load"]["seconds"] for r in loaded if r.get("load"))
    rate = len(records) / seconds if seconds else None
    rows = [
        {"figure": "(1) runs reaching 0.75 (sim / http)",
         "measured": f"{sum(r['reached'] for r in sim)}/{len(sim)} / "
                     f"{sum(r['reached'] for r in http)}/{len(http)}"},
        {"figure": "(1) simulate seconds_to_target", "measured": fnum(t_sim, ".3f") + " s"},
        {"figure": "(1) HTTP setup -> reached", "measured": fnum(t_http, ".3f") + " s"},
        {"figure": "(1) HTTP / simulate", "measured": fnum(r1, ".2f") + "x",
         "target": "<= 1.3x", "verdict": verdict(None if r1 is None else r1 <= 1.3)},
        {"figure": "(1) ref: sim wall - load_seconds",
         "measured": fnum(med(sim, "wall_minus_load"), ".3f") + " s"},
        {"figure": "(1) ref: HTTP / (sim wall - load)",
         "measured": fnum(ratio(t_http, med(sim, "wall_minus_load")), ".2f") + "x"},
    ]
    for route in ("status", "metrics"):
        s = stats[route]
        rows.append({"figure": f"(2) GET /{route} median latency",
                     "measured": fnum(s["median_ms"], ".2f") + " ms", "target": "< 5 ms",
                     "verdict": verdict(None if s["median_ms"] is None else s["median_ms"] < 5)})
        rows.append({"figure": f"(2) GET /{route} p99 / max",
                     "measured": f"{fnum(s['p99_ms'], '.2f')} / {fnum(s['max_ms'], '.2f')} ms"})
    rows += [
        {"figure": "(2) load errors (non-200, exc.)", "measured": f"{len(errors)} of {len(records)}",
         "target": "0", "verdict": verdict(len(errors) == 0 if records else None)},
        {"figure": "(2) load rate achieved", "measured": fnum(rate, ".0f") + " req/s",
         "target": f"{args.rate:g} (bound)"},
        {"figure": "(2) runs reaching 0.75 (load)",
         "measured": f"{sum(r['reached'] for r in loaded)}/{len(loaded)}"},
        {"figure": "(2) HTTP time with load", "measured": fnum(t_load, ".3f") + " s"},
        {"figure": "(2) with load / without", "measured": fnum(r2, ".2f") + "x",
         "target": "<= 1.10x", "verdict": verdict(None if r2 is None else r2 <= 1.10)},
    ]
    return {"rows": rows, "seconds": {"simulate": t_sim, "http": t_http, "http+load": t_load},
            "ratio_http_simulate": r1, "ratio_load_noload": r2,
            "load": {"routes": stats, "errors": len(errors), "error_samples": errors[:10],
                     "requests": len(records), "rate": rate}}


def print_report(args, report, runs, servers, out):
    print(f"EMNIST ByMerge, train test[:100000], eval test[100000:] every 500 minibatches, "
          f"target {TARGET}; memcached store, {args.replicas} replicas; medians of "
          f"{args.repeat} round(s); {os.cpu_count()} cores", file=out)
    print("simulate time = its JSON seconds_to_target only (no process start, no data load); "
          "HTTP time = setup request sent -> first /status with reached=true (10 ms polls)",
          file=out)
    for s in servers:
        code = None if s.proc is None else s.proc.returncode
        print(f"serve ({s.name}): ready in {fnum(s.start_seconds, '.2f')} s (data loaded "
              f"once, kept across rounds); exit status after SIGTERM: {code}", file=out)
    print(f"\n    {'figure':38}{'measured':>22}  {'target':<14}verdict", file=out)
    for row in report["rows"]:
        print(f"    {row['figure']:38}{row['measured']:>22}  {row.get('target', ''):<14}"
              f"{row.get('verdict', '')}", file=out)

    print("\nper run (seconds to 0.75; '>' not reached):", file=out)
    for cfg in CONFIGS:
        cells = " ".join(fnum(r["seconds"], ".3f") if r["reached"] else
                         f">{fnum(r.get('wall_seconds') or args.timeout, '.1f')}"
                         for r in runs[cfg])
        print(f"    {cfg:12}{cells}", file=out)
    print("    simulate wall - load_seconds: "
          + " ".join(fnum(r["wall_minus_load"], ".3f") for r in runs["simulate"]), file=out)

    print("\nHTTP runs: setup answer ms, /status polls (median ms), pushes applied/pushes, "
          "per replica [samples in /status at reached -> samples trained in the end, "
          "best accuracy, train call s]:", file=out)
    for cfg in ("http", "http+load"):
        for i, r in enumerate(runs[cfg]):
            reps = " ".join(
                f"r{p['replica']}[{p.get('samples_at_stop', '-')} -> "
                f"{p.get('samples_trained', '-')}, {fnum(p.get('best_accuracy'), '.4f')}, "
                f"{fnum(p.get('call_seconds'), '.3f')} s]" for p in r["replicas"])
            lost = "" if r["pushes"] == r["pushes_applied"] else "  LOST UPDATES"
            errs = f"  poll errors: {len(r['poll_errors'])}" if r["poll_errors"] else ""
            print(f"    {cfg:10} {i + 1}: {r['setup_seconds'] * 1e3:6.1f} ms  "
                  f"{r['polls']:4} ({fnum(r['poll_median_ms'], '.2f')})  "
                  f"{r['pushes_applied']}/{r['pushes']}  {reps}{lost}{errs}", file=out)
            for line in r["server_log"]:
                print(f"        server: {line}", file=out)
    print("\nload runs: requests, achieved req/s, skipped slots, /status median/p99/max ms, "
          "/metrics median/p99/max ms, errors, the load client's own CPU (% of one core):",
          file=out)
    for i, r in enumerate(runs["http+load"]):
        ld = r.get("load")
        if not ld:
            continue
        st, me = ld["status"], ld["metrics"]
        print(f"    {i + 1}: {ld['requests']:5} {fnum(ld['rate'], '.0f'):>5} {ld['skipped_slots']:4}  "
              f"{fnum(st['median_ms'], '.2f')}/{fnum(st['p99_ms'], '.2f')}/"
              f"{fnum(st['max_ms'], '.2f')}  {fnum(me['median_ms'], '.2f')}/"
              f"{fnum(me['p99_ms'], '.2f')}/{fnum(me['max_ms'], '.2f')}  "
              f"{st['errors'] + me['errors']}  "
              f"{fnum(ratio(ld['client_cpu_seconds'] * 100, ld['seconds']), '.0f')}%", file=out)
    samples = report["load"]["error_samples"]
    if samples:
        print("    load errors, first ones: " + "; ".join(samples), file=out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--rate", type=float, default=200,
                   help="requests/s of the load in (2), bounded (default 200)")
    p.add_argument("--replicas", type=int, default=2, help="replicas of every job (default 2)")
    p.add_argument("--emnist", default=str(REPO / "build" / "emnist"))
    p.add_argument("--memcached", default="memcached", help="memcached binary")
    p.add_argument("--data", default=os.environ.get("EMNIST_DIR") or str(
        REPO.parent / "shared" / "data" / "emnist"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra --set for every emnist process, serve and simulate (repeatable)")
    p.add_argument("--timeout", type=float, default=120, help="seconds per run (default 120)")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON on stdout (the table goes to stderr)")
    args = p.parse_args(argv)

    if args.repeat < 1 or args.replicas < 1:
        p.error("--repeat and --replicas must be >= 1")
    if args.rate <= 0:
        p.error("--rate must be > 0")
    check_inputs(p, args, DATA_FILES)
    if any("=" not in kv for kv in args.set):
        p.error("--set wants KEY=VALUE")

    runs = {c: [] for c in CONFIGS}
    memcached, servers, load = None, [], None
    stamp = f"sb{os.getpid()}"
    try:
        memcached, mc_port = start_memcached(args.memcached)
        servers = [Server(args, "http", mc_port), Server(args, "http+load", mc_port)]
        for s in servers:
            s.start()
            log(f"serve ({s.name}) on port {s.port}, ready in {s.start_seconds:.2f} s")
        plain, loaded = servers
        load = Load(loaded.port, args.rate)
        for i in range(args.repeat):
            order = CONFIGS[i % 3:] + CONFIGS[:i % 3]
            for cfg in order:
                what = f"{cfg} run {i + 1}/{args.repeat}"
                job = f"{stamp}-{cfg.replace('+', '')}-{i}"
                if cfg == "simulate":
                    r = run_simulate(args, mc_port, job)
                    log(f"[{what}] reached={r['reached']} seconds_to_target="
                        f"{fnum(r['seconds'], '.3f')} wall-load={r['wall_minus_load']:.3f}")
                else:
                    r = run_http(args, plain if cfg == "http" else loaded, job,
                                 load if cfg == "http+load" else None)
                    extra = ""
                    if r["load"]:
                        ld = r["load"]
                        extra = (f" load: {ld['requests']} req, /status median "
                                 f"{fnum(ld['status']['median_ms'], '.2f')} ms, /metrics median "
                                 f"{fnum(ld['metrics']['median_ms'], '.2f')} ms, errors "
                                 f"{ld['status']['errors'] + ld['metrics']['errors']}")
                    log(f"[{what}] reached={r['reached']} seconds={fnum(r['seconds'], '.3f')}"
                        f"{extra}")
                runs[cfg].append(r)
        for s in servers:
            s.check_alive()
    except (RunFailed, OSError, ValueError) as e:
        log(f"serve_bench: {e}")
        return 1
    finally:
        if load is not None:
            load.close()
        for s in servers:
            s.stop()
            s.final_log = s.stderr()
            s.close()
        stop_process(memcached)

    report = build_report(args, runs)
    print_report(args, report, runs, servers, sys.stderr if args.json else sys.stdout)
    if args.json:
        for r in runs["http+load"]:
            r.pop("load_records", None)
        print(json.dumps({
            "config": {"repeat": args.repeat, "rate": args.rate, "replicas": args.replicas,
                       "set": args.set, "data": args.data, "emnist": args.emnist,
                       "target": TARGET, "cores": os.cpu_count()},
            "report": report, "runs": runs,
            "server_exit": {s.name: s.proc.returncode for s in servers},
        }, indent=2))
    all_runs = [r for rs in runs.values() for r in rs]
    unreached = sum(1 for r in all_runs if not r["reached"])
    if unreached:
        log(f"serve_bench: {unreached} of {len(all_runs)} runs did not reach {TARGET}")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
