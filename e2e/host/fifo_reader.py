"""Reads a FIFO for as long as it runs, copying what it reads to stdout: a trace reader
that goes away when it is killed, leaving the FIFO without a reader.

    python3 fifo_reader.py FIFO READY

The FIFO is opened without waiting for a writer, then READY is created: from then on a
writer's non-blocking open succeeds. Between writers (end of file) it keeps reading.
"""
import os
import sys
import time


def main():
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
    open(sys.argv[2], "w").close()
    out = sys.stdout.buffer
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            data = b""
        if data:
            out.write(data)
            out.flush()
        else:
            time.sleep(0.02)


if __name__ == "__main__":
    main()
