#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/TARGET) from
real inputs: the EMNIST files, config/*.toml, and the blocks and records a
real job leaves in a real memcached. Run it again when a format changes:

    tests/fuzz/make_seeds.py --emnist build/emnist --data ../shared/data/emnist
"""
import argparse
import gzip
import io
import os
import pathlib
import socket
import struct
import subprocess
import sys
import time
import zipfile
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def idx_seeds(data):
    images = gzip.decompress(
        (data / "emnist-bymerge-test-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress(
        (data / "emnist-bymerge-test-labels-idx1-ubyte.gz").read_bytes())
    magic, count, rows, cols = struct.unpack(">IIII", images[:16])
    two = struct.pack(">IIII", magic, 2, rows, cols) + images[16:16 + 2 * 784]
    write("idx", "images-2.idx", two)
    write("idx", "images-2.idx.gz", gzip.compress(two, mtime=0))
    magic, count = struct.unpack(">II", labels[:8])
    sixteen = struct.pack(">II", magic, 16) + labels[8:24]
    write("idx", "labels-16.idx", sixteen)
    write("idx", "labels-16.idx.gz", gzip.compress(sixteen, mtime=0))


def config_seeds():
    # First line: a --set override; the rest: a TOML file.
    for f in sorted((ROOT / "config").glob("*.toml")):
        write("config", f.stem + ".toml",
              b"train.replicas=2\n" + f.read_bytes())
    write("config", "sections.toml",
          b'sync.servers=["127.0.0.1:11211", "10.0.0.2:11211"]\n'
          b'[train]\nreplicas = 3\nbatch_size = 64\n[sync]\nstore = '
          b'"memcached"\njob = "run-1"\n')
    write("config", "memcached.toml",
          b"sync.on_server_failure=\"failover\"\n"
          b"[data]\ntrain = \"test[:100000]\"\neval = \"test[100000:]\"\n"
          b"[sync]\nstore = \"memcached\"\nretry_ms = 2000\n"
          b"write_interval_ms = 2\n[http]\nlisten = \"0.0.0.0:8080\"\n")
    write("config", "body.json",
          b'{"train": {"replicas": 2, "target_accuracy": 0.8}, '
          b'"sync.job": "j1"}\n')


def http_seeds():
    reqs = {
        "status.http": b"GET /status?job=run-1&history=1 HTTP/1.1\r\n"
                       b"Host: x\r\n\r\n",
        "setup.http": b"POST /function/emnist-setup HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\n"
                      b"Authorization: Bearer s3cret\r\n"
                      b"Content-Length: 28\r\n\r\n"
                      b'{"train": {"replicas": 2}}\r\n',
        "train-chunked.http": b"POST /async-function/emnist-train?job=j1&"
                              b"worker_id=1 HTTP/1.1\r\nHost: x\r\n"
                              b"Transfer-Encoding: chunked\r\n"
                              b"X-Callback-Url: http://127.0.0.1:9/cb\r\n\r\n"
                              b"13\r\ntrain.replicas = 2\n\r\n0\r\n\r\n",
        "metrics-head.http": b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "toml-body.http": b"POST / HTTP/1.0\r\nContent-Length: 21\r\n\r\n"
                          b"[sync]\njob = \"a%20b\"\n",
        "escaped.http": b"GET /function/emnist-setup/status?job=a%2Fb+c "
                        b"HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    for name, r in reqs.items():
        write("http", name, r)


def zip_seeds(data):
    mapping = (data / "emnist-bymerge-mapping.txt").read_bytes()
    for method, name in ((zipfile.ZIP_STORED, "stored.zip"),
                         (zipfile.ZIP_DEFLATED, "deflated.zip")):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=method) as z:
            for member in ("gzip/emnist-bymerge-mapping.txt",
                           "gzip/emnist-mnist-mapping.txt"):
                info = zipfile.ZipInfo(member, date_time=(2017, 4, 1, 0, 0, 0))
                info.compress_type = method
                z.writestr(info, mapping)
            if name == "deflated.zip":
                z.comment = b"EMNIST"
        write("zip", name, buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        pass
    write("zip", "empty.zip", buf.getvalue())


def model_seeds(emnist, data, target, empty):
    """Models saved by a real (tiny) run, 4 and 1 hidden units, in the
    format `target` names (its file extension), and an empty one."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for hidden in (4, 1):
            path = f"{tmp}/model-{hidden}.{target}"
            subprocess.run([emnist, "simulate", "--quiet", "--data", str(data),
                            "--save-model", path,
                            "--set", f"model.hidden={hidden}",
                            "--set", "data.train=test[:1000]",
                            "--set", "data.eval=test[115000:]",
                            "--set", "train.max_epochs=1",
                            "--set", "train.target_accuracy=0.99"],
                           check=False)
            write(target, f"model-{hidden}.{target}", pathlib.Path(path).read_bytes())
    write(target, f"empty.{target}", empty)


def png_seeds(data):
    """One EMNIST sample drawn upright as PNGs of every colour type: grey,
    grey + alpha, RGB, RGBA, a palette, 16 bits, and a larger photo."""
    import cv2
    import numpy as np
    with gzip.open(data / "emnist-bymerge-test-images-idx3-ubyte.gz") as f:
        f.seek(16 + 110003 * 784)
        up = np.frombuffer(f.read(784), np.uint8).reshape(28, 28).T.copy()
    rgb = cv2.cvtColor(255 - up, cv2.COLOR_GRAY2BGR)
    rgba = np.dstack([np.full((28, 28, 3), 255, np.uint8), up])
    images = {
        "grey.png": up,
        "rgb.png": rgb,
        "rgba.png": rgba,
        "grey16.png": up.astype(np.uint16) * 257,
        "photo.png": cv2.resize(rgb, (70, 70)),
    }
    for name, image in images.items():
        ok, encoded = cv2.imencode(".png", image)
        assert ok
        write("png", name, encoded.tobytes())
    # Grey + alpha and a palette, which OpenCV does not write, and every
    # row filter, chunks split and chunks beside the pixels, which it does
    # not choose: a minimal encoder of their own.
    def chunk(kind, body):
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    def paeth(a, b, c):
        pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
        return a if pa <= pb and pa <= pc else (b if pb <= pc else c)

    def filtered(rows, bpp, filters):
        """Each row with its filter byte: row y takes filters[y % len]."""
        out, prev = [], bytes(len(rows[0]))
        for y, row in enumerate(rows):
            f = filters[y % len(filters)]
            enc = bytearray(len(row))
            for i, v in enumerate(row):
                a = row[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[f]
                enc[i] = (v - pred) & 0xFF
            out.append(bytes([f]) + bytes(enc))
            prev = row
        return b"".join(out)

    def png(color_type, rows, extra=b"", filters=(0,), idat_parts=1,
            after=b""):
        bpp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
        ihdr = struct.pack(">IIBBBBB", len(rows[0]) // bpp, len(rows), 8,
                           color_type, 0, 0, 0)
        stream = zlib.compress(filtered([bytes(r) for r in rows], bpp,
                                        filters))
        step = -(-len(stream) // idat_parts)
        idats = b"".join(chunk(b"IDAT", stream[i:i + step])
                         for i in range(0, len(stream), step))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + idats +
                after + chunk(b"IEND", b""))

    ga = [[v for p in row for v in (255, p)] for row in up.tolist()]
    write("png", "grey-alpha.png", png(4, ga))
    palette = chunk(b"PLTE", bytes(v for i in range(256) for v in (i, i, i)))
    write("png", "palette.png", png(3, up.tolist(), palette))
    # Every filter (rows cycle through none, sub, up, average, paeth) for
    # every colour type the fast reader takes, the pixels in three IDAT
    # chunks, with text before and a time after: all read fast.
    text = chunk(b"tEXt", b"Comment\0drawn upright")
    when = chunk(b"tIME", struct.pack(">HBBBBB", 2026, 12, 1, 5, 0, 0))
    channels = {
        "grey": (0, lambda v: (v,)),
        "grey-alpha": (4, lambda v: (255 - v, (v * 3) % 256)),
        "rgb": (2, lambda v: (v, 255 - v, v // 2)),
        "rgba": (6, lambda v: (v, 255 - v, v // 2, 255 - v // 3)),
    }
    for name, (color_type, pixel) in channels.items():
        rows = [[c for v in row for c in pixel(v)] for row in up.tolist()]
        write("png", f"filters-{name}.png",
              png(color_type, rows, text, (0, 1, 2, 3, 4), 3, when))
    # sRGB, as libpng's own writer marks its files: read fast.
    write("png", "srgb.png",
          png(6, [[c for v in row for c in (v, v, v, 255)]
                  for row in up.tolist()], chunk(b"sRGB", b"\0"), (2, 3)))
    # A gamma of 1.0, which libpng applies: read by libpng, not fast.
    rows = [[c for v in row for c in (v, 255 - v, v // 2)]
            for row in up.tolist()]
    write("png", "gamma.png",
          png(2, rows, chunk(b"gAMA", struct.pack(">I", 100000)), (1, 4)))


def memcached_get(port, key):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"get " + key.encode() + b"\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
    if not buf.startswith(b"VALUE "):
        raise SystemExit(f"make_seeds: no {key} in memcached")
    header, rest = buf.split(b"\r\n", 1)
    length = int(header.split()[3])
    return rest[:length]


def store_seeds(emnist, data):
    """Blocks and records of a real job in a real memcached."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    mc = subprocess.Popen(["memcached", "-l", "127.0.0.1", "-p", str(port),
                           "-U", "0", "-u", "root"])
    try:
        time.sleep(0.3)
        subprocess.run([emnist, "simulate", "--quiet", "--data", str(data),
                        "--set", "sync.store=memcached",
                        "--set", f"sync.servers=[\"127.0.0.1:{port}\"]",
                        "--set", "sync.job=seed",
                        "--set", "sync.block_bytes=1024",
                        "--set", "train.replicas=2",
                        "--set", "data.train=test[:2000]",
                        "--set", "train.target_accuracy=0.99",
                        "--set", "train.max_epochs=1",
                        "--set", "train.eval_every=20"],
                       check=False)
        for b in (0, 1, 7):
            write("block_codec", f"block-{b}.bin",
                  memcached_get(port, f"emnist:seed:b:{b}"))
        for name in ("replica:0", "replica:1", "meta", "reached"):
            try:
                write("job_record", name.replace(":", "-") + ".json",
                      memcached_get(port, f"emnist:seed:{name}"))
            except SystemExit:
                pass  # "reached" only when the target was
    finally:
        mc.terminate()
        mc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--emnist", default=str(ROOT / "build" / "emnist"))
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" /
                                         "emnist"))
    a = p.parse_args()
    data = pathlib.Path(a.data)
    idx_seeds(data)
    config_seeds()
    http_seeds()
    zip_seeds(data)
    store_seeds(a.emnist, data)
    model_seeds(a.emnist, data, "npz", b"PK\x05\x06" + bytes(18))
    model_seeds(a.emnist, data, "onnx", b"")
    png_seeds(data)
    for t in sorted(CORPUS.iterdir()):
        print(t.name, len(list(t.iterdir())), "seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
