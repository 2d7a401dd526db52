# loopsan: `make` builds build/libloopsan.so and build/loopsan.
# `make demo` and `make test` install missing Debian packages first.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Werror
STD     := -std=c11 -D_GNU_SOURCE
CPPFLAGS += -I.

SHIM_SRC   := $(wildcard preload/*/*.c tracer/*.c)
VIEWER_SRC := $(wildcard viewer/*.c)
SHIM_OBJ   := $(SHIM_SRC:%.c=$(BUILD)/obj/shim/%.o)
VIEWER_OBJ := $(VIEWER_SRC:%.c=$(BUILD)/obj/viewer/%.o)
HEADERS    := $(wildcard preload/*/*.h tracer/*.h viewer/*.h)

# The shim exports only the interposed functions (marked LS_EXPORT).
SHIM_CFLAGS := -fPIC -fvisibility=hidden -fno-omit-frame-pointer -ftls-model=initial-exec
SHIM_LIBS   := -lunwind -ldl -lpthread
VIEWER_LIBS := -ldw -lelf -ljansson -liberty -lm
# loopsan top's terminal (libncurses-dev).
CURSES_LIBS := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw -ltinfo)

# `make SANITIZE=1` (see the sanitize target): ASan+UBSan in the viewer and
# the tests, UBSan in the shim (an ASan shim would need the ASan runtime
# preloaded ahead of it into every traced program).
ifeq ($(SANITIZE),1)
SAN_FULL := -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_SHIM := -fsanitize=undefined -fno-sanitize-recover=all
endif

# tests/FAMILY/test_*.c, and the fixtures they run in tests/FAMILY/fixtures/.
FIXTURE_SRC := $(wildcard tests/*/fixtures/*.c)
FIXTURES    := $(patsubst %.c,$(BUILD)/fixtures/%,$(notdir $(FIXTURE_SRC)))
TEST_SRC    := $(wildcard tests/*/test_*.c)
TEST_BIN    := $(BUILD)/tests/loopsan-tests

.PHONY: all deps demo test test-clang sanitize clean fuzz fuzz-smoke transparency libuv-suite layers real
all: $(BUILD)/libloopsan.so $(BUILD)/loopsan

$(BUILD)/libloopsan.so: $(SHIM_OBJ)
	$(CC) -shared $(SAN_SHIM) -o $@ $^ $(LDFLAGS) $(SHIM_LIBS) -Wl,-z,defs

$(BUILD)/loopsan: $(VIEWER_OBJ)
	$(CC) $(SAN_FULL) -o $@ $^ $(LDFLAGS) $(VIEWER_LIBS) $(CURSES_LIBS)

# preload/py/asyncio.c speaks CPython's C API (3.11's headers; every symbol
# weak, so the shim loads in any process): libpython3.11-dev.
PY_CFLAGS := $(shell pkg-config --cflags python-3.11 2>/dev/null || echo -I/usr/include/python3.11)
$(BUILD)/obj/shim/preload/py/asyncio.o: CPPFLAGS += $(PY_CFLAGS)

$(BUILD)/obj/shim/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(SAN_SHIM) $(WARN) $(SHIM_CFLAGS) -c -o $@ $<

$(BUILD)/obj/viewer/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(SAN_FULL) $(WARN) -c -o $@ $<

# viewer/options.c is tracer/options.c, the shim's option table, included.
$(BUILD)/obj/viewer/viewer/options.o: tracer/options.c

# Fixtures are real libuv/libevent programs, built with line info and frame
# pointers so that creation sites symbolize to the lines the tests expect.
# Each lives beside the tests of its family (tests/uv/fixtures/NAME.c, ...,
# found through vpath) but builds flat into $(BUILD)/fixtures/NAME, the name
# the tests run it by: no two fixtures may share a name.
FIXTURE_DUPS := $(strip $(foreach f,$(FIXTURE_SRC),\
	$(if $(filter-out $(f),$(filter %/$(notdir $(f)),$(FIXTURE_SRC))),$(f))))
