/* What every interposer file shares: exporting, finding the real function,
 * telling the library's own calls from the user's, and the side table. */
#ifndef LOOPSAN_SHIM_H
#define LOOPSAN_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "tracer/trace.h"

/* The shim is built with hidden visibility; only interposers are exported. */
#define LS_EXPORT __attribute__((visibility("default")))

typedef void (*ls_fn)(void);

/* A stretch of text, [lo, hi); 0, 0 until known. */
struct ls_span {
	uintptr_t lo, hi;
};

/* Lock-free; a span is set once its library is found, before any call
 * that could come from it, and only grows. */
static inline int ls_span_has(const struct ls_span *s, uintptr_t a)
{
	uintptr_t lo = __atomic_load_n(&s->lo, __ATOMIC_RELAXED);
	return a - lo < __atomic_load_n(&s->hi, __ATOMIC_RELAXED) - lo;
}

/* A library the shim interposes. `soname` is what to dlopen(RTLD_NOLOAD)
 * when RTLD_NEXT finds nothing: Python loads extension modules (uvloop)
 * RTLD_LOCAL, so their libuv is not in the global scope, yet libuv's own
 * PLT calls still reach the shim. */
struct ls_lib {
	struct ls_span text;  /* to recognise the library's own calls */
	const char *soname;
};

void *ls_resolve(struct ls_lib *lib, const char *name);

/* The real `fn`, resolved once. */
#define LS_REAL(lib, fn) ({                                                  \
	static __typeof__(&fn) real_;                                        \
	__typeof__(&fn) r_ = __atomic_load_n(&real_, __ATOMIC_RELAXED);      \
	if (LS_UNLIKELY(r_ == NULL)) {                                       \
		r_ = (__typeof__(&fn))ls_resolve(&(lib), #fn);               \
		__atomic_store_n(&real_, r_, __ATOMIC_RELAXED);              \
	}                                                                    \
	r_; })

/* Did the call come from inside the library itself (e.g. uv_timer_again
 * calling uv_timer_start, or fs-poll's internal timer)? Such calls are the
 * library's business. Every callback of the user's runs under a trampoline
 * of the shim, so a user callback that ends in a tail call (`jmp
 * uv_close@plt`) returns into the shim, never into the library: the return
 * address alone tells them apart. */
static inline int ls_from_lib(const struct ls_lib *lib, const void *ret)
{
	/* Plain loads: an interposer that asks twice loads the span once. */
	return (uintptr_t)ret - lib->text.lo < lib->text.hi - lib->text.lo;
}

/* The site of a registration by api of cb, made by the call instruction
 * that returns to ret (preload/core/site_cache.c). The stack is captured the
 * first time any thread of the process registers from that instruction
 * with that callback; later registrations from there, on any thread,
 * reuse it (stack_cache=0 captures every time). Keeps errno. */
uint32_t ls_register_site(uint32_t api, ls_fn cb, const void *ret);

/* An on-loop callback begins and ends (LS_TIMED and the other libraries'
 * trampolines): the loop thread's state for blocking-call, and its
 * watchdog slot for stuck_at. Two stores when the thread has a slot. */
struct ls_watch_save {
	struct ls_watch *w;
	uint64_t since;
	uint32_t site;
};

static inline void ls_loop_cb_begin(struct ls_watch_save *s, uint32_t site, uint64_t t0)
{
	struct ls_watch *w = ls_lt.watch;
	ls_lt.loop_cb++;
	s->w = w;
	if (w != NULL) {
		s->since = w->cb_since;
		s->site = w->cb_site;
		__atomic_store_n(&w->cb_site, site, __ATOMIC_RELAXED);
		__atomic_store_n(&w->cb_since, t0, __ATOMIC_RELEASE);
	}
}

