#!/usr/bin/python3
"""emnist-predict under load: one `emnist serve --function predict` process
answering keep-alive connections from bench/predict_load.cpp, for three
kinds of request body. Prints requests/s, median and p99 latency per body,
beside the target (5,000 predictions/s, median under 2 ms).

    bench/predict_bench.py [--emnist build/emnist]
        [--load build/emnist_predict_load] [--data ../shared/data/emnist]
        [--connections 4] [--seconds 5] [--repeat 3]

Each body is run --repeat times, the bodies taking turns, and the run with
the median requests/s is printed with the slowest and fastest beside it:
on a shared machine one run can be a third off.

The model: `emnist simulate --save-model` on the standard split (0.80).
The bodies, from one EMNIST test sample drawn upright: a 28x28 grey PNG (a
drawing canvas's size), a 140x140 RGB PNG, dark on light (a photo's), and
JSON {"pixels": [784 numbers]}.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

from bench_common import free_port, log, stop_process, wait_for_port

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--emnist", default=os.path.join(root, "build", "emnist"))
p.add_argument("--load",
               default=os.path.join(root, "build", "emnist_predict_load"))
p.add_argument("--data",
               default=os.path.join(root, "..", "shared", "data", "emnist"))
p.add_argument("--connections", type=int, default=4)
p.add_argument("--seconds", type=float, default=5)
p.add_argument("--repeat", type=int, default=3)
a = p.parse_args()

work = tempfile.mkdtemp(prefix="predict-bench-")
model = os.path.join(work, "model.npz")
log("training the model (simulate --save-model)")
subprocess.run([a.emnist, "simulate", "-q", "--data", a.data,
                "--set", "data.train=test[:100000]",
                "--set", "data.eval=test[100000:]",
                "--set", "train.target_accuracy=0.8",
                "--save-model", model], check=True)

with gzip.open(f"{a.data}/emnist-bymerge-test-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
upright = images[110003].T.copy()
bodies = []
path = os.path.join(work, "canvas.png")
cv2.imwrite(path, upright)
bodies.append(("28x28 grey PNG", "image/png", path))
path = os.path.join(work, "photo.png")
large = cv2.resize(255 - upright, (140, 140), interpolation=cv2.INTER_CUBIC)
cv2.imwrite(path, cv2.cvtColor(large, cv2.COLOR_GRAY2BGR))
bodies.append(("140x140 RGB PNG, light background", "image/png", path))
path = os.path.join(work, "pixels.json")
with open(path, "w") as f:
    json.dump({"pixels": upright.flatten().tolist()}, f)
bodies.append(('JSON {"pixels": [784]}', "application/json", path))

port = free_port()
server = subprocess.Popen(
    [a.emnist, "serve", "--function", "predict", "--data", a.data,
     "--set", f"http.listen=127.0.0.1:{port}",
     "--set", f"predict.model={model}",
     "--set", "data.train=test[:1000]", "--set", "data.eval=test[100000:]",
     "--set", "http.secret_file=/nonexistent"],
    stderr=subprocess.DEVNULL)
try:
    wait_for_port(port, server, "emnist serve --function predict")
    runs = {name: [] for name, _, _ in bodies}
    for _ in range(a.repeat):
        for name, ctype, body in bodies:
            out = subprocess.run(
                [a.load, "127.0.0.1", str(port), "/", ctype, body,
                 str(a.connections), str(a.seconds)],
                check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(out))
finally:
    stop_process(server)

print(f"emnist-predict, one process, {a.connections} keep-alive connections, "
      f"{a.seconds:g} s a body, {a.repeat} runs each, {os.cpu_count()} cores")
print(f"  {'body':<36} {'req/s':>8} {'(min-max)':>13} {'median ms':>10} "
      f"{'p99 ms':>8} {'errors':>7}")
for name, rs in runs.items():
    rs = sorted(rs, key=lambda r: r["requests_per_second"])
    r = rs[len(rs) // 2]
    spread = (f"{rs[0]['requests_per_second']:.0f}-"
              f"{rs[-1]['requests_per_second']:.0f}")
    print(f"  {name:<36} {r['requests_per_second']:>8.0f} {spread:>13} "
          f"{r['median_ms']:>10.3f} {r['p99_ms']:>8.3f} "
          f"{sum(x['errors'] for x in rs):>7}")
print("  target: at least 5000 req/s, median under 2 ms (the median run)")
sys.exit(0 if all(x["errors"] == 0 for rs in runs.values() for x in rs)
         else 1)
