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
	/* The thread's outermost library loop run call (uv_run,
	 * event_base_loop) returned: what follows is not an iteration. */
	void (*loop_left)(void);
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

/* The spans of the families whose library is loaded, for the own-call
 * test below: `all` covers them all (the program's own text lies outside,
 * so most of the program's calls are told apart by one compare), `exact`
 * says that `all` is one family's span with no finer test. Rebuilt by
 * ls_family_spans_changed; spans only appear and grow. */
struct ls_own_span {
	const struct ls_span *span;
	int (*own_addr)(const void *addr);
};
#define LS_MAX_FAMILIES 16
struct ls_own {
	struct ls_span all;
	uint32_t exact;
	uint32_t n;
	struct ls_own_span v[LS_MAX_FAMILIES];
};
extern struct ls_own ls_own LS_HIDDEN;

/* Is ret (a return address) inside a loop family's library: that library
 * calling, not the program? Lock-free. */
int ls_family_own_call_slow(const void *ret);

static inline int ls_family_own_call(const void *ret)
{
	if (LS_LIKELY(!ls_span_has(&ls_own.all, (uintptr_t)ret)))
		return 0;
	if (LS_LIKELY(__atomic_load_n(&ls_own.exact, __ATOMIC_ACQUIRE)))
		return 1;
	return ls_family_own_call_slow(ret);
}

/* A family's span was set or widened (its library was found, another of
 * its libraries was loaded): ls_own is rebuilt. Not on a hot path. */
void ls_family_spans_changed(void);

/* record.c's loop-run bookkeeping tells every family that this thread runs
 * a loop (the watchdog gives it a slot). */
void ls_families_loop_thread(void);
void ls_families_loop_left(void);


#endif
