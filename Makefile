# litefs-fwd: one GNU Makefile, build output in build/.
#   make                 build everything
#   make test            install what is missing, build, run unit and end-to-end tests
#   make demo            the two-node demo on the stand-in cluster
#   make chaos           faults under load on a 3-node stand-in, then an invariant checker
#                        (CHAOS_SECONDS of faults, default 600; CHAOS_ARGS, e.g. --seed 7)
#   make deps            install the Debian packages the build and the tests need
#   make SANITIZE=address,undefined test   the same under sanitizers (SANITIZE=thread too)
#   make install         litefs-fwd, liblitefs_fwd.so and the man pages under PREFIX
#                        (/usr/local), staged under DESTDIR when set; make uninstall

CC      ?= cc
BUILD   ?= build
SANITIZE ?=
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Wvla -Wundef
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -fno-common -fPIC -pthread $(WARN)
LDFLAGS += -pthread
ifneq ($(SANITIZE),)
  CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=$(SANITIZE)
endif

FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)

DEB_PACKAGES := build-essential pkg-config sqlite3 libsqlite3-dev libnanomsg-dev nanomsg-utils \
                libcmocka-dev libsodium-dev libcurl4-openssl-dev curl libfuse3-dev fuse3 libmicrohttpd-dev libjansson-dev \
                python3 tcl libsqlite3-tcl ruby ruby-sqlite3 php-cli php-sqlite3 psmisc procps bc \
                iproute2 valgrind clang python3-yaml groff-base nftables

# --- the LiteFS stand-in cluster -------------------------------------------------------
SIM_LIB_SRCS := $(filter-out tools/sim_main.c,$(wildcard tools/sim_*.c))
SIM_LIB_OBJS := $(SIM_LIB_SRCS:%.c=$(BUILD)/obj/%.o)
SIM_LIBS     := $(FUSE_LIBS) -lmicrohttpd -lcurl -ljansson -lsqlite3

