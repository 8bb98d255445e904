#!/usr/bin/env bash
# End-to-end: the forwarder's Prometheus metrics (--metrics-addr, LITEFS_FWD_METRICS_ADDR).
# A known sequence of writes from unmodified programs on a replica (successes, a UNIQUE
# violation, a transaction held open while scraping, a wrong secret, no secret) shows up
# in the primary's metrics exactly, in text that is valid exposition format throughout;
# the endpoint serves GET and HEAD /metrics only, stops with the forwarder, and an
# address that cannot be bound or parsed stops the forwarder's start.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

SECRET="correct horse battery staple, 42"
METRICS_PORT=20209
EXPO_TYPE="text/plain; version=0.0.4; charset=utf-8"

# The checker of the text exposition format, version 0.0.4:
#   expo.py check FILE        prints one line per violation; exit status 1 when any
#   expo.py get FILE SERIES   the value of one series, e.g. 'm_total{outcome="x"}' ("missing")
#   expo.py sum FILE NAME     the sum of every series of the metric NAME
# It checks every line (HELP and TYPE lines, samples with their labels and escapes, values),
# that each family has one TYPE before its samples and its samples together, that counters
# end in _total, that no series repeats, and that every histogram has increasing le bounds
# ending with +Inf, cumulative counts, a _sum, and a _count equal to its +Inf bucket.
write_expo_checker() {
	cat >"$E2E_TMP/expo.py" <<'PY'
import math, re, sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LNAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LVALUE = r'(?:\\[\\"n]|[^\\"\n])*'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s=\"%s\")(?:,%s=\"%s\")*,?)?\})? (\S+)(?: (-?[0-9]+))?$"
                    % (NAME, LNAME, LVALUE, LNAME, LVALUE))
