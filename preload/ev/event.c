/* libevent interposers: events and bases, old API and new.
 *
 * An event's callback is replaced by ls_ev_tramp with the event itself as
 * its argument; the user's callback and argument stay in the event's
 * side-table entry. libevent calls its own exports through the PLT
 * (event_new -> event_assign, event_set -> event_assign, event_dispatch ->
 * event_base_loop, bufferevents -> event_add): those calls come from inside
 * libevent and pass straight through, so nothing is wrapped or checked
 * twice. A freed event keeps its entry, marked freed, so that adding or
 * freeing it again is seen; an event of a base that was freed is marked
 * too.
 */
#include <dlfcn.h>
#include <event2/event.h>
#include <event2/event_compat.h>
#include <event2/thread.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload/ev/ev_shim.h"

/* ---- libevent's libraries ------------------------------------------------- */

#define LS_EV_MAX_LIBS 8

struct ls_range {
	uintptr_t lo, hi;
};

static struct ls_range ls_ev_libs[LS_EV_MAX_LIBS];
static uint32_t ls_ev_nlibs;
/* From the lowest library's start to the highest one's end. It only grows,
 * and is widened before a library is counted in ls_ev_nlibs. */
struct ls_span ls_ev_span;
int ls_ev_foreign;

static const char *const ls_ev_sonames[] = {
	"libevent-2.1.so.7", "libevent_core-2.1.so.7", "libevent_extra-2.1.so.7",
	"libevent_pthreads-2.1.so.7", "libevent_openssl-2.1.so.7",
};

int ls_ev_in_lib(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;
	if (!ls_ev_in_span(a))
		return 0;
	uint32_t n = __atomic_load_n(&ls_ev_nlibs, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++)
		if (a - ls_ev_libs[i].lo < ls_ev_libs[i].hi - ls_ev_libs[i].lo)
			return 1;
	return 0;
}

/* Every loaded libevent*.so: its calls into another one (libevent_extra's
 * evhttp making bufferevents in libevent_core) are libevent's own too. The
 * loader runs these callbacks under its own lock, one thread at a time. */
static int ls_ev_add_lib(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	const char *name = info->dlpi_name, *base = name ? strrchr(name, '/') : NULL;
	base = base ? base + 1 : name;
	if (base == NULL || strncmp(base, "libevent", 8) != 0)
		return 0;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < lo)
			lo = a;
		if (a + ph->p_memsz > hi)
			hi = a + ph->p_memsz;
	}
	uint32_t n = ls_ev_nlibs;
	if (lo >= hi || ls_ev_in_lib((const void *)lo) || n >= LS_EV_MAX_LIBS)
		return 0;
	ls_ev_libs[n].lo = lo;
	ls_ev_libs[n].hi = hi;
	if (n == 0 || lo < ls_ev_span.lo)
		__atomic_store_n(&ls_ev_span.lo, lo, __ATOMIC_RELAXED);
	if (n == 0 || hi > ls_ev_span.hi)
		__atomic_store_n(&ls_ev_span.hi, hi, __ATOMIC_RELAXED);
	__atomic_store_n(&ls_ev_nlibs, n + 1, __ATOMIC_RELEASE);
	return 0;
}

void *ls_ev_resolve(const char *name)
{
	int saved = errno;
	void *p = dlsym(RTLD_NEXT, name);
	for (size_t i = 0; p == NULL && i < sizeof(ls_ev_sonames) / sizeof(ls_ev_sonames[0]); i++) {
		void *h = dlopen(ls_ev_sonames[i], RTLD_NOW | RTLD_NOLOAD);
		if (h != NULL) {
			p = dlsym(h, name);
			dlclose(h);
		}
	}
	if (p == NULL) {
		char msg[160];
		snprintf(msg, sizeof(msg), "loopsan: cannot find the real %s; aborting\n", name);
		ls_trace_say(msg);
		abort();
	}
	uint32_t had = __atomic_load_n(&ls_ev_nlibs, __ATOMIC_ACQUIRE);
	dl_iterate_phdr(ls_ev_add_lib, NULL);
	if (__atomic_load_n(&ls_ev_nlibs, __ATOMIC_ACQUIRE) != had)
		ls_family_spans_changed();
	/* Before the caller publishes p (LS_EV's release store): a thread
	 * that finds p there finds this too. */
	if (!ls_ev_in_lib(p))
		__atomic_store_n(&ls_ev_foreign, 1, __ATOMIC_RELAXED);
	errno = saved;
	return p;
}

__thread int ls_ev_inside;

/* ---- entries and tokens --------------------------------------------------- */

int ls_ev_record(const void *key, void (*fill)(struct ls_entry *e, void *arg), void *arg)
{
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_new_locked(key);
	if (e != NULL) {
		fill(e, arg);
		ls_ev_changed();
	}
	ls_table_unlock();
	errno = saved;
	return e == NULL ? -1 : 0;
}

