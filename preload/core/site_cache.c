/* The site of a registration, looked up by the registering call
 * instruction, the callback, the api and the thread, so that a call site
 * pays for unwinding its stack once per thread (stack_cache=1). The thread
 * is part of the key because two threads usually reach one call
 * instruction through different callers (a worker's entry function, not
 * main), and the outer frames are the part of a stack that says which.
 *
 * One process-wide open-addressing table, mapped once and never grown or
 * freed. A lookup is a few loads: no lock, no allocation, no system call,
 * so a registration from a signal handler cannot deadlock here. An entry
 * is claimed by a CAS on `ret` and published by the release store of its
 * site (which ls_site_intern has made unique); readers pass over an entry
 * that is claimed but not yet published, so a signal handler that
 * registers while its thread is adding the same key adds it again (one
 * slot wasted, both right). The mapping is private: a forked child keeps
 * it, and its site ids stay valid (the child's trace gets every site again
 * from ls_stack_replay); an entry a fork caught half-written stays
 * unpublished and is passed over.
 *
 * A thread is known by a number of its own, never reused: a new thread
 * must not take a dead one's entries, whose outer frames are the dead
 * thread's (glibc hands a new thread the dead one's TLS block, so its
 * address would not do). Entries of threads that are gone stay: a program
 * that keeps starting threads that register fills the table, and then
 * registrations unwind every time. So do they when the table cannot be
 * mapped, or when a key finds no free slot within LS_SITE_PROBES of its
 * home: as with stack_cache=0, slower, never wrong.
 */
#include <errno.h>
#include <sys/mman.h>

#include "preload/core/shim.h"

#define LS_SITE_SLOTS (1u << 16)   /* call sites x callbacks x threads; 2.5 MiB, touched as used */
#define LS_SITE_PROBES 16

struct ls_site_slot {
	uintptr_t ret;      /* 0: free; claimed by CAS */
	uintptr_t cb;
	uintptr_t thread;
	uintptr_t py;       /* the innermost Python frame's place, 0: none */
	uint32_t api;
	uint32_t site;      /* 0 until published */
};

/* The thread's number in keys, from 1; 0 until its first registration. */
static __thread uintptr_t ls_site_thread_id;
static uintptr_t ls_site_threads;

static inline uintptr_t ls_site_thread(void)
{
	uintptr_t id = ls_site_thread_id;
	if (LS_UNLIKELY(id == 0))
		id = ls_site_thread_id = __atomic_add_fetch(&ls_site_threads, 1, __ATOMIC_RELAXED);
	return id;
}

static void *ls_site_table;        /* struct ls_site_slot[LS_SITE_SLOTS] */
static int ls_site_table_state;    /* 0 not yet, 1 mapped, -1 unavailable */

void *ls_map_once(void **slot, int *state, size_t size)
{
	void *t = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (LS_LIKELY(t != NULL) || __atomic_load_n(state, __ATOMIC_RELAXED) < 0)
		return t;
	/* First use: threads may race here; the loser unmaps its copy. */
	int saved = errno;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	errno = saved;
	if (p == MAP_FAILED) {
		__atomic_store_n(state, -1, __ATOMIC_RELAXED);
		return NULL;
	}
	void *expect = NULL;
	if (!__atomic_compare_exchange_n(slot, &expect, p, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		munmap(p, size);
		return expect;
	}
	__atomic_store_n(state, 1, __ATOMIC_RELAXED);
	return p;
}

static struct ls_site_slot *ls_site_table_get(void)
{
	return ls_map_once(&ls_site_table, &ls_site_table_state,
			   sizeof(struct ls_site_slot) * LS_SITE_SLOTS);
}

static inline uint32_t ls_site_home(uintptr_t r, uintptr_t c, uintptr_t th, uint32_t api)
{
	uint64_t h = ((uint64_t)r ^ ((uint64_t)c << 17) ^ ((uint64_t)th << 7) ^
		      ((uint64_t)api << 48)) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 40) & (LS_SITE_SLOTS - 1);
}

