"""Opens N transactions at once from this process on a replica, one per database
(N databases DIR/s0.db ... must exist on the primary, each with a table t), each holding a
session on the primary's forwarder after its first write; prints "open N" and waits for a
line on stdin, then rolls them all back and prints "closed"."""
import os
import sqlite3
import sys

mnt, n = sys.argv[1], int(sys.argv[2])
conns = []
for i in range(n):
    c = sqlite3.connect(os.path.join(mnt, "s%d.db" % i), isolation_level=None, timeout=10)
    c.execute("BEGIN")
    c.execute("INSERT INTO t VALUES (?)", (i,))
    conns.append(c)
print("open %d" % len(conns), flush=True)
sys.stdin.readline()
for c in conns:
    c.execute("ROLLBACK")
print("closed", flush=True)
