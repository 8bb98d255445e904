#!/usr/bin/env python3
"""Evaluates a python expression on a JSON document (`d`), for the shell tests.

usage: jq.py EXPR [FILE]      (FILE defaults to stdin)
Prints a string result as it is, anything else as compact JSON. Exit 1 on bad JSON or
when the expression fails (e.g. a missing key), with the reason on stderr.
"""
import json
import sys


def main():
    expr = sys.argv[1]
    text = open(sys.argv[2]).read() if len(sys.argv) > 2 else sys.stdin.read()
    try:
        d = json.loads(text)
    except ValueError as e:
        print("jq.py: not JSON (%s): %r" % (e, text[:200]), file=sys.stderr)
        return 1
    try:
        v = eval(expr, {"json": json, "d": d})
    except Exception as e:  # noqa: BLE001 - reported to the test
        print("jq.py: %s: %s: %s" % (expr, e.__class__.__name__, e), file=sys.stderr)
        return 1
    print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