static void ls_site_remember(struct ls_site_slot *t, uint32_t home, uintptr_t r, uintptr_t c,
			     uintptr_t th, uintptr_t py, uint32_t api, uint32_t site)
{
	for (uint32_t k = 0; k < LS_SITE_PROBES; k++) {
		struct ls_site_slot *s = &t[(home + k) & (LS_SITE_SLOTS - 1)];
		uintptr_t have = __atomic_load_n(&s->ret, __ATOMIC_ACQUIRE);
		if (have == 0 && __atomic_compare_exchange_n(&s->ret, &have, r, 0, __ATOMIC_ACQ_REL,
							     __ATOMIC_ACQUIRE)) {
			s->cb = c;
			s->thread = th;
			s->py = py;
			s->api = api;
			__atomic_store_n(&s->site, site, __ATOMIC_RELEASE);
			return;
		}
		/* Someone else got there first with this very key. */
		if (have == r && __atomic_load_n(&s->site, __ATOMIC_ACQUIRE) != 0 &&
		    s->cb == c && s->thread == th && s->py == py && s->api == api)
			return;
	}
}

/* The thread's last sites, by call instruction: a registration repeated
 * from the same place (a timer re-armed from its callback, a write
 * issued in a loop) finds its site without hashing into the table. */
#define LS_SITE_MEMO 8
static __thread struct ls_site_memo {
	uintptr_t ret, cb, py;
	uint32_t api, site;
} ls_site_memo[LS_SITE_MEMO];

static inline struct ls_site_memo *ls_site_memo_of(uintptr_t r)
{
	return &ls_site_memo[(r ^ (r >> 4) ^ (r >> 8)) & (LS_SITE_MEMO - 1)];
}

static uint32_t ls_register_site_slow(uint32_t api, ls_fn cb, const void *ret, uintptr_t py,
				      struct ls_site_memo *m);

/* In a Python program one call instruction of an extension (uvloop's
 * uv_timer_start) serves every line of Python that reaches it: where the
 * innermost Python frame is (py) is part of the key, as the call
 * instruction is for C. */
uint32_t ls_register_site(uint32_t api, ls_fn cb, const void *ret)
{
	uintptr_t r = (uintptr_t)ret, py = ls_trace_py_where();
	struct ls_site_memo *m = ls_site_memo_of(r);
	if (LS_LIKELY(m->ret == r && m->cb == (uintptr_t)cb && m->py == py && m->api == api &&
		      r != 0))
		return m->site;
	return ls_register_site_slow(api, cb, ret, py, m);
}

static uint32_t ls_register_site_lookup(uint32_t api, ls_fn cb, const void *ret, uintptr_t py);

/* The memo missed: the table, or a new capture, then the memo. Keeps
 * errno (libunwind and the trace writer may change it). Out of line, so
 * that the memo's hit path saves no registers. */
__attribute__((noinline)) static uint32_t ls_register_site_slow(uint32_t api, ls_fn cb,
								 const void *ret, uintptr_t py,
								 struct ls_site_memo *m)
{
	int saved = errno;
	uint32_t site = ls_register_site_lookup(api, cb, ret, py);
	errno = saved;
	if (site != 0 && ls_opt.stack_cache && ret != NULL) {
		/* A signal handler registering meanwhile must not match a
		 * half-written memo: the key goes last. */
		m->ret = 0;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		m->cb = (uintptr_t)cb;
		m->py = py;
		m->api = api;
		m->site = site;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		m->ret = (uintptr_t)ret;
	}
	return site;
}

static uint32_t ls_register_site_lookup(uint32_t api, ls_fn cb, const void *ret, uintptr_t py)
{
	uintptr_t r = (uintptr_t)ret, c = (uintptr_t)cb, th = ls_site_thread();
	if (!ls_opt.stack_cache || r == 0)
		return ls_site_intern(api, ls_stack_capture(), c);
	struct ls_site_slot *t =
		(struct ls_site_slot *)__atomic_load_n(&ls_site_table, __ATOMIC_ACQUIRE);
	uint32_t home = ls_site_home(r ^ py, c, th, api);
	if (LS_LIKELY(t != NULL)) {
		for (uint32_t k = 0; k < LS_SITE_PROBES; k++) {
			const struct ls_site_slot *s = &t[(home + k) & (LS_SITE_SLOTS - 1)];
			uintptr_t have = __atomic_load_n(&s->ret, __ATOMIC_ACQUIRE);
			if (have == 0)
				break;
			if (have != r)
				continue;
			uint32_t site = __atomic_load_n(&s->site, __ATOMIC_ACQUIRE);
			if (site != 0 && s->cb == c && s->thread == th && s->py == py &&
			    s->api == api)
				return site;
		}
	} else {
		t = ls_site_table_get();
	}
	uint32_t site = ls_site_intern(api, ls_stack_capture(), c);
	if (site != 0 && t != NULL)
		ls_site_remember(t, home, r, c, th, py, api, site);
	return site;
}
