/* What the libevent interposer files (event.c, buffer.c) share: finding
 * libevent's real functions (in whichever of libevent-2.1, libevent_core,
 * libevent_extra, libevent_pthreads the program loaded), telling libevent's
 * own calls and libev's compat layer apart, the side-table entries of
 * events, bufferevents and bases, and the thread rule.
 *
 * libevent keeps the callback and its argument in its own structs and calls
 * them itself. The shim hands it a trampoline instead and keeps the user's
 * pair in the side table, keyed by the object the trampoline is given back
 * (the event, the bufferevent), or by a token of its own when libevent gives
 * back only the argument (once-callbacks, evhttp, evdns, listeners). The
 * getters (event_get_callback, bufferevent_getcb, ...) answer with the
 * user's pair, so the program cannot tell.
 */
#ifndef LOOPSAN_EV_SHIM_H
#define LOOPSAN_EV_SHIM_H

#include <errno.h>
#include <event2/event.h>

#include "preload/core/family.h"

/* The real fn: the next definition after the shim, or, when that is not in
 * the global scope, libevent's own from one of its libraries. */
void *ls_ev_resolve(const char *name);

/* The real fn, kept in var once resolved. Published with release, read
 * with acquire: ls_ev_foreign, set while resolving, is seen by every
 * thread that sees the real function. */
#define LS_EV_IN(var, fn) ({                                                 \
	__typeof__(&fn) r_ = __atomic_load_n(&(var), __ATOMIC_ACQUIRE);      \
	if (LS_UNLIKELY(r_ == NULL)) {                                       \
		r_ = (__typeof__(&fn))ls_ev_resolve(#fn);                    \
		__atomic_store_n(&(var), r_, __ATOMIC_RELEASE);              \
	}                                                                    \
	r_; })

#define LS_EV(fn) ({                                                         \
	static __typeof__(&fn) real_;                                        \
	LS_EV_IN(real_, fn); })

/* Has ls_ev_resolve ever found a function outside libevent's libraries
 * (libev's compat layer)? Until it has, every real function is libevent's
 * and ls_ev_skip need not look. */
extern int ls_ev_foreign;

/* The span of libevent's libraries (lowest start to highest end): the
 * program's return addresses and callbacks lie outside it, and
 * ls_ev_in_lib answers for them without walking the libraries. */
extern struct ls_span ls_ev_span;

static inline int ls_ev_in_span(uintptr_t a)
{
	return ls_span_has(&ls_ev_span, a);
}

/* Is addr in one of libevent's libraries (libevent-2.1, _core, _extra,
 * _pthreads, _openssl) that the shim has seen? Lock-free. */
int ls_ev_in_lib(const void *addr);

/* ls_ev_in_lib, its common answer (outside the span) inline. */
static inline int ls_ev_own_addr(const void *addr)
{
	return ls_ev_in_span((uintptr_t)addr) && ls_ev_in_lib(addr);
}

/* Non-zero while an interposer runs the real function: libevent's exports
 * that end in a tail call of another (event_base_loopexit ->
 * event_base_once, event_once -> event_base_once) reach that one's
 * interposer with the program's return address. Only such short calls, which run no callback, are run
 * LS_EV_INSIDE; the trampolines clear it anyway while the program's
 * callback runs. */
extern __thread int ls_ev_inside;

#define LS_EV_INSIDE(call)                                               \
	({                                                               \
		ls_ev_inside++;                                          \
		__typeof__(call) r_ = (call);                            \
		ls_ev_inside--;                                          \
		r_;                                                      \
	})

/* Runs the program's callback of site, timed, as a callback of a loop. */
#define LS_EV_TIMED(site, call)                                          \
	do {                                                             \
		int inside_ = ls_ev_inside;                              \
		ls_ev_inside = 0;                                        \
		LS_TIMED((site), 1, call);                               \
		ls_ev_inside = inside_;                                  \
	} while (0)

/* Should the shim leave this call alone? When the shim is off, when the
 * real function is not libevent's (libev.so.4 exports event_add, event_set,
 * ... for its compat layer, over its own struct event), and when libevent
 * calls itself (event_new -> event_assign, bufferevents -> event_add). */
static inline int ls_ev_skip(const void *real, const void *ret)
{
	return ls_disabled || ls_ev_inside ||
	       (__atomic_load_n(&ls_ev_foreign, __ATOMIC_RELAXED) && !ls_ev_in_lib(real)) ||
	       ls_ev_own_addr(ret);
}

/* A callback in libevent itself (event_loopexit's, evhttp's own handlers):
 * libevent registering its own, whichever way the call came. */
static inline int ls_ev_own_cb(const void *cb)
{
	return ls_ev_own_addr(cb);
}

/* The side-table entry flags of libevent's objects (core/shim.h leaves
 * the bits from LS_ENT_FAMILY_SHIFT up to the families). */
