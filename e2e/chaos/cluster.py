"""The chaos suite's cluster: a 3-node stand-in cluster (litefs-sim) in a temporary
directory, a forwarder on every node, the writers and probers run on the nodes under the
interposer, the network filter of the nodes' addresses, and the cleanup of all of it.

Every process started here runs in a session of its own (its own process group), is
recorded, and is killed by Cluster.cleanup(), which also removes the filter, continues
stopped processes and brings the cluster down. Only loopback addresses are used."""
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

DB = "app.db"
ACCOUNTS = 100
BALANCE = 1000
NODES = 3

SCHEMA = """
CREATE TABLE ops(id INTEGER PRIMARY KEY, tag TEXT NOT NULL, node TEXT, kind TEXT,
                 a INTEGER, b INTEGER, amt INTEGER);
CREATE INDEX ops_tag ON ops(tag);
CREATE TABLE accounts(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
INSERT INTO accounts SELECT i, %d FROM n;
""" % (ACCOUNTS, BALANCE)


def log(msg):
    print("# %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def listening(addr_port):
    """Whether something listens on ADDR:PORT (TCP), from ss."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    return any(line.split()[3] == addr_port for line in out.splitlines() if len(line.split()) > 3)


def pick_prefix():
    """A 127.0.X prefix none of whose first addresses has a listening socket."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    used = {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if len(line.split()) > 3}
    for x in random.sample(range(150, 250), 100):
        prefix = "127.0.%d" % x
        if not any("%s.%d" % (prefix, k) in used for k in range(1, NODES + 1)):
            return prefix
    raise RuntimeError("no free loopback prefix")


class Proc:
    """A process started on a node, in its own process group."""

    def __init__(self, name, node, argv, env, stdin=None, stdout=None):
        self.name, self.node, self.argv = name, node, argv
        self.errfile = open(env["CHAOS_ERR"], "ab")
        self.p = subprocess.Popen(argv, env=env, stdin=stdin or subprocess.DEVNULL,
                                  stdout=stdout or self.errfile, stderr=self.errfile,
                                  start_new_session=True)
        self.killed = False  # by the fault injector: its exit status is not a failure

    @property
    def pid(self):
        return self.p.pid

    def signal(self, sig):
        try:
            os.kill(self.p.pid, sig)
        except ProcessLookupError:
            pass

    def kill_group(self):
        self.killed = True
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def alive(self):
        return self.p.poll() is None


class Cluster:
    def __init__(self, env, keep=False):
        self.here = os.path.dirname(os.path.abspath(__file__))
        build = os.path.join(self.here, "..", "..", "build")
        self.sim = env.get("LITEFS_SIM", os.path.join(build, "litefs-sim"))
        self.fwd = env.get("LITEFS_FWD", os.path.join(build, "litefs-fwd"))
        self.lib = env.get("LITEFS_FWD_LIB", os.path.join(build, "liblitefs_fwd.so"))
        self.progs = env.get("E2E_PROGS_DIR", os.path.join(build, "e2e"))
        self.keep = keep
        self.dir = tempfile.mkdtemp(prefix="litefs-fwd-chaos.", dir=os.environ.get("TMPDIR", "/tmp"))
        self.logs = os.path.join(self.dir, "logs")
        os.mkdir(self.logs)
        self.prefix = pick_prefix()
        self.fwd_port = 20208
        self.metrics_port = 20209
        self.procs = []            # every process started, for the cleanup
        self.forwarders = {}       # node -> Proc
        self.primary = "node1"
        self.nft_table = "litefs_fwd_chaos_%d" % os.getpid()
        self.nft_on = False
        self.stopped = set()       # pids held with SIGSTOP
        self.up = False
        self.preload = self.lib
        san = env.get("E2E_SANITIZE", "")
        self.extra_env = {}
        for name, lib in (("undefined", "libubsan.so"), ("address", "libasan.so")):
            if name in san:
                path = subprocess.run(["cc", "-print-file-name=" + lib], capture_output=True,
                                      text=True).stdout.strip()
                self.preload = path + ":" + self.preload
        if "address" in san:
            self.extra_env["ASAN_OPTIONS"] = "detect_leaks=0"

    # --- names -----------------------------------------------------------------------
    def nodes(self):
        return ["node%d" % k for k in range(1, NODES + 1)]

    def addr(self, node):
        return "%s.%s" % (self.prefix, node[4:])

    def mnt(self, node):
        return os.path.join(self.dir, node, "mnt")

    def db(self, node):
        return os.path.join(self.mnt(node), DB)

    # --- the cluster -----------------------------------------------------------------
    def simcmd(self, *args, timeout=60):
        r = subprocess.run([self.sim] + list(args), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if r.returncode:
            raise RuntimeError("litefs-sim %s: exit status %d: %s %s" %
                               (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r.stdout

    def start(self):
        self.simcmd("up", self.dir, "--nodes", str(NODES), "--journal", "wal", "--db", DB,
                    "--ip-prefix", self.prefix, "--reconnect-delay-ms", "200")
        self.up = True
        for n in self.nodes():
            self.start_forwarder(n)
        for n in self.nodes():
            self.wait(10, lambda n=n: listening("%s:%d" % (self.addr(n), self.fwd_port)),
                      "the forwarder of %s listens" % n)
        self.wait(10, lambda: "tracking: %s names node1 " % DB in self.read_log("node1-forwarder"),
                  "the primary's forwarder records itself")
        self.sql("node1", SCHEMA)
        self.wait(20, self.settled, "the schema reaches every node")

    def read_log(self, name):
        try:
            with open(os.path.join(self.logs, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def env_on(self, node, errname, preload=True, extra=None):
        """The environment of a program on NODE, as `litefs-sim exec` completes it."""
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env["CHAOS_ERR"] = os.path.join(self.logs, errname + ".log")
        if preload:
            env["LD_PRELOAD"] = self.preload
            env.update(self.extra_env)
            env.update({
                "LITEFS_FWD_TIMEOUT_MS": "4000",
                "LITEFS_FWD_TXN_TIMEOUT_MS": "3000",
                "LITEFS_FWD_LOG": "info",
                "LITEFS_FWD_ID_FILE": os.path.join(self.dir, "request-ids"),
                # every forward's start and end, to tell afterwards what a writer's
                # statements did (kept with the logs of a failed run)
                "LITEFS_FWD_TRACE": os.path.join(self.logs, "trace-" + errname + ".jsonl"),
            })
        env.update(extra or {})
        return env

    def spawn(self, name, node, cmd, preload=True, extra=None, stdin=None, stdout=None):
        env = self.env_on(node, name, preload, extra)
        p = Proc(name, node, [self.sim, "exec", self.dir, node, "--"] + cmd, env,
                 stdin=stdin, stdout=stdout)
        self.procs.append(p)
        return p

    def start_forwarder(self, node):
        cmd = ["sh", "-c", 'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN" --metrics-addr "$1"',
               self.fwd, "%s:%d" % (self.addr(node), self.metrics_port)]
        self.forwarders[node] = self.spawn(node + "-forwarder", node, cmd, preload=False)

    def forwarder_listens(self, node):
        return listening("%s:%d" % (self.addr(node), self.fwd_port))

    def sql(self, node, script):
        """SCRIPT run by the sqlite3 shell on NODE without the interposer."""
        r = subprocess.run([self.sim, "exec", self.dir, node, "--", "sqlite3", "-batch",
                            self.db(node)], input=script, capture_output=True, text=True,
                           timeout=60)
        if r.returncode:
            raise RuntimeError("sqlite3 on %s: %s" % (node, r.stderr))
        return r.stdout

    def pos(self, node):
        try:
            with open(self.db(node) + "-pos") as f:
                return f.read().strip()
        except OSError:
            return None

    def settled(self):
        ps = [self.pos(n) for n in self.nodes()]
        return ps[0] is not None and all(p == ps[0] for p in ps)

    def sessions_open(self, node):
        """litefs_fwd_sessions_open of NODE's forwarder, or None when it cannot be read."""
        url = "http://%s:%d/metrics" % (self.addr(node), self.metrics_port)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith("litefs_fwd_sessions_open"):
                        return int(float(line.split()[-1]))
        except (OSError, ValueError):
            return None
        return None

    @staticmethod
    def wait(timeout, cond, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.05)
        raise RuntimeError("timed out (%g s) waiting until %s" % (timeout, what))

    # --- the network filter -------------------------------------------------------------
    def cut(self, node):
        """Drops every packet from or to NODE's address: the node is cut off from the others
        (its LiteFS replication, its forwarder, its HTTP API)."""
        a = self.addr(node)
        script = ("add table inet %s\n"
                  "add chain inet %s out { type filter hook output priority 0 ; }\n"
                  "add rule inet %s out ip saddr %s drop\n"
                  "add rule inet %s out ip daddr %s drop\n") % (
                      self.nft_table, self.nft_table, self.nft_table, a, self.nft_table, a)
        subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True)
        self.nft_on = True

    def heal(self):
        if self.nft_on:
            subprocess.run(["nft", "delete", "table", "inet", self.nft_table],
                           stderr=subprocess.DEVNULL)
            self.nft_on = False

    def mounts(self):
        with open("/proc/self/mounts") as f:
            return [line.split()[1] for line in f if line.split()[1].startswith(self.dir + "/")]

    # --- cleanup --------------------------------------------------------------------------
    def cleanup(self):
        self.heal()
        for pid in list(self.stopped):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        for p in self.procs:
            if p.alive():
                p.kill_group()
        if self.up:
            try:
                self.simcmd("down", self.dir, timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                log("cleanup: %s" % e)
        for m in self.mounts():
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        if self.mounts():
            log("cleanup: mounts left under %s: %s" % (self.dir, self.mounts()))
        elif not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            log("kept %s" % self.dir)
