"""CMD of the reaping tests: leaves orphans behind and tells who reaped them.

    orphans.py N

Makes N orphans (grandchildren whose parent exits at once), each of which reports its
new parent after 0.3 s and exits. Once they have all exited, waits 0.5 s and prints:

    my_parent=P        this program's parent (the reaper under test)
    orphans_parent=Q   the parent the orphans were reparented to (one value, or a list)
    zombies=Z          how many orphans are zombies (exited, nobody reaped them)
    left=L             how many orphans still run (0 expected)
"""
import os
import sys
import time


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def main():
    n = int(sys.argv[1])
    r, w = os.pipe()
    for _ in range(n):
        child = os.fork()
        if child == 0:
            if os.fork() == 0:
                os.close(r)
                time.sleep(0.3)
                os.write(w, ("%d %d\n" % (os.getpid(), os.getppid())).encode())
                os._exit(0)
            os._exit(0)
        os.waitpid(child, 0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    reports = [tuple(int(x) for x in line.split()) for line in data.decode().splitlines()]
    time.sleep(0.5)
    parents = sorted({ppid for _, ppid in reports})
    states = [state(pid) for pid, _ in reports]
    print("my_parent=%d" % os.getppid())
    print("orphans_parent=%s" % ",".join(str(p) for p in parents))
    print("zombies=%d" % sum(1 for s in states if s == "Z"))
    print("left=%d" % sum(1 for s in states if s is not None and s != "Z"))
    sys.stdout.flush()


main()