# --- code shared by the interposer and the forwarder (wire format) -------------------------
COMMON_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard common/*.c))

# --- the interposer: build/liblitefs_fwd.so -------------------------------------------------
PRELOAD_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard preload/*.c))
PRELOAD_LIBS := -ljansson -lsodium -ldl -lpthread

# --- the forwarder and the litefs-fwd command: build/litefs-fwd ------------------------------
FORWARDER_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard forwarder/*.c))
# the subcommands other than `forwarder`, one file each
FWD_CMD_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out tools/fwd_main.c,$(wildcard tools/fwd_*.c)))
FWD_LIBS       := -lnanomsg -lsqlite3 -lcurl -ljansson -lsodium -lmicrohttpd -lpthread

# --- unit tests ---------------------------------------------------------------------------
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_UTIL_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out tests/test_%,$(wildcard tests/*.c)))
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_LIBS := $(SIM_LIBS) -lnanomsg -lsodium -lcmocka -ldl

HEADERS := $(wildcard tools/*.h common/*.h preload/*.h forwarder/*.h tests/*.h)

# --- programs the end-to-end suites run under the interposer: build/e2e/NAME ----------------
# Ordinary SQLite programs, linked with the system's libsqlite3 as any host program is.
E2E_PROGS := $(patsubst e2e/progs/%.c,$(BUILD)/e2e/%,$(wildcard e2e/progs/*.c))

.PHONY: all deps test unit-test e2e-test demo bench chaos clean install uninstall
all: $(BUILD)/litefs-sim $(if $(PRELOAD_OBJS),$(BUILD)/liblitefs_fwd.so) \
     $(if $(wildcard tools/fwd_main.c),$(BUILD)/litefs-fwd) $(E2E_PROGS)

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUSE_CFLAGS) -Itools -Icommon -Ipreload -Iforwarder -Itests -c -o $@ $<

$(BUILD)/libsim.a: $(SIM_LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libcommon.a: $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libpreload.a: $(PRELOAD_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/litefs-sim: $(BUILD)/obj/tools/sim_main.o $(BUILD)/libsim.a
	$(CC) $(LDFLAGS) -o $@ $^ $(SIM_LIBS)

$(BUILD)/libforwarder.a: $(FORWARDER_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The unit test of `litefs-fwd run`'s pure parts compiles them in by path.
$(BUILD)/obj/tests/test_fwd_run.o: $(wildcard tools/fwd_run_*.c)

# `litefs-fwd run` and `doctor` look for the interposer where `make install` puts it, among
# other places.
$(BUILD)/obj/tools/fwd_run.o $(BUILD)/obj/tools/fwd_doctor.o: CFLAGS += -DLITEFS_FWD_LIBDIR='"$(LIBDIR)"'

$(BUILD)/litefs-fwd: $(BUILD)/obj/tools/fwd_main.o $(FWD_CMD_OBJS) $(BUILD)/libforwarder.a \
		$(BUILD)/libcommon.a
	$(CC) $(LDFLAGS) -o $@ $^ $(FWD_LIBS)

# Only the SQLite API (and dlopen, for RTLD_DEEPBIND) is exported: preload/exports.map.
$(BUILD)/liblitefs_fwd.so: $(PRELOAD_OBJS) $(BUILD)/libcommon.a preload/exports.map
	$(CC) $(LDFLAGS) -shared -Wl,--version-script=preload/exports.map -Wl,-z,defs \
	  -o $@ $(PRELOAD_OBJS) $(BUILD)/libcommon.a $(PRELOAD_LIBS)

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/test_%.o $(TEST_UTIL_OBJS) $(BUILD)/libsim.a \
		$(if $(PRELOAD_OBJS),$(BUILD)/libpreload.a) $(if $(FORWARDER_OBJS),$(BUILD)/libforwarder.a) \
		$(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/e2e/%: e2e/progs/%.c $(wildcard e2e/progs/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lsqlite3

$(BUILD)/bench: bench/bench.c
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lsqlite3 -lnanomsg

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "deps: missing packages; run as root: apt-get install$$missing"; exit 1; fi

unit-test: all $(TEST_BINS)
	@bash tests/run-unit.sh $(TEST_BINS)

# The suites use this build's binaries; under a sanitizer, the programs that load the
# interposer get its runtime preloaded first (e2e/lib.sh).
e2e-test: all
	@LITEFS_SIM=$(abspath $(BUILD))/litefs-sim LITEFS_FWD=$(abspath $(BUILD))/litefs-fwd \
	  LITEFS_FWD_LIB=$(abspath $(BUILD))/liblitefs_fwd.so E2E_PROGS_DIR=$(abspath $(BUILD))/e2e \
	  E2E_SANITIZE="$(SANITIZE)" bash e2e/run.sh

test: deps
	@$(MAKE) --no-print-directory unit-test
	@$(MAKE) --no-print-directory e2e-test

demo: deps
	@$(MAKE) --no-print-directory all
	@bash e2e/demo.sh

# The chaos suite: writers on every node of a 3-node stand-in while faults are injected one
# after the other, then the invariant checker; fails on any violation (e2e/chaos/chaos.py).
CHAOS_SECONDS ?= 600
CHAOS_ARGS ?=
chaos: deps
	@$(MAKE) --no-print-directory all
	@LITEFS_SIM=$(abspath $(BUILD))/litefs-sim LITEFS_FWD=$(abspath $(BUILD))/litefs-fwd \
	  LITEFS_FWD_LIB=$(abspath $(BUILD))/liblitefs_fwd.so E2E_PROGS_DIR=$(abspath $(BUILD))/e2e \
	  E2E_SANITIZE="$(SANITIZE)" python3 e2e/chaos/chaos.py --seconds $(CHAOS_SECONDS) $(CHAOS_ARGS)

# Benchmarks print figures; they assert nothing (tests do).
bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench
	@bash bench/run.sh

clean:
	rm -rf $(BUILD)

MAN_PAGES := $(wildcard man/*.[1-8])

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)
	install -m 0755 $(BUILD)/litefs-fwd $(DESTDIR)$(BINDIR)/litefs-fwd
	install -m 0644 $(BUILD)/liblitefs_fwd.so $(DESTDIR)$(LIBDIR)/liblitefs_fwd.so
	@for m in $(MAN_PAGES); do \
	  sec=$${m##*.}; \
	  echo "install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$sec/"; \
	  install -d $(DESTDIR)$(MANDIR)/man$$sec && \
	  install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$sec/ || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/litefs-fwd $(DESTDIR)$(LIBDIR)/liblitefs_fwd.so
	@for m in $(MAN_PAGES); do \
	  f=$(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; echo "rm -f $$f"; rm -f "$$f"; \
	done

# ==== fuzzing: libFuzzer harnesses of fuzz/ (clang) ===========================================
#   make fuzz          build the harnesses, then run each for FUZZ_SECONDS (default 600) on
#                      $(BUILD)/fuzz/corpus-NAME, a corpus that starts as a copy of
#                      fuzz/corpus/NAME/ and keeps what the runs add; stops with an error at
#                      the first crash, leak, sanitizer report or timeout (the input is kept
#                      in $(BUILD)/fuzz/artifacts-NAME/)
#   make fuzz-build    build only: $(BUILD)/fuzz/fuzz_wire, fuzz_events, fuzz_request
#   make fuzz-seeds    write the wire and request seeds of fuzz/corpus/ again (fuzz/make_seeds.c)
# The code under test is compiled again with clang, with coverage and sanitizers, into
# $(BUILD)/fuzz/obj/; the gcc objects of $(BUILD)/obj/ are not used.
FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 600
FUZZ_TIMEOUT  ?= 60
FUZZ_OPTIONS  ?= -rss_limit_mb=2048 -print_final_stats=1 -timeout=$(FUZZ_TIMEOUT)
FUZZ_NAMES    := wire events request
FUZZ_DIR      := $(BUILD)/fuzz
FUZZ_BINS     := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# The project's warnings, not fatal for the code under test (clang may warn where gcc
# does not); fatal for the harnesses.
FUZZ_CFLAGS   := -std=gnu11 -D_GNU_SOURCE -fno-common -pthread -g -O1 $(FUZZ_SAN) \
                 $(filter-out -Werror,$(WARN)) -Icommon -Iforwarder
FUZZ_LDFLAGS  := -fsanitize=fuzzer,address,undefined -pthread
FUZZ_COMMON_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(wildcard common/*.c))
FUZZ_FWD_OBJS    := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(wildcard forwarder/*.c))
FUZZ_LIBS_wire    :=
FUZZ_LIBS_events  := -ljansson
FUZZ_LIBS_request  = -lsqlite3 -ljansson -lcurl -lnanomsg -lpthread -ldl \
                     $(shell pkg-config --libs libsodium 2>/dev/null)

.PHONY: fuzz fuzz-build fuzz-seeds
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_DIR)/obj/fuzz/fuzz_%.o)
fuzz-build: $(FUZZ_BINS)

$(FUZZ_DIR)/obj/common/%.o: common/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/obj/forwarder/%.o: forwarder/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/obj/fuzz/%.o: fuzz/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -c -o $@ $<

$(FUZZ_DIR)/libcommon.a: $(FUZZ_COMMON_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_DIR)/libforwarder.a: $(FUZZ_FWD_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/fuzz/fuzz_%.o $(FUZZ_DIR)/libforwarder.a $(FUZZ_DIR)/libcommon.a
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(FUZZ_LIBS_$*)

# Each harness in turn; its temporary files go to $(FUZZ_DIR)/tmp.
fuzz: fuzz-build
	@set -e; mkdir -p $(FUZZ_DIR)/tmp; \
	for name in $(FUZZ_NAMES); do \
	  corpus=$(FUZZ_DIR)/corpus-$$name; artifacts=$(FUZZ_DIR)/artifacts-$$name/; \
	  mkdir -p $$corpus $$artifacts; cp fuzz/corpus/$$name/* $$corpus/; \
	  echo "fuzz: fuzz_$$name for $(FUZZ_SECONDS) s on $$corpus"; \
	  if ! TMPDIR=$(abspath $(FUZZ_DIR))/tmp UBSAN_OPTIONS=print_stacktrace=1 \
	       $(FUZZ_DIR)/fuzz_$$name -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OPTIONS) \
	       -artifact_prefix=$$artifacts $$corpus; then \
	    echo "fuzz: fuzz_$$name found a problem; the input is in $$artifacts" >&2; exit 1; \
	  fi; \
	done; echo "fuzz: no findings"

fuzz-seeds: $(FUZZ_DIR)/make_seeds
	@mkdir -p fuzz/corpus/wire fuzz/corpus/request
	$(FUZZ_DIR)/make_seeds fuzz/corpus

$(FUZZ_DIR)/make_seeds: fuzz/make_seeds.c common/wire.c common/wire.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icommon -o $@ fuzz/make_seeds.c common/wire.c $(LDFLAGS)
# ==== end of fuzzing ==========================================================================