/* Tokens are addresses in a range the shim reserved and never maps: no
 * object of the program's can have one. */
#define LS_EV_TOKEN_SPACE ((uintptr_t)1 << 30)

static char *ls_ev_token_area;
static uintptr_t ls_ev_token_next;

void *ls_ev_token(void)
{
	char *area = __atomic_load_n(&ls_ev_token_area, __ATOMIC_ACQUIRE);
	if (LS_UNLIKELY(area == NULL)) {
		int saved = errno;
		void *p = mmap(NULL, LS_EV_TOKEN_SPACE, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		errno = saved;
		if (p == MAP_FAILED)
			return NULL;
		char *expected = NULL;
		if (!__atomic_compare_exchange_n(&ls_ev_token_area, &expected, p, 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			munmap(p, LS_EV_TOKEN_SPACE);
			errno = saved;
		}
		area = __atomic_load_n(&ls_ev_token_area, __ATOMIC_ACQUIRE);
	}
	uintptr_t n = __atomic_fetch_add(&ls_ev_token_next, 8, __ATOMIC_RELAXED);
	return area + 8 + n % (LS_EV_TOKEN_SPACE - 8);
}

struct ls_oneshot {
	uint32_t api, site, flags;
	ls_fn cb;
	void *arg;
	const void *base;
};

static void ls_fill_oneshot(struct ls_entry *e, void *arg)
{
	const struct ls_oneshot *o = arg;
	e->flags = LS_ENT_EV_TOKEN | o->flags;
	e->loop = (void *)o->base;
	e->cb[0] = o->cb;
	e->arg = o->arg;
	e->site[0] = o->site;
	e->init_site = o->site;
	e->api = o->api;
}

void *ls_ev_oneshot(uint32_t api, ls_fn cb, void *arg, const void *base, const void *ret,
		    uint32_t flags)
{
	void *token = ls_ev_token();
	if (token == NULL)
		return NULL;
	struct ls_oneshot o = { .api = api, .flags = flags, .cb = cb, .arg = arg, .base = base };
	o.site = ls_register_site(api, cb, ret);
	return ls_ev_record(token, ls_fill_oneshot, &o) == 0 ? token : NULL;
}

void ls_ev_oneshot_take(void *token, struct ls_entry *e)
{
	/* Before the callback: it may start another one-shot. */
	if (!ls_table_take(token, e) || e->cb[0] == NULL)
		ls_lost_callback("one-shot libevent callback", token);
}

void ls_ev_forget(const void *key)
{
	struct ls_entry gone;
	int saved = errno;
	if (ls_table_take(key, &gone))
		ls_ev_changed();
	errno = saved;
}

/* ---- what a thread has seen of its events ---------------------------------- */

__thread struct ls_ev_seen ls_ev_seen_tab[LS_EV_SEEN];
uintptr_t ls_ev_gen = 1;   /* never 0: an empty copy never matches */

/* In a forked child the side table marks what the loops of other threads
 * own (table.c), behind the copies' backs. */
static void ls_ev_seen_atfork_child(void)
{
	ls_ev_changed();
}

struct ls_ev_seen *ls_ev_seen_fill(const void *key, struct ls_ev_seen *s)
{
	/* Read before the entry: a change made after it moves it again. */
	uintptr_t gen = __atomic_load_n(&ls_ev_gen, __ATOMIC_ACQUIRE);
	const struct ls_entry *e = ls_table_find(key);
	if (e == NULL)
		return NULL;
	uint32_t f = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
	if (!(f & (LS_ENT_EV_EVENT | LS_ENT_EV_BEV)) || (f & (LS_ENT_EV_FREED | LS_ENT_EV_BASE_GONE)))
		return NULL;
	/* A signal handler of this thread must not match a half-written
	 * copy: the key goes last. */
	s->key = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	s->gen = gen;
	s->flags = f;
	s->api = e->api;
	s->loop = __atomic_load_n(&e->loop, __ATOMIC_RELAXED);
	s->arg = e->arg;
	for (int i = 0; i < 3; i++) {
		s->cb[i] = e->cb[i];
		s->site[i] = e->site[i];
	}
	s->any_thread = -1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	s->key = (uintptr_t)key;
	return s;
}

/* ---- events --------------------------------------------------------------- */

static void ls_ev_tramp(evutil_socket_t fd, short what, void *ev)
{
	const struct ls_ev_seen *s = ls_ev_seen_of(ev);
	event_callback_fn cb;
	void *arg;
	uint32_t site;
	if (LS_LIKELY(s != NULL && s->cb[0] != NULL)) {
		cb = (event_callback_fn)s->cb[0];
		arg = s->arg;
		site = s->site[0];
	} else {
		/* Freed (libevent may still run a callback it had begun). */
		struct ls_entry *e = ls_table_find(ev);
		if (LS_UNLIKELY(e == NULL || e->cb[0] == NULL))
			ls_lost_callback("event", ev);
		cb = (event_callback_fn)e->cb[0];
		arg = e->arg;
		site = e->site[0];
	}
	LS_EV_TIMED(site, cb(fd, what, arg));
}

struct ls_event_born {
	struct event_base *base;
	ls_fn cb;
	void *arg;
	uint32_t site, owned, api;
};

static void ls_fill_event(struct ls_entry *e, void *arg)
{
	const struct ls_event_born *b = arg;
	e->flags = LS_ENT_EV_EVENT | b->owned;
	e->loop = b->base;
	e->cb[0] = b->cb;
	e->arg = b->arg;
	e->site[0] = b->site;
	e->init_site = b->site;
	e->api = b->api;
}

/* event_self_cbarg(): the address of a variable of libevent's, the same
 * for the whole process, so asked once. */
static void *ls_ev_self_cbarg(void)
{
	static void *self;
	void *p = __atomic_load_n(&self, __ATOMIC_RELAXED);
	if (LS_UNLIKELY(p == NULL)) {
		p = LS_EV(event_self_cbarg)();
		__atomic_store_n(&self, p, __ATOMIC_RELAXED);
	}
	return p;
}

/* The event's base from now on, if the shim knows the event and it has
 * another. Written under the lock: a rebuild of the table copies entries
 * under it, and a store into the array it replaced would be lost. */
static void ls_event_set_base(const struct event *ev, struct event_base *base)
{
	struct ls_entry *e = ls_table_find(ev);
	if (e == NULL || __atomic_load_n(&e->loop, __ATOMIC_RELAXED) == base)
		return;   /* nothing to write: no lock */
	int saved = errno;
	ls_table_lock();
	e = ls_table_find(ev);
	if (e != NULL) {
		__atomic_store_n(&e->loop, (void *)base, __ATOMIC_RELAXED);
		ls_ev_changed();
	}
	ls_table_unlock();
	errno = saved;
}

/* What ls_fill_event is to make of the user's (cb, arg), registered by
 * api from ret. event_self_cbarg() as the argument means the event. */
static void ls_event_born_as(struct ls_event_born *b, struct event *ev, struct event_base *base,
			     uint32_t api, ls_fn cb, void *arg, const void *ret)
{
	b->base = base;
	b->cb = cb;
	b->arg = arg == ls_ev_self_cbarg() ? ev : arg;
	b->api = api;
	b->site = ls_register_site(api, cb, ret);
}

/* event_new: a new event. */
static int ls_event_born(struct event *ev, struct event_base *base, uint32_t api, ls_fn cb,
			 void *arg, const void *ret)
{
	struct ls_event_born b = { .owned = LS_ENT_EV_OWNED };
	ls_event_born_as(&b, ev, base, api, cb, arg, ret);
	return ls_ev_record(ev, ls_fill_event, &b);
}

/* event_assign, event_set: an event the program assigns, maybe again. It
 * keeps its duty to be freed when event_new made it. */
static int ls_event_assigned(struct event *ev, struct event_base *base, uint32_t api, ls_fn cb,
			     void *arg, const void *ret)
{
	struct ls_event_born b = { 0 };
	ls_event_born_as(&b, ev, base, api, cb, arg, ret);
	const struct ls_ev_seen *s = ls_ev_seen_of(ev);
	if (s != NULL) {
		/* In good standing. Given what it has (the same callback and
		 * argument from the same place, as servers do at every state
		 * change), nothing is written: no lock, and every thread's
		 * copy stays good; but its base, which event_set puts back
		 * to event_init's each time. Only ls_fill_event writes an
		 * event's entry, init_site as site[0]. */
		b.owned = (s->flags & (LS_ENT_EV_EVENT | LS_ENT_EV_OWNED)) ==
			  (LS_ENT_EV_EVENT | LS_ENT_EV_OWNED) ? LS_ENT_EV_OWNED : 0;
		if (s->flags == (LS_ENT_EV_EVENT | b.owned) && s->cb[0] == b.cb &&
		    s->arg == b.arg && s->site[0] == b.site && s->api == b.api) {
			if (s->loop != base)
				ls_event_set_base(ev, base);
			return 0;
		}
	} else {
		/* New to the shim, freed or orphaned: made anew. */
		const struct ls_entry *e = ls_table_find(ev);
		uint32_t f = e ? __atomic_load_n(&e->flags, __ATOMIC_RELAXED) : 0;
		b.owned = (f & (LS_ENT_EV_EVENT | LS_ENT_EV_OWNED | LS_ENT_EV_FREED)) ==
			  (LS_ENT_EV_EVENT | LS_ENT_EV_OWNED) ? LS_ENT_EV_OWNED : 0;
	}
	return ls_ev_record(ev, ls_fill_event, &b);
}

LS_EXPORT struct event *event_new(struct event_base *base, evutil_socket_t fd, short events,
				  event_callback_fn cb, void *arg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_new) real = LS_EV(event_new);
	if (cb == NULL || cb == ls_ev_tramp || ls_ev_skip((const void *)real, ret) ||
	    ls_ev_own_cb((const void *)cb))
		return real(base, fd, events, cb, arg);
	/* The event does not exist yet: libevent puts it in the argument. */
	struct event *ev = real(base, fd, events, ls_ev_tramp, ls_ev_self_cbarg());
	if (ev != NULL &&
	    ls_event_born(ev, LS_EV(event_get_base)(ev), LS_API_EV_NEW, (ls_fn)cb, arg, ret) != 0) {
		/* The shim could not keep the callback: give libevent the user's. */
		int saved = errno;
		LS_EV(event_assign)(ev, base, fd, events, cb, arg);
		errno = saved;
	}
	return ev;
}

LS_EXPORT int event_assign(struct event *ev, struct event_base *base, evutil_socket_t fd,
			   short events, event_callback_fn cb, void *arg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_assign) real = LS_EV(event_assign);
	if (ev == NULL || cb == NULL || cb == ls_ev_tramp || ls_ev_skip((const void *)real, ret) ||
	    ls_ev_own_cb((const void *)cb) ||
	    ls_event_assigned(ev, base ? base : ls_ev_current_base, LS_API_EV_ASSIGN, (ls_fn)cb,
			      arg, ret) != 0)
		return real(ev, base, fd, events, cb, arg);
	return real(ev, base, fd, events, ls_ev_tramp, ev);
}

