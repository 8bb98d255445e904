#!/usr/bin/env python3
"""Runs SQL statements with python's sqlite3 module and reports the exact error.

usage: sqlprobe.py DB SQL [SQL...]
Each statement runs in autocommit mode (isolation_level=None; write BEGIN/COMMIT yourself),
with a 5 s busy timeout. Prints the rows of the statements ("|"-separated), then a last line
"ok", or "error EXTENDED_CODE NAME MESSAGE" (e.g. "error 1544 SQLITE_READONLY_DIRECTORY
attempt to write a readonly database") and exits 1.
"""
import sqlite3
import sys


def main():
    db, stmts = sys.argv[1], sys.argv[2:]
    try:
        con = sqlite3.connect(db, timeout=5.0, isolation_level=None)
        for sql in stmts:
            for row in con.execute(sql):
                print("|".join(str(v) for v in row))
        con.close()
    except sqlite3.Error as e:
        code = getattr(e, "sqlite_errorcode", None)
        name = getattr(e, "sqlite_errorname", None)
        print("error %s %s %s" % (code, name, e))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
