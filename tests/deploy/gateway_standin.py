#!/usr/bin/python3
"""A stand-in for the OpenFaaS CE gateway and its queue-worker, for the
suite's deployed-shape tests, scripts/image-test.sh and
bench/scaling_bench.py --processes. It never replaces a check on the real
one (../shared/openfaas builds and runs it, by hand only: its licence).

What it models, as OpenFaaS CE 0.27 with queue-worker 0.14 behaves:
  ANY  /function/NAME[/REST]?Q  forwarded to a container of NAME at /REST?Q,
                                at once (every call concurrently), round
                                robin over the containers; method, body,
                                Content-Type and Authorization kept. No
                                answer within --upstream-timeout (65 s, as
                                faasd's gateway): 502.
  POST /async-function/NAME?Q   202 with X-Call-Id at once; the call joins
                                one queue, which --queue-workers workers (1,
                                as CE's queue-worker, which fixes
                                max_inflight at 1) take in arrival order,
                                each running one call at a time. The answer
                                goes to X-Callback-Url, if any, with
                                X-Call-Id, X-Function-Status and
                                X-Duration-Seconds. A call that fails is not
                                retried (queue-worker 0.14 does not).
  a function with no container: 404 (sync) or a failed async call.

What it leaves out: authentication (basic auth on the gateway's own
routes), scaling and readiness (the containers are a fixed list), the
Prometheus metrics, NATS's persistence (a restart loses the queue), and
HTTP keep-alive towards the containers.

The containers of each function are read from BACKENDS (a JSON file
{"emnist-train": ["127.0.0.1:PORT", ...], ...}) on every request, so that
a test can replace a stopped container.

Usage: gateway_standin.py LISTEN_PORT BACKENDS_JSON [--queue-workers N]
         [--upstream-timeout SECONDS]
A line "gateway: listening on PORT" on stderr says it is ready. Each call
is logged on stderr: "gateway: sync|async NAME/PATH on HOST: STATUS".
"""
import argparse
import http.client
import http.server
import itertools
import json
import queue
import sys
import threading
import time
import uuid

counter = itertools.count()
calls = queue.Queue()  # async calls, in arrival order


def log(text):
    print("gateway: " + text, file=sys.stderr, flush=True)


def backends(name):
    with open(options.backends) as f:
        return json.load(f).get(name, [])


def forward(host, method, path, body, headers):
    h, p = host.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(p), timeout=options.upstream_timeout)
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", "text/plain"), r.read()
    finally:
        c.close()


def invoke(name, method, path, body, headers):
    """One call of a container of NAME: (status, content type, body, the
    container's host:port or None)."""
    hosts = backends(name)
    if not hosts:
        return 404, "text/plain", f"no function {name}\n".encode(), None
    host = hosts[next(counter) % len(hosts)]
    try:
        status, ctype, answer = forward(host, method, path, body, headers)
    except OSError as e:  # refused, reset, timed out
        status, ctype, answer = 502, "text/plain", f"{host}: {e}\n".encode()
    return status, ctype, answer, host


def queue_worker(worker):
    while True:
        name, path, body, headers, call_id, callback = calls.get()
        t0 = time.monotonic()
        status, ctype, answer, host = invoke(name, "POST", path, body, headers)
        log(f"async {name}{path} on {host} (worker {worker}): {status}")
        if callback:
            h = callback.split("//", 1)[-1]
            host_port, _, cpath = h.partition("/")
            try:
                hp, _, port = host_port.rpartition(":")
                c = http.client.HTTPConnection(hp, int(port or 80), timeout=10)
                c.request("POST", "/" + cpath, body=answer, headers={
                    "Content-Type": ctype,
                    "X-Call-Id": call_id,
                    "X-Function-Status": str(status),
                    "X-Function-Name": name,
                    "X-Duration-Seconds": f"{time.monotonic() - t0:.6f}"})
                c.getresponse().read()
                c.close()
            except OSError as e:
                log(f"callback {callback}: {e}")


class Gateway(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        parts = path.split("/", 3)  # '', kind, NAME, REST
        if len(parts) < 3 or parts[1] not in ("function", "async-function"):
            return self.answer(404, "text/plain", b"no route\n")
        name = parts[2]
        rest = "/" + (parts[3] if len(parts) > 3 else "")
        target = rest + ("?" + query if query else "")
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("content-type", "authorization")}
        if parts[1] == "async-function":
            call_id = str(uuid.uuid4())
            calls.put((name, target, body, headers, call_id,
                       self.headers.get("X-Callback-Url", "")))
            return self.answer(202, "text/plain", b"", [("X-Call-Id", call_id)])
        status, ctype, answer, host = invoke(name, self.command, target, body,
                                             headers)
        if status != 404 or host:
            log(f"sync {name}{target} on {host}: {status}")
        self.answer(status, ctype, answer)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = handle_any

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("backends")
    parser.add_argument("--queue-workers", type=int, default=1)
    parser.add_argument("--upstream-timeout", type=float, default=65.0)
    options = parser.parse_args()
    for i in range(options.queue_workers):
        threading.Thread(target=queue_worker, args=(i,), daemon=True).start()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", options.port),
                                             Gateway)
    server.daemon_threads = True
    log(f"listening on {options.port}")
    server.serve_forever()