/* The old API: event_set assigns to event_init's base (evtimer_set and
 * signal_set are macros over it). */
LS_EXPORT void event_set(struct event *ev, evutil_socket_t fd, short events,
			 void (*cb)(evutil_socket_t, short, void *), void *arg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_set) real = LS_EV(event_set);
	if (ev == NULL || cb == NULL || cb == ls_ev_tramp || ls_ev_skip((const void *)real, ret) ||
	    ls_ev_own_cb((const void *)cb) ||
	    ls_event_assigned(ev, ls_ev_current_base, LS_API_EV_SET, (ls_fn)cb, arg, ret) != 0) {
		real(ev, fd, events, cb, arg);
		return;
	}
	real(ev, fd, events, ls_ev_tramp, ev);
}

LS_EXPORT int event_base_set(struct event_base *base, struct event *ev)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_set) real = LS_EV(event_base_set);
	int rc = real(base, ev);
	if (rc == 0 && ev != NULL && !ls_ev_skip((const void *)real, ret))
		ls_event_set_base(ev, base);
	return rc;
}

/* A call on an event: misuse when it was freed or its base was, else the
 * thread rule. */
static void ls_event_use(uint32_t api, const struct event *ev, int lock_ok)
{
	struct ls_ev_seen *s = ls_ev_seen_of(ev);
	if (LS_LIKELY(s != NULL)) {
		/* In good standing: only the thread rule, which a lockable
		 * base passes whoever runs it. */
		if (!ls_running_here(s->loop) && !(lock_ok && ls_ev_seen_any_thread(s)))
			ls_ev_check_thread(api, s->loop, ev, lock_ok);
		return;
	}
	struct ls_entry *e = ls_table_find(ev);
	if (e == NULL) {
		ls_ev_check_thread(api, LS_EV(event_get_base)(ev), ev, lock_ok);
		return;
	}
	uint32_t f = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
	if (LS_UNLIKELY(f & LS_ENT_EV_FREED))
		ls_note_misuse(api, LS_MISUSE_USE_FREED, ev, e->init_site);
	else if (LS_UNLIKELY(f & LS_ENT_EV_BASE_GONE))
		ls_note_misuse(api, LS_MISUSE_BASE_FREED, ev, e->init_site);
	else
		ls_ev_check_thread(api, __atomic_load_n(&e->loop, __ATOMIC_RELAXED), ev, lock_ok);
}

