/* The selector layer: any event loop, seen where it waits for the kernel.
 *
 * A thread that calls epoll_wait, poll, select (or their p-variants) again
 * and again from the same call instruction runs an event loop, whatever
 * library (or none) drives it: asyncio, Node.js with its static libuv,
 * nginx. The time from a selector's return to the thread's next selector
 * call is one loop iteration: the loop's work, timed like a callback of
 * the selector's site. The wait itself is not work; only a wait that came
 * back far later than its timeout asked for (a starved thread) is a
 * finding, slow-selector.
 *
 * Calling again is not enough evidence of a loop for poll and select:
 * they are also a timed wait (a test runner waiting for its child with a
 * timeout, once per test, then joining and reading). An epoll call is a
 * loop from its first return (epoll exists for loops: a loop whose first
 * iteration is the slow one is timed too), and so is
 * any selector call under a library's loop (uv_run); a poll or select
 * call site is one only once the thread came back to it quickly
 * (LS_SEL_QUICK_NS) LS_SEL_QUICK_RUNS times in a row, as a loop does
 * between idle wake-ups, or, for ppoll and pselect, at once when it waits
 * (a timeout other than 0) on several descriptors: a timed wait waits for
 * one thing, a loop for whichever of its sources (and signals: the reason
 * for the p-variants) comes first. That is what tells the loop that wakes
 * only on events (nsd's main process: a ppoll on its children's pipes, 60 s
 * timeout, a handful of calls in its life) from a timed wait; waiting for
 * three quick returns, it would never have been seen. Not poll and select:
 * a program that reads a child's stdout and stderr (Python's subprocess)
 * polls two pipes, then goes on with other work. When the library's loop
 * returns, its iteration ends: what the thread does next is not the loop's.
 *
 * When a library layer (libuv) already timed a slow callback inside the
 * iteration, the iteration is counted but not reported again.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include "preload/sys/sys.h"


#define LS_SEL_QUICK_NS 1000000  /* a loop's quick iteration: under 1 ms */
#define LS_SEL_QUICK_RUNS 3

struct ls_sel {
	uint64_t begin;
	int64_t timeout_ns;  /* -1: none */
	uint32_t api, site;
	int skip;
	int nested;          /* another wait inside an iteration: a blocking call */
};

/* The site of the loop's selector call (api, the call's stack): kept per
 * thread for its one call instruction, so the per-call-site cache of
 * ls_register_site is not asked every iteration. */
static uint32_t ls_sel_site(struct ls_loop_thread *l, uint32_t api, const void *ret)
{
	if (l->sel_site != 0 && l->sel_site_ret == (uintptr_t)ret && l->sel_site_api == api)
		return l->sel_site;
	uint32_t site = ls_register_site(api, NULL, ret);
	l->sel_site = site;
	l->sel_site_ret = (uintptr_t)ret;
	l->sel_site_api = api;
	return site;
}

static uint64_t ls_sel_late_ticks(void)
{
	static uint64_t ticks;
	uint64_t t = __atomic_load_n(&ticks, __ATOMIC_RELAXED);
	uint64_t hz = __atomic_load_n(&ls_tick_hz, __ATOMIC_RELAXED);
	if (t == 0 && hz != 0) {
		t = (uint64_t)((double)ls_opt.slow_selector_ms / 1e3 * (double)hz);
		__atomic_store_n(&ticks, t, __ATOMIC_RELAXED);
	}
	return t ? t : UINT64_MAX;
}

void ls_loop_thread_seen(void)
{
	struct ls_loop_thread *l = &ls_lt;
	if (l->watch != NULL || l->watch_tried)
		return;
	l->watch_tried = 1;
	l->watch = ls_watch_attach();
}

/* The thread became a selector loop: say so once (its name, for reports). */
static void ls_sel_born(uint32_t api)
{
	ls_note_loop_run(NULL, ls_trace_tid(), api);
	ls_loop_thread_seen();
}

