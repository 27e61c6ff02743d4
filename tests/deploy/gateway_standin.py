#!/usr/bin/python3
"""A stand-in for the OpenFaaS gateway, for scripts/image-test.sh only.

It forwards what the functions ask of the gateway to function containers,
as the real gateway (and its queue-worker) would:
  POST /async-function/NAME?Q  answers 202 at once, then POSTs the body to
                               a container of NAME at /?Q (round-robin)
  ANY  /function/NAME[/REST]?Q forwards to a container of NAME at /REST?Q

The containers of each function are read from BACKENDS (a JSON file
{"emnist-train": ["127.0.0.1:PORT", ...], ...}) on every request, so the
test can replace a stopped container. An async call whose container fails
is retried on the next one, as the queue-worker retries, for 60 s.
Usage: gateway_standin.py LISTEN_PORT BACKENDS_JSON
"""
import http.client
import http.server
import itertools
import json
import sys
import threading
import time

counter = itertools.count()


def backends(name):
    with open(sys.argv[2]) as f:
        return json.load(f).get(name, [])


def forward(host, method, path, body, headers, timeout):
    h, p = host.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(p), timeout=timeout)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.getheader("Content-Type", "text/plain"), r.read()


def run_async(name, path, body, headers):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        hosts = backends(name)
        if hosts:
            host = hosts[next(counter) % len(hosts)]
            try:
                status, _, answer = forward(host, "POST", path, body, headers,
                                            3600)
                print(f"gateway: async {name}{path} on {host}: {status}",
                      file=sys.stderr, flush=True)
                if status != 429 and status < 500:
                    return
            except OSError as e:
                print(f"gateway: async {name}{path} on {host}: {e}",
                      file=sys.stderr, flush=True)
        time.sleep(0.5)


class Gateway(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
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
        if not backends(name):
            return self.answer(404, "text/plain", b"no such function\n")
        if parts[1] == "async-function":
            threading.Thread(target=run_async,
                             args=(name, target, body, headers),
                             daemon=True).start()
            return self.answer(202, "text/plain", b"")
        hosts = backends(name)
        host = hosts[next(counter) % len(hosts)]
        try:
            status, ctype, answer = forward(host, self.command, target, body,
                                            headers, 3600)
        except OSError as e:
            return self.answer(502, "text/plain", f"{host}: {e}\n".encode())
        self.answer(status, ctype, answer)

    do_GET = do_POST = do_HEAD = handle_any

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])),
                                             Gateway)
    server.daemon_threads = True
    server.serve_forever()