static void ls_event_use_locked_ok(uint32_t api, const struct event *ev)
{
	ls_event_use(api, ev, 1);
}

LS_EV_CHECKED(int, event_add, LS_API_EV_ADD, ev, ls_event_use_locked_ok,
	      (struct event *ev, const struct timeval *tv), (ev, tv))
LS_EV_CHECKED(int, event_del, LS_API_EV_DEL, ev, ls_event_use_locked_ok, (struct event *ev), (ev))

/* LS_EV_CHECKED's shape, for a function that returns nothing. */
static __typeof__(&event_active) event_active_real;

__attribute__((noinline)) static void event_active_checked(const void *ret, struct event *ev,
							   int res, short ncalls)
{
	__typeof__(&event_active) real = LS_EV_IN(event_active_real, event_active);
	if (ev != NULL && !ls_ev_skip((const void *)real, ret))
		ls_event_use(LS_API_EV_ACTIVE, ev, 1);
	real(ev, res, ncalls);
}

LS_EXPORT void event_active(struct event *ev, int res, short ncalls)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_active) real = __atomic_load_n(&event_active_real, __ATOMIC_ACQUIRE);
	if (LS_LIKELY(real != NULL && ls_ev_use_is_fine(ev, ret)))
		real(ev, res, ncalls);
	else
		event_active_checked(ret, ev, res, ncalls);
}

