#!/usr/bin/env python3
"""Consistency check of replica reads: a writer on the primary keeps invariants that a reader
on a replica checks at every poll.

Tables: acct(id, bal, pad): the balances always sum to 1000 and rows come 10 at a time
(count % 10 == 0); marks(txid): every transaction of the writer records the TXID it will
get (the primary's -pos TXID before it + 1), so a reader that read TXID t from the replica's
-pos must then see max(marks.txid) >= t: the replica's -pos never runs ahead of its data.

usage:
  torn.py setup DB                   on the primary: schema, 10 rows of 100, first mark
  torn.py write DB MAX_TXNS SECONDS  on the primary: alternates "insert 10 rows of 0" and
                                     "move an amount between two rows"; prints a JSON summary
  torn.py read DB STOPFILE           on a replica: polls until STOPFILE exists (then polls
                                     once more); prints a JSON summary
"""
import json
import os
import random
import sqlite3
import sys
import time

PAD = 300  # bytes per row, so that the table spans pages and transactions touch several


def txid(db):
    with open(db + "-pos", "rb") as f:
        return int(f.read(34)[:16], 16)


def connect(db):
    return sqlite3.connect(db, timeout=5.0, isolation_level=None)


def setup(db):
    con = connect(db)
    con.execute("BEGIN")
    con.execute("CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL, pad BLOB)")
    con.execute("CREATE TABLE marks(txid INTEGER NOT NULL)")
    for _ in range(10):
        con.execute("INSERT INTO acct(bal, pad) VALUES (100, randomblob(?))", (PAD,))
    con.execute("COMMIT")
    t = txid(db)
    con.execute("BEGIN")
    con.execute("INSERT INTO marks VALUES (?)", (t + 1,))
    con.execute("COMMIT")
    print(json.dumps({"txid": txid(db)}))
    return 0


def write(db, max_txns, seconds):
    con = connect(db)
    rnd = random.Random(42)
    end = time.monotonic() + seconds
    txns = mismatches = 0
    bad = []
    while txns < max_txns and time.monotonic() < end:
        t = txid(db)
        con.execute("BEGIN IMMEDIATE")
        if txns % 2 == 0:
            for _ in range(10):
                con.execute("INSERT INTO acct(bal, pad) VALUES (0, randomblob(?))", (PAD,))
        else:
            (n,) = con.execute("SELECT max(id) FROM acct").fetchone()
            a, b = rnd.sample(range(1, n + 1), 2)
            amount = rnd.randint(1, 50)
            con.execute("UPDATE acct SET bal = bal - ? WHERE id = ?", (amount, a))
            con.execute("UPDATE acct SET bal = bal + ? WHERE id = ?", (amount, b))
        con.execute("INSERT INTO marks VALUES (?)", (t + 1,))
        con.execute("COMMIT")
        txns += 1
        after = txid(db)
        if after != t + 1:
            mismatches += 1
            if len(bad) < 5:
                bad.append([t, after])
    count, total = con.execute("SELECT count(*), sum(bal) FROM acct").fetchone()
    print(json.dumps({"txns": txns, "pos_mismatches": mismatches, "first_mismatches": bad,
                      "count": count, "sum": total, "txid": txid(db)}))
    return 0


def read(db, stopfile):
    con = connect(db)
    polls = 0
    violations, ahead, errors = [], [], []
    counts = set()
    deadline = time.monotonic() + 120
    while True:
        stop = os.path.exists(stopfile) or time.monotonic() > deadline
        try:
            t = txid(db)
            con.execute("BEGIN")
            count, total = con.execute("SELECT count(*), coalesce(sum(bal), 0) FROM acct").fetchone()
            (mark,) = con.execute("SELECT coalesce(max(txid), 0) FROM marks").fetchone()
            con.execute("COMMIT")
        except (sqlite3.Error, OSError, ValueError) as e:
            errors.append("%s: %s" % (e.__class__.__name__, e))
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if len(errors) > 50 or stop:
                break
            time.sleep(0.01)
            continue
        polls += 1
        counts.add(count)
        if count % 10 != 0 or total != 1000:
            violations.append({"txid": t, "count": count, "sum": total})
        if mark < t:
            ahead.append({"pos_txid": t, "max_mark": mark})
        if stop:
            break
        time.sleep(0.002)
    print(json.dumps({"polls": polls, "distinct_counts": len(counts), "violations": len(violations),
                      "first_violations": violations[:5], "pos_ahead": len(ahead),
                      "first_pos_ahead": ahead[:5], "errors": len(errors),
                      "first_errors": errors[:5], "last_count": count if polls else None}))
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "setup":
        return setup(sys.argv[2])
    if cmd == "write":
        return write(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    if cmd == "read":
        return read(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