ifneq ($(FIXTURE_DUPS),)
$(error fixtures with the same name: $(FIXTURE_DUPS))
endif
vpath %.c $(sort $(dir $(FIXTURE_SRC)))
$(BUILD)/fixtures/%: %.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g -fno-omit-frame-pointer $(WARN) -o $@ $< -luv -levent -levent_pthreads -lpthread

# reg_sites once more, -O2 without frame pointers, like most distributions'
# programs and libraries: creation stacks must be the same.
FIXTURES += $(BUILD)/fixtures/reg_sites_nofp
$(BUILD)/fixtures/reg_sites_nofp: tests/sys/fixtures/reg_sites.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O2 -g -fomit-frame-pointer $(WARN) -o $@ $< -luv -lpthread

# A static executable: the shim cannot be preloaded into it (loopsan run
# says so).
$(BUILD)/fixtures/static_hello: tests/viewer/fixtures/static_hello.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g $(WARN) -static -o $@ $<

# Built with AddressSanitizer (gcc: libasan a DT_NEEDED library that must
# be loaded first; loopsan run puts it before the shim).
$(BUILD)/fixtures/asan_slow: tests/uv/fixtures/asan_slow.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g -fno-omit-frame-pointer -fsanitize=address $(WARN) -o $@ $< -luv

# strip_slow once more, stripped (-s) like a distribution's program without
# its debug package: named by module+0xoffset.
FIXTURES += $(BUILD)/fixtures/strip_slow_s
$(BUILD)/fixtures/strip_slow_s: tests/viewer/fixtures/strip_slow.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -fno-omit-frame-pointer -s $(WARN) -o $@ $< -luv

# strip_slow stripped once more with what a distribution ships beside it.
# strip_slow_m: with MiniDebugInfo, as Fedora ships (gdb's manual, "MiniDebugInfo"):
# the function symbols .dynsym lacks, in an xz-compressed ELF in .gnu_debugdata.
FIXTURES += $(BUILD)/fixtures/strip_slow_m
$(BUILD)/fixtures/strip_slow_m: tests/viewer/fixtures/strip_slow.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g -fno-omit-frame-pointer $(WARN) -o $@ $< -luv
	nm -D $@ --format=posix --defined-only | awk '{ print $$1 }' | sort >$@.dynsyms
	nm $@ --format=posix --defined-only | awk '$$2 ~ /^[TtD]$$/ { print $$1 }' | sort >$@.funcsyms
	comm -13 $@.dynsyms $@.funcsyms >$@.keep
	objcopy --only-keep-debug $@ $@.full
	objcopy -S --remove-section .gdb_index --remove-section .comment \
		--keep-symbols=$@.keep $@.full $@.mini
	strip --strip-all -R .comment $@
	xz -f $@.mini
	objcopy --add-section .gnu_debugdata=$@.mini.xz $@
	rm -f $@.dynsyms $@.funcsyms $@.keep $@.full $@.mini.xz

