"""The chaos suite's fault injector: one fault at a time, each of a kind below, on a node
chosen at random; the fault is held for a while, then healed, and the time until every
node has a write acknowledged again is measured by the probers.

Kinds:
  promote           another node becomes the primary (litefs-sim promote)
  kill-forwarder    SIGKILL of a forwarder (most often the primary's), restarted after a while
  kill-writers      SIGKILL of one or two writers, whatever they were doing (often inside a
                    transaction), each replaced by a new one
  stop-litefs       a node's LiteFS stops (its mount goes away) and starts again, catching up
  cut-network       every packet from or to a node's address dropped, then let through again
  freeze-forwarder  SIGSTOP of the primary's forwarder, then SIGCONT"""
import signal
import time

KINDS = ["promote", "kill-forwarder", "kill-writers", "stop-litefs", "cut-network",
         "freeze-forwarder"]


class Injector:
    def __init__(self, cluster, writers, rnd, kinds):
        self.c, self.writers, self.rnd, self.kinds = cluster, writers, rnd, kinds
        self.order = []

    def next_kind(self):
        """Every kind in turn, in an order shuffled anew for each round."""
        if not self.order:
            self.order = self.kinds[:]
            self.rnd.shuffle(self.order)
        return self.order.pop()

    def some_node(self, primary_weight):
        """The primary with probability PRIMARY_WEIGHT, else one of the replicas."""
        if self.rnd.random() < primary_weight:
            return self.c.primary
        return self.rnd.choice([n for n in self.c.nodes() if n != self.c.primary])

    def inject(self, kind):
        """Injects one fault of KIND and heals it. Returns (target, held seconds)."""
        return getattr(self, "f_" + kind.replace("-", "_"))()

    def f_promote(self):
        """A replica that has not caught up with the primary yet (just after a cut) is
        refused by litefs-sim, the primary staying: asked again for up to 30 s."""
        target = self.some_node(0)
        deadline = time.time() + 30
        while True:
            try:
                self.c.simcmd("promote", self.c.dir, target, timeout=120)
                break
            except RuntimeError as e:
                if "could not catch up" not in str(e) or time.time() > deadline:
                    raise
                time.sleep(1)
        self.c.primary = target
        return target, 0.0

    def f_kill_forwarder(self):
        target = self.some_node(0.7)
        hold = self.rnd.uniform(0.2, 3.0)
        fw = self.c.forwarders[target]
        fw.kill_group()
        time.sleep(hold)
        self.c.start_forwarder(target)
        self.c.wait(15, lambda: self.c.forwarder_listens(target),
                    "the forwarder of %s listens again" % target)
        return target, hold

    def f_kill_writers(self):
        victims = self.rnd.sample(self.writers.live(), self.rnd.choice([1, 2]))
        for w in victims:
            self.writers.kill_and_replace(w)
        return ",".join(w.name for w in victims), 0.0

    def f_stop_litefs(self):
        target = self.some_node(0.34)
        hold = self.rnd.uniform(0.5, 4.0)
        self.writers.stops[target] = time.time()
        self.c.simcmd("stop-node", self.c.dir, target, timeout=60)
        time.sleep(hold)
        self.c.simcmd("start-node", self.c.dir, target, timeout=60)
        return target, hold

    def f_cut_network(self):
        target = self.some_node(0.6)
        hold = self.rnd.uniform(1.0, 7.0)
        self.c.cut(target)
        time.sleep(hold)
        self.c.heal()
        return target, hold

    def f_freeze_forwarder(self):
        target = self.c.primary
        hold = self.rnd.uniform(0.3, 7.0)
        fw = self.c.forwarders[target]
        self.c.stopped.add(fw.pid)
        fw.signal(signal.SIGSTOP)
        time.sleep(hold)
        fw.signal(signal.SIGCONT)
        self.c.stopped.discard(fw.pid)
        return target, hold
