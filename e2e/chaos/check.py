"""The chaos suite's invariant checker, run once the writers have stopped, the faults are
healed and replication has settled:

  - every write acknowledged to a client is present exactly once;
  - a write reported as failed (nothing sent, or refused) is absent;
  - a write whose outcome is unknown (SQLITE_IOERR "may have been applied", or its writer
    was killed during it) is present at most once;
  - no write is present that no client made;
  - account totals hold, and each account's balance is what the transfers present say;
  - all nodes hold identical data, which SQLite's integrity check finds sound."""
import glob
import hashlib
import os
import shutil
import sqlite3
import time

SQLITE_IOERR = 10


def outcome(code, phase):
    if code == 0:
        return "acked"
    if phase == "b":    # failed before COMMIT was sent: nothing can have been committed
        return "failed"
    if code == -1 or code & 0xff == SQLITE_IOERR:
        return "unknown"
    return "failed"


def load_outcomes(logdir):
    """{tag: (outcome, code, message, writer)} from every ops-*.log of LOGDIR."""
    ops = {}
    for path in glob.glob(os.path.join(logdir, "ops-*.log")):
        writer = os.path.basename(path)[4:-4]
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(" ", 6)
                if parts[0] == "B" and len(parts) >= 2:
                    ops.setdefault(parts[1], ("unknown", None, "no outcome (killed)", writer))
                elif parts[0] == "E" and len(parts) >= 4:
                    code = int(parts[2])
                    msg = parts[6] if len(parts) > 6 else ""
                    ops[parts[1]] = (outcome(code, parts[3]), code, msg, writer)
    return ops


def read_node_once(path):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        rows = con.execute("SELECT tag, kind, a, b, amt FROM ops ORDER BY id").fetchall()
        acc = dict(con.execute("SELECT id, bal FROM accounts ORDER BY id").fetchall())
    finally:
        con.close()
    return rows, acc, integrity


def read_node(path, evidence, transient):
    """The rows of the node's database: (ops rows, {account: balance}, what SQLite's
    integrity check says). A read that finds the database malformed is tried again after a
    second, twice: the files as they were then are copied to EVIDENCE-N and the error is
    appended to TRANSIENT (printed by the report); malformed three times is an error."""
    for attempt in range(3):
        try:
            return read_node_once(path)
        except sqlite3.DatabaseError as e:
            if "malformed" not in str(e) or attempt == 2:
                raise sqlite3.Error("%s: %s" % (path, e)) from e
            kept = "%s-%d" % (evidence, attempt)
            os.makedirs(kept, exist_ok=True)
            for f in glob.glob(path + "*"):
                try:
                    shutil.copy(f, kept)
                except OSError:
                    pass
            transient.append("%s: %s (files copied to %s)" % (path, e, kept))
            time.sleep(1)


def digest(rows, acc):
    h = hashlib.sha256()
    h.update(repr(rows).encode())
    h.update(repr(sorted(acc.items())).encode())
    return h.hexdigest()[:16]


def check(logdir, dbs, accounts, balance):
    """DBS: {node: database path}. Returns (violations, stats)."""
    v = []
    ops = load_outcomes(logdir)
    transient = []
    data = {n: read_node(p, os.path.join(logdir, "malformed-" + n), transient)
            for n, p in dbs.items()}
    for n, d in sorted(data.items()):
        if d[2] != ["ok"]:
            v.append("%s: the database is corrupt: %s" % (n, "; ".join(d[2][:3])))
    digests = {n: digest(d[0], d[1]) for n, d in data.items()}
    if len(set(digests.values())) != 1:
        v.append("the nodes hold different data: %s (rows %s)" %
                 (digests, {n: len(d[0]) for n, d in data.items()}))
    rows, acc, _ = data[sorted(data)[0]]
    count = {}
    for r in rows:
        count[r[0]] = count.get(r[0], 0) + 1
    stats = {"acked": 0, "failed": 0, "unknown": 0, "unknown_present": 0,
             "failed_codes": {}, "by_writer_kind": {}, "transient_reads": transient}
    examples = {"acked": [], "failed": [], "unknown": []}
    for tag, (o, code, msg, writer) in ops.items():
        stats[o] += 1
        kind = writer.split("-")[1].rstrip("0123456789")
        k = stats["by_writer_kind"].setdefault(kind, {"acked": 0, "failed": 0, "unknown": 0})
        k[o] += 1
        n = count.get(tag, 0)
        if o == "failed":
            key = "%d %s" % (code, msg[:60])
            stats["failed_codes"][key] = stats["failed_codes"].get(key, 0) + 1
        if o == "unknown" and n == 1:
            stats["unknown_present"] += 1
        bad = (o == "acked" and n != 1) or (o == "failed" and n != 0) or (o == "unknown" and n > 1)
        if bad:
            examples[o].append("%s (%s, code %s: %s) present %d times" % (tag, writer, code, msg, n))
    for o, what in (("acked", "acknowledged writes not present exactly once"),
                    ("failed", "failed writes present"),
                    ("unknown", "writes of unknown outcome present more than once")):
        if examples[o]:
            v.append("%d %s, e.g. %s" % (len(examples[o]), what, "; ".join(examples[o][:5])))
    phantoms = [t for t in count if t not in ops]
    if phantoms:
        v.append("%d rows no client wrote, e.g. %s" % (len(phantoms), phantoms[:5]))
    total = sum(acc.values())
    if total != accounts * balance or len(acc) != accounts:
        v.append("account total %d over %d accounts, expected %d over %d" %
                 (total, len(acc), accounts * balance, accounts))
    expect = {i: balance for i in range(1, accounts + 1)}
    transfers = 0
    for tag, kind, a, b, amt in rows:
        if kind == "transfer":
            transfers += 1
            expect[a] -= amt
            expect[b] += amt
    off = [(i, acc.get(i), e) for i, e in expect.items() if acc.get(i) != e]
    if off:
        v.append("%d balances differ from the transfers present, e.g. %s" % (len(off), off[:5]))
    stats["rows"] = len(rows)
    stats["transfers_present"] = transfers
    stats["digest"] = digests
    return v, stats