# strip_slow_d: stripped, its debug file (objcopy --only-keep-debug, what a
# -dbgsym package installs) under fixtures/debug/.build-id/xx/rest.debug, for
# the tests to name with LOOPSAN_DEBUG_PATH.
FIXTURES += $(BUILD)/fixtures/strip_slow_d
$(BUILD)/fixtures/strip_slow_d: tests/viewer/fixtures/strip_slow.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g -fno-omit-frame-pointer -Wl,--build-id $(WARN) -o $@ $< -luv
	id=$$(readelf -n $@ | awk '/Build ID:/ { print $$3 }'); \
	test -n "$$id" && mkdir -p $(dir $@)debug/.build-id/$${id%"$${id#??}"} && \
	objcopy --only-keep-debug $@ $(dir $@)debug/.build-id/$${id%"$${id#??}"}/$${id#??}.debug
	strip --strip-all $@

# The one C++ fixture (tests/*/fixtures/*.cc): demangled names.
FIXTURES += $(BUILD)/fixtures/cxx_member
$(BUILD)/fixtures/cxx_member: tests/viewer/fixtures/cxx_member.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O0 -g -fno-omit-frame-pointer $(WARN) -o $@ $< -luv

# libev's libevent emulation: libev first, so that event_set & co. resolve
# to it, with libevent loaded too.
$(BUILD)/fixtures/libev_%: tests/ev/fixtures/libev_%.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g -fno-omit-frame-pointer $(WARN) -o $@ $< -Wl,--no-as-needed -lev -levent

$(BUILD)/demo: scripts/demo.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g -fno-omit-frame-pointer $(WARN) -o $@ $< -luv

$(TEST_BIN): $(TEST_SRC) tests/harness.h tests/real/daemons.h tracer/format.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(SAN_FULL) $(WARN) -o $@ $(TEST_SRC) -lcriterion -ljansson

deps:
	@scripts/deps.sh

# The shim's folders depend one way: tracer <- preload/core <- each family
# (scripts/layers.sh reads the objects' symbols).
layers: $(BUILD)/libloopsan.so
	@scripts/layers.sh $(BUILD)

demo:
	@scripts/deps.sh demo
	@$(MAKE) --no-print-directory all $(BUILD)/demo
	@scripts/demo.sh $(BUILD)

test: deps
	@$(MAKE) --no-print-directory all $(FIXTURES) $(TEST_BIN)
	@scripts/layers.sh $(BUILD)
	LOOPSAN_BUILD=$(abspath $(BUILD)) $(TEST_BIN) --jobs 2
	@$(MAKE) --no-print-directory fuzz-smoke

# ASan/UBSan builds of the viewer and the tests (UBSan in the shim), in
# their own build dir, running the whole suite.
sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build-san SANITIZE=1 OPT=-O1 \
		all $(FIXTURES:$(BUILD)/%=build-san/%) build-san/tests/loopsan-tests
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	LOOPSAN_BUILD=$(abspath build-san) LOOPSAN_SANITIZED=1 build-san/tests/loopsan-tests --jobs 2

# The shim, the viewer, the fixtures and the tests built with clang instead,
# in their own build dir, running the whole suite (programs built with
# clang are the users' too: their debug info differs, see symbolize.c).
test-clang: deps
	@$(MAKE) --no-print-directory BUILD=build-clang CC=clang \
		all $(FIXTURES:$(BUILD)/%=build-clang/%) build-clang/tests/loopsan-tests
	LOOPSAN_BUILD=$(abspath build-clang) build-clang/tests/loopsan-tests --jobs 2

clean:
	rm -rf build build-san build-fuzz build-tsan build-clang

# Someone else's test suite under the shim: Python's own test_asyncio, run
# without and with LD_PRELOAD, results compared test by test (see
# scripts/transparency.sh). About 4 minutes, so not part of `make test`.
transparency: deps
	@$(MAKE) --no-print-directory all
	BUILD=$(BUILD) scripts/transparency.sh

# The same for libuv's own test suite: Debian's libuv1 source (apt-get
# source through a private sources list), built as a shared library with
# its runner uv_run_tests, run as `nobody` without and with LD_PRELOAD;
# a test that differs is rerun once each way, and counts as flaky rather
# than as a difference unless both reruns agree with the first runs (see
# scripts/libuv-suite.sh). The source and build are kept in
# $(BUILD)/libuv-suite/ between runs. About 2 minutes, so not part of
# `make test`.
libuv-suite:
	@scripts/deps.sh libuv-suite
	@$(MAKE) --no-print-directory all
	BUILD=$(BUILD) scripts/libuv-suite.sh

# The slow part of the real-programs suite (tests/real/real_daemons_slow.c,
# its own binary; the quick part, memcached, redis-server and cmake, is in
# `make test`): named, dig, kresd, unbound, nginx, transmission-daemon and
# tor, each run by its script in tests/real/daemons/ plain and under
# `loopsan run`, in a private network namespace (so as root). About a
# minute.
REAL_BIN := $(BUILD)/tests/loopsan-real
$(REAL_BIN): tests/real/real_daemons_slow.c tests/real/daemons.h tests/harness.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(SAN_FULL) $(WARN) -o $@ $< -lcriterion -ljansson

real: deps
	@$(MAKE) --no-print-directory all $(REAL_BIN)
	LOOPSAN_BUILD=$(abspath $(BUILD)) $(REAL_BIN) --jobs 2

# ---- install: `make install`, `make uninstall` -----------------------------
# PREFIX (default /usr/local) and DESTDIR as usual: bin/loopsan, the shim in
# lib/loopsan/ (where the installed loopsan run looks: ../lib/loopsan/ from
# its binary), the man page loopsan(1), made from the CLI's own help texts
# (scripts/manpage.sh), and bash completion.
PREFIX  ?= /usr/local
DESTDIR ?=
INSTALL_BIN  := $(DESTDIR)$(PREFIX)/bin
INSTALL_LIB  := $(DESTDIR)$(PREFIX)/lib/loopsan
INSTALL_MAN  := $(DESTDIR)$(PREFIX)/share/man/man1
INSTALL_COMP := $(DESTDIR)$(PREFIX)/share/bash-completion/completions

.PHONY: man install uninstall
man: $(BUILD)/loopsan.1

$(BUILD)/loopsan.1: $(BUILD)/loopsan scripts/manpage.sh
	scripts/manpage.sh $(BUILD)/loopsan >$@.$$$$.tmp && mv $@.$$$$.tmp $@

install: all $(BUILD)/loopsan.1
	install -d $(INSTALL_BIN) $(INSTALL_LIB) $(INSTALL_MAN) $(INSTALL_COMP)
	install -m 755 $(BUILD)/loopsan $(INSTALL_BIN)/loopsan
	install -m 644 $(BUILD)/libloopsan.so $(INSTALL_LIB)/libloopsan.so
	install -m 644 $(BUILD)/loopsan.1 $(INSTALL_MAN)/loopsan.1
	install -m 644 scripts/loopsan.bash-completion $(INSTALL_COMP)/loopsan

uninstall:
	rm -f $(INSTALL_BIN)/loopsan $(INSTALL_LIB)/libloopsan.so \
		$(INSTALL_MAN)/loopsan.1 $(INSTALL_COMP)/loopsan
	rmdir $(INSTALL_LIB) 2>/dev/null || true

# ---- benchmarks: `make bench` (see BENCHMARKS.md) -------------------------
# Real libuv programs (and libevent baselines, ev_*) built -O2 like a user's
# program, then bench/run.sh runs each with and without the shim.
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

$(BUILD)/bench/ev_%: bench/ev_%.c bench/common.h
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O2 -g $(WARN) -o $@ $< -levent -levent_pthreads -lpthread

$(BUILD)/bench/%: bench/%.c bench/common.h
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O2 -g $(WARN) -o $@ $< -luv -lpthread

$(BUILD)/bench/regstack_fp: bench/regstack.c

.PHONY: bench
bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(BENCH_BIN) $(BUILD)/fixtures/churn
	BUILD=$(BUILD) bench/run.sh

# ---- fuzzing: `make fuzz`, `make fuzz-smoke` (see tests/fuzz) --------------
# A libFuzzer target (clang, ASan+UBSan) that feeds each input to the trace
# reader and, when it is accepted, to findings, symbolization and every
# report printer. `make fuzz` runs it FUZZ_SECONDS on the seed corpus
# (tests/fuzz/corpus, and tests/fuzz/regress: inputs that once failed;
# both read-only) plus build-fuzz/corpus (what it found, kept
# between runs); inputs that crash land in build-fuzz/artifacts/, and make
# fails when there is any. `make fuzz-smoke`
# (part of `make test`) runs FUZZ_SMOKE_SECONDS from the seeds alone and
# fails on any crash, leak or timeout; without clang's fuzzer runtime it
# prints a note and succeeds. FUZZ_ARGS adds libFuzzer flags (-jobs=N, ...).
FUZZ_CC            ?= clang
FUZZ_BUILD         := build-fuzz
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_ARGS          ?=
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all
# Checks that tests/fuzz/ubsan.supp may silence while a known bug is open
# (e.g. -fsanitize-recover=float-cast-overflow); none are now, so every
# report stops the run.
FUZZ_RECOVER :=
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) $(FUZZ_RECOVER)
# cmd_stats.c is compiled into the target itself (its printers are static);
# cmd_top.c (the terminal) is left out.
FUZZ_VIEWER_SRC := $(filter-out viewer/main.c viewer/cmd_stats.c viewer/cmd_top.c,$(VIEWER_SRC))
FUZZ_OBJ    := $(FUZZ_VIEWER_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN    := $(FUZZ_BUILD)/fuzz_reader
FUZZ_ENV    := UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=tests/fuzz/ubsan.supp
FUZZ_RUN    := -max_len=262144 -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
	-dict=tests/fuzz/trace.dict -print_final_stats=1 \
	-artifact_prefix=$(FUZZ_BUILD)/artifacts/ $(FUZZ_ARGS)
# `make fuzz` goes on after a crash (each input runs in a child process) so
# that a long run collects them all; FUZZ_LONG= stops at the first one.
FUZZ_LONG   ?= -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1
# Whether $(FUZZ_CC) can link a fuzzer at all.
FUZZ_PROBE  := printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	| $(FUZZ_CC) -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1

$(FUZZ_BUILD)/obj/viewer/%.o: viewer/%.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(STD) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Wall -Wextra -c -o $@ $<
$(FUZZ_BUILD)/obj/viewer/options.o: tracer/options.c

$(FUZZ_BIN): tests/fuzz/fuzz_reader.c viewer/cmd_stats.c $(FUZZ_OBJ) $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(STD) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Wall -Wextra \
		-o $@ tests/fuzz/fuzz_reader.c $(FUZZ_OBJ) $(VIEWER_LIBS)

fuzz: deps
	@$(FUZZ_PROBE) || { echo "make fuzz: $(FUZZ_CC) cannot build a libFuzzer target (install clang and libclang-rt-14-dev)" >&2; exit 1; }
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/artifacts
	$(FUZZ_ENV) $(FUZZ_BIN) $(FUZZ_RUN) $(FUZZ_LONG) -max_total_time=$(FUZZ_SECONDS) \
		$(FUZZ_BUILD)/corpus tests/fuzz/corpus tests/fuzz/regress
	@if ls $(FUZZ_BUILD)/artifacts | grep -q .; then \
		echo "make fuzz: inputs that crashed, leaked or hung, in $(FUZZ_BUILD)/artifacts:" >&2; \
		ls -l $(FUZZ_BUILD)/artifacts >&2; \
		echo "make fuzz: replay one with: $(FUZZ_ENV) $(FUZZ_BIN) FILE" >&2; \
		exit 1; \
	fi

fuzz-smoke:
	@if ! $(FUZZ_PROBE); then \
		echo "make fuzz-smoke: skipped: $(FUZZ_CC) cannot build a libFuzzer target (scripts/deps.sh installs clang and libclang-rt-14-dev)"; \
		exit 0; \
	fi; \
	$(MAKE) --no-print-directory $(FUZZ_BIN) || exit 1; \
	rm -rf $(FUZZ_BUILD)/smoke-corpus; \
	mkdir -p $(FUZZ_BUILD)/smoke-corpus $(FUZZ_BUILD)/artifacts; \
	echo "$(FUZZ_BIN) ... -max_total_time=$(FUZZ_SMOKE_SECONDS) tests/fuzz/corpus tests/fuzz/regress"; \
	$(FUZZ_ENV) $(FUZZ_BIN) $(FUZZ_RUN) -max_total_time=$(FUZZ_SMOKE_SECONDS) \
		$(FUZZ_BUILD)/smoke-corpus tests/fuzz/corpus tests/fuzz/regress 2>$(FUZZ_BUILD)/smoke.log; \
	rc=$$?; \
	grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::)' $(FUZZ_BUILD)/smoke.log; \
	if [ $$rc -ne 0 ]; then \
		tail -n 60 $(FUZZ_BUILD)/smoke.log >&2; \
		echo "make fuzz-smoke: FAILED (exit $$rc); full log in $(FUZZ_BUILD)/smoke.log, input in $(FUZZ_BUILD)/artifacts/" >&2; \
		exit 1; \
	fi

