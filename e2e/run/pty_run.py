"""Runs a command on a new pseudo-terminal, as the foreground job of its own session,
and types ^C on it once.

    pty_run.py TRAPS_OUT -- CMD [ARGS]

CMD is expected to start e2e/run/traps.py TRAPS_OUT somewhere below it. Once TRAPS_OUT.ready
exists, types ^C (the terminal sends SIGINT to its whole foreground process group), waits
until TRAPS_OUT has a line and 0.5 s more, then sends SIGINT to CMD's own pid with kill(),
waits the same way, and sends SIGTERM the same way. Prints `pid=PID` (CMD's) first and
`exit=STATUS` (as a shell reports it) at the end; what was written on the terminal goes to
stderr.
"""
import os
import pty
import select
import signal
import sys
import time


def main():
    out = sys.argv[1]
    cmd = sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    print("pid=%d" % pid, flush=True)

    def drain(seconds, until=None):
        end = time.time() + seconds
        while time.time() < end:
            if until and until():
                return True
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    sys.stderr.buffer.write(os.read(fd, 4096))
                except OSError:
                    pass
        return bool(until and until())

    def lines():
        try:
            with open(out) as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0

    if not drain(15, lambda: os.path.exists(out + ".ready")):
        print("never ready")
        os.kill(pid, signal.SIGKILL)
    else:
        os.write(fd, b"\x03")
        drain(5, lambda: lines() >= 1)
        drain(0.5)
        os.kill(pid, signal.SIGINT)
        drain(5, lambda: lines() >= 2)
        drain(0.5)
        os.kill(pid, signal.SIGTERM)
    end = time.time() + 15
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        drain(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        done, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print("exit=%d" % (code if code >= 0 else 128 - code), flush=True)


main()