/* The entry stays, marked freed (its callback kept: a callback libevent is
 * already running still finds it). An event made at the same address later
 * replaces it. */
static void ls_mark_freed(const void *obj, uint32_t kind)
{
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(obj);
	if (e != NULL)
		e->flags |= kind | LS_ENT_EV_FREED;
	ls_ev_changed();
	ls_table_unlock();
	errno = saved;
}

LS_EXPORT void event_free(struct event *ev)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_free) real = LS_EV(event_free);
	if (ev == NULL || ls_ev_skip((const void *)real, ret)) {
		real(ev);
		return;
	}
	struct ls_entry *e = ls_table_find(ev);
	uint32_t f = e ? __atomic_load_n(&e->flags, __ATOMIC_RELAXED) : 0;
	if (f & LS_ENT_EV_FREED) {
		/* Freed twice: say so, then let libevent (and malloc) do what
		 * they do with it. */
		ls_note_misuse(LS_API_EV_FREE, LS_MISUSE_FREE_FREED, ev, e->init_site);
		real(ev);
		return;
	}
	ls_event_use(LS_API_EV_FREE, ev, 1);
	ls_mark_freed(ev, LS_ENT_EV_EVENT);
	real(ev);
}

/* The program sees its own callback and argument. */
LS_EXPORT event_callback_fn event_get_callback(const struct event *ev)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_get_callback) real = LS_EV(event_get_callback);
	event_callback_fn cb = real(ev);
	if (cb == ls_ev_tramp && !ls_ev_skip((const void *)real, ret)) {
		struct ls_entry *e = ls_table_find(ev);
		if (e != NULL && e->cb[0] != NULL)
			return (event_callback_fn)e->cb[0];
	}
	return cb;
}

LS_EXPORT void *event_get_callback_arg(const struct event *ev)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_get_callback_arg) real = LS_EV(event_get_callback_arg);
	void *arg = real(ev);
	if (arg == ev && !ls_ev_skip((const void *)real, ret) &&
	    LS_EV(event_get_callback)(ev) == ls_ev_tramp) {
		struct ls_entry *e = ls_table_find(ev);
		if (e != NULL && e->cb[0] != NULL)
			return e->arg;
	}
	return arg;
}

LS_EXPORT void event_get_assignment(const struct event *ev, struct event_base **base_out,
				    evutil_socket_t *fd_out, short *events_out,
				    event_callback_fn *callback_out, void **arg_out)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_get_assignment) real = LS_EV(event_get_assignment);
	real(ev, base_out, fd_out, events_out, callback_out, arg_out);
	if (ls_ev_skip((const void *)real, ret) || LS_EV(event_get_callback)(ev) != ls_ev_tramp)
		return;
	struct ls_entry *e = ls_table_find(ev);
	if (e == NULL || e->cb[0] == NULL)
		return;
	if (callback_out != NULL)
		*callback_out = (event_callback_fn)e->cb[0];
	if (arg_out != NULL)
		*arg_out = e->arg;
}

/* ---- one-shot events ------------------------------------------------------ */

static void ls_once_tramp(evutil_socket_t fd, short what, void *token)
{
	struct ls_entry e;
	ls_ev_oneshot_take(token, &e);
	event_callback_fn cb = (event_callback_fn)e.cb[0];
	LS_EV_TIMED(e.site[0], cb(fd, what, e.arg));
}

LS_EXPORT int event_base_once(struct event_base *base, evutil_socket_t fd, short events,
			      event_callback_fn cb, void *arg, const struct timeval *tv)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_once) real = LS_EV(event_base_once);
	if (base == NULL || cb == NULL || ls_ev_skip((const void *)real, ret) ||
	    ls_ev_own_cb((const void *)cb))
		return real(base, fd, events, cb, arg, tv);
	ls_ev_check_thread(LS_API_EV_BASE_ONCE, base, NULL, 1);
	void *token = ls_ev_oneshot(LS_API_EV_BASE_ONCE, (ls_fn)cb, arg, base, ret, LS_ENT_EV_ONCE);
	if (token == NULL)
		return real(base, fd, events, cb, arg, tv);
	int rc = real(base, fd, events, ls_once_tramp, token, tv);
	if (rc != 0)
		ls_ev_forget(token);
	return rc;
}

