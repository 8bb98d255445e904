"""Holds a database's write lock again and again, as a busy writer on the primary would:
BEGIN IMMEDIATE, HOLD seconds, COMMIT (nothing written), GAP seconds, until the file STOP
exists. Prints "locked N" each time it has the lock and "released N" when it let go.

    python3 hold_lock.py DB HOLD GAP STOP
"""
import os
import sqlite3
import sys
import time


def main():
    db, hold, gap, stop = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    n = 0
    while not os.path.exists(stop):
        conn.execute("BEGIN IMMEDIATE")
        n += 1
        print("locked", n, flush=True)
        end = time.monotonic() + hold
        while time.monotonic() < end and not os.path.exists(stop):
            time.sleep(0.02)
        conn.execute("COMMIT")
        print("released", n, flush=True)
        time.sleep(gap)
    conn.close()


if __name__ == "__main__":
    main()
