"""Hostile peers of a forwarder, for the security tests. Prints one JSON line per step.

hostile.py idle HOST PORT N
    Opens N TCP connections and leaves them idle; half of them do the SP handshake of a
    REQ socket, half send nothing. Prints {"open": N} once they are all open, then waits
    until stdin closes (the test holds the connections open meanwhile).
hostile.py stall HOST PORT
    Does the SP handshake, then sends the length of a 1000-byte message and 10 bytes of
    it, and stalls. Prints {"stalled": true}, then waits until stdin closes.
hostile.py junk HOST PORT SEED
    Sends, each on a connection of its own: random bytes instead of the handshake; a
    handshake then random messages; a message declaring 2^40 bytes; a truncated message.
    Prints {"sent": K, "answered": A}: how many got reply bytes back (an error at most:
    none of them is a request that could be executed).
"""
import json
import random
import socket
import struct
import sys
import time

HANDSHAKE_REQ = b"\x00SP\x00\x00\x30\x00\x00"  # SP, version 0, protocol REQ (48)


def connect(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def handshake(s):
    s.sendall(HANDSHAKE_REQ)
    got = b""
    while len(got) < 8:
        chunk = s.recv(8 - len(got))
        if not chunk:
            raise OSError("closed during the handshake")
        got += chunk
    return got


def say(**kw):
    print(json.dumps(kw), flush=True)


def wait_stdin():
    sys.stdin.read()


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "idle":
        n = int(sys.argv[4])
        conns = []
        for i in range(n):
            s = connect(host, port)
            if i % 2:
                handshake(s)
            conns.append(s)
        say(open=len(conns))
        wait_stdin()
    elif mode == "stall":
        s = connect(host, port)
        handshake(s)
        # 8-byte length, the 4-byte SP request id, then the start of the body
        s.sendall(struct.pack(">Q", 1000) + struct.pack(">I", 0x80000001) + b"\x01\x01" + b"x" * 4)
        say(stalled=True)
        wait_stdin()
    elif mode == "junk":
        rng = random.Random(int(sys.argv[4]))
        sent = answered = 0
        payloads = []
        payloads.append((False, bytes(rng.randrange(256) for _ in range(64))))
        for _ in range(20):
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            payloads.append((True, struct.pack(">Q", len(body) + 4) + struct.pack(">I", 0x80000000 | rng.randrange(1 << 31)) + body))
        payloads.append((True, struct.pack(">Q", 1 << 40) + b"\x80\x00\x00\x01"))
        payloads.append((True, struct.pack(">Q", 100) + b"\x80\x00\x00\x02" + b"\x01"))
        for hs, data in payloads:
            try:
                s = connect(host, port)
                if hs:
                    handshake(s)
                s.sendall(data)
                sent += 1
                s.settimeout(0.3)
                try:
                    if s.recv(65536):
                        answered += 1
                except (socket.timeout, OSError):
                    pass
                s.close()
            except OSError:
                sent += 1
        say(sent=sent, answered=answered)


main()