LS_EXPORT int event_once(evutil_socket_t fd, short events, void (*cb)(evutil_socket_t, short, void *),
			 void *arg, const struct timeval *tv)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_once) real = LS_EV(event_once);
	struct event_base *base = ls_ev_current_base;
	if (cb == NULL || ls_ev_skip((const void *)real, ret) || ls_ev_own_cb((const void *)cb))
		return real(fd, events, cb, arg, tv);
	ls_ev_check_thread(LS_API_EV_ONCE, base, NULL, 1);
	void *token = ls_ev_oneshot(LS_API_EV_ONCE, (ls_fn)cb, arg, base, ret, LS_ENT_EV_ONCE);
	if (token == NULL)
		return real(fd, events, cb, arg, tv);
	int rc = LS_EV_INSIDE(real(fd, events, ls_once_tramp, token, tv));
	if (rc != 0)
		ls_ev_forget(token);
	return rc;
}

/* ---- bases ---------------------------------------------------------------- */

struct event_base *ls_ev_current_base;
int ls_ev_locking;

static void ls_fill_base(struct ls_entry *e, void *arg)
{
	e->flags = LS_ENT_LOOP | *(uint32_t *)arg;
}

static struct event_base *ls_base_born(struct event_base *base, int lockable)
{
	uint32_t flags = lockable ? LS_ENT_EV_LOCKABLE : 0;
	if (base != NULL)
		ls_ev_record(base, ls_fill_base, &flags);
	return base;
}

LS_EXPORT struct event_base *event_base_new(void)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_new) real = LS_EV(event_base_new);
	struct event_base *base = real();
	if (ls_ev_skip((const void *)real, ret))
		return base;
	return ls_base_born(base, __atomic_load_n(&ls_ev_locking, __ATOMIC_RELAXED));
}

LS_EXPORT struct event_base *event_base_new_with_config(const struct event_config *cfg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_new_with_config) real = LS_EV(event_base_new_with_config);
	struct event_base *base = real(cfg);
	if (ls_ev_skip((const void *)real, ret))
		return base;
	struct ls_entry *c = cfg ? ls_table_find(cfg) : NULL;
	int nolock = c != NULL && (__atomic_load_n(&c->flags, __ATOMIC_RELAXED) & LS_ENT_EV_NOLOCK);
	return ls_base_born(base, __atomic_load_n(&ls_ev_locking, __ATOMIC_RELAXED) && !nolock);
}

LS_EXPORT struct event_base *event_init(void)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_init) real = LS_EV(event_init);
	struct event_base *base = real();
	if (ls_ev_skip((const void *)real, ret))
		return base;
	__atomic_store_n(&ls_ev_current_base, base, __ATOMIC_RELAXED);
	return ls_base_born(base, __atomic_load_n(&ls_ev_locking, __ATOMIC_RELAXED));
}

static void ls_fill_nolock(struct ls_entry *e, void *arg)
{
	(void)arg;
	e->flags = LS_ENT_EV_NOLOCK;
}

/* EVENT_BASE_FLAG_NOLOCK: the bases made with this config have no locks,
 * even when the program turned libevent's locking on. */
LS_EXPORT int event_config_set_flag(struct event_config *cfg, int flag)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_config_set_flag) real = LS_EV(event_config_set_flag);
	int rc = real(cfg, flag);
	if (rc == 0 && cfg != NULL && (flag & EVENT_BASE_FLAG_NOLOCK) &&
	    !ls_ev_skip((const void *)real, ret))
		ls_ev_record(cfg, ls_fill_nolock, NULL);
	return rc;
}

LS_EXPORT void event_config_free(struct event_config *cfg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_config_free) real = LS_EV(event_config_free);
	if (cfg != NULL && !ls_ev_skip((const void *)real, ret) && ls_table_find(cfg) != NULL)
		ls_ev_forget(cfg);
	real(cfg);
}

/* event_base_dispatch, event_dispatch and event_loop end in a tail call of
 * event_base_loop, whose interposer then sees the program's return address:
 * that is one more level of the same thread's run, harmless. They are not
 * run LS_EV_INSIDE: a callback libevent runs that the shim does not wrap
 * (evbuffer's, an evhttp request's) must still be watched. */
#define LS_EV_RUN(base, api, call)                                       \
	do {                                                             \
		int rc_;                                                 \
		if ((base) == NULL) {                                    \
			rc_ = (call);                                    \
			return rc_;                                      \
		}                                                        \
		/* frame 0: no longjmp bookkeeping for libevent */     \
		uint32_t other_ = ls_loop_run_enter((base), (api), 0);   \
		if (other_ != 0) /* a base another thread runs */       \
			ls_note_wrong_thread((api), (base), NULL, other_); \
		struct ls_run_here was_;                                 \
		ls_run_here_begin(&was_, other_ == 0 ? (base) : NULL,    \
				  (uintptr_t)__builtin_frame_address(0)); \
		rc_ = (call);                                            \
		ls_run_here_end(&was_);                                  \
		ls_loop_run_leave(base);                                 \
		return rc_;                                              \
	} while (0)

