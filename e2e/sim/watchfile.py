#!/usr/bin/env python3
"""Records how a file of the mount changes over time (e.g. .primary during a failover).

usage: watchfile.py PATH STOPFILE [INTERVAL_MS]
Reads PATH every INTERVAL_MS (default 5) and prints a line "MS STATE" each time the state
changes: STATE is the content as a python bytes literal (b'node1\\n') or an errno name
(ENOENT). Stops when STOPFILE exists (after one last read) or after 120 s.
"""
import errno
import os
import sys
import time


def state(path):
    try:
        with open(path, "rb") as f:
            return repr(f.read())
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def main():
    path, stopfile = sys.argv[1], sys.argv[2]
    interval = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.005
    t0 = time.monotonic()
    last = None
    while True:
        stop = os.path.exists(stopfile) or time.monotonic() - t0 > 120
        s = state(path)
        if s != last:
            print("%d %s" % ((time.monotonic() - t0) * 1000, s), flush=True)
            last = s
        if stop:
            return 0
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
