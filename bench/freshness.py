#!/usr/bin/env python3
"""How soon a saved edit to a book is in the feed `bookweek run` serves, and
how long a no-op `bookweek once` takes. A benchmark, not a test.

1. Copies a content folder into a temporary site and starts `bookweek run`
   on a free loopback port (the address is the first line it prints).
2. Picks the book of the newest item in /feed.xml and edits its title to
   a unique marker --edits times (default 50), alternating an editor's
   atomic save (write a temporary file beside it, then rename it over the
   book) and a plain in-place write (truncate + write). The clock starts
   just before the rename or the open.
3. Meanwhile polls /feed.xml on one kept-alive connection every --poll-ms
   (default 2) with If-None-Match, so an unchanged feed costs a 304, until
   the marker is in the body; waits a random 150-400 ms before the next edit
   so that edits do not fall into one debounce window.
4. Prints min / median / p90 / p99 / max of edit -> served, in ms.
5. Stops the daemon and times a no-op `bookweek once` on the same site with
   hyperfine (after one `once` that brings it up to date).

usage: bench/freshness.py [--content DIR] [--edits N] [--poll-ms MS] [--bin PATH]
  --content defaults to the repository's content/; the real corpus is
  ../shared/corpus. --bin defaults to BOOKWEEK_BIN, else target/release/bookweek
  (built with `cargo build --release` when missing).
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def binary(given):
    path = given or os.environ.get("BOOKWEEK_BIN") or os.path.join(REPO, "target/release/bookweek")
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    # The daemon runs in the temporary site.
    return os.path.abspath(path)


def make_site(content):
    site = tempfile.mkdtemp(prefix="bookweek-freshness.")
    shutil.copytree(content, os.path.join(site, "content"), symlinks=False)
    os.makedirs(os.path.join(site, "config"))
    with open(os.path.join(site, "config/bookweek.yaml"), "w", encoding="utf-8") as f:
        f.write(
            "site:\n  base_url: https://example.org\nserver:\n  listen: 127.0.0.1:0\n"
            "mail:\n  url: file://outbox\n"
        )
    return site


class Feed:
    """GET /feed.xml on one kept-alive connection, with If-None-Match."""

    def __init__(self, host, port):
        self.conn = http.client.HTTPConnection(host, port, timeout=5)
        self.etag = None
        self.body = b""

    def poll(self):
        headers = {"Accept-Encoding": "identity"}
        if self.etag:
            headers["If-None-Match"] = self.etag
        self.conn.request("GET", "/feed.xml", headers=headers)
        r = self.conn.getresponse()
        body = r.read()
        if r.status == 200:
            self.etag = r.getheader("ETag")
            self.body = body
        elif r.status != 304:
            raise RuntimeError(f"/feed.xml: {r.status}")
        return self.body


def title_line(text):
    m = re.search(r"^title:.*$", text, re.M)
    return m.group(0) if m else None


def pick_book(site, feed_body):
    books = os.path.join(site, "content/books")
    # The newest item's id names its book's slug (tag:host,2020:slug/kind):
    # titles alone cannot tell apart copies of one book (bench sites).
    for m in re.finditer(rb"tag:[^,<]+,\d+:([^/<]+)/(?:opening|recap)", feed_body):
        path = os.path.join(books, m.group(1).decode() + ".md")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            line = title_line(text)
            if line:
                return path, text, line
    for name in sorted(os.listdir(books), reverse=True):
        if not name.endswith(".md") or name.startswith(("_", ".")):
            continue
        path = os.path.join(books, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        line = title_line(text)
        if not line:
            continue
        title = line.split(":", 1)[1].strip().strip("'\"")
        escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if title and escaped.encode() in feed_body:
            return path, text, line
    sys.exit("no book whose title is in /feed.xml")


def save(path, text, atomic):
    """Writes as an editor would; returns the moment the save began."""
    if atomic:
        tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".swp~")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        start = time.monotonic()
        os.replace(tmp, path)
        return start
    start = time.monotonic()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return start


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def time_once(bin_path, site, runs):
    subprocess.run([bin_path, "once"], cwd=site, check=False, capture_output=True)
    if not shutil.which("hyperfine"):
        print("hyperfine not found (apt-get install -y hyperfine): once not timed")
        return
    export = os.path.join(site, "hyperfine.json")
    subprocess.run(
        ["hyperfine", "--warmup", "3", "--runs", str(runs), "-N", "--export-json", export,
         "--style", "none", f"{bin_path} once"],
        cwd=site, check=True, capture_output=True,
    )
    with open(export, encoding="utf-8") as f:
        r = json.load(f)["results"][0]
    codes = set(r.get("exit_codes", []))
    print(
        f"no-op once ({runs} runs): mean {r['mean'] * 1000:.1f} ms, median {r['median'] * 1000:.1f} ms, "
        f"min {r['min'] * 1000:.1f} ms, max {r['max'] * 1000:.1f} ms; exit codes {sorted(codes)}"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--content", default=os.path.join(REPO, "content"))
    ap.add_argument("--edits", type=int, default=50)
    ap.add_argument("--poll-ms", type=float, default=2.0)
    ap.add_argument("--once-runs", type=int, default=30)
    ap.add_argument("--bin")
    ap.add_argument("--keep", action="store_true", help="keep the temporary site")
    args = ap.parse_args()

    bin_path = binary(args.bin)
    site = make_site(args.content)
    log = open(os.path.join(site, "run.log"), "w")
    daemon = subprocess.Popen([bin_path, "run"], cwd=site, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        first = daemon.stdout.readline().strip()
        m = re.match(r"bookweek: listening on http://([\d.]+):(\d+)$", first)
        if not m:
            sys.exit(f"unexpected first line {first!r}; see {site}/run.log")
        feed = Feed(m.group(1), int(m.group(2)))
        path, original, line = pick_book(site, feed.poll())
        print(f"daemon on {m.group(1)}:{m.group(2)}; editing the title of {os.path.relpath(path, site)}; "
              f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")

        took = {True: [], False: []}
        missed = 0
        for i in range(args.edits):
            marker = f"Fresh{os.getpid()}x{i}"
            text = original.replace(line, f"title: {marker}", 1)
            atomic = i % 2 == 0
            start = save(path, text, atomic)
            deadline = start + 5
            while True:
                if marker.encode() in feed.poll():
                    took[atomic].append((time.monotonic() - start) * 1000)
                    break
                if time.monotonic() > deadline:
                    missed += 1
                    print(f"edit {i}: not served after 5 s", file=sys.stderr)
                    break
                time.sleep(args.poll_ms / 1000)
            time.sleep(random.uniform(0.15, 0.4))

        every = took[True] + took[False]
        if not every:
            sys.exit("no edit was served")

        def row(name, values):
            if not values:
                return
            print(
                f"{name:<10} n={len(values):<3} min {min(values):6.1f}  median {statistics.median(values):6.1f}  "
                f"p90 {percentile(values, 90):6.1f}  p99 {percentile(values, 99):6.1f}  max {max(values):6.1f} ms"
            )

        print(f"edit -> served in /feed.xml (poll every {args.poll_ms:g} ms), {missed} not served within 5 s:")
        row("all", every)
        row("atomic", took[True])
        row("in place", took[False])
        over = sum(1 for v in every if v > 300)
        print(f"over 300 ms: {over} of {len(every)}")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()

    time_once(bin_path, site, args.once_runs)
    if args.keep:
        print(f"kept {site}")
    else:
        shutil.rmtree(site, ignore_errors=True)


if __name__ == "__main__":
    main()
