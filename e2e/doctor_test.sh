#!/usr/bin/env bash
# End-to-end: `litefs-fwd doctor` on the stand-in cluster. Programs that can be interposed
# (the sqlite3 shell, python3, a program linked with -lsqlite3, scripts run by them) and
# programs that cannot (statically linked; SQLite compiled into a dynamically linked
# program, with and without its symbols; a set-user-ID or set-group-ID copy; a script
# whose interpreter cannot be), each verdict checked against what really happens when the
# program writes on a replica with the interposer; doctor never runs the program. Then the
# node's set-up: a healthy replica and primary, LiteFS absent, a plain directory as the
# mount, no forwarder, the secret file's permissions, a malformed endpoint map, where the
# interposer library is found; and bad arguments.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/status/common.sh"

SECRET="doctor check secret, 32 bytes!!"

# doctor_on DIR NODE [ENV...] -- [ARGS...]: `litefs-fwd doctor ARGS` on NODE (see fwd_on).
doctor_on() { fwd_cmd_on doctor "$@"; }

# build_programs DIR: a small program that runs its second argument as SQL on the database
# its first names, built four ways in DIR: dyn (linked with -lsqlite3), emb (SQLite's
# static library linked in, dynamically linked otherwise), emb-stripped (the same without
# symbols), static (cc -static). Records a `not ok` and returns 1 when one cannot be built.
build_programs() {
	local dir=$1 lib
	cat >"$dir/prog.c" <<'EOF'
#include <stdio.h>
#include <sqlite3.h>

int main(int argc, char **argv)
{
	sqlite3 *db;
	char *err = NULL;
	int rc;

	if (argc != 3)
		return 2;
	if (sqlite3_open(argv[1], &db) != SQLITE_OK)
		return 1;
	rc = sqlite3_exec(db, argv[2], NULL, NULL, &err);
	if (rc != SQLITE_OK)
		fprintf(stderr, "error %d: %s\n", rc, err ? err : "");
	sqlite3_free(err);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : 1;
}
EOF
	lib=$(cc -print-file-name=libsqlite3.a)
	[[ -f $lib ]] || { not_ok "SQLite's static library is installed (libsqlite3-dev)" got "$lib"; return 1; }
	must "build prog linked with -lsqlite3" cc -o "$dir/dyn" "$dir/prog.c" -lsqlite3 || return 1
	must "build prog with SQLite linked in" cc -o "$dir/emb" "$dir/prog.c" "$lib" -lm || return 1
	must "copy it" cp "$dir/emb" "$dir/emb-stripped" || return 1
	must "strip the copy" strip "$dir/emb-stripped" || return 1
	# glibc warns about dlopen in a static program: not a failure
	must "build prog statically" cc -static -o "$dir/static" "$dir/prog.c" "$lib" -lm || return 1
}

# write_with DIR PROG VALUE: PROG inserts VALUE into t on node2 with the interposer.
write_with() {
	capture on "$1" node2 "$2" "$(node_mnt "$1" node2)/app.db" "INSERT INTO t VALUES ($3);"
}

# on_primary DIR VALUE: whether the primary has VALUE in t.
on_primary() { [[ $(node_sql "$1" node1 app.db "SELECT count(*) FROM t WHERE x = $2;") == 1 ]]; }

# the node's checks all pass on a healthy replica
assert_node_ok() {
	assert_line "$1: the mount is a FUSE mount" "^  ok +LITEFS_FWD_MOUNT .* is a FUSE mount" "$OUT"
	assert_line "$1: a replica of node1" "^  ok +this node is a replica of node1" "$OUT"
	assert_line "$1: the primary's forwarder answers" "^  ok +the primary's forwarder at tcp://.* answers" "$OUT"
	assert_no_match "$1: no node problem" $'\n  FAIL +(LITEFS_FWD|this node|the primary|the secret|the interposer)' "$OUT"
}