static void ls_sel_late(const struct ls_sel *s, int rc, uint64_t dur)
{
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_selector_late);
	uint64_t end_ns = ls_now();
	ls_trace_note_slow_selector();
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	r->type = LS_REC_SELECTOR_LATE;
	r->size = size;
	r->arg = s->site;
	struct ls_rec_selector_late *sl = (struct ls_rec_selector_late *)(r + 1);
	sl->api = s->api;
	sl->result = rc;
	sl->timeout_ns = s->timeout_ns;
	sl->begin_ticks = s->begin;
	sl->dur_ticks = dur;
	sl->end_mono_ns = end_ns;
	ls_rec_commit(size);
}

/* The iteration that ends now, at a call of the loop's selector site, was
 * slow, or is timed (no library's loop), or had blocking calls to confirm.
 * Under a library's loop (uv_run) the library times the callbacks: an
 * iteration is only looked at when it was slow and no slow callback
 * explains it. Elsewhere iterations are the loop's callbacks. */
static void ls_iteration_end(struct ls_loop_thread *l, uint32_t api, const void *ret,
			     uint64_t dur)
{
	ls_blocking_commit_pending();
	if (l->lib_loop > 0 && dur < ls_slow_ticks)
		return;
	uint32_t site = ls_sel_site(l, api, ret);
	if (l->lib_slow != l->iter_lib_slow) {
		if (l->lib_loop == 0)
			ls_stats_add(site, dur);  /* its slow callback is the finding */
	} else if (l->lib_loop > 0) {
		ls_record_slow(site, l->iter_begin, dur, 1);
	} else {
		ls_record_callback(site, l->iter_begin, dur, 1);
	}
}

/* The rarer work of a selector call: ending an iteration that needs a
 * record, a thread that becomes a loop. Takes the shim's own calls out of
 * the user's (in_shim) and keeps errno. */
__attribute__((noinline, cold)) static void ls_sel_enter_slow(struct ls_loop_thread *l,
							      uint32_t api, const void *ret,
							      uint64_t now, int end_iter, int born)
{
	int saved = errno;
	l->in_shim++;
	if (end_iter)
		ls_iteration_end(l, api, ret, now - l->iter_begin);
	if (born)
		ls_sel_born(api);
	else if (l->sel_loop && l->watch == NULL)
		ls_loop_thread_seen();
	l->in_shim--;
	errno = saved;
}

static int ls_sel_is_epoll(uint32_t api)
{
	return api == LS_API_EPOLL_WAIT || api == LS_API_EPOLL_PWAIT || api == LS_API_EPOLL_PWAIT2;
}

/* Is the thread, calling its selector site (again) at now, a loop? */
static int ls_sel_evidence(struct ls_loop_thread *l, uint32_t api, uint64_t now)
{
	if (l->lib_loop > 0 || ls_sel_is_epoll(api))
		return 1;
	uint64_t hz = __atomic_load_n(&ls_tick_hz, __ATOMIC_RELAXED);
	if (hz != 0 && (double)(now - l->sel_back) < (double)LS_SEL_QUICK_NS / 1e9 * (double)hz)
		l->sel_quick++;
	else
		l->sel_quick = 0;
	return l->sel_quick >= LS_SEL_QUICK_RUNS;
}

/* The hot path (a library's loop polling again, nothing slow) is a
 * timestamp and a few stores, inlined into the interposer: no call, errno
 * untouched. */
