#!/usr/bin/python3
"""A decompression bomb against emnist-predict (issue 22, section 3): how
long one is refused in, and what two clients sending it in a loop cost a
third one's predictions.

    bench/bomb_bench.py [--emnist build/emnist] [--baseline OLD_EMNIST]
        [--load build/emnist_predict_load] [--data ../shared/data/emnist]
        [--connections 4] [--seconds 5] [--repeat 3] [--mib 960]

The bomb is a 28x28 grey PNG whose pixel stream inflates to --mib MiB of
zeros (960 MiB: 1.0 MB of file, the most a 1 MiB body holds, in IDAT
chunks of 900 bytes, as libpng allows for 28x28 rows), and a second one
whose header claims 4096x4096 RGBA pixels (64 MiB of rows, the largest the
pixel limit lets through). For each binary (--emnist, and --baseline when
given: the code before the fix), one `emnist serve --function predict`
process:

  refusal   one connection sending a bomb in a loop for --seconds: the
            median and p99 time from request to its 400 (body upload
            included);
  flood     --connections keep-alive connections predicting a 28x28 canvas
            PNG for --seconds alone, then with two connections sending the
            28x28 bomb in a loop beside them (each a process of its own),
            --repeat times in turn: the median predictions/s of each, and
            their ratio. Target: at least 0.8.

The model: `emnist simulate --save-model` on the standard split.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zlib

import cv2
import numpy as np

from bench_common import free_port, log, stop_process, wait_for_port

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--emnist", default=os.path.join(root, "build", "emnist"))
p.add_argument("--baseline", help="an emnist binary to compare with")
p.add_argument("--load",
               default=os.path.join(root, "build", "emnist_predict_load"))
p.add_argument("--data",
               default=os.path.join(root, "..", "shared", "data", "emnist"))
p.add_argument("--connections", type=int, default=4)
p.add_argument("--seconds", type=float, default=5)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--mib", type=int, default=960)
a = p.parse_args()


def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data)))


def zeros_stream(mib):
    """A zlib stream of `mib` MiB of zeros: one MiB deflated and ended with
    a full flush (the next starts afresh), its bytes repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    zero = bytes(1 << 20)
    first = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    rest = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    n = mib << 20
    return (b"\x78\xda" + first + rest * (mib - 1) + c.flush() +
            struct.pack(">I", (n % 65521) << 16 | 1))


def png(width, height, colour_type, stream, idat_bytes):
    out = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0,
                             0))
    for i in range(0, len(stream), idat_bytes):
        out += chunk(b"IDAT", stream[i:i + idat_bytes])
    return out + chunk(b"IEND", b"")


work = tempfile.mkdtemp(prefix="bomb-bench-")
model = os.path.join(work, "model.npz")
log("training the model (simulate --save-model)")
subprocess.run([a.emnist, "simulate", "-q", "--data", a.data,
                "--set", "data.train=test[:100000]",
                "--set", "data.eval=test[100000:]",
                "--set", "train.target_accuracy=0.8",
                "--save-model", model], check=True)

with gzip.open(f"{a.data}/emnist-bymerge-test-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
canvas = os.path.join(work, "canvas.png")
cv2.imwrite(canvas, images[110003].T.copy())
stream = zeros_stream(a.mib)
bombs = {
    "28x28 grey": png(28, 28, 0, stream, 900),
    # 64 MiB of rows and 1 GiB of stream do not fit a 1 MiB body: its
    # stream inflates to the rows and 32 MiB more.
    "4096x4096 RGBA": png(4096, 4096, 6, zeros_stream(96), 1 << 20),
}
for name, body in bombs.items():
    path = os.path.join(work, name.replace(" ", "-") + ".png")
    with open(path, "wb") as f:
        f.write(body)
    bombs[name] = path
    log(f"bomb {name}: {len(body):,} bytes")


def load(port, path, connections, seconds):
    """emnist_predict_load's JSON line (it exits 1 when answers are not
    200, as every bomb's is)."""
    out = subprocess.run(
        [a.load, "127.0.0.1", str(port), "/", "image/png", path,
         str(connections), str(seconds)], capture_output=True, text=True)
    if not out.stdout:
        raise SystemExit(f"emnist_predict_load failed: {out.stderr}")
    return json.loads(out.stdout)


def measure(binary):
    port = free_port()
    server = subprocess.Popen(
        [binary, "serve", "--function", "predict", "--data", a.data,
         "--set", f"http.listen=127.0.0.1:{port}",
         "--set", f"predict.model={model}",
         "--set", "data.train=test[:1000]", "--set", "data.eval=test[100000:]",
         "--set", "http.secret_file=/nonexistent"],
        stderr=subprocess.DEVNULL)
    result = {}
    try:
        wait_for_port(port, server, "emnist serve --function predict")
        for name, path in bombs.items():
            with open(path, "rb") as f:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/", data=f.read(),
                    headers={"Content-Type": "image/png"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    answer = (r.status, r.read().decode())
            except urllib.error.HTTPError as e:
                answer = (e.code, e.read().decode())
            r = load(port, path, 1, a.seconds)
            result[name] = {"answer": answer, "median_ms": r["median_ms"],
                            "p99_ms": r["p99_ms"], "requests": r["requests"]}
        alone, flooded = [], []
        for _ in range(a.repeat):
            alone.append(load(port, canvas, a.connections, a.seconds))
            flood = [subprocess.Popen(
                [a.load, "127.0.0.1", str(port), "/", "image/png",
                 bombs["28x28 grey"], "1", str(a.seconds + 1)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(2)]
            try:
                flooded.append(load(port, canvas, a.connections, a.seconds))
            finally:
                for f in flood:
                    f.wait(timeout=a.seconds + 30)
    finally:
        stop_process(server)
    med = lambda rs: sorted(r["requests_per_second"] for r in rs)[len(rs) // 2]
    result["alone"] = med(alone)
    result["flooded"] = med(flooded)
    result["spread"] = ([r["requests_per_second"] for r in alone],
                        [r["requests_per_second"] for r in flooded])
    return result


binaries = [("this build", a.emnist)]
if a.baseline:
    binaries.append(("baseline", a.baseline))
print(f"decompression bombs against emnist-predict, {os.cpu_count()} cores; "
      f"28x28 bomb inflating to {a.mib} MiB")
ok = True
for label, binary in binaries:
    r = measure(binary)
    print(f"{label} ({binary}):")
    for name in bombs:
        status, body = r[name]["answer"]
        print(f"  {name} bomb: answered {status} in {r[name]['median_ms']:.2f} "
              f"ms median, {r[name]['p99_ms']:.2f} ms p99 "
              f"({r[name]['requests']} requests): {body[:150]}")
    ratio = r["flooded"] / r["alone"]
    print(f"  canvas predictions/s, {a.connections} connections: alone "
          f"{r['alone']:.0f}, beside two bomb loops {r['flooded']:.0f} "
          f"({ratio:.0%}); runs: {r['spread']}")
    if label == "this build":
        ok = ok and ratio >= 0.8 and r["28x28 grey"]["median_ms"] < 50
print("target: the bomb refused in under 50 ms, predictions beside the flood "
      "at least 80% of their rate alone")
sys.exit(0 if ok else 1)
