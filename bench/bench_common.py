"""What the benchmark drivers share: logging, starting and stopping the
processes they measure (memcached on a free loopback port, servers), and
the error they stop on. Imported by memcached_bench.py, serve_bench.py and
simulate_vs_torch.py (run them from anywhere: they put bench/ on the path).
"""

import os
import signal
import socket
import subprocess
import sys
import time


class RunFailed(Exception):
    """A run could not be measured: a process failed, or timed out."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, what):
    """Waits until something accepts on 127.0.0.1:port, for 5 s at most."""
    for _ in range(250):
        if proc.poll() is not None:
            raise RunFailed(f"{what} exited with status {proc.returncode} at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RunFailed(f"{what} does not accept connections on port {port}")


def stop_process(proc, timeout=15):
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_memcached(binary="memcached", port=None):
    """Debian's memcached on a free loopback port (or `port`, e.g. to
    restart one empty where it was): (process, port)."""
    port = port or free_port()
    cmd = [binary, "-l", "127.0.0.1", "-p", str(port), "-m", "256", "-t", "2"]
    if os.geteuid() == 0:
        cmd += ["-u", "root"]  # memcached refuses to run as root otherwise
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    except OSError as e:
        raise RunFailed(f"cannot start memcached ({binary}): {e}") from e
    try:
        wait_for_port(port, proc, "memcached")
    except RunFailed:
        stop_process(proc)
        raise
    return proc, port


def check_inputs(parser, args, data_files):
    """Resolves args.data and stops with a usage error when it lacks one of
    `data_files` or when args.emnist is not an executable."""
    from pathlib import Path
    args.data = str(Path(args.data).resolve())
    missing = [f for f in data_files if not (Path(args.data) / f).is_file()]
    if missing:
        parser.error(f"--data {args.data} lacks {', '.join(missing)} "
                     "(set --data or EMNIST_DIR)")
    if not os.access(args.emnist, os.X_OK):
        parser.error(f"no executable {args.emnist} (build it, or pass --emnist)")
