#!/usr/bin/env python3
"""A real SMTP server for bookweek's integration tests (Python 3.11 + aiosmtpd).

    python3 tests/smtp/server.py --port 0 --dir DIR [--ready-file FILE]
        [--fail-rcpt ADDR=CODE ...] [--fail-rcpt-times N]
        [--fail-data-code CODE [--fail-data-times N]]
        [--down-until-file F] [--pipelining] [--no-parent-watch]

Listens on 127.0.0.1:PORT (0 = any free port), plain SMTP: no TLS, no AUTH;
8BITMIME and SMTPUTF8 are advertised, SIZE is 10 MB. Once listening it writes
the port number to --ready-file (tmp + rename, so a reader never sees a partial
file) and prints `listening 127.0.0.1:PORT` on stdout.

Each accepted message becomes two files in DIR, both renamed into place before
the client gets its "250" for DATA:
    000001-<uuid>.json  {"mail_from", "rcpt_tos", "received_at", "mail_options", "size"}
    000001-<uuid>.eml   the DATA bytes exactly as received (after dot-unstuffing)
The .json is renamed first, so an .eml always has its sidecar. Names sort in
arrival order; numbering continues after the files already in DIR. Temporary
files start with "." and end in ".tmp".

Failure injection:
  --fail-rcpt ADDR=CODE   RCPT TO:<ADDR> (exact match) is answered CODE, e.g.
                          451 -> "451 4.7.1 Try again later", 550 -> "550 5.1.1 No such user".
  --fail-rcpt-times N     4xx RCPT failures apply to the first N attempts per address,
                          after which the address is accepted; 5xx always fail.
                          Default: always fail.
  --fail-data-code CODE   the first --fail-data-times DATA commands (all connections
                          together; default: all of them) are answered CODE after the
                          message was read; nothing is stored for them.
  --down-until-file F     bind the port (and write --ready-file) but refuse connections
                          (TCP RST: "connection refused") until F exists; prints
                          `down 127.0.0.1:PORT` first, `listening ...` once up.
A 421 reply (RCPT or DATA) closes the connection afterwards, as RFC 5321 says.

--pipelining announces PIPELINING (RFC 2920) in the EHLO reply. Pipelined
commands are answered in order either way, including commands that follow a
message's terminating "." in the same packet.

Runs until SIGTERM/SIGINT and exits 0. It also exits when its parent process dies
(so a panicking test does not leave it running); --no-parent-watch turns that off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from aiosmtpd.smtp import SMTP

REPLIES = {
    421: "421 4.3.2 Service not available, closing transmission channel",
    450: "450 4.2.1 Mailbox unavailable, try again later",
    451: "451 4.7.1 Try again later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 No such user",
    552: "552 5.3.4 Message too big",
    553: "553 5.1.3 Mailbox name not allowed",
    554: "554 5.6.0 Transaction failed",
}
MAX_SIZE = 10 * 1024 * 1024


def reply(code: int) -> str:
    return REPLIES.get(code, f"{code} {code // 100}.0.0 Failure requested by test")


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Handler:
    def __init__(self, args: argparse.Namespace) -> None:
        self.dir = Path(args.dir)
        self.fail_rcpt: dict[str, int] = dict(args.fail_rcpt)
        self.fail_rcpt_times: int | None = args.fail_rcpt_times
        self.rcpt_attempts: Counter[str] = Counter()
        self.fail_data_code: int | None = args.fail_data_code
        self.fail_data_left: int | None = args.fail_data_times
        self.pipelining: bool = args.pipelining
        numbers = [int(m.group(1)) for p in self.dir.iterdir()
                   if (m := re.match(r"(\d+)-.*\.eml$", p.name))]
        self.seq = max(numbers, default=0)

    @staticmethod
    def _reply(server: SMTP, code: int) -> str:
        if code == 421:  # close once the reply has been written
            asyncio.get_running_loop().call_soon(server.transport.close)
        return reply(code)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        code = self.fail_rcpt.get(address)
        if code is not None:
            self.rcpt_attempts[address] += 1
            if (code >= 500 or self.fail_rcpt_times is None
                    or self.rcpt_attempts[address] <= self.fail_rcpt_times):
                return self._reply(server, code)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_data_code is not None and self.fail_data_left != 0:
            if self.fail_data_left is not None:
                self.fail_data_left -= 1
            return self._reply(server, self.fail_data_code)
        self.seq += 1
        base = f"{self.seq:06d}-{uuid.uuid4().hex}"
        data: bytes = envelope.original_content
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "received_at": time.time(),
            "mail_options": list(envelope.mail_options),
            "size": len(data),
        }
        write_atomic(self.dir / f"{base}.json",
                     json.dumps(meta, ensure_ascii=False).encode("utf-8"))
        write_atomic(self.dir / f"{base}.eml", data)
        return f"250 2.0.0 OK {base}"


def parse_fail_rcpt(value: str) -> tuple[str, int]:
    addr, sep, code = value.rpartition("=")
    if not sep or not addr or not re.fullmatch(r"[45]\d\d", code):
        raise argparse.ArgumentTypeError(f"expected ADDR=CODE (4xx/5xx), got {value!r}")
    return addr, int(code)


def parse_code(value: str) -> int:
    if not re.fullmatch(r"[45]\d\d", value):
        raise argparse.ArgumentTypeError(f"expected a 4xx/5xx code, got {value!r}")
    return int(value)


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    handler = Handler(args)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]

    def announce(word: str) -> None:
        print(f"{word} 127.0.0.1:{port}", flush=True)

    if args.ready_file:
        ready = Path(args.ready_file)
    if args.down_until_file:
        # Bound but not listening: connects are refused, the port stays ours.
        if args.ready_file:
            write_atomic(ready, f"{port}\n".encode())
        announce("down")
        while not os.path.exists(args.down_until_file):
            try:
                await asyncio.wait_for(stop.wait(), 0.05)
                return
            except TimeoutError:
                pass

    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=MAX_SIZE, enable_SMTPUTF8=True,
                     hostname="bookweek-test-smtp", ident="bookweek test SMTP"),
        sock=sock, backlog=128)
    if args.ready_file and not args.down_until_file:
        write_atomic(ready, f"{port}\n".encode())
    announce("listening")

    if not args.no_parent_watch:
        parent = os.getppid()

        async def watch_parent() -> None:
            while os.getppid() == parent:
                await asyncio.sleep(0.5)
            stop.set()

        watcher = asyncio.create_task(watch_parent())
    await stop.wait()
    server.close()
    if not args.no_parent_watch:
        watcher.cancel()


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one)")
    p.add_argument("--dir", required=True, help="where accepted messages are written")
    p.add_argument("--ready-file", help="file that receives the port once listening")
    p.add_argument("--fail-rcpt", type=parse_fail_rcpt, action="append", default=[],
                   metavar="ADDR=CODE", help="answer RCPT TO:<ADDR> with CODE (repeatable)")
    p.add_argument("--fail-rcpt-times", type=int, metavar="N",
                   help="4xx RCPT failures only for the first N attempts per address")
    p.add_argument("--fail-data-code", type=parse_code, metavar="CODE",
                   help="answer DATA with CODE")
    p.add_argument("--fail-data-times", type=int, metavar="N",
                   help="only the first N DATA commands fail (default: all)")
    p.add_argument("--down-until-file", metavar="F",
                   help="refuse connections until file F exists")
    p.add_argument("--pipelining", action="store_true",
                   help="announce PIPELINING in the EHLO reply")
    p.add_argument("--no-parent-watch", action="store_true",
                   help="keep running when the parent process exits")
    args = p.parse_args()
    if args.fail_data_times is not None and args.fail_data_code is None:
        p.error("--fail-data-times needs --fail-data-code")
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(main(args))
    sys.exit(0)


if __name__ == "__main__":
    cli()
