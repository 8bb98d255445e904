"""Programs for the primary-detection tests, each printing one JSON object per line.

detect.py threads DB
    What the interposer adds to a process on a replica: threads and whether libcurl is
    loaded after a read, after a first write, and after a write more than a second later;
    the signal mask of the thread it added; in a child forked then, the same before and
    after the child's own writes. Ends with {"end": T}, T the time just before the process
    exits (epoch seconds).
detect.py two-writes DB GO_FILE
    Writes a row ("first"), another a second later ("warm"), then waits for GO_FILE to
    exist and writes a third ("second").
"""
import json
import os
import sqlite3
import sys
import time


def threads():
    return sorted(int(t) for t in os.listdir("/proc/self/task"))


def curl_loaded():
    with open("/proc/self/maps") as f:
        return any("libcurl" in line for line in f)


def sig_blocked(tid):
    """The blocked-signal mask of thread tid, as an int."""
    with open("/proc/self/task/%d/status" % tid) as f:
        for line in f:
            if line.startswith("SigBlk:"):
                return int(line.split()[1], 16)
    return 0


def state():
    ts = threads()
    extra = [t for t in ts if t != os.getpid()]
    return {"threads": len(ts), "curl": curl_loaded(),
            "masks": ["%x" % sig_blocked(t) for t in extra]}


def say(**kw):
    print(json.dumps(kw), flush=True)


def settle(pred, seconds=3.0):
    """Polls pred() until it is true or seconds pass: a thread starts asynchronously."""
    end = time.time() + seconds
    while not pred() and time.time() < end:
        time.sleep(0.02)


def main():
    mode, db = sys.argv[1], sys.argv[2]
    con = sqlite3.connect(db, isolation_level=None, timeout=5)
    if mode == "threads":
        con.execute("SELECT count(*) FROM k").fetchone()
        time.sleep(0.2)
        say(step="read", **state())
        con.execute("INSERT INTO k(key, node) VALUES ('parent', 'x')")
        time.sleep(0.2)
        say(step="first-write", **state())
        time.sleep(1.1)
        con.execute("INSERT INTO k(key, node) VALUES ('parent-later', 'x')")
        settle(lambda: len(threads()) > 1)
        say(step="write", **state())
        pid = os.fork()
        if pid == 0:
            say(step="child-forked", **state())
            c2 = sqlite3.connect(db, isolation_level=None, timeout=5)
            c2.execute("INSERT INTO k(key, node) VALUES ('child', 'x')")
            time.sleep(1.1)
            c2.execute("INSERT INTO k(key, node) VALUES ('child-later', 'x')")
            settle(lambda: len(threads()) > 1)
            say(step="child-write", **state())
            sys.stdout.flush()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        say(step="child-exit", status=status)
        say(end=time.time())
    elif mode == "two-writes":
        con.execute("INSERT INTO k(key, node) VALUES ('first', 'x')")
        time.sleep(1.1)
        con.execute("INSERT INTO k(key, node) VALUES ('warm', 'x')")
        say(step="first")
        go = sys.argv[3]
        end = time.time() + 60
        while not os.path.exists(go) and time.time() < end:
            time.sleep(0.05)
        try:
            con.execute("INSERT INTO k(key, node) VALUES ('second', 'x')")
            say(step="second")
        except sqlite3.Error as e:
            say(step="second-failed", error=str(e))


main()