static inline __attribute__((always_inline)) void ls_sel_enter(struct ls_sel *s, uint32_t api,
							       const void *ret, int64_t timeout_ns,
							       int many)
{
	struct ls_loop_thread *l = &ls_lt;
	s->skip = ls_disabled || l->in_shim;
	if (s->skip)
		return;
	s->api = api;
	s->timeout_ns = timeout_ns;
	s->nested = 0;
	s->site = 0;
	uintptr_t r = (uintptr_t)ret;
	if (l->in_iter && r != l->sel_ret) {
		/* A wait of its own inside an iteration (a callback polling one
		 * descriptor): the loop is blocked, not waiting. */
		s->nested = 1;
		s->begin = ls_ticks();
		return;
	}
	uint64_t now = ls_ticks();
	l->fork_quiet = 0;
	l->sel_api = api;
	if (r == l->sel_ret) {
		if (l->sel_calls < UINT32_MAX)
			l->sel_calls++;
	} else {
		l->sel_ret = r;
		l->sel_calls = 1;
		l->sel_loop = 0;
		l->sel_quick = 0;
	}
	int born = !l->sel_loop && ((many && timeout_ns != 0) ||
				    ((l->sel_calls >= 2 || ls_sel_is_epoll(api)) &&
				     ls_sel_evidence(l, api, now)));
	l->sel_loop |= born;
	int end_iter = l->in_iter &&
		       (l->lib_loop == 0 || l->npending != 0 || now - l->iter_begin >= ls_slow_ticks);
	l->in_iter = 0;
	if (l->watch != NULL)
		__atomic_store_n(&l->watch->iter_since, 0, __ATOMIC_RELEASE);
	if (LS_UNLIKELY(end_iter || born || (l->sel_loop && l->watch == NULL && !l->watch_tried)))
		ls_sel_enter_slow(l, api, ret, now, end_iter, born);
	s->begin = now;
}

/* An iteration of the loop begins at `now` (ticks); site: the selector's,
 * for the watchdog, or 0 under a library's loop. */
static inline void ls_iteration_begin(struct ls_loop_thread *l, uint64_t now, uint32_t site)
{
	l->in_iter = 1;
	l->iter_begin = now;
	l->iter_lib_slow = l->lib_slow;
	if (l->watch != NULL) {
		/* Where the watchdog finds its Python frames while it is
		 * blocked (a thread may have a Python state only for a while). */
		__atomic_store_n(&l->watch->py_thread, ls_trace_py_thread(), __ATOMIC_RELAXED);
		__atomic_store_n(&l->watch->iter_site, site, __ATOMIC_RELAXED);
		__atomic_store_n(&l->watch->iter_since, now, __ATOMIC_RELEASE);
	}
}

static void ls_sel_leave_wait(struct ls_sel *s, const void *ret, int rc);

void ls_sel_loop_left(void)
{
	struct ls_loop_thread *l = &ls_lt;
	if (!l->in_iter || l->in_shim)
		return;
	int saved = errno;
	l->in_shim++;
	ls_iteration_end(l, l->sel_api, (const void *)l->sel_ret, ls_ticks() - l->iter_begin);
	l->in_iter = 0;
	if (l->watch != NULL)
		__atomic_store_n(&l->watch->iter_since, 0, __ATOMIC_RELEASE);
	l->in_shim--;
	errno = saved;
}

/* A selector call came back. Only a late wait (and a nested one, a
 * blocking call) writes anything; otherwise the iteration begins. */
static inline __attribute__((always_inline)) void ls_sel_leave(struct ls_sel *s, const void *ret,
							       int rc)
{
	if (s->skip)
		return;
	struct ls_loop_thread *l = &ls_lt;
	if (s->timeout_ns == 0 && l->lib_loop > 0 && !s->nested && l->sel_loop) {
		/* A library's loop polling without waiting (it has work
		 * queued): the poll is part of the iteration's work, which
		 * begins when it was called. A thread starved inside it shows
		 * as a slow iteration, not a slow-selector. One timestamp
		 * fewer per iteration. */
		ls_iteration_begin(l, s->begin, 0);
		return;
	}
	ls_sel_leave_wait(s, ret, rc);
}

/* A selector call that may have waited came back: the time it took. */
__attribute__((noinline)) static void ls_sel_leave_wait(struct ls_sel *s, const void *ret, int rc)
{
	struct ls_loop_thread *l = &ls_lt;
	uint64_t now = ls_ticks(), dur = now - s->begin;
	if (LS_UNLIKELY(s->nested)) {
		if (s->timeout_ns != 0) {
			int saved = errno;
			l->in_shim++;
			ls_blocking_record(s->api, ret, s->begin, dur);
			l->in_shim--;
			errno = saved;
		}
		return;
	}
	uint64_t late = 0;
	if (s->timeout_ns == 0) {
		late = dur;
	} else if (s->timeout_ns > 0 && ls_tick_hz != 0) {
		double want = (double)s->timeout_ns / 1e9 * (double)ls_tick_hz;
		late = (double)dur > want ? (uint64_t)((double)dur - want) : 0;
	}
	if (LS_UNLIKELY(late >= ls_sel_late_ticks())) {
		int saved = errno;
		l->in_shim++;
		s->site = ls_sel_site(l, s->api, ret);
		ls_sel_late(s, rc, dur);
		l->in_shim--;
		errno = saved;
	}
	l->sel_back = now;
	if (l->sel_loop) {
		if (l->watch != NULL && s->site == 0 && l->lib_loop == 0) {
			int saved = errno;
			l->in_shim++;
			s->site = ls_sel_site(l, s->api, ret);
			l->in_shim--;
			errno = saved;
		}
		ls_iteration_begin(l, now, s->site);
	}
}

