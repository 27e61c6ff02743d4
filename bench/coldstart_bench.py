#!/usr/bin/python3
"""Cold start: seconds from exec to a process that trains or serves.

  bench/coldstart_bench.py                                   # standard split
  bench/coldstart_bench.py --bymerge-dir /tmp/bymerge --make-bymerge
  bench/coldstart_bench.py --before /tmp/old/emnist --repeat 7 --json > cold.json

Two shapes, each timed from the exec:
- `emnist simulate` until it starts training: its "loaded in" line on
  stderr, printed as it hands the data to the replicas.
- `emnist serve --function train` until GET /_/ready answers 200 (polled
  every 2 ms on fresh connections; the server listens only once its data
  is loaded). With --together K, K of them started at once, as a job's
  train pods start: each one's time, and the last one's.

Two data sets:
- standard: the ByMerge test file, train test[:100000], eval test[100000:].
- bymerge: the whole train and test files with the shipped defaults
  (data.train = "train", data.eval = "test"), from --bymerge-dir. Without the
  official train file there, --make-bymerge writes one of its size
  (697,932 samples: the test file's samples repeated, IDX, gzip level 6 as
  the release's) into that folder, which must be outside the repository.

The cache (data.cache_dir) in three states, each run in a cache folder of
the bench's own (EMNIST_DATA_CACHE_DIR, emptied at the start and the end):
- cold: emptied before each run: a node's first start, which inflates and
  writes the cache;
- warm: written by an untimed run first: every later start;
- off: no cache: every start inflates into memory.
--before PATH times another build as it is (one state: it had no cache).

The operating system's page cache is warm throughout (the bench runs each
thing once untimed first): the figures leave out reading the files from a
cold disk. Runs are interleaved round by round, in an order that rotates,
so that a slow spell of the shared machine falls on all of them. Each row:
median, min-max, and the memory of each process at ready: resident (Rss,
which counts a mapped cache file whole although its pages are the page
cache's) and proportional (Pss, which splits each shared page among the
processes that map it: with --together K, what each costs the machine).

Exit status: 0 when every run started, 1 when one failed, 2 bad arguments.
"""

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import RunFailed, free_port, log, start_memcached, stop_process, tail  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
STANDARD = ["--set", "data.train=test[:100000]", "--set", "data.eval=test[100000:]"]
TEST_FILES = ("emnist-bymerge-test-images-idx3-ubyte.gz",
              "emnist-bymerge-test-labels-idx1-ubyte.gz", "emnist-bymerge-mapping.txt")
TRAIN_FILES = ("emnist-bymerge-train-images-idx3-ubyte.gz",
               "emnist-bymerge-train-labels-idx1-ubyte.gz")
TRAIN_SAMPLES = 697_932  # the official ByMerge train file's