static inline void ls_loop_cb_end(const struct ls_watch_save *s)
{
	struct ls_watch *w = s->w;
	ls_lt.loop_cb--;
	if (w != NULL) {
		__atomic_store_n(&w->cb_since, s->since, __ATOMIC_RELEASE);
		__atomic_store_n(&w->cb_site, s->site, __ATOMIC_RELAXED);
	}
}

/* The callback the thread was in was left without returning (longjmp,
 * pthread_exit unwinding past it): nothing of it is running any more. */
static inline void ls_callback_left(void)
{
	struct ls_watch *w = ls_lt.watch;
	ls_self.cur_site = 0;
	ls_self.cur_frame = 0;
	ls_lt.loop_cb = 0;
	if (w != NULL) {
		__atomic_store_n(&w->cb_since, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&w->cb_site, 0, __ATOMIC_RELAXED);
	}
}

/* Side table: what the shim knows of each handle, request and loop, keyed
 * by its address. Lookups are lock-free; changes take a lock. */
enum ls_entry_flags {
	LS_ENT_LOOP = 1u << 0,
	LS_ENT_CLOSING = 1u << 1,
	LS_ENT_HANDLE = 1u << 2,    /* made by an interposed init call (uv_*_init) */
	LS_ENT_REQUEST = 1u << 3,
	LS_ENT_REPORTED = 1u << 4,  /* already reported open at its loop's close */
	/* Bits from LS_ENT_FAMILY_SHIFT up are the family's own (its header
	 * names them): an entry is only ever one family's. */
	LS_ENT_FAMILY_SHIFT = 5,
};

struct ls_entry {
	uintptr_t key;        /* 0 empty, 1 removed */
	void *loop;
	ls_fn cb[3];          /* the user's callbacks (e.g. read and alloc) */
	ls_fn close_cb;
	uint32_t site[3];
	uint32_t close_site;
	uint32_t init_site;
	uint32_t flags;
	uint32_t tid;         /* loops: the thread that last ran it */
	uint32_t api;         /* requests: the call that made it */
	uint32_t htype;       /* handles: the family's type of handle (uv_handle_type) */
	uint32_t run_tid;     /* loops: the thread inside uv_run now, 0 when none */
	uint32_t run_depth;   /* loops: nested uv_run calls of run_tid */
	uint32_t runs;        /* loops: runs entered so far (ls_loop_run_enter) */
	uintptr_t run_frame;  /* loops: the stack frame of run_tid's outermost uv_run */
	uint32_t sent, seen;  /* async: uv_async_send calls, and how many a callback had seen */
	/* async: 1 + its loop's `runs` at the last send made while no thread
	 * ran the loop, and at uv_close; 0 for none (preload/uv/uv.c) */
	uint32_t idle_run, close_run;
	uintptr_t send_pc;    /* async: the caller of the last uv_async_send */
	void *arg;            /* the user's callback argument, where the family keeps it */
	uintptr_t ref;        /* another entry's key (libevent: a listener's token, a token's owner) */
};

/* Zeroes an entry but its key, which keeps the slot taken (or tombstoned)
 * for readers probing past it all along: a key that read 0 even for a
 * moment would end their probe early. Word stores, not memset, which
 * becomes a slow-to-start `rep stos` at this size. */
typedef uint64_t __attribute__((may_alias)) ls_word;
static inline void ls_entry_reset(struct ls_entry *e)
{
	_Static_assert(offsetof(struct ls_entry, key) == 0 &&
			       sizeof(struct ls_entry) % sizeof(ls_word) == 0,
		       "ls_entry is whole words, key first");
	ls_word *w = (ls_word *)(void *)e;
	for (size_t i = 1; i < sizeof(*e) / sizeof(*w); i++)
		__atomic_store_n(&w[i], 0, __ATOMIC_RELAXED);
}

/* preload/core/table.c's array: open addressing, linear probing; replaced
 * (never changed in size) when it fills, the old one kept for readers. */
