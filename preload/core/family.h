/* The family table: how the core reaches a loop family (preload/uv/,
 * preload/ev/, preload/sys/, ...) without naming it, the way compiler-rt's
 * sanitizer_common reaches its tools through the callbacks they install.
 *
 * Each family folder holds one entry, `LS_FAMILY(name) = { ... };`, which
 * adds itself to the table at load, before any family's init runs; the
 * core then calls what the entries fill in, in the order the families are
 * linked. Adding a family is a folder with its entry: no file of the core
 * or of another family changes. */
#ifndef LOOPSAN_FAMILY_H
#define LOOPSAN_FAMILY_H

#include "preload/core/shim.h"

struct ls_family {
	const char *name;
	/* The text of the family's library: a return address inside it (and
	 * inside own_addr, when the family gives one) is the library's own
	 * call, never the program's finding. NULL: no library of its own. */
	const struct ls_span *span;
	int (*own_addr)(const void *addr);
	/* At load, after the tracer has read LOOPSAN_OPTIONS. */
	void (*init)(void);
	/* In the child of fork, before it returns to the program. */
	void (*at_fork_child)(void);
	/* At exit, before the trace is finished: what is still pending. */
	void (*at_exit)(void);
	/* A thread runs a loop (of any family) for the first time or again. */
	void (*loop_thread)(void);
};

/* The shim's constructors run by priority: the tracer's (101), the
 * entries adding themselves (102), then the families' inits (103). */
void ls_family_add(const struct ls_family *f);

#define LS_FAMILY(name)                                                      \
	static const struct ls_family ls_family_##name;                      \
	__attribute__((constructor(102))) static void ls_family_add_##name(void) \
	{                                                                    \
		ls_family_add(&ls_family_##name);                            \
	}                                                                    \
	static const struct ls_family ls_family_##name

/* Is ret (a return address) inside a loop family's library: that library
 * calling, not the program? Lock-free; the families with a library are
 * asked in table order, each first by its span. */
struct ls_own_span {
	const struct ls_span *span;
	int (*own_addr)(const void *addr);
};
extern struct ls_own_span ls_own_spans[] LS_HIDDEN;
extern uint32_t ls_n_own_spans LS_HIDDEN;

static inline int ls_family_own_call(const void *ret)
{
	for (uint32_t i = 0; i < ls_n_own_spans; i++) {
		const struct ls_own_span *o = &ls_own_spans[i];
		if (ls_span_has(o->span, (uintptr_t)ret) &&
		    (o->own_addr == NULL || o->own_addr(ret)))
			return 1;
	}
	return 0;
}

/* record.c's loop-run bookkeeping tells every family that this thread runs
 * a loop (the watchdog gives it a slot). */
void ls_families_loop_thread(void);

#endif