static int64_t ls_ms_ns(int ms)
{
	return ms < 0 ? -1 : (int64_t)ms * 1000000;
}

static int64_t ls_ts_ns(const struct timespec *ts)
{
	if (ts == NULL)
		return -1;
	if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_sec > INT64_MAX / 1000000000 - 1)
		return -1;
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t ls_tv_ns(const struct timeval *tv)
{
	if (tv == NULL)
		return -1;
	if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_sec > INT64_MAX / 1000000000 - 1)
		return -1;
	return (int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000;
}

/* call, resumed when the watchdog's signal alone cut it short (EINTR,
 * signal.c) with what is left of its timeout: ms milliseconds (call
 * waits t_), or the timespec ts (call waits ts_); a negative timeout is
 * none, and select() writes what is left into its own. */
__attribute__((noinline, cold)) static int ls_left_ms(int ms, uint64_t t0)
{
	int64_t ns = ls_left_ns((int64_t)ms * 1000000, t0);
	return (int)((ns + 999999) / 1000000);
}

/* The remaining time is worked out only once a call was cut short; the
 * start is read only for a call that may wait (a poll with timeout 0, the
 * busy loop's call, pays a thread-local load and one compare). */
#define LS_RESUMED_MS(ms, call) ({                                           \
	unsigned n_ = ls_sig_eintr;                                          \
	int t_ = (ms), r_;                                                   \
	uint64_t t0_ = t_ > 0 ? ls_ticks() : 0;                              \
	while (LS_UNLIKELY((r_ = (call)) == -1) && ls_sig_cut(&n_))          \
		if ((ms) > 0)                                                \
			t_ = ls_left_ms((ms), t0_);                          \
	r_; })

__attribute__((noinline, cold)) static const struct timespec *
ls_left_ts(const struct timespec *ts, uint64_t t0, struct timespec *left)
{
	int64_t ns = ls_ts_ns(ts);
	if (ns <= 0)
		return ts;
	int64_t l = ls_left_ns(ns, t0);
	left->tv_sec = l / 1000000000;
	left->tv_nsec = l % 1000000000;
	return left;
}

#define LS_RESUMED_TS(ts, call) ({                                           \
	unsigned n_ = ls_sig_eintr;                                          \
	int r_;                                                              \
	const struct timespec *ts_ = (ts);                                   \
	struct timespec left_;                                               \
	uint64_t t0_ = ts_ != NULL && (ts_->tv_sec | ts_->tv_nsec) ? ls_ticks() : 0; \
	while (LS_UNLIKELY((r_ = (call)) == -1) && ls_sig_cut(&n_))          \
		ts_ = ls_left_ts((ts), t0_, &left_);                         \
	r_; })

/* Does the call wait on two descriptors or more? Asked only of a call
 * site not yet known as a loop's (the count stops at two). */
static int ls_poll_many(void *v, nfds_t nfds)
{
	/* Not const: glibc declares the array write-only (it is the
	 * program's, read by the kernel), and GCC would take a read through
	 * a const pointer for a read of uninitialized memory. */
	const struct pollfd *fds = v;
	int n = 0;
	for (nfds_t i = 0; i < nfds && n < 2; i++)
		n += fds[i].fd >= 0;
	return n >= 2;
}

static int ls_select_many(int nfds, const fd_set *r, const fd_set *w, const fd_set *e)
{
	int n = 0;
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE && n < 2; fd++)
		n += (r != NULL && FD_ISSET(fd, r)) || (w != NULL && FD_ISSET(fd, w)) ||
		     (e != NULL && FD_ISSET(fd, e));
	return n >= 2;
}

