"""A busy writer on the primary: commits one small row every PERIOD seconds into table
TABLE (made if missing) until the file STOP exists, so that LiteFS's event stream carries
a steady flow of transactions. Prints "tick N" after its first commit, then every 100th.

    python3 tick_writer.py DB TABLE PERIOD STOP
"""
import os
import sqlite3
import sys
import time


def main():
    db, table, period, stop = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS %s(n INTEGER)" % table)
    n = 0
    while not os.path.exists(stop):
        conn.execute("INSERT INTO %s(n) VALUES (?)" % table, (n,))
        n += 1
        if n == 1 or n % 100 == 0:
            print("tick", n, flush=True)
        time.sleep(period)
    conn.close()


if __name__ == "__main__":
    main()
