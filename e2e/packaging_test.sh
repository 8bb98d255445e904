#!/usr/bin/env bash
# End-to-end: what is shipped. The deployment examples of examples/ (the litefs.yml files
# against LiteFS's configuration structure and litefs-fwd's commands; the Dockerfile's
# runtime packages against the libraries the binaries link; the example application run
# with `litefs-fwd run` on a replica of the stand-in cluster), `make install` and
# `make uninstall` under DESTDIR, and the man pages (well-formed, and covering every
# command, option and variable).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/fwd_lib.sh"

EX=$E2E_ROOT/examples
BUILD_DIR=$(dirname "$FWD_BIN")

test_litefs_yml_as_litefs_reads_it() {
	local f
	for f in "$EX"/fly/litefs.yml "$EX"/static-lease/*.litefs.yml; do
		capture env FLY_REGION=ams PRIMARY_REGION=ams HOSTNAME=m1 FLY_APP_NAME=app \
			FLY_CONSUL_URL=https://consul.example "$E2E_PY" "$E2E_DIR/packaging/litefs_config.py" \
			"$f" "$FWD_BIN" "$E2E_ROOT/README.md"
		assert_eq "${f#"$E2E_ROOT"/}: LiteFS's fields, litefs-fwd's commands and variables" \
			0 "$RC" || evidence problems "$OUT$ERR"
	done
	# the checker itself: a field LiteFS refuses, an option litefs-fwd lacks, a variable
	# nobody documented
	local bad=$E2E_TMP/bad.yml
	printf 'fuse:\n  dir: /litefs\n  mode: 1\nlease:\n  type: static\n  candidate: yes-ish\nexec:\n  - cmd: "env LITEFS_FWD_NOPE=1 litefs-fwd run --nope -- app"\n' >"$bad"
	capture "$E2E_PY" "$E2E_DIR/packaging/litefs_config.py" "$bad" "$FWD_BIN" "$E2E_ROOT/README.md"
	assert_eq "a wrong litefs.yml is refused" 1 "$RC"
	assert_contains "... for the unknown field" "fuse.mode: not a field" "$OUT"
	assert_contains "... for a candidate that is no boolean" "lease.candidate: 'yes-ish' is not a bool" "$OUT"
	assert_contains "... for the undocumented variable" "LITEFS_FWD_NOPE is not documented" "$OUT"
	assert_contains "... for the option litefs-fwd run lacks" "has no option '--nope'" "$OUT"
}

# The packages of the shared libraries BIN links (NEEDED), as dpkg knows them here, once
# each; left out: the C library (libc6, in every Debian image), and the sanitizers'
# runtimes a sanitizer build links (not the image's: it ships a plain build).
_packages_of() {
	__packages_of "$1" | sort -u
}
__packages_of() {
	local so path pkg
	for so in $(objdump -p "$1" | awk '$1 == "NEEDED" {print $2}'); do
		path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64|x86_64/ {print $NF; exit}')
		[[ -n $path ]] || { echo "?$so"; continue; }
		pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null ||
			dpkg -S "/usr$path" 2>/dev/null)
		pkg=${pkg%%:*}
		[[ -n $pkg ]] || { echo "?$so"; continue; }
		case $pkg in
		libc6 | libasan[0-9]* | libubsan[0-9]* | libtsan[0-9]*) ;;
		*) echo "$pkg" ;;
		esac
	done
}

test_dockerfile_installs_what_the_binaries_link() {
	local runtime pkg bin
	# the apt-get install line(s) of the last stage
	runtime=$(awk '/^FROM /{s=""} {s = s "\n" $0} END {print s}' "$EX/fly/Dockerfile" |
		tr '\\' ' ' | tr -s ' \n' '  ' | grep -oE 'apt-get install[^&]*' | tr ' ' '\n' |
		grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vxE 'apt-get|install')
	assert_contains "the runtime stage installs packages" "libsqlite3-0" "$runtime"
	for bin in "$FWD_BIN" "$FWD_LIB"; do
		for pkg in $(_packages_of "$bin"); do
			if [[ $pkg == \?* ]]; then
				not_ok "the package of ${pkg#?} (linked by ${bin##*/}) is known here"
			else
				assert_line "the runtime stage installs $pkg (linked by ${bin##*/})" \
					"^$(sed 's/[.+]/\\&/g' <<<"$pkg")\$" "$runtime"
			fi
		done
	done
	assert_contains "LiteFS comes from its image" "COPY --from=flyio/litefs:" "$(cat "$EX/fly/Dockerfile")"
	assert_contains "the build stage installs what make install made" \
		"make install PREFIX=/usr/local DESTDIR=/out" "$(cat "$EX/fly/Dockerfile")"
}

