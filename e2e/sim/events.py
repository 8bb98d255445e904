#!/usr/bin/env python3
"""Records a LiteFS event stream (GET /events) for the end-to-end tests.

usage: events.py URL OUT

Connects to a loopback URL with a plain socket, sends an HTTP/1.1 GET and writes:
  OUT.conn   (empty) once connected and the request is sent
  OUT.head   the status line and the response headers, as received (CRLF removed)
  OUT.lines  every event line as received (one JSON object per line), flushed at once
  OUT.end    when the stream stops: why ("closed by server", "last chunk", "error: ...")
It decodes the chunked transfer encoding itself, so a framing error is reported in
OUT.end ("error: bad chunk ...") rather than hidden by an HTTP library. Runs until the
server ends the stream or the process is killed.
"""
import os
import socket
import sys
import urllib.parse


def write_end(out, why):
    with open(out + ".end.tmp", "w") as f:
        f.write(why + "\n")
    os.rename(out + ".end.tmp", out + ".end")


class Closed(Exception):
    pass


def main():
    url, out = sys.argv[1], sys.argv[2]
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not (u.hostname or "").startswith("127."):
        write_end(out, "error: not a loopback http URL: " + url)
        return 2
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    try:
        sock = socket.create_connection((u.hostname, u.port or 80), timeout=5)
    except OSError as e:
        write_end(out, "error: connect: %s" % e)
        return 1
    sock.settimeout(None)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\nUser-Agent: e2e-events\r\n\r\n"
                  % (path, u.netloc)).encode())
    open(out + ".conn", "w").close()
    rf = sock.makefile("rb")

    head = []
    while True:
        line = rf.readline()
        if not line:
            with open(out + ".head", "w") as f:
                f.write("\n".join(head) + "\n")
            write_end(out, "error: connection closed in the headers")
            return 1
        line = line.rstrip(b"\r\n").decode("latin-1")
        if not line:
            break
        head.append(line)
    with open(out + ".head", "w") as f:
        f.write("\n".join(head) + "\n")
    headers = {}
    for h in head[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()

    lines = open(out + ".lines", "wb", buffering=0)
    pending = b""

    def feed(data):
        nonlocal pending
        pending += data
        while b"\n" in pending:
            ln, pending = pending.split(b"\n", 1)
            lines.write(ln + b"\n")

    def finish(why):
        if pending:
            lines.write(pending + b"\n")
        write_end(out, why)

    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    try:
        if not chunked:
            n = headers.get("content-length")
            if n is not None:
                feed(rf.read(int(n)))
                finish("end of body (content-length)")
                return 0
            while True:
                data = rf.read1(65536)
                if not data:
                    finish("closed by server")
                    return 0
                feed(data)
        while True:
            size_line = rf.readline()
            if not size_line:
                finish("closed by server")
                return 0
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                finish("error: bad chunk size line %r" % size_line)
                return 1
            if size == 0:
                finish("last chunk")
                return 0
            data = rf.read(size)
            if len(data) < size:
                feed(data)
                finish("closed by server (inside a chunk)")
                return 0
            crlf = rf.read(2)
            if crlf != b"\r\n":
                feed(data)
                finish("closed by server" if not crlf else "error: bad chunk end %r" % crlf)
                return 0 if not crlf else 1
            feed(data)
    except (ConnectionResetError, OSError) as e:
        finish("closed by server (%s)" % e.__class__.__name__)
        return 0


if __name__ == "__main__":
    sys.exit(main())