test_interposable_programs() {
	local d py marker
	primary_cluster d good || return
	doctor_on "$d" node2 -- sqlite3
	assert_eq "sqlite3: nothing blocks (exit status 0)" 0 "$RC" || evidence stdout "$OUT" stderr "$ERR"
	assert_line "sqlite3: it needs libsqlite3 at start" "^  ok +it needs libsqlite3\.so.* at start" "$OUT"
	assert_line "sqlite3: the verdict, with the command to run" "^nothing blocks: run it as LD_PRELOAD=.*liblitefs_fwd\.so sqlite3" "$OUT"
	assert_node_ok sqlite3
	capture sql_on "$d" node2 app.db "INSERT INTO t VALUES (31);"
	assert_eq "... and indeed the shell's write on the replica is forwarded" "0 yes" \
		"$RC $(on_primary "$d" 31 && echo yes)"

	py=$("$E2E_PY" -c 'import sys; print(sys.executable)')
	doctor_on "$d" node2 -- "$py"
	assert_eq "python3 ($py): nothing blocks" 0 "$RC" || evidence stdout "$OUT"
	assert_line "python3: loads SQLite through its _sqlite3 module at run time" \
		"^  ok +Python loads SQLite at run time through its module .*_sqlite3.*\.so, which needs libsqlite3" "$OUT"
	assert_line "python3: what the interposer does about RTLD_DEEPBIND" "^  note .*drops RTLD_DEEPBIND" "$OUT"
	capture on "$d" node2 "$py" -c 'import os, sqlite3
c = sqlite3.connect(os.environ["LITEFS_FWD_MOUNT"] + "/app.db", isolation_level=None)
c.execute("INSERT INTO t VALUES (32)")'
	assert_eq "... and indeed python's write on the replica is forwarded" "0 yes" \
		"$RC $(on_primary "$d" 32 && echo yes)"
	doctor_on "$d" node2 -- python3
	assert_eq "python3 as PATH finds it: nothing blocks" 0 "$RC" || evidence stdout "$OUT"

	build_programs "$(dirname "$d")" || return
	doctor_on "$d" node2 -- "$(dirname "$d")/dyn"
	assert_eq "a program linked with -lsqlite3: nothing blocks" 0 "$RC" || evidence stdout "$OUT"
	write_with "$d" "$(dirname "$d")/dyn" 33
	assert_eq "... and indeed its write on the replica is forwarded" "0 yes" \
		"$RC $(on_primary "$d" 33 && echo yes)"

	# scripts: the interpreter is what counts; doctor never runs the program
	marker=$(dirname "$d")/ran
	printf '#!/usr/bin/env -S sqlite3 -batch\n' >"$(dirname "$d")/via-env"
	printf '#!%s\nopen("%s", "w")\n' "$py" "$marker" >"$(dirname "$d")/script.py"
	printf '#!/bin/sh\ntouch "%s"\n' "$marker" >"$(dirname "$d")/script.sh"
	chmod +x "$(dirname "$d")/via-env" "$(dirname "$d")/script.py" "$(dirname "$d")/script.sh"
	doctor_on "$d" node2 -- "$(dirname "$d")/via-env"
	assert_eq "a script run by env -S sqlite3: nothing blocks" 0 "$RC" || evidence stdout "$OUT"
	assert_line "... its interpreter found on PATH and inspected" "is a script for /.*/sqlite3: the interpreter" "$OUT"
	doctor_on "$d" node2 -- "$(dirname "$d")/script.py" arg
	assert_eq "a python script: nothing blocks" 0 "$RC" || evidence stdout "$OUT"
	assert_line "... python's module inspected" "Python loads SQLite at run time" "$OUT"
	doctor_on "$d" node2 -- "$(dirname "$d")/script.sh"
	assert_eq "a shell script: nothing blocks" 0 "$RC" || evidence stdout "$OUT"
	assert_line "... the programs it starts are what counts" "^  note .* is a shell script" "$OUT"
	assert_eq "doctor ran none of the programs" "no" "$([[ -e $marker ]] && echo yes || echo no)"
	stop_forwarder
}