LS_EXPORT int event_base_loop(struct event_base *base, int flags)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_loop) real = LS_EV(event_base_loop);
	if (ls_ev_skip((const void *)real, ret))
		return real(base, flags);
	LS_EV_RUN(base, LS_API_EV_BASE_LOOP, real(base, flags));
}

LS_EXPORT int event_base_dispatch(struct event_base *base)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_dispatch) real = LS_EV(event_base_dispatch);
	if (ls_ev_skip((const void *)real, ret))
		return real(base);
	LS_EV_RUN(base, LS_API_EV_BASE_DISPATCH, real(base));
}

LS_EXPORT int event_dispatch(void)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_dispatch) real = LS_EV(event_dispatch);
	if (ls_ev_skip((const void *)real, ret))
		return real();
	LS_EV_RUN(ls_ev_current_base, LS_API_EV_DISPATCH, real());
}

LS_EXPORT int event_loop(int flags)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_loop) real = LS_EV(event_loop);
	if (ls_ev_skip((const void *)real, ret))
		return real(flags);
	LS_EV_RUN(ls_ev_current_base, LS_API_EV_LOOP, real(flags));
}

LS_EXPORT int event_base_loopexit(struct event_base *base, const struct timeval *tv)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_loopexit) real = LS_EV(event_base_loopexit);
	if (!ls_ev_skip((const void *)real, ret))
		ls_ev_check_thread(LS_API_EV_BASE_LOOPEXIT, base, NULL, 1);
	return LS_EV_INSIDE(real(base, tv));
}

LS_EXPORT int event_base_loopbreak(struct event_base *base)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_loopbreak) real = LS_EV(event_base_loopbreak);
	if (!ls_ev_skip((const void *)real, ret))
		ls_ev_check_thread(LS_API_EV_BASE_LOOPBREAK, base, NULL, 1);
	return real(base);
}

/* ---- freeing a base: what is still pending -------------------------------- */

struct ls_pending {
	struct ls_rec_open_handle *v;
	uint32_t n, cap;
	const void *base;
	void **tokens;       /* once-callbacks of the base, to forget */
	uint32_t ntokens, tokens_cap;
};

static struct ls_rec_open_handle *ls_pending_push(struct ls_pending *p)
{
	if (p->n == p->cap) {
		uint32_t cap = p->cap ? 2 * p->cap : 16;
		void *v = realloc(p->v, cap * sizeof(*p->v));
		if (v == NULL)
			return NULL;
		p->v = v;
		p->cap = cap;
	}
	struct ls_rec_open_handle *o = &p->v[p->n++];
	memset(o, 0, sizeof(*o));
	o->loop = (uintptr_t)p->base;
	o->flags = LS_HANDLE_ACTIVE;
	return o;
}

/* Every event still added or active: the program's (those with an entry)
 * are pending. libevent's internal events are not passed here at all. */
static int ls_collect_event(const struct event_base *base, const struct event *ev, void *arg)
{
	(void)base;
	struct ls_pending *p = arg;
	struct ls_entry *e = ls_table_find(ev);
	if (e == NULL || (e->flags & (LS_ENT_EV_EVENT | LS_ENT_EV_FREED)) != LS_ENT_EV_EVENT)
		return 0;
	struct ls_rec_open_handle *o = ls_pending_push(p);
	if (o == NULL)
		return 0;
	o->handle = (uintptr_t)ev;
	o->init_site = e->init_site;
	o->site = e->site[0];
	strcpy(o->type_name, "event");
	__atomic_or_fetch(&e->flags, LS_ENT_REPORTED, __ATOMIC_RELAXED);
	return 0;
}

/* With the table locked: once-callbacks of the base never run. */
static void ls_collect_once(struct ls_entry *e, void *arg)
{
	struct ls_pending *p = arg;
	if (!(e->flags & LS_ENT_EV_ONCE) || e->loop != p->base)
		return;
	if (p->ntokens == p->tokens_cap) {
		uint32_t cap = p->tokens_cap ? 2 * p->tokens_cap : 16;
		void *v = realloc(p->tokens, cap * sizeof(*p->tokens));
		if (v == NULL)
			return;
		p->tokens = v;
		p->tokens_cap = cap;
	}
	p->tokens[p->ntokens++] = (void *)e->key;
	struct ls_rec_open_handle *o = ls_pending_push(p);
	if (o == NULL)
		return;
	o->handle = e->key;
	o->init_site = e->init_site;
	o->site = e->site[0];
	strcpy(o->type_name, "once");
}

