# loopsan: `make` builds build/libloopsan.so and build/loopsan.
# `make demo` and `make test` install missing Debian packages first.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Werror
STD     := -std=c11 -D_GNU_SOURCE
CPPFLAGS += -I.

SHIM_SRC   := $(wildcard preload/*.c tracer/*.c)
VIEWER_SRC := $(wildcard viewer/*.c)
SHIM_OBJ   := $(SHIM_SRC:%.c=$(BUILD)/obj/shim/%.o)
VIEWER_OBJ := $(VIEWER_SRC:%.c=$(BUILD)/obj/viewer/%.o)
HEADERS    := $(wildcard preload/*.h tracer/*.h viewer/*.h)

# The shim exports only the interposed functions (marked LS_EXPORT).
SHIM_CFLAGS := -fPIC -fvisibility=hidden -fno-omit-frame-pointer -ftls-model=initial-exec
SHIM_LIBS   := -lunwind -ldl -lpthread
VIEWER_LIBS := -ldw -lelf -ljansson -lm

# `make SANITIZE=1` (see the sanitize target): ASan+UBSan in the viewer and
# the tests, UBSan in the shim (an ASan shim would need the ASan runtime
# preloaded ahead of it into every traced program).
ifeq ($(SANITIZE),1)
SAN_FULL := -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_SHIM := -fsanitize=undefined -fno-sanitize-recover=all
endif

FIXTURE_SRC := $(wildcard tests/fixtures/*.c)
FIXTURES    := $(FIXTURE_SRC:tests/fixtures/%.c=$(BUILD)/fixtures/%)
TEST_SRC    := $(wildcard tests/test_*.c)
TEST_BIN    := $(BUILD)/tests/loopsan-tests

.PHONY: all deps demo test sanitize clean
all: $(BUILD)/libloopsan.so $(BUILD)/loopsan

$(BUILD)/libloopsan.so: $(SHIM_OBJ)
	$(CC) -shared $(SAN_SHIM) -o $@ $^ $(LDFLAGS) $(SHIM_LIBS) -Wl,-z,defs

$(BUILD)/loopsan: $(VIEWER_OBJ)
	$(CC) $(SAN_FULL) -o $@ $^ $(LDFLAGS) $(VIEWER_LIBS)

$(BUILD)/obj/shim/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(SAN_SHIM) $(WARN) $(SHIM_CFLAGS) -c -o $@ $<

$(BUILD)/obj/viewer/%.o: %.c $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(SAN_FULL) $(WARN) -c -o $@ $<

# Fixtures are real libuv/libevent programs, built with line info and frame
# pointers so that creation sites symbolize to the lines the tests expect.
$(BUILD)/fixtures/%: tests/fixtures/%.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g -fno-omit-frame-pointer $(WARN) -o $@ $< -luv -levent -lpthread

$(BUILD)/demo: scripts/demo.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O0 -g -fno-omit-frame-pointer $(WARN) -o $@ $< -luv

$(TEST_BIN): $(TEST_SRC) tests/harness.h tracer/format.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(SAN_FULL) $(WARN) -o $@ $(TEST_SRC) -lcriterion -ljansson

deps:
	@scripts/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all $(BUILD)/demo
	@scripts/demo.sh $(BUILD)

test: deps
	@$(MAKE) --no-print-directory all $(FIXTURES) $(TEST_BIN)
	LOOPSAN_BUILD=$(abspath $(BUILD)) $(TEST_BIN) --jobs 2

# ASan/UBSan builds of the viewer and the tests (UBSan in the shim), in
# their own build dir, running the whole suite.
sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build-san SANITIZE=1 OPT=-O1 \
		all $(FIXTURES:$(BUILD)/%=build-san/%) build-san/tests/loopsan-tests
	LOOPSAN_BUILD=$(abspath build-san) build-san/tests/loopsan-tests --jobs 2

clean:
	rm -rf build build-san

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
bench: all $(BENCH_BIN)
	BUILD=$(BUILD) bench/run.sh
