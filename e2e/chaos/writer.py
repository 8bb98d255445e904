"""A chaos writer on one node, run under the interposer: python3's sqlite3 module writing
until SIGTERM, half autocommit INSERTs with unique tags, half transfers between accounts
(BEGIN; a local read; two UPDATEs; the INSERT of the transfer's tag; COMMIT).

    writer.py DB PREFIX LOG SEED            write until SIGTERM
    writer.py --probe DB PREFIX LOG         one autocommit INSERT for each line read on
                                            stdin, tried again every 50 ms until it is
                                            acknowledged; prints the milliseconds it took

Every operation appends to LOG, before it starts "B TAG" and when it ends
"E TAG CODE PHASE T0 T1 MESSAGE": CODE is SQLite's result code (0: acknowledged), PHASE
"c" when the code is the outcome of the statement that commits (the INSERT, or COMMIT) and
"b" when a statement before COMMIT failed (nothing can have been committed). An operation
with "B" and no "E" (the writer was killed) has an unknown outcome. After any error other
than a constraint the connection is closed and opened again, as a careful program does
when its node's file system went away."""
import os
import random
import signal
import sqlite3
import sys
import time

ACCOUNTS = 100
STOP = []  # a SIGTERM was received


class Log:
    """Lines appended with one write() each (O_APPEND), so that concurrent writers of one
    file never interleave within a line."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def line(self, text):
        os.write(self.fd, (text + "\n").encode())


def connect(db):
    """A connection to DB, tried again every 100 ms until it opens; None after SIGTERM."""
    while not STOP:
        try:
            # mode=rw: never create the file, which would happen in the empty directory
            # of a node whose LiteFS is stopped
            return sqlite3.connect("file:%s?mode=rw" % db, uri=True, isolation_level=None,
                                   timeout=10)
        except sqlite3.Error:
            time.sleep(0.1)
    return None


def code_of(e):
    return getattr(e, "sqlite_errorcode", 1) or 1


def one_line(e):
    return str(e).replace("\n", " ")


def insert(con, log, tag, node):
    log.line("B " + tag)
    t0 = time.time()
    try:
        con.execute("INSERT INTO ops(tag, node, kind) VALUES (?, ?, 'insert')", (tag, node))
    except sqlite3.Error as e:
        log.line("E %s %d c %.3f %.3f %s" % (tag, code_of(e), t0, time.time(), one_line(e)))
        return code_of(e)
    log.line("E %s 0 c %.3f %.3f" % (tag, t0, time.time()))
    return 0


def transfer(con, log, tag, node, rnd):
    a, b = rnd.sample(range(1, ACCOUNTS + 1), 2)
    amt = rnd.randint(1, 50)
    log.line("B " + tag)
    t0 = time.time()
    phase = "b"
    try:
        con.execute("BEGIN")
        row = con.execute("SELECT bal FROM accounts WHERE id = ?", (a,)).fetchone()
        if row is None:
            raise sqlite3.DatabaseError("account %d is missing" % a)
        con.execute("UPDATE accounts SET bal = bal - ? WHERE id = ?", (amt, a))
        con.execute("UPDATE accounts SET bal = bal + ? WHERE id = ?", (amt, b))
        con.execute("INSERT INTO ops(tag, node, kind, a, b, amt) VALUES (?, ?, 'transfer', ?, ?, ?)",
                    (tag, node, a, b, amt))
        phase = "c"
        con.execute("COMMIT")
    except sqlite3.Error as e:
        log.line("E %s %d %s %.3f %.3f %s" % (tag, code_of(e), phase, t0, time.time(), one_line(e)))
        try:
            if con.in_transaction:
                con.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        return code_of(e)
    log.line("E %s 0 c %.3f %.3f" % (tag, t0, time.time()))
    return 0


def probe(db, prefix, log):
    con = connect(db)
    i = 0
    for _ in sys.stdin:
        t0 = time.time()
        while True:
            i += 1
            rc = insert(con, log, "%s-%d" % (prefix, i), prefix)
            if rc == 0:
                break
            con.close()
            time.sleep(0.05)
            con = connect(db)
        print("%d" % ((time.time() - t0) * 1000), flush=True)


def main():
    if sys.argv[1] == "--probe":
        probe(sys.argv[2], sys.argv[3], Log(sys.argv[4]))
        return
    db, prefix, log, seed = sys.argv[1], sys.argv[2], Log(sys.argv[3]), int(sys.argv[4])
    node = os.environ.get("LITEFS_FWD_HOSTNAME", "")
    signal.signal(signal.SIGTERM, lambda s, f: STOP.append(s))
    rnd = random.Random(seed)
    con = connect(db)
    i = 0
    while not STOP:
        i += 1
        tag = "%s-%d" % (prefix, i)
        if rnd.random() < 0.5:
            rc = insert(con, log, tag, node)
        else:
            rc = transfer(con, log, tag, node, rnd)
        if rc not in (0, 19):  # SQLITE_CONSTRAINT: the connection is fine
            con.close()
            time.sleep(0.05)
            con = connect(db)
            if con is None:
                break
        time.sleep(rnd.random() * 0.02)


if __name__ == "__main__":
    main()