test_programs_that_cannot_be_interposed() {
	local d dir before
	primary_cluster d bad || return
	dir=$(dirname "$d")
	build_programs "$dir" || return
	before=$(pos "$d" node1 app.db)

	doctor_on "$d" node2 -- "$dir/static"
	assert_eq "a static program: exit status 1" 1 "$RC" || evidence stdout "$OUT"
	assert_line "... says LD_PRELOAD is never read, and SQLite is compiled in" \
		"^  FAIL .*static is statically linked: no dynamic loader runs it, so LD_PRELOAD is never read, and SQLite is compiled into it" "$OUT"
	assert_line "... with the fix" "^        fix: link it dynamically \(without -static\)" "$OUT"
	assert_line "... the only problem" "^1 problem blocks forwarding" "$OUT"
	assert_node_ok static
	write_with "$d" "$dir/static" 41
	assert_eq "... and indeed its write on the replica fails: LiteFS refuses it" "1" "$RC"
	assert_contains "... with SQLite's read-only error" "readonly" "$ERR"

	doctor_on "$d" node2 -- "$dir/emb"
	assert_eq "SQLite linked into a dynamic program: exit status 1" 1 "$RC" || evidence stdout "$OUT"
	assert_line "... it is dynamically linked" "^  ok +.*/emb: ELF 64-bit .*, dynamically linked" "$OUT"
	assert_line "... but SQLite's functions are defined in it" \
		"^  FAIL +SQLite is compiled into .*/emb \([0-9]+ of SQLite's API functions are defined in it\)" "$OUT"
	assert_line "... with the fix" "^        fix: link it with the system's shared libsqlite3 \(-lsqlite3" "$OUT"
	doctor_on "$d" node2 -- "$dir/emb-stripped"
	assert_eq "the same, stripped of its symbols: exit status 1" 1 "$RC"
	assert_line "... told by SQLite's own strings" \
		"^  FAIL +SQLite is compiled into .*/emb-stripped \([0-9]+ of SQLite's own strings are in it, and it imports none of SQLite's functions\)" "$OUT"
	write_with "$d" "$dir/emb" 42
	assert_eq "... and indeed its write on the replica fails" "1" "$RC"
	assert_contains "... with SQLite's read-only error" "readonly" "$ERR"

	cp "$(command -v sqlite3)" "$dir/sqlite3-setuid"
	cp "$(command -v sqlite3)" "$dir/sqlite3-setgid"
	chmod u+s "$dir/sqlite3-setuid"
	chmod g+s "$dir/sqlite3-setgid"
	doctor_on "$d" node2 -- "$dir/sqlite3-setuid"
	assert_eq "a set-user-ID copy of sqlite3: exit status 1" 1 "$RC"
	assert_line "... secure-execution mode, LD_PRELOAD ignored" \
		"^  FAIL .*sqlite3-setuid is set-user-ID .*secure-execution mode, where the loader ignores LD_PRELOAD" "$OUT"
	assert_line "... with the fix" "^        fix: run a copy without the bit" "$OUT"
	doctor_on "$d" node2 -- "$dir/sqlite3-setgid"
	assert_eq "a set-group-ID copy: exit status 1" 1 "$RC"
	assert_line "... says so" "^  FAIL .*sqlite3-setgid is set-group-ID" "$OUT"

	printf '#!%s\n' "$dir/static" >"$dir/script-static"
	chmod +x "$dir/script-static"
	doctor_on "$d" node2 -- "$dir/script-static"
	assert_eq "a script whose interpreter is a static program: exit status 1" 1 "$RC"
	assert_line "... the interpreter is inspected" "^  FAIL .*static is statically linked" "$OUT"
	assert_eq "none of the failed writes reached the primary" "$before" "$(pos "$d" node1 app.db)"
	stop_forwarder
}

