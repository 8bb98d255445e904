#!/usr/bin/env bash
# End-to-end: `litefs-fwd status` on the stand-in cluster. A healthy replica (the primary's
# forwarder answers the health check: role, primary, endpoint from each of its three
# sources, round trip, TXIDs and lag, the state of every source, in JSON and for people),
# the primary, a primary whose forwarder is not running, a node that knows no primary,
# LiteFS absent, a role that cannot be told, the cluster's secret (held, missing, another
# one, unusable), bad arguments; and the health check executes nothing on the primary.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/status/common.sh"

SECRET="status check secret, 32 bytes!!"

# status_on DIR NODE [ENV...] -- [ARGS...]: `litefs-fwd status ARGS` on NODE (see fwd_on).
status_on() { fwd_cmd_on status "$@"; }

# _init_says_replica URL: the first event of the stream at URL says replica.
_init_says_replica() {
	[[ $1 =~ ^http://127\. ]] || return 2
	timeout 2 curl -sN --noproxy '*' "$1" 2>/dev/null | head -n 1 | grep -q '"isPrimary":false'
}

test_healthy_replica() {
	local d pos1 txid1 txid2
	primary_cluster d healthy || return
	pos1=$(pos "$d" node1 app.db)
	txid1=$(pos_txid "$d" node1 app.db)
	txid2=$(pos_txid "$d" node2 app.db)

	status_on "$d" node2 -- --json
	assert_eq "a replica whose primary's forwarder answers: exit status 0" 0 "$RC" ||
		evidence stdout "$OUT" stderr "$ERR"
	assert_eq "nothing on stderr" "" "$ERR"
	assert_eq "one JSON object: ok" "true" "$(j 'd["ok"]')"
	assert_eq "role" "replica" "$(j 'd["role"]')"
	assert_eq "the primary's hostname" "node1" "$(j 'd["primary"]')"
	assert_eq "this node's hostname" "node2" "$(j 'd["hostname"]')"
	assert_eq "writes are forwarded" "forwarded" "$(j 'd["writes"]')"
	assert_eq "the endpoint writes go to" "$(node_fwd_url "$d" node1)" "$(j 'd["endpoint"]["url"]')"
	assert_eq "... from LITEFS_FWD_ENDPOINTS (set by litefs-sim exec)" "LITEFS_FWD_ENDPOINTS" \
		"$(j 'd["endpoint"]["source"]')"
	assert_eq "the forwarder answered" "answered" "$(j 'd["forwarder"]["state"]')"
	assert_eq "... its node is the primary" "primary" "$(j 'd["forwarder"]["role"]')"
	assert_eq "... its version is this build's" "$(j 'd["version"]')" \
		"$(j 'd["forwarder"]["version"]')"
	assert_eq "... not authenticated (no secret)" "false" "$(j 'd["forwarder"]["authenticated"]')"
	assert_eq "... 3 round trips timed" "3" "$(j 'd["forwarder"]["samples"]')"
	assert_eq "... a sane round trip (0 < min <= median <= max < 1 s)" "True" \
		"$(j 'str(0 < d["forwarder"]["rtt_ms_min"] <= d["forwarder"]["rtt_ms"] <= d["forwarder"]["rtt_ms_max"] < 1000)')"
	assert_eq "... a sane uptime (0 to 60 s: it started with this test)" "True" \
		"$(j 'str(0 <= d["forwarder"]["uptime_s"] < 60)')"
	assert_eq "... clocks of the same host agree (within 1 s)" "True" \
		"$(j 'str(abs(d["forwarder"]["clock_offset_ms"]) < 1000)')"
	assert_eq "the databases of the mount" '["app.db"]' "$(j '[x["name"] for x in d["databases"]]')"
	assert_eq "app.db's TXID is its -pos" "$txid2" "$(j 'd["databases"][0]["txid"]')"
	assert_eq "the primary's TXID, as its forwarder reads it" "$txid1" \
		"$(j 'd["databases"][0]["primary_txid"]')"
	assert_eq "caught up: 0 behind" "0" "$(j 'd["databases"][0]["behind"]')"
	assert_eq "a sane lag from .lag (0 to 5 s)" "True" \
		"$(j 'str(0 <= d["lag_ms"] < 5000 and d["databases"][0]["lag_ms"] == d["lag_ms"])')"
	assert_eq ".primary names node1" "present node1" \
		"$(j 'd["sources"]["primary_file"]["state"] + " " + d["sources"]["primary_file"]["hostname"]')"
	assert_eq "the event stream answers: replica of node1" "answers False node1" \
		"$(j '" ".join(str(d["sources"]["event_stream"][k]) for k in ("state", "is_primary", "hostname"))')"
	assert_eq "the tracking table of app.db names node1 at its forwarder" \
		"app.db present node1 $(node_fwd_url "$d" node1)" \
		"$(j '" ".join(str(d["sources"]["tracking_table"]["entries"][0][k]) for k in ("db", "state", "hostname", "endpoint"))')"
	assert_eq "no secret" "none" "$(j 'd["secret"]["state"]')"

	status_on "$d" node2
	assert_eq "for people: exit status 0" 0 "$RC"
	assert_line "... the role" "^role: +replica: .*names node1" "$OUT"
	assert_line "... the forwarder answers with its round trip" "answers in [0-9.]+ ms" "$OUT"
	assert_line "... app.db with its TXID, caught up" "^  app\.db +TXID $txid2, 0 behind the primary" "$OUT"
	assert_line "... the event stream" "^  event stream .*answers in .*replica of node1" "$OUT"
	assert_not_contains "... nothing is wrong" "NOT OK" "$OUT"

	status_on "$d" node1 -- --json
	assert_eq "the primary: exit status 0" 0 "$RC" || evidence stdout "$OUT"
	assert_eq "... role primary, writes local" "primary local" "$(j 'd["role"] + " " + d["writes"]')"
	assert_eq "... its own forwarder, the one replicas send to, answers" "answered primary" \
		"$(j 'd["forwarder"]["state"] + " " + d["forwarder"]["role"]')"
	assert_eq "... no .primary, and the event stream says primary" "absent True" \
		"$(j 'd["sources"]["primary_file"]["state"] + " " + str(d["sources"]["event_stream"]["is_primary"])')"

	# The endpoint from the tracking table, then from the template, as the interposer finds it.
	status_on "$d" node2 -u LITEFS_FWD_ENDPOINTS -- --json
	assert_eq "without the map, the endpoint comes from the tracking table" \
		"tracking table $(node_fwd_url "$d" node1) 0" \
		"$(j 'd["endpoint"]["source"] + " " + d["endpoint"]["url"] + " " + str(int(not d["ok"]))')"
	# (a template naming a host is not tried: its lookup would leave this host)
	status_on "$d" node2 -u LITEFS_FWD_ENDPOINTS LITEFS_FWD_TABLE= \
		LITEFS_FWD_ENDPOINT="$(node_fwd_url "$d" node1)" -- --json
	assert_eq "without map or table, from the template LITEFS_FWD_ENDPOINT: exit 0" \
		"0 LITEFS_FWD_ENDPOINT $(node_fwd_url "$d" node1) answered" \
		"$RC $(j 'd["endpoint"]["source"] + " " + d["endpoint"]["url"] + " " + d["forwarder"]["state"]')"
	status_on "$d" node2 -u LITEFS_FWD_ENDPOINTS LITEFS_FWD_TABLE= \
		LITEFS_FWD_ENDPOINT="tcp://$(node_addr "$d" node1):{primary}" -- --json
	assert_eq "a template that does not make an endpoint: exit 1" \
		"1 tcp://$(node_addr "$d" node1):node1 unresolved" \
		"$RC $(j 'd["endpoint"]["url"] + " " + d["forwarder"]["state"]')"

	assert_eq "the health checks executed nothing on the primary (-pos unchanged)" "$pos1" \
		"$(pos "$d" node1 app.db)"
	assert_not_contains "... and the forwarder logged no error" " ERROR" \
		"$(cat "$d/node1-forwarder.log")"
	stop_forwarder
}

test_no_forwarder_on_the_primary() {
	local d t0 elapsed
	d=$(new_dir nofwd)
	sim_up "$d" --db app.db || return
	t0=$(now_ms)
	status_on "$d" node2 -- --json
	elapsed=$(($(now_ms) - t0))
	assert_eq "a replica whose primary runs no forwarder: exit status 1" 1 "$RC" ||
		evidence stdout "$OUT" stderr "$ERR"
	assert_eq "... not ok, writes blocked" "False blocked" "$(j 'str(d["ok"]) + " " + d["writes"]')"
	assert_eq "... nothing listens there" "unreachable False" \
		"$(j 'd["forwarder"]["state"] + " " + str(d["forwarder"]["answers"])')"
	assert_contains "... the reason names the endpoint" "$(node_fwd_url "$d" node1)" "$(j 'd["reason"]')"
	assert_num "... told at once, without waiting for the timeout (ms)" "$elapsed" "<" 1900
	status_on "$d" node2
	assert_eq "for people: exit status 1" 1 "$RC"
	assert_line "... says the forwarder does not answer" "does not answer: nothing listens at" "$OUT"
	assert_line "... and that writes cannot be forwarded" "^NOT OK: writes cannot be forwarded" "$OUT"
	status_on "$d" node1 -- --json
	assert_eq "on the primary itself: exit status 1 (replicas cannot forward to it)" \
		"1 primary local unreachable" \
		"$RC $(j 'd["role"] + " " + d["writes"] + " " + d["forwarder"]["state"]')"
	assert_contains "... says so" "replicas cannot forward writes here" "$(j 'd["reason"]')"
}

test_no_primary_known() {
	local d
	d=$(new_dir noprimary)
	sim_up "$d" --db app.db || return
	# the primary steps down and nobody takes over: it has no .primary, and LiteFS says it
	# is a replica with no primary
	must "demote node1" http_post "$(node_url "$d" node1 /sim/demote)" || return
	assert_eventually "node1's event stream says replica" 5 _init_says_replica "$(node_url "$d" node1 /events)"
	status_on "$d" node1 -- --json
	assert_eq "no primary known: exit status 1" 1 "$RC" || evidence stdout "$OUT" stderr "$ERR"
	assert_eq "... role no-primary, writes blocked, no forwarder to ask" "no-primary blocked None" \
		"$(j 'd["role"] + " " + d["writes"] + " " + str(d["forwarder"])')"
	assert_eq "... no .primary, a stream that says replica without hostname" "absent False None" \
		"$(j '" ".join(str(x) for x in (d["sources"]["primary_file"]["state"], d["sources"]["event_stream"]["is_primary"], d["sources"]["event_stream"]["hostname"]))')"
	assert_eq "... .lag: never in sync" "2147483647" "$(j 'd["lag_ms"]')"
	status_on "$d" node1
	assert_line "for people: says no primary is known" "^NOT OK: no primary is known" "$OUT"
}

test_litefs_absent() {
	local dir
	dir=$(new_dir absent)
	capture env LITEFS_FWD_MOUNT="$dir/no-such-mount" "$FWD_BIN" status --json
	assert_eq "LiteFS absent: exit status 0" 0 "$RC" || evidence stdout "$OUT" stderr "$ERR"
	assert_eq "... role absent, writes local, ok, neither forwarder nor LiteFS asked" \
		"absent local True None not-asked" \
		"$(j '" ".join(str(x) for x in (d["role"], d["writes"], d["ok"], d["forwarder"], d["sources"]["event_stream"]["state"]))')"
	assert_eq "... no databases" "[]" "$(j 'd["databases"]')"
	capture env LITEFS_FWD_MOUNT="$dir/no-such-mount" "$FWD_BIN" status
	assert_eq "for people: exit status 0" 0 "$RC"
	assert_line "... says every write runs locally" "^writes: +local: LiteFS is absent .*every write runs locally" "$OUT"
}

test_role_cannot_be_told() {
	local dir port
	dir=$(new_dir plain)
	# a loopback port nothing listens on
	port=$("$E2E_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	capture env LITEFS_FWD_MOUNT="$dir" LITEFS_FWD_EVENTS_URL="http://127.0.0.1:$port/events" \
		"$FWD_BIN" status --json
	assert_eq "a mount without .primary whose LiteFS does not answer: exit status 1" \
		"1 unknown unreachable" \
		"$RC $(j 'd["role"] + " " + d["sources"]["event_stream"]["state"]')"
	capture env LITEFS_FWD_MOUNT="$dir" LITEFS_FWD_EVENTS_URL= "$FWD_BIN" status --json
	assert_eq "... with the event stream off, the node counts as the primary, as for the interposer" \
		"primary off" "$(j 'd["role"] + " " + d["sources"]["event_stream"]["state"]')"
}

test_authentication() {
	local d secret other short
	secret=$(new_dir secret)/secret
	other=${secret%/*}/other
	short=${secret%/*}/short
	printf '%s\n' "$SECRET" >"$secret"
	printf '%s\n' "another secret of 32 bytes......" >"$other"
	printf 'short\n' >"$short"
	chmod 600 "$secret" "$other" "$short"
	primary_cluster d auth LITEFS_FWD_SECRET_FILE="$secret" || return
	local pos1
	pos1=$(pos "$d" node1 app.db)

	local all=""
	status_on "$d" node2 LITEFS_FWD_SECRET_FILE="$secret" -- --json
	all+=$OUT$ERR
	assert_eq "holding the cluster's secret: exit status 0, the answer authenticated" \
		"0 answered True loaded" \
		"$RC $(j '" ".join(str(x) for x in (d["forwarder"]["state"], d["forwarder"]["authenticated"], d["secret"]["state"]))')"
	status_on "$d" node2 -- --json
	all+=$OUT$ERR
	assert_eq "without the secret: exit status 1, refused" "1 refused" "$RC $(j 'd["forwarder"]["state"]')"
	assert_contains "... the forwarder's reason" "not authenticated" "$(j 'd["forwarder"]["error"]')"
	status_on "$d" node2 LITEFS_FWD_SECRET_FILE="$other" -- --json
	all+=$OUT$ERR
	assert_eq "with another secret: exit status 1, refused" "1 refused" "$RC $(j 'd["forwarder"]["state"]')"
	assert_contains "... the forwarder's reason" "wrong authentication" "$(j 'd["forwarder"]["error"]')"
	status_on "$d" node2 LITEFS_FWD_SECRET_FILE="$short" -- --json
	all+=$OUT$ERR
	assert_eq "with a secret that cannot be used: exit status 1, nothing sent" \
		"1 unusable blocked None" \
		"$RC $(j '" ".join(str(x) for x in (d["secret"]["state"], d["writes"], d["forwarder"]))')"
	status_on "$d" node2 LITEFS_FWD_SECRET_FILE="$secret"
	all+=$OUT$ERR
	assert_eq "for people, with the secret: exit status 0" 0 "$RC"
	assert_line "... says the answer was authenticated" "answers in .*, authenticated$" "$OUT"
	assert_not_contains "no output shows the secret" "$SECRET" "$all"
	assert_eq "the health checks executed nothing on the primary (-pos unchanged)" "$pos1" \
		"$(pos "$d" node1 app.db)"
	assert_contains "... the forwarder logged the refusals" "refused, nothing executed" \
		"$(cat "$d/node1-forwarder.log")"
	stop_forwarder
}

test_secret_against_a_forwarder_without_one() {
	local d secret
	secret=$(new_dir secret)/secret
	printf '%s\n' "$SECRET" >"$secret"
	primary_cluster d nosecret || return
	status_on "$d" node2 LITEFS_FWD_SECRET_FILE="$secret" -- --json
	assert_eq "a sealed health check to a forwarder without a secret: exit status 1" \
		"1 error" "$RC $(j 'd["forwarder"]["state"]')"
	assert_contains "... says the forwarder has no secret" "has no secret" "$(j 'd["forwarder"]["error"]')"
	stop_forwarder
}

test_bad_arguments() {
	capture "$FWD_BIN" status --bogus
	assert_eq "an unknown option: exit status 2" 2 "$RC"
	assert_contains "... with the usage" "Usage: litefs-fwd status" "$ERR"
	capture "$FWD_BIN" status extra
	assert_eq "an argument: exit status 2" 2 "$RC"
	capture "$FWD_BIN" status --timeout 0
	assert_eq "a timeout of 0: exit status 2" 2 "$RC"
	capture "$FWD_BIN" status --timeout abc
	assert_eq "a timeout that is no number: exit status 2" 2 "$RC"
	capture "$FWD_BIN" status --help
	assert_eq "--help: exit status 0" 0 "$RC"
	assert_contains "... the usage on stdout" "Exit status:" "$OUT"
}

e2e_main "$@"
