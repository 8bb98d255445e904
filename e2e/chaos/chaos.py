"""litefs-fwd's chaos suite (make chaos): a 3-node stand-in cluster with a forwarder on
every node, writers on every node (the sqlite3 shell, python3, a multi-threaded C client
that forks), faults injected one after the other for the given time, then an invariant
checker on every node. Prints every fault with its recovery time, then a summary; exits 1
when an invariant was violated, 2 when the run could not be made.

    python3 e2e/chaos/chaos.py [--seconds N] [--seed S] [--keep] [--report FILE]

Environment: LITEFS_SIM, LITEFS_FWD, LITEFS_FWD_LIB, E2E_PROGS_DIR (set by make chaos), and
optionally E2E_SANITIZE as for the end-to-end suites. Needs root (FUSE, nftables)."""
import argparse
import json
import os
import random
import shutil
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402
import cluster as cl  # noqa: E402
import faults  # noqa: E402
import workload  # noqa: E402

log = cl.log
RECOVERY_LIMIT = 60  # seconds a node may take to have a write acknowledged after a fault


def on_signal(sig, frame):
    raise KeyboardInterrupt("signal %d" % sig)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def final_checks(c, writers, probers, violations):
    """Stops the workload, lets the cluster settle, and checks what is not data."""
    hung = writers.stop_all(30)
    for w in hung:
        violations.append("writer %s did not stop within 30 s of SIGTERM" % w.name)
    for name, rc in writers.bad_exits():
        violations.append("writer %s ended with exit status %s (logs/%s.log)" % (name, rc, name))
    for w in writers.all:
        text = c.read_log(w.name)
        if "ended with status" in text or "ERROR: " in text or "Traceback" in text:
            violations.append("writer %s reported: %s" % (w.name, text.strip()[-300:]))
    # no transaction may stay open: they end with their client or with the idle timeout
    try:
        c.wait(30, lambda: all(c.sessions_open(n) == 0 for n in c.nodes()),
               "no forwarder has a session open")
    except RuntimeError:
        violations.append("sessions still open 30 s after the writers stopped: %s" %
                          {n: c.sessions_open(n) for n in c.nodes()})
    # the primary accepts writes, from every node
    took = probers.probe_all(20)
    for n, t in took.items():
        if t is None:
            violations.append("%s: a write was not acknowledged within 20 s at the end" % n)
    probers.close()
    for n, fw in c.forwarders.items():
        if not fw.alive():
            violations.append("the forwarder of %s exited by itself (status %s)" %
                              (n, fw.p.returncode))
    try:
        c.wait(60, c.settled, "every node has the same transactions")
    except RuntimeError as e:
        violations.append("%s: positions %s" % (e, {n: c.pos(n) for n in c.nodes()}))
    sanitizer = [n for n in os.listdir(c.logs)
                 if "ERROR: AddressSanitizer" in c.read_log(n[:-4]) or
                 "runtime error:" in c.read_log(n[:-4])]
    if sanitizer:
        violations.append("sanitizer reports in %s" % sanitizer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--report", default=None)
    ap.add_argument("--kinds", default=",".join(faults.KINDS),
                    help="the kinds of fault to inject, comma-separated")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    if not kinds or any(k not in faults.KINDS for k in kinds):
        print("chaos: --kinds takes some of %s" % ",".join(faults.KINDS), file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    rnd = random.Random(seed)
    if os.geteuid() != 0 or not shutil.which("nft"):
        print("chaos: needs root and nft (apt-get install nftables)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    c = cl.Cluster(os.environ, keep=args.keep)
    violations, records, casualties = [], [], []
    stats = {}
    t_start = time.time()
    try:
        log("seed %d, %g s of faults, cluster %s on %s.1-%d" %
            (seed, args.seconds, c.dir, c.prefix, cl.NODES))
        c.start()
        writers = workload.Writers(c, rnd)
        writers.start_all()
        probers = workload.Probers(c)
        probers.start_all()
        first = probers.probe_all(30)
        if None in first.values():
            raise RuntimeError("the probers' first writes were not acknowledged: %s" % first)
        inj = faults.Injector(c, writers, rnd, kinds)
        t_end = time.time() + args.seconds
        while time.time() < t_end:
            kind = inj.next_kind()
            t0 = time.time()
            target, hold = inj.inject(kind)
            t_heal = time.time()
            took = probers.probe_all(RECOVERY_LIMIT)
            casualties += writers.sweep()
            rec = None if None in took.values() else max(took.values())
            records.append({"kind": kind, "target": target, "hold": hold,
                            "inject": t_heal - t0, "recovery": rec,
                            "per_node": took, "primary": c.primary})
            log("%-16s %-22s held %5.2f s, recovery %s (primary %s)" %
                (kind, target, hold, "%.3f s" % rec if rec is not None else "NONE", c.primary))
            if rec is None:
                violations.append("no recovery within %d s after %s on %s: %s" %
                                  (RECOVERY_LIMIT, kind, target, took))
            time.sleep(rnd.uniform(0.5, 2.0))
        log("faults done; stopping the writers")
        casualties += writers.sweep()
        final_checks(c, writers, probers, violations)
        v, stats = check.check(c.logs, {n: c.db(n) for n in c.nodes()}, cl.ACCOUNTS, cl.BALANCE)
        stats["casualties"] = casualties + probers.deaths
        violations += v
    except KeyboardInterrupt as e:
        log("interrupted (%s)" % e)
        c.cleanup()
        return 130
    except Exception as e:  # noqa: BLE001 - the run could not be made: say why, clean up
        log("the run failed: %r" % e)
        for line in traceback.format_exc().rstrip().splitlines():
            log("  " + line)
        c.keep = True  # the evidence: logs, traces and the nodes' files
        c.cleanup()
        return 2
    report = summary(seed, time.time() - t_start, records, stats, violations)
    print(report, flush=True)
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"seed": seed, "faults": records, "stats": stats,
                       "violations": violations}, f, indent=1, default=str)
    c.keep = c.keep or bool(violations)  # the evidence: logs, traces and the nodes' files
    c.cleanup()
    return 1 if violations else 0


def summary(seed, elapsed, records, stats, violations):
    out = ["", "chaos: seed %d, %.0f s in all, %d faults" % (seed, elapsed, len(records))]
    out.append("operations: %d acknowledged, %d failed, %d unknown (%d of them present)" %
               (stats.get("acked", 0), stats.get("failed", 0), stats.get("unknown", 0),
                stats.get("unknown_present", 0)))
    for kind, k in sorted(stats.get("by_writer_kind", {}).items()):
        out.append("  %-6s %6d acknowledged %5d failed %4d unknown" %
                   (kind, k["acked"], k["failed"], k["unknown"]))
    codes = sorted(stats.get("failed_codes", {}).items(), key=lambda kv: -kv[1])
    for key, n in codes[:8]:
        out.append("  failed %5d x %s" % (n, key))
    out.append("rows %s, transfers present %s" % (stats.get("rows"), stats.get("transfers_present")))
    for t in stats.get("transient_reads", []):
        out.append("a read at the end found the database malformed, then read it again: %s" % t)
    dead = stats.get("casualties", [])
    out.append("programs killed by SIGBUS when their node's LiteFS stopped: %d%s" %
               (len(dead), " (%s)" % ", ".join(n for n, _ in dead[:6]) if dead else ""))
    out.append("%-17s %5s %10s %10s" % ("fault", "count", "rec. p50", "rec. max"))
    allrec = []
    for kind in faults.KINDS:
        recs = [r["recovery"] for r in records if r["kind"] == kind]
        ok = [x for x in recs if x is not None]
        allrec += ok
        out.append("%-17s %5d %9.3fs %9.3fs%s" % (kind, len(recs), pct(ok, 50), max(ok or [float("nan")]),
                                                  "" if len(ok) == len(recs) else " (%d never)" % (len(recs) - len(ok))))
    out.append("%-17s %5d %9.3fs %9.3fs" % ("all", len(records), pct(allrec, 50),
                                           max(allrec or [float("nan")])))
    if violations:
        out.append("VIOLATIONS: %d" % len(violations))
        out += ["  - " + x for x in violations]
    else:
        out.append("violations: 0")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