test_node_checks() {
	local d dir secret
	primary_cluster d node || return
	dir=$(dirname "$d")
	doctor_on "$d" node2
	assert_eq "a healthy replica, no program: exit status 0" 0 "$RC" || evidence stdout "$OUT"
	assert_node_ok replica
	assert_line "... the event stream answers" "^  ok +LiteFS's event stream http://.* answers" "$OUT"
	assert_line "... the primary's endpoint and where it comes from" \
		"^  ok +node1 maps to $(node_fwd_url "$d" node1) \(from LITEFS_FWD_ENDPOINTS\)" "$OUT"
	assert_line "... no secret is a warning, with its fix" "^  warn +no secret" "$OUT"
	assert_line "... the interposer library next to litefs-fwd" \
		"^  ok +the interposer library is $(dirname "$FWD_BIN")/liblitefs_fwd\.so$" "$OUT"
	assert_line "... the verdict" "^nothing blocks$" "$OUT"
	assert_not_contains "... no program section" "program " "$OUT"

	doctor_on "$d" node1
	assert_eq "the primary: exit status 0" 0 "$RC" || evidence stdout "$OUT"
	assert_line "... says it is the primary" "^  ok +this node \(node1\) is the primary" "$OUT"
	assert_line "... its forwarder, which the replicas send to, answers" \
		"^  ok +this node's forwarder \(which the replicas send to\) at .* answers" "$OUT"

	doctor_on "$d" node2 "LITEFS_FWD_ENDPOINTS=node1=$(node_fwd_url "$d" node1),junk"
	assert_eq "a malformed entry in LITEFS_FWD_ENDPOINTS does not block" 0 "$RC"
	assert_line "... but is told" "^  warn +LITEFS_FWD_ENDPOINTS has an entry .*'junk'" "$OUT"

	capture env LITEFS_FWD_MOUNT="$dir/no-such-mount" "$FWD_BIN" doctor
	assert_eq "LiteFS absent: exit status 1" 1 "$RC"
	assert_line "... says the mount is no directory" "^  FAIL +LITEFS_FWD_MOUNT .*/no-such-mount is not a directory" "$OUT"
	assert_line "... with the fix" "^        fix: set LITEFS_FWD_MOUNT to LiteFS's fuse.dir" "$OUT"
	mkdir "$dir/plain"
	capture env LITEFS_FWD_MOUNT="$dir/plain" LITEFS_FWD_EVENTS_URL= "$FWD_BIN" doctor
	assert_eq "a plain directory as the mount: exit status 1" 1 "$RC"
	assert_line "... not a FUSE mount" "^  FAIL +LITEFS_FWD_MOUNT .*/plain is a plain directory, not a FUSE mount" "$OUT"
	assert_line "... no event stream is a warning" "^  warn +LITEFS_FWD_EVENTS_URL is empty" "$OUT"

	stop_forwarder
	doctor_on "$d" node2
	assert_eq "the primary's forwarder stopped: exit status 1" 1 "$RC"
	assert_line "... it does not answer" "^  FAIL +the primary's forwarder at .* does not answer: nothing listens" "$OUT"
	assert_line "... with the fix" "^        fix: run \`litefs-fwd forwarder\` on that node" "$OUT"
}

test_secret_file() {
	local d secret
	secret=$(new_dir secret)/secret
	printf '%s\n' "$SECRET" >"$secret"
	chmod 600 "$secret"
	primary_cluster d secret LITEFS_FWD_SECRET_FILE="$secret" || return
	doctor_on "$d" node2 LITEFS_FWD_SECRET_FILE="$secret"
	assert_eq "the cluster's secret, mode 0600: exit status 0" 0 "$RC" || evidence stdout "$OUT"
	assert_line "... the secret file" "^  ok +the secret comes from $secret \(31 bytes, mode 0600\)" "$OUT"
	assert_line "... the forwarder authenticated" "answers in .*, authenticated\)" "$OUT"
	chmod 644 "$secret"
	doctor_on "$d" node2 LITEFS_FWD_SECRET_FILE="$secret"
	assert_eq "a secret file others can read: exit status 1" 1 "$RC"
	assert_line "... says so" "^  FAIL +the secret file $secret is readable by others \(mode 0644\)" "$OUT"
	assert_line "... with the fix" "^        fix: chmod 600 $secret" "$OUT"
	chmod 600 "$secret"
	doctor_on "$d" node2
	assert_eq "no secret where the forwarder has one: exit status 1" 1 "$RC"
	assert_line "... refused" "^  FAIL +the primary's forwarder .* does not answer: refused by the forwarder" "$OUT"
	assert_not_contains "the secret never shows" "$SECRET" "$OUT$ERR"
	stop_forwarder
}

