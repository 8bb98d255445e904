"""CMD of the signal tests: records every signal `litefs-fwd run` may pass on.

    traps.py OUT

Traps SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM and SIGCONT,
appends the name of each one received to OUT (one a line, without "SIG"), writes its pid
to OUT.ready once the traps are in place, and exits with status 7 after SIGTERM.
"""
import os
import signal
import sys

NAMES = ["HUP", "INT", "QUIT", "TERM", "USR1", "USR2", "WINCH", "ALRM", "CONT"]


def main():
    out = sys.argv[1]

    def record(sig, _frame):
        with open(out, "a") as f:
            f.write(signal.Signals(sig).name[3:] + "\n")
        if sig == signal.SIGTERM:
            sys.exit(7)

    for name in NAMES:
        signal.signal(getattr(signal, "SIG" + name), record)
    with open(out + ".ready.tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(out + ".ready.tmp", out + ".ready")
    while True:
        signal.pause()


main()