def make_bymerge(src, dest):
    """A train-size ByMerge file pair in dest, from the test file in src,
    plus links to the test files and the mapping."""
    dest.mkdir(parents=True, exist_ok=True)
    if REPO in dest.resolve().parents or dest.resolve() == REPO:
        raise RunFailed(f"--bymerge-dir {dest}: inside the repository; data stays out of it")
    for name in TEST_FILES:
        link = dest / name
        if not link.exists():
            link.symlink_to(src / name)
    if all((dest / n).exists() for n in TRAIN_FILES):
        return
    log(f"writing a {TRAIN_SAMPLES:,}-sample train file into {dest} (a minute or two) ...")
    with gzip.open(src / TEST_FILES[0], "rb") as f:
        images = f.read()
    with gzip.open(src / TEST_FILES[1], "rb") as f:
        labels = f.read()
    n = struct.unpack(">I", images[4:8])[0]
    reps = -(-TRAIN_SAMPLES // n)
    pixels = (images[16:] * reps)[:TRAIN_SAMPLES * 784]
    marks = (labels[8:] * reps)[:TRAIN_SAMPLES]
    for name, head, body in (
            (TRAIN_FILES[0], struct.pack(">IIII", 0x803, TRAIN_SAMPLES, 28, 28), pixels),
            (TRAIN_FILES[1], struct.pack(">II", 0x801, TRAIN_SAMPLES), marks)):
        partial = dest / (name + ".partial")
        with gzip.open(partial, "wb", compresslevel=6) as f:
            f.write(head)
            f.write(body)
        partial.rename(dest / name)


def memory_kib(pid):
    """(Rss, Pss) of a process in KiB: Pss splits each shared page among
    the processes that map it, so a cache file mapped by five processes
    counts a fifth in each."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key = line.split(":")[0]
                if key in ("Rss", "Pss"):
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return (out.get("Rss"), out.get("Pss"))


def ready(port):
    """Whether GET /_/ready on 127.0.0.1:port answers 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /_/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start(cmd, env):
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def time_simulate(cmd, env, timeout):
    """Seconds from exec to the 'loaded in' line; (seconds, rss, line)."""
    t0 = time.perf_counter()
    proc = start(cmd, env)
    try:
        for line in proc.stderr:
            if " loaded in " in line:
                seconds = time.perf_counter() - t0
                return seconds, memory_kib(proc.pid), line.strip()
            if time.perf_counter() - t0 > timeout:
                break
        raise RunFailed(f"no 'loaded in' line from {' '.join(cmd)}")
    finally:
        proc.kill()
        rest = proc.communicate()[1]
        if proc.returncode not in (0, -signal.SIGKILL, 3):
            raise RunFailed(f"exit status {proc.returncode}: {tail(rest)}")


def time_serve(cmds, env, timeout):
    """Starts every command at once; each one's seconds from its exec to
    its first 200 on /_/ready: [(seconds, rss, line)]."""
    procs = []
    try:
        for cmd, port in cmds:
            procs.append((time.perf_counter(), start(cmd, env), port))
        out = [None] * len(procs)
        while any(o is None for o in out):
            for i, (t0, proc, port) in enumerate(procs):
                if out[i] is not None:
                    continue
                if proc.poll() is not None:
                    raise RunFailed(f"serve exited {proc.returncode}: "
                                    f"{tail(proc.stderr.read())}")
                if ready(port):
                    out[i] = (time.perf_counter() - t0, memory_kib(proc.pid), "")
                elif time.perf_counter() - t0 > timeout:
                    raise RunFailed(f"serve on port {port}: not ready after {timeout} s")
            time.sleep(0.002)
        return out
    finally:
        for _, proc, _ in procs:
            stop_process(proc, timeout=5)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--emnist", default=str(REPO / "build" / "emnist"))
    p.add_argument("--before", help="another emnist binary to time as it is (no cache)")
    p.add_argument("--data", default=os.environ.get("EMNIST_DIR") or
                   str(REPO.parent / "shared" / "data" / "emnist"),
                   help="the folder with the ByMerge test files (default: $EMNIST_DIR, "
                        "else ../shared/data/emnist)")
    p.add_argument("--bymerge-dir", help="a folder with the ByMerge train and test files")
    p.add_argument("--make-bymerge", action="store_true",
                   help="write a train-size file into --bymerge-dir when it has none")
    p.add_argument("--shapes", default="simulate,serve",
                   help="simulate, serve (comma-separated; default both)")
    p.add_argument("--caches", default="cold,warm,off", help="cache states (default all)")
    p.add_argument("--together", type=int, default=1,
                   help="serve processes started at once (default 1)")
    p.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--timeout", type=float, default=120, help="seconds allowed a start")
    p.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    args = p.parse_args(argv)

    shapes = [s for s in args.shapes.split(",") if s]
    caches = [c for c in args.caches.split(",") if c]
    if not set(shapes) <= {"simulate", "serve"} or not set(caches) <= {"cold", "warm", "off"}:
        p.error("--shapes takes simulate,serve; --caches takes cold,warm,off")
    data = Path(args.data).resolve()
    if not all((data / n).exists() for n in TEST_FILES):
        p.error(f"--data {data}: lacks the ByMerge test files")
    datasets = {"standard": (data, STANDARD)}
    try:
        if args.bymerge_dir:
            bdir = Path(args.bymerge_dir).resolve()
            if args.make_bymerge:
                make_bymerge(data, bdir)
            if not all((bdir / n).exists() for n in TRAIN_FILES + TEST_FILES):
                p.error(f"--bymerge-dir {bdir}: lacks the train or test files "
                        "(--make-bymerge writes a train-size one)")
            # The built-in defaults, which config/default.toml repeats (an
            # older build may not know every key of today's file).
            datasets["bymerge"] = (bdir, [])
    except RunFailed as e:
        log(f"coldstart_bench: {e}")
        return 1

    builds = {"after": str(Path(args.emnist).resolve())}
    if args.before:
        builds["before"] = str(Path(args.before).resolve())
    cache_root = Path(tempfile.mkdtemp(prefix="emnist-coldstart-"))
    memcached, mport = start_memcached()
    servers = f'["127.0.0.1:{mport}"]'

    def configs():
        for ds in datasets:
            for shape in shapes:
                for b in builds:
                    for c in (caches if b == "after" else ["none"]):
                        yield (ds, shape, b, c)

    def command(ds, shape, build, port=None):
        ddir, sets = datasets[ds]
        common = ["--data", str(ddir), *sets]
        if shape == "simulate":
            return [builds[build], "simulate", *common, "--set", "train.max_epochs=1"]
        return [builds[build], "serve", "--function", "train", *common,
                "--set", "sync.store=memcached", "--set", f"sync.servers={servers}",
                "--set", f"http.listen=127.0.0.1:{port}", "--set", "http.threads=1"]

    def run_one(ds, shape, build, cache):
        cdir = cache_root / f"{ds}-{cache}"
        env = dict(os.environ)
        env["EMNIST_DATA_CACHE_DIR"] = "off" if cache == "off" else str(cdir)
        if cache == "cold":
            shutil.rmtree(cdir, ignore_errors=True)
        if shape == "simulate":
            return [time_simulate(command(ds, shape, build), env, args.timeout)]
        cmds = []
        for _ in range(args.together):
            port = free_port()
            cmds.append((command(ds, shape, build, port), port))
        return time_serve(cmds, env, args.timeout)

    results = {c: [] for c in configs()}
    try:
        # Untimed: the page cache warm, and the warm caches written.
        for c in results:
            run_one(*c)
        order = list(results)
        for rnd in range(args.repeat):
            k = rnd % len(order)
            for c in order[k:] + order[:k]:
                r = run_one(*c)
                results[c].append(r)
                log(f"[round {rnd + 1}/{args.repeat}] {' '.join(c)}: "
                    + ", ".join(f"{s:.3f} s" for s, _, _ in r))
    except RunFailed as e:
        log(f"coldstart_bench: {e}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        stop_process(memcached)
        shutil.rmtree(cache_root, ignore_errors=True)

    load = os.getloadavg()
    rows = []
    for (ds, shape, build, cache), runs in results.items():
        each = [s for r in runs for s, _, _ in r]
        last = [max(s for s, _, _ in r) for r in runs]
        rss = [m[0] for r in runs for _, m, _ in r if m and m[0]]
        pss = [m[1] for r in runs for _, m, _ in r if m and m[1]]
        rows.append({"data": ds, "shape": shape + (f" x{args.together}" if shape == "serve"
                                                      and args.together > 1 else ""),
                     "build": build, "cache": cache, "median": statistics.median(each),
                     "min": min(each), "max": max(each),
                     "last_median": statistics.median(last) if args.together > 1 else None,
                     "rss_mib": statistics.median(rss) / 1024 if rss else None,
                     "pss_mib": statistics.median(pss) / 1024 if pss else None,
                     "runs": each, "line": runs[-1][0][2]})
    if args.json:
        print(json.dumps({"rows": rows, "repeat": args.repeat, "together": args.together,
                          "loadavg": load, "cores": os.cpu_count()}, indent=2))
    out = sys.stderr if args.json else sys.stdout
    print(f"exec to ready, seconds; {args.repeat} rounds; {os.cpu_count()} cores; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", file=out)
    head = f"{'data':9} {'shape':14} {'build':6} {'cache':5} {'median':>7} {'min-max':>13}"
    if args.together > 1:
        head += f" {'last':>7}"
    print(head + f" {'RSS MiB':>8} {'PSS MiB':>8}", file=out)
    for r in rows:
        line = (f"{r['data']:9} {r['shape']:14} {r['build']:6} {r['cache']:5} "
                f"{r['median']:7.3f} {r['min']:6.3f}-{r['max']:<6.3f}")
        if args.together > 1:
            line += f" {r['last_median']:7.3f}" if r["last_median"] is not None else " " * 8
        line += f" {r['rss_mib']:8.0f}" if r["rss_mib"] else " " * 9
        line += f" {r['pss_mib']:8.0f}" if r["pss_mib"] else ""
        print(line, file=out)
    if args.together > 1:
        print(f"last: the median over rounds of the slowest of the {args.together} "
              "serve processes started together", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