# ---- ThreadSanitizer: `make tsan-stress` ------------------------------------
# The shim built with -fsanitize=thread (in build-tsan/), preloaded into the
# stress fixture (built with it too): TSAN_THREADS threads, each running a
# loop of its own for TSAN_CALLS idle callbacks, twice:
# - mode=timeline with stacks: every callback a record, chunks handed out to
#   all threads at once, registration stacks captured and de-duplicated
#   across threads. The threads stay alive to the end ("park"): at thread
#   exit the TSan runtime tears the thread down in the same last round of
#   thread-specific-data destructors in which libunwind's per-thread trace
#   cache (unw_backtrace's) frees itself under a mutex, which crashes the
#   runtime; that is between libtsan and libunwind, not the shim.
# - summary mode, stacks=0 (no libunwind): the threads exit and are joined,
#   so the shim's thread-exit path runs under TSan.
# Any TSan report stops the run (exit 66) and fails; then the (normal)
# viewer must count exactly TSAN_THREADS x TSAN_CALLS on_idle callbacks on
# TSAN_THREADS threads. Then the many_writes fixture (built with TSan
# too): 4 threads, each with a loop of its own, put 20 000 uv_write
# requests each in flight at once (stacks=0, the threads are joined):
# puts and takes of the lock-free request table race, and the requests it
# has no room for go to the side table; every callback must get its own
# request. Last, thread_churn (built with TSan too): 2000 short-lived loop
# threads, 100 alive at a time, each taking the trace chunks an exited one
# left (stacks=0, as threads exit; watchdog=0 and io_sync=2: Debian's
# libuv closes its descriptors with a raw system call TSan does not see,
# so a number's next owner, the watchdog's /proc walk say, is taken for a
# race); every callback must be counted, on its 2000 threads. Logs and
# traces stay in build-tsan/run-*/.
TSAN_BUILD   := build-tsan
TSAN_FLAGS   := -fsanitize=thread
TSAN_THREADS ?= 64
TSAN_CALLS   ?= 100000
TSAN_ENV     := TSAN_OPTIONS='halt_on_error=1 exitcode=66 second_deadlock_stack=1'