enum ls_ev_entry_flags {
	LS_ENT_EV_EVENT = 1u << (LS_ENT_FAMILY_SHIFT + 0),  /* a struct event whose callback the shim wraps */
	LS_ENT_EV_OWNED = 1u << (LS_ENT_FAMILY_SHIFT + 1),  /* made by event_new: event_free is due */
	LS_ENT_EV_BEV = 1u << (LS_ENT_FAMILY_SHIFT + 2),    /* a bufferevent */
	LS_ENT_EV_FREED = 1u << (LS_ENT_FAMILY_SHIFT + 3),  /* event_free / bufferevent_free was called */
	LS_ENT_EV_BASE_GONE = 1u << (LS_ENT_FAMILY_SHIFT + 4), /* its event_base was freed */
	LS_ENT_EV_LOCKABLE = 1u << (LS_ENT_FAMILY_SHIFT + 5), /* a base (bufferevent) with libevent's locks */
	LS_ENT_EV_TOKEN = 1u << (LS_ENT_FAMILY_SHIFT + 6), /* keyed by a token of the shim's, not an object */
	LS_ENT_EV_ONCE = 1u << (LS_ENT_FAMILY_SHIFT + 7),  /* event_base_once / event_once */
	LS_ENT_EV_LISTENER = 1u << (LS_ENT_FAMILY_SHIFT + 8), /* an evconnlistener: ref is its token */
	LS_ENT_EV_NOLOCK = 1u << (LS_ENT_FAMILY_SHIFT + 9), /* an event_config with EVENT_BASE_FLAG_NOLOCK */
};

/* ---- bases ---------------------------------------------------------------- */

/* The base event_init made (the old API's implicit one). */
extern struct event_base *ls_ev_current_base;

/* Has the program turned libevent's locking on (evthread_use_pthreads, or
 * its own evthread_set_lock_callbacks)? Bases made from then on are
 * lockable unless their config said EVENT_BASE_FLAG_NOLOCK. */
extern int ls_ev_locking;

/* The thread rule, per base: a call on a base, or on an event or
 * bufferevent of it, from another thread than the one running its loop,
 * while it runs. lock_ok: the call is one libevent makes thread-safe on a
 * lockable base (event_add, event_del, event_active, loopbreak, ...). */
static inline void ls_ev_check_thread(uint32_t api, const void *base, const void *obj,
				      int lock_ok)
{
	if (base == NULL || ls_running_here(base))
		return;
	struct ls_entry *e = ls_table_find(base);
	if (LS_LIKELY(e == NULL))
		return;
	uint32_t run = __atomic_load_n(&e->run_tid, __ATOMIC_RELAXED);
	if (LS_LIKELY(run == 0 || run == ls_trace_tid()))
		return;
	if (lock_ok && (__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & LS_ENT_EV_LOCKABLE))
		return;
	ls_note_wrong_thread(api, base, obj, run);
}

/* ---- what a thread has seen of its events ------------------------------------ */

/* The hot paths (the trampolines, event_add, event_del, event_active, the
 * bufferevent calls, an event_assign or event_set that changes nothing)
 * read a few fields of an event's or a bufferevent's entry, again and
 * again for the same few objects. Each thread keeps a
 * copy of them for the last objects it used, good while ls_ev_gen has not
 * moved since: every change the libevent files make to the entry of an
 * event, a bufferevent or a base (a registration, a free, event_base_set,
 * a base freed) moves it once made (ls_ev_changed). Only objects in good
 * standing are copied (an event or a bufferevent, neither freed nor
 * orphaned): misuse takes the side table's path. Nothing else changes
 * these entries (record.c's run bookkeeping touches a base's run_tid, and
 * run_tid is never copied); a program that puts a libuv handle where an
 * event was without freeing it is beyond what libevent allows anyway. */
struct ls_ev_seen {
	uintptr_t key;          /* 0: none */
	uintptr_t gen;          /* ls_ev_gen when copied */
	const void *loop;
	ls_fn cb[3];
	void *arg;
	uint32_t site[3];
	uint32_t flags;
	uint32_t api;
	int any_thread;         /* ls_ev_seen_any_thread; -1: not asked yet */
};

#define LS_EV_SEEN 4
extern __thread struct ls_ev_seen ls_ev_seen_tab[LS_EV_SEEN];
extern uintptr_t ls_ev_gen;

/* After a change to an entry (with the table lock held or not). */
static inline void ls_ev_changed(void)
{
	__atomic_add_fetch(&ls_ev_gen, 1, __ATOMIC_RELEASE);
}

/* The copy in s made anew from key's entry; NULL when key has none in good
 * standing. */
struct ls_ev_seen *ls_ev_seen_fill(const void *key, struct ls_ev_seen *s);

static inline struct ls_ev_seen *ls_ev_seen_slot(uintptr_t k)
{
	return &ls_ev_seen_tab[(k >> 4 ^ k >> 8) & (LS_EV_SEEN - 1)];
}