#define LS_EMPTY ((uintptr_t)0)
#define LS_TOMB ((uintptr_t)1)

struct ls_table {
	uint32_t bits;
	uint32_t used;        /* live + tombstones */
	uint32_t live;
	uint32_t pad;
	struct ls_entry slot[];
};

extern struct ls_table *ls_table_cur LS_HIDDEN;

static inline uint32_t ls_hash(uintptr_t key, uint32_t bits)
{
	return (uint32_t)(((uint64_t)key * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

/* The entry for key, or NULL: lock-free, inlined into the trampolines. */
static inline struct ls_entry *ls_table_find(const void *key)
{
	struct ls_table *t = __atomic_load_n(&ls_table_cur, __ATOMIC_ACQUIRE);
	if (t == NULL || (uintptr_t)key <= LS_TOMB)
		return NULL;
	uint32_t mask = (1u << t->bits) - 1;
	uintptr_t k = (uintptr_t)key;
	for (uint32_t i = ls_hash(k, t->bits), n = 0; n <= mask; i = (i + 1) & mask, n++) {
		uintptr_t s = __atomic_load_n(&t->slot[i].key, __ATOMIC_ACQUIRE);
		if (LS_LIKELY(s == k))
			return &t->slot[i];
		if (s == LS_EMPTY)
			return NULL;
	}
	return NULL;
}

void ls_table_lock(void);
void ls_table_unlock(void);
struct ls_entry *ls_table_get_locked(const void *key); /* find or add; NULL when out of memory */
/* The same, the entry reset (ls_entry_reset) if it was there already. */
struct ls_entry *ls_table_get_new_locked(const void *key);
int ls_table_take(const void *key, struct ls_entry *out); /* copy and remove */
/* Calls fn on every live entry, with the lock held. */
void ls_table_foreach(void (*fn)(struct ls_entry *e, void *arg), void *arg);
/* The same at exit, where nothing may wait: when the lock stays taken (by
 * the very thread exit() runs on, stopped inside the shim by the signal
 * whose handler called exit), the walk goes on without it and the trace
 * says so (LS_NOTE_EXIT_UNLOCKED). */
void ls_table_foreach_at_exit(void (*fn)(struct ls_entry *e, void *arg), void *arg);

/* preload/core/site_cache.c: the table at *slot, mapped (size bytes, reserved,
 * touched as used) by the first caller of any thread and never freed;
 * NULL when it cannot be (*state is then -1 for good). Keeps errno. */
void *ls_map_once(void **slot, int *state, size_t size);

/* preload/core/req_table.c: requests in flight, without a lock. ls_req_put
 * returns -1 when the table has no room near the key (the caller keeps the
 * request in the side table instead); ls_req_take copies and removes, and
 * returns 0 when the request is not there. ls_req_foreach calls fn on each
 * request in flight; what fn leaves in *reported is kept. */
struct ls_req_info {
	ls_fn cb;
	void *loop;
	uint32_t site;
	uint32_t api;
};
int ls_req_put(const void *req, const struct ls_req_info *in);
int ls_req_take(const void *req, struct ls_req_info *out);
void ls_req_foreach(void (*fn)(const void *req, struct ls_req_info *r, int *reported, void *arg),
		    void *arg);

/* A callback whose entry is gone: never call a wrong function. */
_Noreturn void ls_lost_callback(const char *what, const void *key);

/* Runs the user's callback of `site`, timed. on_loop: 0 for the thread
 * pool's work callbacks, which do not block a loop. The callback running
 * around this one is restored after it; one that was left by longjmp is
 * not around this one (ls_site_at). */
#define LS_TIMED(site, on_loop, call)                                       \
	do {                                                                \
		uintptr_t frame_ = (uintptr_t)__builtin_frame_address(0);   \
		if (LS_UNLIKELY(ls_self.cur_site != 0 && frame_ >= ls_self.cur_frame)) \
			ls_callback_left();                                 \
		/* Now 0, or a callback this one runs inside. */            \
		uint32_t outer_ = ls_self.cur_site;                         \
		uintptr_t outer_frame_ = ls_self.cur_frame;                 \
		ls_self.cur_site = (site);                                  \
		ls_self.cur_frame = frame_;                                 \
		uint64_t t0_ = ls_ticks();                                  \
		struct ls_watch_save ws_;                                   \
		if (on_loop)                                                \
			ls_loop_cb_begin(&ws_, (site), t0_);                \
		call;                                                       \
		uint64_t d_ = ls_ticks() - t0_;                             \
		if (on_loop)                                                \
			ls_loop_cb_end(&ws_);                               \
		ls_self.cur_site = outer_;                                  \
		ls_self.cur_frame = outer_frame_;                           \
		ls_record_callback((site), t0_, d_, (on_loop));             \
	} while (0)

/* The thread-rule fast path: the calling thread is inside its run call of
 * `loop` (uv_run, event_base_loop), so it is the thread that runs it. A
 * run call left by longjmp no longer counts: the caller's frame is then no
 * longer below the run call's. */
static inline int ls_running_here(const void *loop)
{
	return loop == ls_lt.run_loop && (uintptr_t)__builtin_frame_address(0) < ls_lt.run_frame;
}

/* Around a run call (its interposer's frame): ls_running_here answers for
 * loop until ls_run_here_end puts back what it answered for before. */
struct ls_run_here {
	const void *loop;
	uintptr_t frame;
};

static inline void ls_run_here_begin(struct ls_run_here *was, const void *loop, uintptr_t frame)
{
	/* A run call this one is not inside was left by longjmp: it is not
	 * put back when this one ends. */
	int outer = ls_lt.run_loop != NULL && frame < ls_lt.run_frame;
	was->loop = outer ? ls_lt.run_loop : NULL;
	was->frame = outer ? ls_lt.run_frame : 0;
	ls_lt.run_loop = loop;
	ls_lt.run_frame = frame;
}

static inline void ls_run_here_end(const struct ls_run_here *was)
{
	ls_lt.run_loop = was->loop;
	ls_lt.run_frame = was->frame;
}

/* record.c: the records every loop library's interposers write. Each keeps
 * errno. */
/* A call on `loop` (or on its `handle`) from this thread while thread
 * loop_tid runs it; halts when halt_on_wrong_thread=1. */
void ls_note_wrong_thread(uint32_t api, const void *loop, const void *handle, uint32_t loop_tid);
/* A handle used against its life cycle (enum ls_misuse), with the calling
 * stack and the handle's creation site. */
void ls_note_misuse(uint32_t api, uint32_t what, const void *handle, uint32_t init_site);
/* Thread tid runs loop from now on, entered by api. */
void ls_note_loop_run(const void *loop, uint32_t tid, uint32_t api);
/* The calling thread enters the run call (api: uv_run, event_base_loop, ...)
 * of loop, until ls_loop_run_leave: its entry's running thread and depth,
 * LOOP_RUN when the loop moved to this thread, and the thread's loop state
 * for the selector layer. frame: the interposer's frame address, so that a
 * run left by longjmp or by a dead thread is not counted any more (0: no
 * such bookkeeping). Returns the thread that runs loop now if another one
 * does (the caller reports that), else 0. Takes the table lock. */
uint32_t ls_loop_run_enter(const void *loop, uint32_t api, uintptr_t frame);
void ls_loop_run_leave(const void *loop);
/* Is thread tid gone (cancelled, or it called pthread_exit)? */
int ls_thread_gone(uint32_t tid);
/* A loop was closed (api) with `open` handles still open: their OPEN_HANDLE
 * records follow. */
void ls_note_loop_close(const void *loop, int32_t result, uint32_t open, uint32_t api);
void ls_note_open(const struct ls_rec_open_handle *o);

#endif
