#!/usr/bin/env python3
"""One file-system operation on a path, for exact checks of the mount's files.

usage: fsprobe.py OP PATH
  stat    "ok", or the errno name (e.g. ENOENT)
  open    open for reading: "ok" or the errno name
  bytes   the content as a python bytes literal, e.g. b'node1\\n', or the errno name
  mode    the permission bits in octal (e.g. 0444), or the errno name
  size    the size in bytes, or the errno name
  create  open(O_CREAT|O_WRONLY) and close: "ok" or the errno name
"""
import errno
import os
import stat
import sys


def main():
    op, path = sys.argv[1], sys.argv[2]
    try:
        if op == "stat":
            os.stat(path)
            print("ok")
        elif op == "open":
            os.close(os.open(path, os.O_RDONLY))
            print("ok")
        elif op == "bytes":
            with open(path, "rb") as f:
                print(repr(f.read()))
        elif op == "mode":
            print("%04o" % stat.S_IMODE(os.stat(path).st_mode))
        elif op == "size":
            print(os.stat(path).st_size)
        elif op == "create":
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            print("ok")
        else:
            print("unknown op " + op, file=sys.stderr)
            return 2
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