/* The thread's copy of key's entry if it has a good one, else NULL. */
static inline struct ls_ev_seen *ls_ev_seen_hit(const void *key)
{
	uintptr_t k = (uintptr_t)key;
	struct ls_ev_seen *s = ls_ev_seen_slot(k);
	if (LS_LIKELY(s->key == k && s->gen == __atomic_load_n(&ls_ev_gen, __ATOMIC_ACQUIRE)))
		return s;
	return NULL;
}

/* What the thread knows of key (an event or a bufferevent), or NULL: then
 * the caller looks in the side table itself. */
static inline struct ls_ev_seen *ls_ev_seen_of(const void *key)
{
	struct ls_ev_seen *s = ls_ev_seen_hit(key);
	if (LS_LIKELY(s != NULL))
		return s;
	return ls_ev_seen_fill(key, ls_ev_seen_slot((uintptr_t)key));
}

/* May any thread call on s's object, libevent locking it? An event when
 * its base is lockable, a bufferevent when it is thread-safe too. Asked of
 * the side table once per copy: a base becomes or stops being lockable
 * only by being made or freed, which moves ls_ev_gen. */
static inline int ls_ev_seen_any_thread(struct ls_ev_seen *s)
{
	if (LS_UNLIKELY(s->any_thread < 0)) {
		const struct ls_entry *b = NULL;
		if (s->loop != NULL &&
		    (!(s->flags & LS_ENT_EV_BEV) || (s->flags & LS_ENT_EV_LOCKABLE)))
			b = ls_table_find(s->loop);
		s->any_thread =
			b != NULL && (__atomic_load_n(&b->flags, __ATOMIC_RELAXED) & LS_ENT_EV_LOCKABLE);
	}
	return s->any_thread;
}

/* The common call on an event or a bufferevent that the shim only checks,
 * told apart in a few loads: the program's (ls_ev_skip would say no), on
 * an object in good standing that the thread has seen, on the base the
 * thread runs or one that libevent locks. Nothing is to be checked or
 * recorded then. When this says no, the caller goes the full way,
 * ls_ev_skip first. */
static inline int ls_ev_use_is_fine(const void *obj, const void *ret)
{
	if (ls_disabled | ls_ev_inside | __atomic_load_n(&ls_ev_foreign, __ATOMIC_RELAXED) ||
	    ls_ev_in_span((uintptr_t)ret))
		return 0;
	const struct ls_ev_seen *s = ls_ev_seen_hit(obj);
	return s != NULL && (s->any_thread > 0 || ls_running_here(s->loop));
}

#define LS_UNPAREN(...) __VA_ARGS__

/* An interposer that only checks a call on obj (misuse, the thread rule),
 * in two parts: the common case (the real function resolved, and
 * ls_ev_use_is_fine) jumps to the real function with nothing saved and
 * nothing called first; the rest goes the full way out of line,
 * name##_checked: resolving, ls_ev_skip, use(api, obj), the real call.
 * Both end in a tail call, so the interposer keeps nothing across a call
 * and its prologue saves no register. */
#define LS_EV_CHECKED(ret_t, name, api, obj, use, PARAMS, ARGS)                   \
	static __typeof__(&name) name##_real;                                     \
	__attribute__((noinline)) static ret_t name##_checked(const void *ret,    \
							      LS_UNPAREN PARAMS)  \
	{                                                                         \
		__typeof__(&name) real = LS_EV_IN(name##_real, name);             \
		if ((obj) != NULL && !ls_ev_skip((const void *)real, ret))        \
			use((api), (obj));                                        \
		return real ARGS;                                                 \
	}                                                                         \
	LS_EXPORT ret_t name PARAMS                                               \
	{                                                                         \
		const void *ret = __builtin_return_address(0);                    \
		__typeof__(&name) real = __atomic_load_n(&name##_real, __ATOMIC_ACQUIRE); \
		if (LS_LIKELY(real != NULL && ls_ev_use_is_fine((obj), ret)))     \
			return real ARGS;                                         \
		return name##_checked(ret, LS_UNPAREN ARGS);                      \
	}

/* ---- objects ---------------------------------------------------------------- */

/* Records what the shim knows of key (an event, a bufferevent, a token):
 * the entry is reset, then fill() fills it with the table locked. Returns
 * 0 when recorded. Keeps errno. */
int ls_ev_record(const void *key, void (*fill)(struct ls_entry *e, void *arg), void *arg);

/* A token: a key of the shim's own, never the address of anything. */
void *ls_ev_token(void);

/* Records a one-shot callback (once, evdns) under a new token; NULL when
 * the table is full (then the call goes to libevent unwrapped). */
void *ls_ev_oneshot(uint32_t api, ls_fn cb, void *arg, const void *base, const void *ret,
		    uint32_t flags);

/* The trampoline side of a one-shot: takes its entry. */
void ls_ev_oneshot_take(void *token, struct ls_entry *e);

/* Forgets a token (its call failed: no callback will come). */
void ls_ev_forget(const void *key);

#endif
