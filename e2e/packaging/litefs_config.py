"""Checks a litefs.yml the way LiteFS v0.5.14 reads it: ${...} expanded from the
environment first (os.Expand, plus the ${A == B} forms of cmd/litefs/config.go), then
decoded into its Config structure with unknown fields refused. Then the commands of
`exec` against litefs-fwd: subcommands and options that exist, LITEFS_FWD_* variables
the README documents.

usage: litefs_config.py LITEFS_YML LITEFS_FWD README   (the environment is LiteFS's)
Prints one line per problem and exits 1 when there is any."""
import os
import re
import shlex
import subprocess
import sys

import yaml

DURATION = "duration"
# cmd/litefs/config.go of LiteFS v0.5.14: the yaml tags of Config and its sections
SCHEMA = {
    "exit-on-error": bool, "skip-sync": bool, "strict-verify": bool,
    "exec": "exec",
    "data": {"dir": str, "compress": bool, "retention": DURATION,
             "retention-monitor-interval": DURATION},
    "fuse": {"dir": str, "allow-other": bool, "debug": bool},
    "http": {"addr": str, "snapshot-timeout": DURATION},
    "proxy": {"addr": str, "target": str, "db": str, "max-lag": DURATION, "debug": bool,
              "passthrough": list, "always-forward": list,
              "primary-redirect-timeout": DURATION, "read-timeout": DURATION,
              "read-header-timeout": DURATION, "write-timeout": DURATION,
              "idle-timeout": DURATION},
    "lease": {"type": str, "hostname": str, "advertise-url": str, "candidate": bool,
              "promote": bool, "reconnect-delay": DURATION, "demote-delay": DURATION,
              "databases": list,
              "consul": {"url": str, "key": str, "ttl": DURATION, "lock-delay": DURATION}},
    "backup": {"type": str, "path": str, "url": str, "cluster": str, "auth-token": str},
    "log": {"format": str, "timestamp": bool, "debug": bool},
    "tracing": {"enabled": bool, "path": str, "max-size": int, "max-count": int,
                "compress": bool},
}
EXEC_ITEM = {"cmd": str, "if-candidate": bool}

problems = []


def expand(text):
    """LiteFS's ExpandEnv: $VAR and ${VAR}, and ${A == 'x'}, ${A != "x"}, ${A == B}."""
    def one(v):
        v = v.strip()
        m = re.fullmatch(r"(\w+)\s*(==|!=)\s*'(.*)'", v) or \
            re.fullmatch(r'(\w+)\s*(==|!=)\s*"(.*)"', v)
        if m:
            eq = os.environ.get(m[1], "") == m[3]
            return str(eq if m[2] == "==" else not eq).lower()
        m = re.fullmatch(r"(\w+)\s*(==|!=)\s*(\w+)", v)
        if m:
            eq = os.environ.get(m[1], "") == os.environ.get(m[3], "")
            return str(eq if m[2] == "==" else not eq).lower()
        return os.environ.get(v, "")
    return re.sub(r"\$\{([^}]*)\}|\$(\w+)", lambda m: one(m[1] if m[1] is not None else m[2]),
                  text)


def check(node, schema, where):
    if schema is DURATION:
        if not (isinstance(node, str) and re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", node)):
            problems.append(f"{where}: not a Go duration: {node!r}")
        return
    if schema == "exec":
        if isinstance(node, str):
            node = [{"cmd": node}]
        if not isinstance(node, list):
            problems.append(f"{where}: neither a command nor a list of them")
            return
        for i, item in enumerate(node):
            check(item, EXEC_ITEM, f"{where}[{i}]")
        return
    if isinstance(schema, dict):
        if not isinstance(node, dict):
            problems.append(f"{where}: not a mapping")
            return
        for k, v in node.items():
            if k not in schema:
                problems.append(f"{where}.{k}: not a field of LiteFS's configuration")
            else:
                check(v, schema[k], f"{where}.{k}")
        return
    if schema is int and isinstance(node, bool) or not isinstance(node, schema):
        problems.append(f"{where}: {node!r} is not a {schema.__name__}")


def check_command(cmd, fwd, documented):
    words = shlex.split(cmd)
    if words and words[0] == "env":
        words.pop(0)
        while words and re.fullmatch(r"\w+=.*", words[0]):
            name = words.pop(0).split("=", 1)[0]
            if name.startswith("LITEFS_FWD_") and name not in documented:
                problems.append(f"exec: {name} is not documented in the README")
    if not words or words[0] != "litefs-fwd":
        problems.append(f"exec: {cmd!r} does not start the application with litefs-fwd")
        return
    if len(words) < 2:
        problems.append(f"exec: {cmd!r}: no litefs-fwd command")
        return
    top = subprocess.run([fwd, "--help"], capture_output=True, text=True).stdout
    if not re.search(rf"^  {re.escape(words[1])}\b", top, re.M):
        problems.append(f"exec: litefs-fwd has no command {words[1]!r}")
        return
    sub = subprocess.run([fwd, words[1], "--help"], capture_output=True, text=True)
    if sub.returncode != 0:
        problems.append(f"exec: litefs-fwd {words[1]} --help fails")
        return
    rest = words[2:]
    if "--" not in rest:
        problems.append(f"exec: {cmd!r}: no -- before the application")
        return
    for w in rest[:rest.index("--")]:
        if w.startswith("-") and not re.search(rf"(^|\s){re.escape(w.split('=')[0])}\b",
                                               sub.stdout):
            problems.append(f"exec: litefs-fwd {words[1]} has no option {w!r}")
    if not rest[rest.index("--") + 1:]:
        problems.append(f"exec: {cmd!r}: no application after --")


def main():
    path, fwd, readme = sys.argv[1:4]
    with open(readme) as f:
        documented = set(re.findall(r"^\| `(LITEFS_FWD_\w+)`", f.read(), re.M))
    with open(path) as f:
        conf = yaml.safe_load(expand(f.read()))
    check(conf, SCHEMA, "litefs.yml")
    if not isinstance(conf, dict):
        problems.append("litefs.yml: empty")
    else:
        if not conf.get("fuse", {}).get("dir"):
            problems.append("fuse.dir: required by LiteFS, not set")
        if conf.get("lease", {}).get("type") not in ("consul", "static"):
            problems.append("lease.type: must be consul or static")
        ex = conf.get("exec") or []
        for item in ([{"cmd": ex}] if isinstance(ex, str) else ex):
            if isinstance(item, dict) and isinstance(item.get("cmd"), str):
                check_command(item["cmd"], fwd, documented)
    for p in problems:
        print(f"{path}: {p}")
    sys.exit(1 if problems else 0)


main()
