#!/usr/bin/env python3
"""Slow-client benchmark (not a test): how fast `/healthz` answers while
thousands of clients trickle their request headers, with the daemon limited
to a small number of open files. See bench/README.md.

  bench/slow-clients.py [--clients 2000] [--files 1024] [--probes 20]
                        [--interval 5] [--reconnect] [--hold 15]

Starts `bookweek run` (BOOKWEEK_BIN, else target/release/bookweek, built if
missing) under RLIMIT_NOFILE=FILES on a free loopback port, opens CLIENTS
connections that each send the start of a request head and then one byte
every INTERVAL seconds, then times PROBES requests to /healthz (fresh
connection each, 0.25 s apart, from a process of their own). With --reconnect, a slow client whose
connection the server closes connects again at once (an attacker would).
Then, alone, one client sends one header byte every 5 s for up to HOLD
seconds, to show when the header deadline closes it. Ends with SIGTERM and reports the
exit, and whether the daemon logged `Too many open files`.
Only the standard library is used.
"""

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAD_START = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: "


def progress(what):
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def binary():
    path = os.path.abspath(os.environ.get("BOOKWEEK_BIN") or os.path.join(REPO, "target/release/bookweek"))
    if not os.environ.get("BOOKWEEK_BIN") and not os.path.exists(path):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    return path


def start_daemon(work, files):
    config = os.path.join(work, "bookweek.yaml")
    with open(config, "w") as f:
        f.write(
            "server:\n  listen: 127.0.0.1:0\n"
            f"paths:\n  content: {os.path.join(REPO, 'content')}\n"
            f"  output: {os.path.join(work, 'public')}\n"
            f"  state: {os.path.join(work, 'state/bookweek.db')}\n"
            f"  templates: {os.path.join(work, 'templates')}\n"
        )
    log = open(os.path.join(work, "daemon.log"), "w")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
    proc = subprocess.Popen(
        [binary(), "--config", config, "run"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        preexec_fn=limit,
    )
    line = proc.stdout.readline().decode()
    prefix = "bookweek: listening on http://"
    if not line.startswith(prefix):
        proc.kill()
        sys.exit(f"slow-clients: unexpected first line {line!r}; see {log.name}")
    host, port = line[len(prefix):].strip().rsplit(":", 1)
    return proc, log.name, host, int(port)


class Slow:
    """The slow clients and what happened to them."""

    def __init__(self, host, port, interval, reconnect):
        self.host, self.port = host, port
        self.interval, self.reconnect = interval, reconnect
        self.open = 0
        self.closed_by_server = 0
        self.connect_errors = 0
        # Python 3.11's wait_for can swallow a cancellation: also a flag.
        self.stop = False

    async def client(self, ready):
        first = True
        while not self.stop:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.connect_errors += 1
                if first:
                    ready.release()
                    first = False
                await asyncio.sleep(1)
                continue
            self.open += 1
            if first:
                ready.release()
                first = False
            try:
                writer.write(HEAD_START)
                await writer.drain()
                while not self.stop:
                    # The end, or a reset, means the server gave up on us.
                    try:
                        data = await asyncio.wait_for(reader.read(4096), self.interval)
                        if not data:
                            break
                    except asyncio.TimeoutError:
                        pass
                    writer.write(b"a")
                    await writer.drain()
            except OSError:
                pass
            finally:
                self.open -= 1
                writer.close()
            if self.stop:
                return
            self.closed_by_server += 1
            if not self.reconnect:
                return


def healthz(host, port, timeout=5.0):
    """Seconds from connect to the complete answer, or None on failure."""
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
                if time.monotonic() - start > timeout:
                    return None
    except OSError:
        return None
    if not data.startswith(b"HTTP/1.1 200 "):
        return None
    return time.monotonic() - start


def probe(host, port, count):
    """The probes, from their own process: the slow clients keep this one's
    event loop busy, which would add its delays to the figures."""
    times = []
    for _ in range(count):
        times.append(healthz(host, port))
        time.sleep(0.25)
    print(json.dumps(times))


async def trickle(host, port, every, hold):
    """Seconds until the server closes a client sending a byte every `every`."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"G")
        await writer.drain()
        for byte in (HEAD_START[1:] + b"a" * 1000):
            try:
                data = await asyncio.wait_for(reader.read(4096), every)
                if not data:
                    return time.monotonic() - start
            except asyncio.TimeoutError:
                pass
            if time.monotonic() - start > hold:
                return None
            writer.write(bytes([byte]))
            await writer.drain()
    except OSError:
        return time.monotonic() - start
    finally:
        writer.close()
    return None


async def run(args, host, port):
    slow = Slow(host, port, args.interval, args.reconnect)
    ready = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(slow.client(ready)) for _ in range(args.clients)]
    for _ in range(args.clients):
        await ready.acquire()
    progress(f"{args.clients} slow clients started")
    await asyncio.sleep(1)
    opened = slow.open
    prober = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--probe", f"{host}:{port}", "--probes", str(args.probes),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await prober.communicate()
    results = json.loads(out)
    times = [t for t in results if t is not None]
    failures = len(results) - len(times)
    progress(f"{args.probes} probes done")
    still_open = slow.open
    closed = slow.closed_by_server
    slow.stop = True
    for t in tasks:
        t.cancel()
    await asyncio.wait(tasks, timeout=2 * args.interval + 5)
    progress("slow clients stopped; one byte every 5 s")
    # Alone, so that no eviction closes it first.
    held = await trickle(host, port, 5.0, args.hold)
    return slow, opened, still_open, closed, times, failures, held


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--files", type=int, default=1024)
    p.add_argument("--probes", type=int, default=20)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--reconnect", action="store_true")
    p.add_argument("--hold", type=float, default=15.0)
    p.add_argument("--probe", metavar="HOST:PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.probe:
        host, port = args.probe.rsplit(":", 1)
        return probe(host, int(port), args.probes)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.clients + 256
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit(f"slow-clients: this process may open only {hard} files; {want} needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    with tempfile.TemporaryDirectory(prefix="bookweek-slow.") as work:
        proc, log, host, port = start_daemon(work, args.files)
        try:
            slow, opened, still_open, closed, times, failures, held = asyncio.run(
                run(args, host, port)
            )
        finally:
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "killed after 15 s"
            stopped = time.monotonic() - started
        with open(log) as f:
            text = f.read()
        emfile = text.count("Too many open files")
        limit = next((l.split(" INFO ")[-1] for l in text.splitlines() if "connection limit" in l), "?")

    ms = lambda s: f"{s * 1000:.1f} ms"
    mode = "reconnecting" if args.reconnect else "not reconnecting"
    print(f"daemon: RLIMIT_NOFILE={args.files}; {limit}")
    print(f"slow clients: {args.clients} ({mode}), a byte every {args.interval:g} s; "
          f"{opened} open on the client side when probing began, {still_open} at the end; "
          f"{closed} closed by the server meanwhile; {slow.connect_errors} connect errors")
    if times:
        print(f"/healthz: {len(times)}/{args.probes} answered 200; "
              f"median {ms(statistics.median(times))}, max {ms(max(times))}, "
              f"min {ms(min(times))}; {failures} failed or took over 5 s")
    else:
        print(f"/healthz: no answer in {args.probes} tries")
    print("one byte every 5 s: "
          + (f"closed by the server after {held:.1f} s" if held is not None
             else f"still open after {args.hold:g} s"))
    print(f"SIGTERM: exit {code} after {stopped:.2f} s; "
          f"'Too many open files' in the log: {emfile} times")


if __name__ == "__main__":
    main()