$(TSAN_BUILD)/fixtures/stress: tests/sys/fixtures/stress.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O1 -g -fno-omit-frame-pointer $(TSAN_FLAGS) $(WARN) -o $@ $< -luv -lpthread

$(TSAN_BUILD)/fixtures/many_writes: tests/uv/fixtures/many_writes.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O1 -g -fno-omit-frame-pointer $(TSAN_FLAGS) $(WARN) -o $@ $< -luv -lpthread

$(TSAN_BUILD)/fixtures/thread_churn: tests/sys/fixtures/thread_churn.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O1 -g -fno-omit-frame-pointer $(TSAN_FLAGS) $(WARN) -o $@ $< -luv -lpthread

.PHONY: tsan-stress
tsan-stress: deps
	@$(MAKE) --no-print-directory all $(TSAN_BUILD)/fixtures/stress $(TSAN_BUILD)/fixtures/many_writes \
		$(TSAN_BUILD)/fixtures/thread_churn
	@$(MAKE) --no-print-directory BUILD=$(TSAN_BUILD) CFLAGS='-O1 -g $(TSAN_FLAGS)' \
		LDFLAGS='$(TSAN_FLAGS)' $(TSAN_BUILD)/libloopsan.so
	@n=$(TSAN_THREADS); m=$(TSAN_CALLS); want=$$((n * m)); \
	for pass in mode=timeline:park stacks=0:join; do \
		opts=$${pass%:*}; how=$${pass#*:}; dir=$(TSAN_BUILD)/run-$$how; \
		rm -rf $$dir && mkdir -p $$dir || exit 1; \
		echo "tsan-stress: $$n threads x $$m callbacks, LOOPSAN_OPTIONS=$$opts, threads $$how"; \
		t0=$$(date +%s.%N); \
		(cd $$dir && $(TSAN_ENV) LOOPSAN_OPTIONS=$$opts \
			LD_PRELOAD=$(abspath $(TSAN_BUILD))/libloopsan.so \
			../fixtures/stress $$n $$m $$how >stdout 2>stderr); rc=$$?; \
		t1=$$(date +%s.%N); \
		if [ $$rc -ne 0 ] || grep -q ThreadSanitizer $$dir/stderr; then \
			cat $$dir/stderr >&2; \
			echo "make tsan-stress: FAILED: exit $$rc$$( [ $$rc -eq 66 ] && echo ', a ThreadSanitizer report' ) (log: $$dir/stderr)" >&2; \
			exit 1; \
		fi; \
		grep -qx "total $$want" $$dir/stdout || { \
			echo "make tsan-stress: FAILED: stress ran $$(tail -n 1 $$dir/stdout), not $$want" >&2; exit 1; }; \
		set -- $$dir/loopsan.*.trace; \
		[ $$# -eq 1 ] && [ -f "$$1" ] || { echo "make tsan-stress: FAILED: expected one trace in $$dir" >&2; exit 1; }; \
		$(BUILD)/loopsan stats --format json "$$1" >$$dir/stats.json || exit 1; \
		sites=$$(grep -c '"callback":' $$dir/stats.json); \
		if [ "$$sites" -ne 1 ] || ! grep -q "\"callback\": \"on_idle\"" $$dir/stats.json || \
		   ! grep -q "\"count\": $$want," $$dir/stats.json || \
		   ! grep -q "\"threads\": $$n," $$dir/stats.json; then \
			cat $$dir/stats.json >&2; \
			echo "make tsan-stress: FAILED: loopsan stats does not count $$want on_idle callbacks on $$n threads" >&2; \
			exit 1; \
		fi; \
		echo "tsan-stress: ok, no ThreadSanitizer report, $$want callbacks counted on $$n threads ($$(echo "$$t1 - $$t0" | bc) s)"; \
	done
	@dir=$(TSAN_BUILD)/run-requests; rm -rf $$dir && mkdir -p $$dir || exit 1; \
	echo "tsan-stress: 4 threads x 20000 uv_write requests in flight at once, LOOPSAN_OPTIONS=stacks=0"; \
	(cd $$dir && $(TSAN_ENV) LOOPSAN_OPTIONS=stacks=0 \
		LD_PRELOAD=$(abspath $(TSAN_BUILD))/libloopsan.so \
		../fixtures/many_writes 20000,4 >stdout 2>stderr); rc=$$?; \
	if [ $$rc -ne 0 ] || grep -q ThreadSanitizer $$dir/stderr || ! grep -qx "written 80000" $$dir/stdout; then \
		cat $$dir/stderr >&2; \
		echo "make tsan-stress: FAILED: many_writes exit $$rc, $$(cat $$dir/stdout) (log: $$dir/stderr)" >&2; \
		exit 1; \
	fi; \
	echo "tsan-stress: ok, no ThreadSanitizer report, every request called back its own callback"
	@dir=$(TSAN_BUILD)/run-churn; rm -rf $$dir && mkdir -p $$dir || exit 1; \
	echo "tsan-stress: 2000 short-lived loop threads, 100 at a time: exited threads' trace chunks taken by new ones, LOOPSAN_OPTIONS=stacks=0:watchdog=0"; \
	(cd $$dir && TSAN_OPTIONS='halt_on_error=1 exitcode=66 second_deadlock_stack=1 io_sync=2' \
		LOOPSAN_OPTIONS=stacks=0:watchdog=0 LD_PRELOAD=$(abspath $(TSAN_BUILD))/libloopsan.so \
		../fixtures/thread_churn 2000,100,5 >stdout 2>stderr); rc=$$?; \
	if [ $$rc -ne 0 ] || grep -q ThreadSanitizer $$dir/stderr || ! grep -qx "callbacks=12000" $$dir/stdout; then \
		cat $$dir/stderr >&2; \
		echo "make tsan-stress: FAILED: thread_churn exit $$rc, $$(cat $$dir/stdout) (log: $$dir/stderr)" >&2; \
		exit 1; \
	fi; \
	$(BUILD)/loopsan stats --format json $$dir/loopsan.*.trace >$$dir/stats.json || exit 1; \
	grep -q '"count": 10000,' $$dir/stats.json && grep -q '"threads": 2000,' $$dir/stats.json || { \
		cat $$dir/stats.json >&2; \
		echo "make tsan-stress: FAILED: loopsan stats does not count 10000 on_idle callbacks on 2000 threads" >&2; exit 1; }; \
	echo "tsan-stress: ok, no ThreadSanitizer report, every callback counted on its 2000 threads"
