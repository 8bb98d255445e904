#!/usr/bin/env python3
"""Commits N transactions on the primary and reads DB-pos right after each COMMIT, in the
same process, to check that LiteFS updates -pos before the commit returns.

usage: commitpos.py DB N
Creates table commitpos(i) if needed. Prints one line per transaction: "I BEFORE AFTER"
(TXIDs in decimal, read from DB-pos just before BEGIN and just after COMMIT).
"""
import sqlite3
import sys


def txid(path):
    with open(path, "rb") as f:
        return int(f.read(34)[:16], 16)


def main():
    db, n = sys.argv[1], int(sys.argv[2])
    con = sqlite3.connect(db, timeout=5.0, isolation_level=None)
    con.execute("CREATE TABLE IF NOT EXISTS commitpos(i INTEGER)")
    for i in range(1, n + 1):
        before = txid(db + "-pos")
        con.execute("BEGIN")
        con.execute("INSERT INTO commitpos VALUES (?)", (i,))
        con.execute("COMMIT")
        after = txid(db + "-pos")
        print(i, before, after, flush=True)
    con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