PAIR = re.compile(r"(%s)=\"(%s)\"" % (LNAME, LVALUE))
HELP = re.compile(r"^# HELP (%s) ((?:\\[\\n]|[^\\\n])*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def number(s):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not FLOAT.fullmatch(s):
        raise ValueError(s)
    return float(s)


def parse(text):
    errors, series, types, helps = [], {}, {}, set()
    seen, current, hist = set(), None, {}
    if not text.endswith("\n"):
        errors.append("the text does not end with a line feed")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            m = (HELP if line.startswith("# HELP ") else TYPE).match(line)
            if not m:
                errors.append("line %d: malformed: %r" % (n, line))
            elif line.startswith("# HELP "):
                if m.group(1) in helps:
                    errors.append("line %d: second HELP of %s" % (n, m.group(1)))
                helps.add(m.group(1))
            else:
                if m.group(1) in types or m.group(1) in seen:
                    errors.append("line %d: TYPE of %s again or after its samples" % (n, m.group(1)))
                types[m.group(1)] = m.group(2)
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        if not m:
            errors.append("line %d: not a sample: %r" % (n, line))
            continue
        name, labels, value = m.group(1), PAIR.findall(m.group(2) or ""), m.group(3)
        try:
            v = number(value)
        except ValueError:
            errors.append("line %d: not a value: %r" % (n, value))
            continue
        if len({k for k, _ in labels}) != len(labels):
            errors.append("line %d: a label twice" % n)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                family = name[: -len(suffix)]
        if family not in types:
            errors.append("line %d: %s has no TYPE" % (n, family))
        if family != current:
            if family in seen:
                errors.append("line %d: the samples of %s are not together" % (n, family))
            seen.add(family)
            current = family
        kind = types.get(family)
        if kind == "counter" and not name.endswith("_total"):
            errors.append("line %d: counter %s does not end in _total" % (n, name))
        key = name + ("{" + ",".join('%s="%s"' % kv for kv in labels) + "}" if labels else "")
        if key in series:
            errors.append("line %d: %s twice" % (n, key))
        series[key] = v
        if kind == "histogram":
            h = hist.setdefault(family, {"le": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                le = [val for k, val in labels if k == "le"]
                if len(le) != 1:
                    errors.append("line %d: a bucket without le" % n)
                else:
                    h["le"].append((number(le[0]), v))
            elif name.endswith("_sum"):
                h["sum"] = v
            else:
                h["count"] = v
    for family, h in hist.items():
        les = [le for le, _ in h["le"]]
        counts = [c for _, c in h["le"]]
        if not les or les[-1] != math.inf:
            errors.append("%s: no le=\"+Inf\" bucket last" % family)
        if les != sorted(set(les)):
            errors.append("%s: le bounds not increasing" % family)
        if counts != sorted(counts):
            errors.append("%s: buckets not cumulative: %s" % (family, counts))
        if h["sum"] is None or h["count"] is None:
            errors.append("%s: no _sum or no _count" % family)
        elif counts and h["count"] != counts[-1]:
            errors.append("%s: _count %s is not the +Inf bucket %s" % (family, h["count"], counts[-1]))
    return errors, series


def show(v):
    return str(int(v)) if v == int(v) else repr(v)


mode, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    errors, series = parse(f.read())
if mode == "check":
    print("\n".join(errors))
    sys.exit(1 if errors else 0)
if mode == "get":
    print(show(series[sys.argv[3]]) if sys.argv[3] in series else "missing")
elif mode == "sum":
    print(show(sum(v for k, v in series.items() if k.split("{")[0] == sys.argv[3])))
PY
}

# metrics_addr DIR NODE: where NODE's forwarder serves its metrics.
metrics_addr() { echo "$(node_addr "$1" "$2"):$METRICS_PORT"; }

# scrape URL OUT: GET URL into OUT (headers in OUT.head); curl's exit status.
scrape() {
	[[ $1 =~ ^http://127\. ]] || { echo "scrape: not a loopback URL: $1" >&2; return 2; }
	curl -sS --noproxy '*' --max-time 5 -D "$2.head" -o "$2" "$1"
}

# scrape_node DIR NODE OUT: scrape NODE's metrics into OUT; a `not ok` when that fails.
scrape_node() {
	local url
	url="http://$(metrics_addr "$1" "$2")/metrics"
	capture scrape "$url" "$3"
	((RC == 0)) && return 0
	not_ok "scrape $url" "exit status" "$RC" stderr "$ERR"
}

expo() { "$E2E_PY" "$E2E_TMP/expo.py" "$@"; }

# assert_valid NAME FILE: FILE is valid exposition format.
assert_valid() {
	capture expo check "$2"
	if ((RC == 0)); then ok "$1"; else not_ok "$1" violations "$OUT$ERR" text "$(head -c 3000 "$2")"; fi
}

# header FILE NAME: the value of a response header recorded in FILE.head.
header() {
	local h k
	while IFS= read -r h; do
		h=${h%$'\r'}
		k=${h%%:*}
		[[ ${k,,} == "${2,,}" ]] && { echo "${h#*: }"; return 0; }
	done <"$1.head"
	return 1
}

# role_of DIR NODE: the role whose litefs_fwd_role series is 1 on NODE ("" when none).
role_of() {
	local f="$E2E_TMP/role.$RANDOM" r
	scrape "http://$(metrics_addr "$1" "$2")/metrics" "$f" >/dev/null 2>&1 || return 1
	for r in unknown primary replica no_primary no_mount; do
		[[ $(expo get "$f" "litefs_fwd_role{role=\"$r\"}") == 1 ]] && echo "$r"
	done
	rm -f "$f" "$f.head"
}

# metrics_cluster VAR NAME: a two-node cluster with app.db whose forwarders hold the
# cluster's secret (SECRET_FILE) and serve metrics at METRICS_PORT of their node's address:
# node1's from --metrics-addr, node2's from LITEFS_FWD_METRICS_ADDR.
metrics_cluster() {
	local -n _md=$1
	local n
	_md=$(new_dir "$2")
	write_expo_checker
	SECRET_FILE=$(mktemp "$E2E_TMP/secret.XXXXXX") || return 1
	printf '%s\n' "$SECRET" >"$SECRET_FILE"
	sim_up "$_md" --db app.db || return 1
	bg_start "$_md/node1-forwarder.log" env LITEFS_FWD_SECRET_FILE="$SECRET_FILE" \
		"$LITEFS_SIM" exec "$_md" node1 -- sh -c \
		'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN" --metrics-addr "$1"' \
		"$FWD_BIN" "$(metrics_addr "$_md" node1)"
	bg_start "$_md/node2-forwarder.log" env LITEFS_FWD_SECRET_FILE="$SECRET_FILE" \
		LITEFS_FWD_METRICS_ADDR="$(metrics_addr "$_md" node2)" \
		"$LITEFS_SIM" exec "$_md" node2 -- sh -c \
		'exec "$0" forwarder --listen "$LITEFS_FWD_LISTEN"' "$FWD_BIN"
	wait_for 5 _fwd_listening "$_md" || {
		not_ok "forwarders listen" log "$(cat "$_md"/*-forwarder.log)"
		return 1
	}
	for n in node1 node2; do
		wait_for 5 grep -qF "serving Prometheus metrics at http://$(metrics_addr "$_md" "$n")/metrics" \
			"$_md/$n-forwarder.log" || {
			not_ok "$n's forwarder serves metrics" log "$(cat "$_md/$n-forwarder.log")"
			return 1
		}
	done
	# the primary's forwarder records itself in app.db first, in a transaction of its own
	wait_for 5 grep -qF "tracking: app.db names node1 " "$_md/node1-forwarder.log" || {
		not_ok "the primary's forwarder records itself in app.db" \
			log "$(cat "$_md/node1-forwarder.log")"
		return 1
	}
}

# secret_sql DIR SQL: the sqlite3 shell on node2's app.db, holding the secret.
secret_sql() {
	on "$1" node2 env LITEFS_FWD_SECRET_FILE="$SECRET_FILE" sqlite3 -batch \
		"$(node_mnt "$1" node2)/app.db" "$2"
}

test_counts_of_a_known_sequence() {
	local d f="$E2E_TMP/scrape" t0 outcome
	t0=$(($(now_ms) / 1000))
	metrics_cluster d seq || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE u(a UNIQUE);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return

	scrape_node "$d" node1 "$f" || return
	assert_valid "the primary's metrics before any request are valid exposition format" "$f"
	assert_eq "no request counted yet" 0 "$(expo sum "$f" litefs_fwd_requests_total)"
	assert_eq "the latency histogram is empty" 0 \
		"$(expo get "$f" litefs_fwd_request_duration_seconds_count)"
	assert_eq "Content-Type of the exposition format" "$EXPO_TYPE" "$(header "$f" Content-Type)"
	eventually_eq "node1's role: primary" 5 primary role_of "$d" node1
	eventually_eq "node2's role: replica (LITEFS_FWD_METRICS_ADDR)" 5 replica role_of "$d" node2

	capture secret_sql "$d" "INSERT INTO u VALUES (1); INSERT INTO u VALUES (2); INSERT INTO u VALUES (3);"
	assert_eq "three forwarded INSERTs succeed" 0 "$RC" || evidence stderr "$ERR"
	capture secret_sql "$d" "INSERT INTO u VALUES (1);"
	assert_ne "a duplicate fails" 0 "$RC"
	assert_contains "... with the primary's UNIQUE violation" "UNIQUE constraint failed: u.a" "$ERR"

	# a transaction (a session on the primary) held open while the metrics are scraped
	bg_start "$d/txn.out" on "$d" node2 env LITEFS_FWD_SECRET_FILE="$SECRET_FILE" \
		LITEFS_FWD_TXN_TIMEOUT_MS=30000 "$E2E_PY" -c '
import os, sqlite3, sys, time
c = sqlite3.connect(os.environ["LITEFS_FWD_MOUNT"] + "/app.db", isolation_level=None)
c.execute("BEGIN")
c.execute("INSERT INTO u VALUES (10)")
print("open", flush=True)
deadline = time.time() + 20
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.02)
c.execute("COMMIT")
print("committed", flush=True)
' "$d/go"
	local txn=$BG_PID
	wait_for 10 grep -qx open "$d/txn.out" || {
		not_ok "the transaction opens on the primary" out "$(cat "$d/txn.out")"
		return
	}
	scrape_node "$d" node1 "$f" || return
	assert_valid "the metrics with a transaction open are valid" "$f"
	assert_eq "one session open while the transaction is" 1 "$(expo get "$f" litefs_fwd_sessions_open)"
	assert_eq "its first write counted as executed (3 + 1)" 4 \
		"$(expo get "$f" 'litefs_fwd_requests_total{outcome="executed"}')"
	assert_eq "no request in flight between two statements" 0 \
		"$(expo get "$f" litefs_fwd_requests_in_flight)"
	: >"$d/go"
	bg_wait "$txn" 15
	assert_eq "the transaction commits" $'open\ncommitted' "$(cat "$d/txn.out")"
	scrape_node "$d" node1 "$f" || return
	assert_eq "no session open after COMMIT" 0 "$(expo get "$f" litefs_fwd_sessions_open)"

	capture on "$d" node2 env LITEFS_FWD_SECRET="another secret, 32 bytes long.." sqlite3 -batch \
		"$(node_mnt "$d" node2)/app.db" "INSERT INTO u VALUES (20);"
	assert_ne "a program with another secret is refused" 0 "$RC"
	capture on "$d" node2 sqlite3 -batch "$(node_mnt "$d" node2)/app.db" "INSERT INTO u VALUES (21);"
	assert_ne "so is one without a secret" 0 "$RC"
	assert_eq "the primary holds exactly the successful writes" "1 2 3 10" \
		"$(node_sql "$d" node1 app.db "SELECT group_concat(a, ' ') FROM (SELECT a FROM u ORDER BY a);")"

	scrape_node "$d" node1 "$f" || return
	assert_valid "the final metrics are valid exposition format (every line)" "$f"
	local -A want=([executed]=5 [sql_error]=1 [unauthenticated]=2 [busy]=0 [not_primary]=0
		[repeat]=0 [described]=0 [ping]=0 [refused]=0 [protocol_error]=0 [stopping]=0
		[no_reply]=0 [other]=0)
	local got="" expected=""
	for outcome in executed sql_error busy not_primary repeat described ping refused \
		protocol_error unauthenticated stopping no_reply other; do
		expected+="$outcome=${want[$outcome]} "
		got+="$outcome=$(expo get "$f" "litefs_fwd_requests_total{outcome=\"$outcome\"}") "
	done
	assert_eq "requests by outcome: 3 + 2 (the transaction) executed, the UNIQUE violation, two refused by authentication, nothing else" \
		"$expected" "$got"
	assert_eq "the latency histogram counts every request" 8 \
		"$(expo get "$f" litefs_fwd_request_duration_seconds_count)"
	assert_eq "... all of them in +Inf" 8 \
		"$(expo get "$f" 'litefs_fwd_request_duration_seconds_bucket{le="+Inf"}')"
	assert_num "... and none took over 10 s" \
		"$(expo get "$f" 'litefs_fwd_request_duration_seconds_bucket{le="10"}')" "==" 8
	assert_num "their latencies add up to something" \
		"$(expo get "$f" litefs_fwd_request_duration_seconds_sum)" ">" 0
	assert_eq "authentication failures by reason: another secret, no secret" \
		"unsealed=1 bad_mac=1 stale=0 replay=0 flood=0" \
		"$(for r in unsealed bad_mac stale replay flood; do
			printf '%s=%s ' "$r" "$(expo get "$f" "litefs_fwd_auth_failures_total{reason=\"$r\"}")"
		done | sed 's/ $//')"
	assert_eq "four autocommit writes, one group commit each (count, sum, le=1)" "4 4 4" \
		"$(expo get "$f" litefs_fwd_batch_size_count) $(expo get "$f" litefs_fwd_batch_size_sum) $(expo get "$f" 'litefs_fwd_batch_size_bucket{le="1"}')"
	assert_eq "no session open, none expired" "0 0" \
		"$(expo get "$f" litefs_fwd_sessions_open) $(expo get "$f" litefs_fwd_sessions_expired_total)"
	assert_num "bytes received counted" "$(expo get "$f" litefs_fwd_received_bytes_total)" ">" 0
	assert_num "bytes sent counted" "$(expo get "$f" litefs_fwd_sent_bytes_total)" ">" 0
	assert_eq "settings: workers, sessions allowed" "64 1024" \
		"$(expo get "$f" litefs_fwd_workers) $(expo get "$f" litefs_fwd_sessions_max)"
	assert_eq "the node as LiteFS names it, its address and mount" 1 \
		"$(expo get "$f" "litefs_fwd_node_info{hostname=\"node1\",listen=\"$(node_fwd_url "$d" node1)\",mount=\"$(node_mnt "$d" node1)\"}")"
	assert_line "build info with the SQLite library's version" \
		"^litefs_fwd_build_info\{sqlite_version=\"$(sqlite3 -version | cut -d' ' -f1)\",version=\"[^\"]+\",wire_version=\"[0-9]+\"\} 1$" \
		"$(cat "$f")"
	local start
	start=$(expo get "$f" litefs_fwd_start_time_seconds)
	assert_num "the start time is this test's" "$start" ">=" "$t0"
	assert_num "... and not in the future" "$start" "<=" "$(($(now_ms) / 1000 + 1))"
	assert_eq "the primary's role" 1 "$(expo get "$f" 'litefs_fwd_role{role="primary"}')"

	scrape_node "$d" node2 "$f" || return
	assert_valid "the replica's metrics are valid" "$f"
	assert_eq "the replica's forwarder was asked nothing" 0 "$(expo sum "$f" litefs_fwd_requests_total)"
	assert_eq "... and knows it is a replica" 1 "$(expo get "$f" 'litefs_fwd_role{role="replica"}')"
}

# A forwarder alone on a directory (no cluster needed): the endpoint's HTTP surface, its
# address refused when in use or malformed (the forwarder then does not start at all), and
# its end with the forwarder.
test_endpoint_and_its_address() {
	local dir f="$E2E_TMP/scrape" port pid
	dir=$(new_dir endpoint) || return
	write_expo_checker
	mkdir "$dir/mnt"
	bg_start "$dir/fwd.log" env -u LITEFS_FWD_METRICS_ADDR "$FWD_BIN" forwarder \
		--listen "ipc://$dir/fwd.sock" --mount "$dir/mnt" --events-url "" --table "" \
		--metrics-addr 127.0.0.1:0
	pid=$BG_PID
	wait_for 5 grep -q "serving Prometheus metrics at http://127.0.0.1:[0-9]*/metrics" "$dir/fwd.log" || {
		not_ok "the forwarder serves metrics on a port of its choice (port 0)" log "$(cat "$dir/fwd.log")"
		return
	}
	port=$(grep -o "serving Prometheus metrics at http://127.0.0.1:[0-9]*" "$dir/fwd.log" | sed 's/.*://')
	assert_num "on a port picked for it" "$port" ">" 0
	local base="http://127.0.0.1:$port"

	capture scrape "$base/metrics" "$f"
	assert_eq "GET /metrics" 0 "$RC" || evidence stderr "$ERR"
	assert_match "... 200" "^HTTP/1\.1 200" "$(head -n 1 "$f.head")"
	assert_eq "... as text/plain; version=0.0.4" "$EXPO_TYPE" "$(header "$f" Content-Type)"
	assert_valid "... in valid exposition format" "$f"
	assert_line "... with HELP lines" "^# HELP litefs_fwd_requests_total " "$(cat "$f")"
	local size
	size=$(stat -c %s "$f")
	capture curl -sS --noproxy '*' --max-time 5 -I "$base/metrics"
	assert_match "HEAD /metrics: 200" "^HTTP/1\.1 200" "$OUT"
	assert_contains "... the same Content-Type" "Content-Type: $EXPO_TYPE" "$OUT"
	assert_contains "... the length of the body GET gets, without the body" \
		"Content-Length: $size" "$OUT"
	local path code
	for path in / /metric /metrics/ /metrics.txt /debug/vars; do
		code=$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "$base$path")
		assert_eq "GET $path: 404" 404 "$code"
	done
	for method in POST PUT DELETE; do
		capture curl -s --noproxy '*' --max-time 5 -o /dev/null -D - -X "$method" \
			--data x=1 "$base/metrics"
		assert_match "$method /metrics: 405" "^HTTP/1\.1 405" "$OUT"
		assert_contains "... naming what is served" "Allow: GET, HEAD" "$OUT"
	done

	capture timeout -k 2 10 "$FWD_BIN" forwarder --listen "ipc://$dir/other.sock" \
		--mount "$dir/mnt" --events-url "" --table "" --metrics-addr "127.0.0.1:$port"
	assert_eq "a second forwarder with the same metrics address does not start (status 1)" 1 "$RC"
	assert_contains "... saying why" "cannot serve metrics on 127.0.0.1:$port: Address already in use" "$ERR"
	assert_eq "... and it served nothing at all (its socket was never bound)" no \
		"$([[ -e $dir/other.sock ]] && echo yes || echo no)"
	capture timeout -k 2 10 "$FWD_BIN" forwarder --listen "ipc://$dir/other.sock" \
		--mount "$dir/mnt" --events-url "" --metrics-addr 127.0.0.1
	assert_eq "an address without a port is refused as a bad argument (status 2)" 2 "$RC"
	assert_contains "... naming the option" "--metrics-addr wants HOST:PORT" "$ERR"
	capture env LITEFS_FWD_METRICS_ADDR="localhost:99999" timeout -k 2 10 "$FWD_BIN" forwarder \
		--listen "ipc://$dir/other.sock" --mount "$dir/mnt" --events-url ""
	assert_eq "a port out of range in the environment: refused (status 2)" 2 "$RC"
	assert_contains "... naming the variable" "LITEFS_FWD_METRICS_ADDR wants HOST:PORT" "$ERR"
	assert_eq "none of them left a socket behind" no \
		"$([[ -e $dir/other.sock ]] && echo yes || echo no)"

	kill -TERM "$pid"
	bg_wait "$pid" 10
	assert_eq "the forwarder stops on SIGTERM (status 0)" 0 "$?"
	capture scrape "$base/metrics" "$f"
	assert_ne "... and its metrics endpoint with it" 0 "$RC"
	assert_not_contains "no complaint from the metrics server in the log" "metrics server:" \
		"$(cat "$dir/fwd.log")"
}

e2e_main "$@"
