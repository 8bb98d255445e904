"""The chaos suite's workload: on every node a sqlite3 shell writer, a python3 writer and a
multi-threaded C writer whose threads fork children (e2e/chaos/shell_writer.sh,
e2e/chaos/writer.py, e2e/progs/chaos_writer.c), all under the interposer, each logging the
outcome of every operation to logs/ops-NAME.log; and on every node a prober, which makes
one write on demand and says how long it took to be acknowledged."""
import os
import select
import signal
import subprocess
import time

C_THREADS = 4
C_FORK_EVERY = 25


class Writers:
    def __init__(self, cluster, rnd):
        self.c, self.rnd = cluster, rnd
        self.all = []          # every writer started (Proc, with .kind)
        self.exits = []        # (name, status) of writers that exited by themselves
        self.stops = {}        # node -> when its LiteFS last stopped
        self.count = {}        # kind -> instances started

    def start(self, node, kind):
        i = self.count.get((node, kind), 0) + 1
        self.count[(node, kind)] = i
        name = "%s-%s%d" % (node, kind, i)
        oplog = os.path.join(self.c.logs, "ops-%s.log" % name)
        seed = str(self.rnd.randrange(1 << 30))
        db = self.c.db(node)
        if kind == "shell":
            cmd = ["bash", os.path.join(self.c.here, "shell_writer.sh"), db, name, oplog, seed]
        elif kind == "py":
            cmd = ["python3", os.path.join(self.c.here, "writer.py"), db, name, oplog, seed]
        else:
            cmd = [os.path.join(self.c.progs, "chaos_writer"), db, name, oplog, seed,
                   str(C_THREADS), str(C_FORK_EVERY)]
        p = self.c.spawn(name, node, cmd)
        p.kind = kind
        p.started = time.time()
        self.all.append(p)
        return p

    def start_all(self):
        for n in self.c.nodes():
            for kind in ("shell", "py", "c"):
                self.start(n, kind)

    def live(self):
        return [w for w in self.all if not w.killed and w.alive()]

    def kill_and_replace(self, w):
        w.kill_group()
        self.start(w.node, w.kind)

    def sweep(self):
        """Looks at the writers that ended by themselves. One killed by SIGBUS on a node
        whose LiteFS stopped while it ran is a casualty of that fault (the memory SQLite
        mapped from the mount is gone): it is replaced and counted. Any other end is a
        failure, recorded in self.exits. Returns the casualties [(name, signal)]."""
        dead = []
        for w in [w for w in self.all if not w.killed and not w.alive()]:
            w.killed = True  # accounted for here
            rc = w.p.returncode
            if rc == -signal.SIGBUS and self.stops.get(w.node, 0) > w.started:
                dead.append((w.name, -rc))
                self.start(w.node, w.kind)
            else:
                self.exits.append((w.name, rc))
        return dead

    def stop_all(self, timeout):
        """SIGTERM to every live writer (the shell's loop, not its current sqlite3: each
        finishes the operation it is in). Returns the writers still running after TIMEOUT
        seconds, which are then killed."""
        live = self.live()
        for w in live:
            w.signal(signal.SIGTERM)
        deadline = time.time() + timeout
        for w in live:
            try:
                w.p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        hung = [w for w in live if w.alive()]
        for w in hung:
            w.kill_group()
        return hung

    def bad_exits(self):
        """Writers that ended by themselves with a failure: (name, exit status)."""
        return self.exits + [(w.name, w.p.returncode) for w in self.all
                             if not w.killed and w.p.returncode not in (0, None)]


class Probers:
    def __init__(self, cluster):
        self.c = cluster
        self.p = {}
        self.count = {}
        self.deaths = []       # (prober, signal) of probers that died by a signal

    def start(self, node):
        i = self.count.get(node, 0) + 1
        self.count[node] = i
        name = "%s-probe%d" % (node, i)
        oplog = os.path.join(self.c.logs, "ops-%s.log" % name)
        self.p[node] = self.c.spawn(name, node,
                                    ["python3", os.path.join(self.c.here, "writer.py"),
                                     "--probe", self.c.db(node), name, oplog],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def start_all(self):
        for n in self.c.nodes():
            self.start(n)

    def probe_all(self, timeout):
        """One write on every node at once, each tried again until acknowledged. Returns
        {node: seconds until acknowledged, or None when not within TIMEOUT}. A prober
        that died (a node whose LiteFS stopped under it takes its programs down with
        SIGBUS, as the memory they mapped from the mount goes) is replaced and asked
        again; one that did not answer in time is replaced."""
        t0 = time.time()
        took = {n: None for n in self.p}
        waiting = {}

        def ask(n):
            try:
                self.p[n].p.stdin.write(b"\n")
                self.p[n].p.stdin.flush()
                waiting[self.p[n].p.stdout.fileno()] = n
            except OSError:
                self.replace(n)
                ask(n)

        for n in self.p:
            ask(n)
        while waiting and time.time() < t0 + timeout:
            ready, _, _ = select.select(list(waiting), [], [], 0.2)
            for fd in ready:
                n = waiting.pop(fd)
                line = self.p[n].p.stdout.readline()
                if line.strip():
                    took[n] = time.time() - t0
                else:  # it died
                    self.replace(n)
                    ask(n)
        for n, t in took.items():
            if t is None:
                self.replace(n)
        return took

    def replace(self, node):
        old = self.p[node]
        if old.alive():
            old.kill_group()
        else:
            old.p.wait()
            if old.p.returncode < 0:
                self.deaths.append((old.name, -old.p.returncode))
        self.start(node)

    def close(self):
        for p in self.p.values():
            try:
                p.p.stdin.close()
                p.p.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                p.kill_group()