test_install_and_uninstall() {
	local dest=$E2E_TMP/dest f
	capture make -s -C "$E2E_ROOT" BUILD="$BUILD_DIR" SANITIZE="${E2E_SANITIZE:-}" \
		PREFIX=/usr/local DESTDIR="$dest" install
	assert_eq "make install with PREFIX and DESTDIR" 0 "$RC" || evidence output "$OUT$ERR"
	for f in bin/litefs-fwd lib/liblitefs_fwd.so share/man/man1/litefs-fwd.1 \
		share/man/man7/liblitefs_fwd.7; do
		assert_ok "installs /usr/local/$f" test -s "$dest/usr/local/$f"
	done
	assert_eq "the command is executable" "755" "$(stat -c %a "$dest/usr/local/bin/litefs-fwd")"
	assert_eq "the library is not" "644" "$(stat -c %a "$dest/usr/local/lib/liblitefs_fwd.so")"
	assert_eq "nothing outside PREFIX" "usr" "$(ls "$dest")"
	capture "$dest/usr/local/bin/litefs-fwd" --help
	assert_eq "the installed command runs" 0 "$RC"
	capture make -s -C "$E2E_ROOT" BUILD="$BUILD_DIR" PREFIX=/usr/local DESTDIR="$dest" uninstall
	assert_eq "make uninstall" 0 "$RC"
	assert_eq "uninstall leaves no file behind" "" "$(find "$dest" -type f)"
}

# The words of the README's tables of variables (first column), of `litefs-fwd --help`'s
# commands, and of the options of `litefs-fwd forwarder --help`.
_readme_vars() { grep -oE '^\| `LITEFS_FWD_[A-Z_]+`' "$E2E_ROOT/README.md" | tr -d '|` '; }
_commands() { "$FWD_BIN" --help | awk '/^Commands:/ {c = 1; next} c && /^  [a-z]/ {print $1}'; }
_options() { "$FWD_BIN" "$1" --help | grep -oE '^  --[a-z-]+' | tr -d ' '; }

test_man_pages() {
	local m v c o
	for m in "$E2E_ROOT"/man/*.[1-8]; do
		capture env LC_ALL=C groff -man -ww -z -Tutf8 "$m"
		assert_eq "${m##*/}: no warning from groff" "" "$OUT$ERR"
	done
	local p7 p1
	p7=$(cat "$E2E_ROOT/man/liblitefs_fwd.7")
	p1=$(cat "$E2E_ROOT/man/litefs-fwd.1")
	for v in $(_readme_vars); do
		assert_contains "$v is in liblitefs_fwd(7) or litefs-fwd(1)" "$v" "$p7$p1"
	done
	for c in $(_commands); do
		assert_line "litefs-fwd(1) has a section for $c" "^\\.SS \"?litefs\\\\-fwd $c( |\"|\$)" "$p1"
		for o in $(_options "$c"); do
			assert_contains "litefs-fwd(1) tells $c's option $o" "${o//-/\\-}" "$p1"
		done
	done
}

test_example_app_through_litefs_fwd_run() {
	local d port out
	fwd_cluster d app --db app.db || return
	must "schema" node_sql "$d" node1 app.db "CREATE TABLE visits(id INTEGER PRIMARY KEY, path TEXT NOT NULL, at TEXT NOT NULL);" || return
	wait_same_pos "$d" app.db 5 node1 node2 || return
	port=$((20300 + RANDOM % 2000))
	# the application as the Dockerfile runs it: litefs-fwd run, without a forwarder of its
	# own here (each node of the cluster has one already)
	bg_start "$d/app.log" sim_exec "$d" node2 env "${FWD_RUN_ENV[@]}" \
		APP_DB="$(node_path "$d" node2 app.db)" PORT="$port" \
		"$FWD_BIN" run --no-forwarder -- "$E2E_PY" "$EX/fly/app.py"
	local url="http://$(node_addr "$d" node2):$port"
	wait_for 10 curl -sf -o /dev/null "$url/ready" ||
		{ not_ok "the application answers" log "$(cat "$d/app.log")"; return; }
	capture curl -sf "$url/a"
	assert_eq "a visit on the replica is counted" "/a: 1 visits" "$OUT"
	capture curl -sf "$url/a"
	assert_eq "and read back at once" "/a: 2 visits" "$OUT"
	capture node_sql "$d" node1 app.db "SELECT path, count(*) FROM visits GROUP BY path ORDER BY path;"
	assert_eq "each visit is on the primary once" $'/a|2\n/ready|1' "$OUT"
}

e2e_main "$@"