/* With the table locked: what belonged to the freed base. */
static void ls_mark_base_gone(struct ls_entry *e, void *arg)
{
	if (e->loop == arg && (e->flags & (LS_ENT_EV_EVENT | LS_ENT_EV_BEV)))
		e->flags |= LS_ENT_EV_BASE_GONE;
}

LS_EXPORT void event_base_free(struct event_base *base)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&event_base_free) real = LS_EV(event_base_free);
	if (base == NULL || ls_ev_skip((const void *)real, ret)) {
		real(base);
		return;
	}
	ls_ev_check_thread(LS_API_EV_BASE_FREE, base, NULL, 0);
	int saved = errno;
	struct ls_pending p = { .base = base };
	LS_EV(event_base_foreach_event)(base, ls_collect_event, &p);
	ls_table_foreach(ls_collect_once, &p);
	errno = saved;
	real(base);
	saved = errno;
	ls_note_loop_close(base, 0, p.n, LS_API_EV_BASE_FREE);
	for (uint32_t i = 0; i < p.n; i++) {
		ls_note_open(&p.v[i]);
		ls_trace_note_open_handle();
	}
	for (uint32_t i = 0; i < p.ntokens; i++)
		ls_ev_forget(p.tokens[i]);
	ls_table_foreach(ls_mark_base_gone, base);
	ls_ev_changed();
	ls_ev_forget(base);
	if (ls_ev_current_base == base)
		ls_ev_current_base = NULL;
	free(p.v);
	free(p.tokens);
	errno = saved;
}

/* ---- threads -------------------------------------------------------------- */

/* From here on, bases are made with locks (unless their config says
 * EVENT_BASE_FLAG_NOLOCK), and cross-thread event_add, event_del,
 * event_active, loopexit and loopbreak on them are legal. Either call is
 * watched, whoever makes it: evthread_use_pthreads (libevent_pthreads)
 * calls evthread_set_lock_callbacks (libevent_core) itself. */
LS_EXPORT int evthread_set_lock_callbacks(const struct evthread_lock_callbacks *cbs)
{
	__typeof__(&evthread_set_lock_callbacks) real = LS_EV(evthread_set_lock_callbacks);
	int rc = real(cbs);
	if (rc == 0 && cbs != NULL && cbs->alloc != NULL && ls_ev_in_lib((const void *)real))
		__atomic_store_n(&ls_ev_locking, 1, __ATOMIC_RELAXED);
	return rc;
}

LS_EXPORT int evthread_use_pthreads(void)
{
	__typeof__(&evthread_use_pthreads) real = LS_EV(evthread_use_pthreads);
	int rc = real();
	if (rc == 0 && ls_ev_in_lib((const void *)real))
		__atomic_store_n(&ls_ev_locking, 1, __ATOMIC_RELAXED);
	return rc;
}

/* ---- process exit --------------------------------------------------------- */

/* With the table locked: an event made by event_new, or a bufferevent,
 * never freed (and not already reported pending at its base's free). */
static void ls_ev_leftover(struct ls_entry *e, void *arg)
{
	(void)arg;
	uint32_t f = e->flags;
	const char *type;
	if (f & (LS_ENT_REPORTED | LS_ENT_EV_FREED | LS_ENT_EV_TOKEN))
		return;
	if ((f & (LS_ENT_EV_EVENT | LS_ENT_EV_OWNED)) == (LS_ENT_EV_EVENT | LS_ENT_EV_OWNED))
		type = "event";
	else if ((f & (LS_ENT_EV_BEV | LS_ENT_EV_OWNED)) == (LS_ENT_EV_BEV | LS_ENT_EV_OWNED))
		type = "bufferevent";
	else
		return;
	struct ls_rec_open_handle o;
	memset(&o, 0, sizeof(o));
	o.loop = (uintptr_t)e->loop;
	o.handle = e->key;
	o.flags = LS_HANDLE_AT_EXIT;
	o.init_site = e->init_site;
	for (int i = 0; i < 3 && o.site == 0; i++)
		o.site = e->site[i];  /* a bufferevent may have only a write callback */
	strcpy(o.type_name, type);
	ls_note_open(&o);
	ls_trace_note_unclosed();
}

/* Runs before the trace is finished. */
static void ls_ev_at_exit(void)
{
	if (ls_disabled || __atomic_load_n(&ls_ev_nlibs, __ATOMIC_ACQUIRE) == 0)
		return;
	int saved = errno;
	ls_table_foreach_at_exit(ls_ev_leftover, NULL);
	errno = saved;
}

LS_FAMILY(ev) = {
	.name = "ev",
	.span = &ls_ev_span,
	.own_addr = ls_ev_in_lib,
	.at_fork_child = ls_ev_seen_atfork_child,
	.at_exit = ls_ev_at_exit,
};