/* Inside LS_SELECTOR_MANY: the loop's own call, once known, skips it. */
#define LS_SEL_MANY(expr) ((!ls_lt.sel_loop || (uintptr_t)ret_ != ls_lt.sel_ret) && (expr))

/* many: the call waits on several descriptors (LS_SEL_MANY). */
#define LS_SELECTOR_MANY(api, timeout_ns, many, call)                       \
	do {                                                                \
		const void *ret_ = __builtin_return_address(0);             \
		struct ls_sel s_;                                           \
		ls_sel_enter(&s_, (api), ret_, (timeout_ns), (many));       \
		int rc_ = call;                                             \
		ls_sel_leave(&s_, ret_, rc_);                               \
		return rc_;                                                 \
	} while (0)

#define LS_SELECTOR(api, timeout_ns, call) LS_SELECTOR_MANY(api, timeout_ns, 0, call)

LS_EXPORT int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	LS_SELECTOR(LS_API_EPOLL_WAIT, ls_ms_ns(timeout),
		    LS_RESUMED_MS(timeout, LS_LIBC(epoll_wait)(epfd, events, maxevents, t_)));
}

LS_EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout,
			  const sigset_t *sigmask)
{
	LS_SELECTOR(LS_API_EPOLL_PWAIT, ls_ms_ns(timeout),
		    LS_RESUMED_MS(timeout,
				  LS_LIBC(epoll_pwait)(epfd, events, maxevents, t_, sigmask)));
}

LS_EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int maxevents,
			   const struct timespec *timeout, const sigset_t *sigmask)
{
	LS_SELECTOR(LS_API_EPOLL_PWAIT2, ls_ts_ns(timeout),
		    LS_RESUMED_TS(timeout,
				  LS_LIBC(epoll_pwait2)(epfd, events, maxevents, ts_, sigmask)));
}

LS_EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	LS_SELECTOR(LS_API_POLL, ls_ms_ns(timeout),
		    LS_RESUMED_MS(timeout, LS_LIBC(poll)(fds, nfds, t_)));
}

LS_EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
		    const sigset_t *sigmask)
{
	LS_SELECTOR_MANY(LS_API_PPOLL, ls_ts_ns(timeout), LS_SEL_MANY(ls_poll_many(fds, nfds)),
			 LS_RESUMED_TS(timeout, LS_LIBC(ppoll)(fds, nfds, ts_, sigmask)));
}

LS_EXPORT int select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
		     struct timeval *timeout)
{
	LS_SELECTOR(LS_API_SELECT, ls_tv_ns(timeout),
		    LS_RESUMED(LS_LIBC(select)(nfds, readfds, writefds, exceptfds, timeout)));
}

LS_EXPORT int pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds,
		      const struct timespec *timeout, const sigset_t *sigmask)
{
	LS_SELECTOR_MANY(LS_API_PSELECT, ls_ts_ns(timeout),
			 LS_SEL_MANY(ls_select_many(nfds, readfds, writefds, exceptfds)),
			 LS_RESUMED_TS(timeout, LS_LIBC(pselect)(nfds, readfds, writefds, exceptfds,
								 ts_, sigmask)));
}

/* _FORTIFY_SOURCE builds call these instead of poll and ppoll. */
extern int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
extern int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
		       const sigset_t *sigmask, size_t fdslen);

LS_EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
	LS_SELECTOR(LS_API_POLL, ls_ms_ns(timeout),
		    LS_RESUMED_MS(timeout, LS_LIBC(__poll_chk)(fds, nfds, t_, fdslen)));
}

LS_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
			  const sigset_t *sigmask, size_t fdslen)
{
	LS_SELECTOR_MANY(LS_API_PPOLL, ls_ts_ns(timeout), LS_SEL_MANY(ls_poll_many(fds, nfds)),
			 LS_RESUMED_TS(timeout,
				       LS_LIBC(__ppoll_chk)(fds, nfds, ts_, sigmask, fdslen)));
}