test_interposer_library_lookup() {
	local dir out
	dir=$(new_dir lib)
	mkdir -p "$dir/beside" "$dir/prefix/bin" "$dir/prefix/lib" "$dir/alone"
	cp "$FWD_BIN" "$dir/beside/litefs-fwd"
	cp "$FWD_LIB" "$dir/beside/liblitefs_fwd.so"
	cp "$FWD_BIN" "$dir/prefix/bin/litefs-fwd"
	cp "$FWD_LIB" "$dir/prefix/lib/liblitefs_fwd.so"
	cp "$FWD_BIN" "$dir/alone/litefs-fwd"
	capture env -u LITEFS_FWD_PRELOAD LITEFS_FWD_MOUNT="$dir/none" "$dir/beside/litefs-fwd" doctor
	assert_line "next to the executable" "^  ok +the interposer library is $dir/beside/liblitefs_fwd\.so$" "$OUT"
	capture env -u LITEFS_FWD_PRELOAD LITEFS_FWD_MOUNT="$dir/none" "$dir/prefix/bin/litefs-fwd" doctor
	assert_line "in ../lib beside it (an installation prefix)" \
		"^  ok +the interposer library is $dir/prefix/lib/liblitefs_fwd\.so$" "$OUT"
	capture env LITEFS_FWD_PRELOAD="$dir/prefix/lib/liblitefs_fwd.so" LITEFS_FWD_MOUNT="$dir/none" \
		"$dir/beside/litefs-fwd" doctor
	assert_line "LITEFS_FWD_PRELOAD comes first, as for litefs-fwd run" \
		"^  ok +the interposer library is $dir/prefix/lib/liblitefs_fwd\.so \(LITEFS_FWD_PRELOAD\)$" "$OUT"
	capture env LITEFS_FWD_PRELOAD="$dir/missing.so" LITEFS_FWD_MOUNT="$dir/none" \
		"$dir/beside/litefs-fwd" doctor
	assert_line "LITEFS_FWD_PRELOAD naming nothing is a problem, not a fallback" \
		"^  FAIL .*$dir/missing\.so \(LITEFS_FWD_PRELOAD\) cannot be used" "$OUT"
	capture env -u LITEFS_FWD_PRELOAD LITEFS_FWD_MOUNT="$dir/none" "$dir/alone/litefs-fwd" doctor
	# then only where `make install` puts it, if it was installed on this machine
	if [[ -f /usr/local/lib/liblitefs_fwd.so ]]; then
		out="^  ok +the interposer library is $(realpath /usr/local/lib/liblitefs_fwd.so)$"
	else
		out="^  FAIL +cannot find the interposer liblitefs_fwd\.so; looked at $dir/alone/liblitefs_fwd\.so, $dir/alone/\.\./lib/liblitefs_fwd\.so, /usr/local/lib/liblitefs_fwd\.so"
	fi
	assert_line "elsewhere: the installed library, or a problem naming where it looked" "$out" "$OUT"
}

test_bad_arguments() {
	local dir
	dir=$(new_dir args)
	capture "$FWD_BIN" doctor --bogus
	assert_eq "an unknown option: exit status 2" 2 "$RC"
	assert_contains "... with the usage" "Usage: litefs-fwd doctor" "$ERR"
	capture "$FWD_BIN" doctor --timeout 0
	assert_eq "a timeout of 0: exit status 2" 2 "$RC"
	capture "$FWD_BIN" doctor --help
	assert_eq "--help: exit status 0" 0 "$RC"
	assert_contains "... the usage on stdout" "Exit status:" "$OUT"
	capture env LITEFS_FWD_MOUNT="$dir/none" "$FWD_BIN" doctor no-such-program-anywhere
	assert_eq "a program not on PATH: exit status 1" 1 "$RC"
	assert_line "... says so" "^  FAIL +no-such-program-anywhere: not found on PATH" "$OUT"
	printf 'not a program\n' >"$dir/text"
	capture env LITEFS_FWD_MOUNT="$dir/none" "$FWD_BIN" doctor "$dir/text"
	assert_line "a file that may not be executed" "^  FAIL .*/text: found, but not an executable file" "$OUT"
	chmod +x "$dir/text"
	capture env LITEFS_FWD_MOUNT="$dir/none" "$FWD_BIN" doctor "$dir/text"
	assert_line "an executable that is neither ELF nor a script" \
		"^  FAIL .*/text is neither an ELF executable nor a script" "$OUT"
	# options after CMD are CMD's
	capture env LITEFS_FWD_MOUNT="$dir/none" "$FWD_BIN" doctor sqlite3 --bogus
	assert_line "options after CMD are its own" "^  ok +it needs libsqlite3" "$OUT"
}

e2e_main "$@"
