"""A TCP relay whose connections the test can cut: listens on HOST PORT, relays each
connection to UP_HOST UP_PORT, and on SIGUSR1 closes every connection it relays (both
sides), as a network cut or a restarted server would, while it goes on accepting new
ones. Prints "listening" once it accepts, and "cut N" after each cut."""
import selectors
import signal
import socket
import sys

host, port, up_host, up_port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sel = selectors.DefaultSelector()
peer = {}
cut_pending = False


def on_usr1(signum, frame):
    global cut_pending
    cut_pending = True


def close_pair(s):
    other = peer.pop(s, None)
    for x in (s, other):
        if x is None:
            continue
        peer.pop(x, None)
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        x.close()


signal.signal(signal.SIGUSR1, on_usr1)
lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind((host, port))
lsock.listen(16)
sel.register(lsock, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    if cut_pending:
        cut_pending = False
        n = len(peer) // 2
        for s in list(peer):
            close_pair(s)
        print("cut %d" % n, flush=True)
    try:
        events = sel.select(timeout=0.1)
    except InterruptedError:
        continue
    for key, _ in events:
        s = key.fileobj
        if s is lsock:
            c, _ = lsock.accept()
            try:
                u = socket.create_connection((up_host, up_port), timeout=2)
            except OSError:
                c.close()
                continue
            peer[c], peer[u] = u, c
            sel.register(c, selectors.EVENT_READ)
            sel.register(u, selectors.EVENT_READ)
            continue
        if s not in peer:
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            close_pair(s)
            continue
        try:
            peer[s].sendall(data)
        except OSError:
            close_pair(s)
