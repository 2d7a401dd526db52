/* Derives findings from a trace's model. This is the only place that
 * decides what is a finding; report, run (and later check) render them. */
#include "viewer/findings.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_SLOW_MS 100.0

struct slow_run {
	uint32_t site, tid;
	double dur_ns;
	uint64_t begin_ticks, dur_ticks;
	int selector;
};


void ls_findings_init(struct ls_findings *f)
{
	memset(f, 0, sizeof(*f));
	f->v.item_size = sizeof(struct ls_finding);
}

void ls_findings_free(struct ls_findings *f)
{
	for (size_t i = 0; i < f->v.len; i++)
		free(LS_VEC_AT(&f->v, struct ls_finding, i)->suppression);
	ls_vec_free(&f->v);
}

size_t ls_findings_count(const struct ls_findings *f)
{
	return f->v.len;
}

const struct ls_finding *ls_finding_at(const struct ls_findings *f, size_t i)
{
	return LS_VEC_AT(&f->v, struct ls_finding, i);
}

static const struct ls_finding_kind_info kinds[LS_FINDING_KIND_COUNT] = {
	[LS_FINDING_SLOW_CALLBACK] = {
		"slow-callback", "A loop callback ran too long.",
		"A callback (or, for a loop seen only at its selector calls, one "
		"loop iteration) ran on the loop thread for at least the "
		"slow-callback threshold; every other event of that loop waited "
		"for it.",
		"Move the blocking or long work off the loop thread (uv_queue_work, "
		"a worker thread) or split it into shorter steps; created_at shows "
		"where the callback was registered and stuck_at where it was when "
		"sampled.", 1 },
	[LS_FINDING_SLOW_SELECTOR] = {
		"slow-selector", "An I/O poll of the loop took too long.",
		"The loop's selector call (epoll_wait, poll, select, ...) came back "
		"more than slow_selector_ms after the deadline its timeout asked "
		"for (or a zero-timeout call took that long): the thread was not "
		"scheduled, and every event of the loop waited.",
		"Look for a starved or overcommitted machine, CPU limits "
		"(cgroups), a stopped process, swapping or long page faults around "
		"the poll; called_at shows where the loop polls.", 1 },
	[LS_FINDING_BLOCKING_CALL] = {
		"blocking-call", "A blocking function was called on the loop thread.",
		"A call known to block (sleep, synchronous DNS, fsync, waiting for a "
		"process, a thread or a lock, reading a descriptor in blocking "
		"mode, ...) was made on a loop thread inside a callback or a loop "
		"iteration; every event of the loop waited for it.",
		"Use the loop's asynchronous equivalent or run the call on the thread "
		"pool; called_at shows where it was made.", 0 },
	[LS_FINDING_WRONG_THREAD] = {
		"wrong-thread", "The loop was used from another thread.",
		"A non-thread-safe loop function was called from a thread other than "
		"the one running the loop.",
		"Hand the work to the loop thread with uv_async_send; called_at shows "
		"the offending call.", 0 },
	[LS_FINDING_PENDING_AT_CLOSE] = {
		"pending-at-close", "A handle was still open when its loop was closed.",
		"uv_loop_close found a handle that was not closed (it then returns "
		"UV_EBUSY), or whose close never finished because the loop did not "
		"run again.",
		"Close every handle with uv_close and run the loop until the close "
		"callbacks have run before uv_loop_close; created_at shows where the "
		"handle was initialized.", 0 },
	[LS_FINDING_UNCLOSED_HANDLE] = {
		"unclosed-handle", "A handle was never closed.",
		"A handle was still open when the process exited.",
		"Close the handle with uv_close when it is no longer needed; "
		"created_at shows where it was initialized.", 0 },
	[LS_FINDING_DROPPED_ERROR] = {
		"dropped-error", "An error reached nobody.",
		"An operation failed and its error was delivered to no callback, or "
		"to one that ignored it.",
		"Check the status argument of the callback; created_at shows where "
		"the request was made.", 0 },
	[LS_FINDING_NEVER_AWAITED] = {
		"never-awaited", "A coroutine was created and never awaited.",
		"A coroutine object was destroyed without ever running (Python's "
		"RuntimeWarning \"coroutine ... was never awaited\"): the code in "
		"it never ran.",
		"Await the coroutine, or hand it to asyncio.create_task (and keep "
		"the task); created_at shows where it was made, when origin "
		"tracking was on, and collected_at where its last reference went.", 0 },
	[LS_FINDING_LOST_WAKEUP] = {
		"lost-wakeup", "A cross-thread wake-up was lost.",
		"A wake-up was sent to a loop that never ran again to deliver it.",
		"Make sure the target loop is still running when the wake-up is "
		"sent; called_at shows the send.", 0 },
	[LS_FINDING_CRASH_IN_CALLBACK] = {
		"crash-in-callback", "A callback crashed.",
		"The process died while a loop callback was running.",
		"Look at where it crashed (crashed_at, the faulting function "
		"first); created_at shows where the callback was registered.", 0 },
	[LS_FINDING_HANDLE_MISUSE] = {
		"handle-misuse", "A handle was misused.",
		"A handle was used after close, closed twice, or started while "
		"closing.",
		"Fix the handle's life cycle; called_at shows the offending call and "
		"created_at where the handle was initialized.", 0 },
};

const struct ls_finding_kind_info *ls_finding_kind_info(enum ls_finding_kind kind)
{
	return (unsigned)kind < LS_FINDING_KIND_COUNT ? &kinds[kind] : NULL;
}

const char *ls_finding_kind_name(enum ls_finding_kind kind)
{
	return (unsigned)kind < LS_FINDING_KIND_COUNT ? kinds[kind].name : "unknown";
}

int ls_finding_kind_parse(const char *name, size_t len, enum ls_finding_kind *kind)
{
	for (int k = 0; k < LS_FINDING_KIND_COUNT; k++) {
		if (strlen(kinds[k].name) == len &&
		    memcmp(kinds[k].name, name, len) == 0) {
			*kind = (enum ls_finding_kind)k;
			return 0;
		}
	}
	return -1;
}

double ls_findings_slow_ms(const struct ls_trace *t,
			   const struct ls_findings_options *opt)
{
	if (opt && opt->slow_ms >= 0)
		return opt->slow_ms;
	return t->slow_callback_ms ? t->slow_callback_ms : DEFAULT_SLOW_MS;
}

static struct ls_finding *add(struct ls_findings *f, enum ls_finding_kind kind,
			      const struct ls_trace *t, uint32_t tid)
{
	struct ls_finding *fi = ls_vec_push(&f->v);
	fi->kind = kind;
	fi->trace = t;
	fi->tid = tid;
	fi->ord = f->v.len;
	return fi;
}

static int run_order(const void *a, const void *b)
{
	const struct slow_run *x = a, *y = b;
	if (x->site != y->site)
		return x->site < y->site ? -1 : 1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

/* The thread-pool side of uv_queue_work is allowed to block. */
static int may_be_slow(const struct ls_trace *t, uint32_t site_id)
{
	const struct ls_site *site = ls_trace_site(t, site_id);
	return site && site->api == LS_API_UV_QUEUE_WORK;
}

static int site_is_selector(const struct ls_trace *t, uint32_t site_id)
{
	const struct ls_site *site = ls_trace_site(t, site_id);
	return site && ls_api_is_selector(site->api);
}

/* A slow iteration that holds a slow library callback of the same thread
 * is that callback's finding, not a second one. */
static int covered_by_callback(const struct ls_vec *runs, const struct slow_run *it)
{
	const struct slow_run *r = runs->items;
	for (size_t i = 0; i < runs->len; i++)
		if (!r[i].selector && r[i].tid == it->tid &&
		    r[i].begin_ticks >= it->begin_ticks &&
		    r[i].begin_ticks - it->begin_ticks < it->dur_ticks)
			return 1;
	return 0;
}

static void collect_slow_runs(const struct ls_trace *t, double slow_ms,
			      struct ls_vec *runs)
{
	for (size_t i = 0; i < t->callbacks.len; i++) {
		const struct ls_callback *cb =
			LS_VEC_AT(&t->callbacks, struct ls_callback, i);
		if ((double)cb->dur_ns < slow_ms * 1e6 || may_be_slow(t, cb->site))
			continue;
		struct slow_run *r = ls_vec_push(runs);
		r->site = cb->site;
		r->tid = cb->tid;
		r->dur_ns = cb->dur_ns;
		r->begin_ticks = cb->begin_ticks;
		r->dur_ticks = cb->dur_ticks;
		r->selector = site_is_selector(t, cb->site);
	}
	size_t kept = 0;
	struct slow_run *r = runs->items;
	for (size_t i = 0; i < runs->len; i++)
		if (!r[i].selector || !covered_by_callback(runs, &r[i]))
			r[kept++] = r[i];
	runs->len = kept;
	if (runs->len > 1)
		qsort(runs->items, runs->len, sizeof(struct slow_run), run_order);
}

static const char *stuck_how(uint32_t how)
{
	switch (how) {
	case LS_STUCK_SIGNAL: return "running";
	case LS_STUCK_SYSCALL: return "in a system call";
	case LS_STUCK_BLOCKING: return "in a blocking call";
	}
	return "unknown";
}

/* The watchdog's sample of the run that began at begin_ticks on tid. */
static const struct ls_stuck *stuck_of(const struct ls_trace *t, uint32_t tid,
				       uint64_t begin_ticks)
{
	for (size_t i = 0; i < t->stucks.len; i++) {
		const struct ls_stuck *s = LS_VEC_AT(&t->stucks, struct ls_stuck, i);
		if (s->tid == tid && s->begin_ticks == begin_ticks)
			return s;
	}
	return NULL;
}

/* The callback of site s, if it has one. A Python loop method's site
 * has one even when it ran no Python function (its callback is 0): the
 * report names it so. */
static void take_callback(struct ls_finding *fi, const struct ls_site *s)
{
	if (!s || (s->callback == 0 && !ls_api_is_python(s->api)))
		return;
	fi->has_callback = 1;
	fi->callback = s->callback;
	fi->callback_api = s->api;
}

static void describe_site(struct ls_finding *fi, const struct ls_trace *t,
			  uint32_t site_id)
{
	const struct ls_site *site = ls_trace_site(t, site_id);
	if (!site)
		return;
	fi->has_api = 1;
	fi->api = site->api;
	take_callback(fi, site);
	const struct ls_stack *st = site->stack ? ls_trace_stack(t, site->stack) : NULL;
	/* A loop iteration was registered nowhere: its stack is where the
	 * loop calls its selector. */
	if (ls_api_is_selector(site->api) || !fi->has_callback)
		fi->called_at = st;
	else
		fi->created_at = st;
}

static void collect_slow(struct ls_findings *f, const struct ls_trace *t,
			 double slow_ms)
{
	struct ls_vec runs = { .item_size = sizeof(struct slow_run) };
	collect_slow_runs(t, slow_ms, &runs);
	const struct slow_run *r = runs.items;
	struct ls_finding *fi = NULL;
	for (size_t i = 0; i < runs.len; i++) {
		if (i == 0 || run_order(&r[i], &r[i - 1]) != 0) {
			fi = add(f, LS_FINDING_SLOW_CALLBACK, t, r[i].tid);
			fi->threshold_ms = slow_ms;
			fi->stuck_syscall = -1;
			describe_site(fi, t, r[i].site);
		}
		double ms = (double)r[i].dur_ns / 1e6;
		fi->count++;
		fi->total_ms += ms;
		const struct ls_stuck *st = stuck_of(t, r[i].tid, r[i].begin_ticks);
		/* The longest run's sample, or any run's when it has none. */
		if (st && (ms > fi->max_ms || fi->stuck_at == NULL)) {
			const struct ls_stack *sst = ls_trace_stack(t, st->stack);
			if (sst) {
				fi->stuck_at = sst;
				fi->stuck_how = stuck_how(st->how);
				fi->stuck_syscall = st->syscall_nr;
			}
		}
		if (ms > fi->max_ms)
			fi->max_ms = ms;
	}
	ls_vec_free(&runs);
}

static const struct ls_stack *site_stack(const struct ls_trace *t,
					 const struct ls_site *site)
{
	return site && site->stack ? ls_trace_stack(t, site->stack) : NULL;
}

/* Handles left open alike (same kind, thread, type, creation and callback
 * sites, state, loop close) make one finding with a count. */
static struct ls_finding *same_pending(struct ls_findings *f, size_t first,
				       enum ls_finding_kind kind, const struct ls_trace *t,
				       const struct ls_open_handle *h)
{
	for (size_t k = first; k < f->v.len; k++) {
		struct ls_finding *g = LS_VEC_AT(&f->v, struct ls_finding, k);
		if (g->kind == kind && g->tid == h->tid && g->pending_init_site == h->init_site &&
		    g->site == h->site && g->closing == ((h->flags & LS_HANDLE_CLOSING) != 0) &&
		    g->at_exit == ((h->flags & LS_HANDLE_AT_EXIT) != 0) &&
		    g->close_index == h->close_index && strcmp(g->handle, h->type_name) == 0) {
			(void)t;
			return g;
		}
	}
	return NULL;
}

static void collect_pending_one(struct ls_findings *f, size_t first, const struct ls_trace *t,
				const struct ls_open_handle *h)
{
	/* At exit, a handle never closed is unclosed-handle; a request still
	 * pending, like one at a loop's close, is pending-at-close. */
	enum ls_finding_kind kind = (h->flags & LS_HANDLE_AT_EXIT) && !(h->flags & LS_HANDLE_REQUEST)
		? LS_FINDING_UNCLOSED_HANDLE : LS_FINDING_PENDING_AT_CLOSE;
	struct ls_finding *same = same_pending(f, first, kind, t, h);
	if (same != NULL) {
		same->count++;
		return;
	}
	struct ls_finding *fi = add(f, kind, t, h->tid);
	fi->count = 1;
	fi->pending_init_site = h->init_site;
	fi->site = h->site;
	fi->close_index = h->close_index;
	fi->at_exit = (h->flags & LS_HANDLE_AT_EXIT) != 0;
	const struct ls_site *init = h->init_site ? ls_trace_site(t, h->init_site) : NULL;
	const struct ls_site *cb = h->site ? ls_trace_site(t, h->site) : NULL;
	fi->handle = h->type_name;
	fi->closing = (h->flags & LS_HANDLE_CLOSING) != 0;
	if (init) {
		fi->has_api = 1;
		fi->api = init->api;
	}
	take_callback(fi, cb);
	const struct ls_stack *init_stack = site_stack(t, init);
	const struct ls_stack *cb_stack = site_stack(t, cb);
	fi->created_at = init_stack ? init_stack : cb_stack;
	if (init_stack && cb_stack && init_stack != cb_stack)
		fi->registered_at = cb_stack;
	if (h->close_index < t->closes.len) {
		fi->has_close_result = 1;
		fi->close_result = LS_VEC_AT(&t->closes, struct ls_loop_close,
					     h->close_index)->result;
	}
}

static void collect_pending(struct ls_findings *f, const struct ls_trace *t)
{
	size_t first = f->v.len;
	for (size_t i = 0; i < t->open_handles.len; i++)
		collect_pending_one(f, first, t, LS_VEC_AT(&t->open_handles,
							   struct ls_open_handle, i));
}

/* One finding per (thread, request site, error), with how many times. */
static void collect_dropped(struct ls_findings *f, const struct ls_trace *t)
{
	size_t first = f->v.len;
	for (size_t i = 0; i < t->dropped_errors.len; i++) {
		const struct ls_dropped *d = LS_VEC_AT(&t->dropped_errors, struct ls_dropped, i);
		struct ls_finding *fi = NULL;
		for (size_t k = first; k < f->v.len && fi == NULL; k++) {
			struct ls_finding *g = LS_VEC_AT(&f->v, struct ls_finding, k);
			if (g->kind == LS_FINDING_DROPPED_ERROR && g->tid == d->tid &&
			    g->error_code == d->error && g->site == d->site)
				fi = g;
		}
		if (fi == NULL) {
			const struct ls_site *s = ls_trace_site(t, d->site);
			fi = add(f, LS_FINDING_DROPPED_ERROR, t, d->tid);
			fi->site = d->site;
			fi->has_api = 1;
			fi->api = d->api;
			fi->error = d->name[0] ? d->name : "unknown error";
			fi->error_code = d->error;
			fi->created_at = s ? ls_trace_stack(t, s->stack) : NULL;
		}
		fi->count++;
	}
}

/* One finding per (calling thread, call, stack), with how many times. */
static void collect_wrong_thread(struct ls_findings *f, const struct ls_trace *t)
{
	size_t first = f->v.len;
	for (size_t i = 0; i < t->wrong_threads.len; i++) {
		const struct ls_wrong_thread *w =
			LS_VEC_AT(&t->wrong_threads, struct ls_wrong_thread, i);
		const struct ls_stack *st = ls_trace_stack(t, w->stack);
		struct ls_finding *fi = NULL;
		for (size_t k = first; k < f->v.len && fi == NULL; k++) {
			struct ls_finding *g = LS_VEC_AT(&f->v, struct ls_finding, k);
			if (g->kind == LS_FINDING_WRONG_THREAD && g->tid == w->tid &&
			    g->api == w->api && g->called_at == st && g->loop_tid == w->loop_tid)
				fi = g;
		}
		if (fi == NULL) {
			fi = add(f, LS_FINDING_WRONG_THREAD, t, w->tid);
			fi->has_api = 1;
			fi->api = w->api;
			fi->called_at = st;
			fi->loop_tid = w->loop_tid;
		}
		fi->count++;
	}
}

static void collect_lost_wakeups(struct ls_findings *f, const struct ls_trace *t)
{
	for (size_t i = 0; i < t->lost_wakeups.len; i++) {
		const struct ls_lost *l = LS_VEC_AT(&t->lost_wakeups, struct ls_lost, i);
		const struct ls_site *s = ls_trace_site(t, l->init_site);
		struct ls_finding *fi = add(f, LS_FINDING_LOST_WAKEUP, t, l->tid);
		fi->has_api = 1;
		fi->api = LS_API_UV_ASYNC_SEND;
		take_callback(fi, s);
		fi->count = l->lost;
		fi->when = l->when == LS_LOST_AT_EXIT ? "exit" : "close";
		fi->created_at = s ? ls_trace_stack(t, s->stack) : NULL;
		fi->called_at = ls_trace_stack(t, l->send_stack);
	}
}

static const char *misuse_name(uint32_t what)
{
	switch (what) {
	case LS_MISUSE_CLOSE_CLOSING: return "closed a handle that is already closing";
	case LS_MISUSE_START_CLOSING: return "started a handle that is closing or closed";
	case LS_MISUSE_OTHER_LOOP: return "used a handle of another loop";
	case LS_MISUSE_USE_FREED: return "used an event that was freed";
	case LS_MISUSE_FREE_FREED: return "freed an event that was already freed";
	case LS_MISUSE_BASE_FREED: return "used an event whose event_base was freed";
	}
	return "misused a handle";
}

static void collect_misuses(struct ls_findings *f, const struct ls_trace *t)
{
	size_t first = f->v.len;
	for (size_t i = 0; i < t->misuses.len; i++) {
		const struct ls_misuse_rec *m = LS_VEC_AT(&t->misuses, struct ls_misuse_rec, i);
		const struct ls_stack *st = ls_trace_stack(t, m->stack);
		struct ls_finding *fi = NULL;
		for (size_t k = first; k < f->v.len && fi == NULL; k++) {
			struct ls_finding *g = LS_VEC_AT(&f->v, struct ls_finding, k);
			if (g->kind == LS_FINDING_HANDLE_MISUSE && g->tid == m->tid &&
			    g->api == m->api && g->called_at == st &&
			    g->misuse == misuse_name(m->what))
				fi = g;
		}
		if (fi == NULL) {
			const struct ls_site *init = ls_trace_site(t, m->init_site);
			fi = add(f, LS_FINDING_HANDLE_MISUSE, t, m->tid);
			fi->has_api = 1;
			fi->api = m->api;
			fi->misuse = misuse_name(m->what);
			fi->called_at = st;
			fi->created_at = init ? ls_trace_stack(t, init->stack) : NULL;
		}
		fi->count++;
	}
}

static const char *signal_name(int32_t signo)
{
	switch (signo) {
	case 4: return "SIGILL";
	case 6: return "SIGABRT";
	case 7: return "SIGBUS";
	case 8: return "SIGFPE";
	case 11: return "SIGSEGV";
	}
	return "signal";
}

static void collect_crashes(struct ls_findings *f, const struct ls_trace *t)
{
	for (size_t i = 0; i < t->crashes.len; i++) {
		const struct ls_crash *c = LS_VEC_AT(&t->crashes, struct ls_crash, i);
		const struct ls_site *s = ls_trace_site(t, c->site);
		struct ls_finding *fi = add(f, LS_FINDING_CRASH_IN_CALLBACK, t, c->tid);
		fi->signal = signal_name(c->signo);
		fi->fault_addr = c->addr;
		fi->has_fault_addr = c->code > 0;
		fi->count = 1;
		fi->crashed_at = c->crashed_at ? ls_trace_stack(t, c->crashed_at) : NULL;
		if (s) {
			fi->has_api = 1;
			fi->api = s->api;
			take_callback(fi, s);
			fi->created_at = ls_trace_stack(t, s->stack);
		}
	}
}

/* The finding of kind for (thread, site) among those from index first on. */
static struct ls_finding *same_site(struct ls_findings *f, size_t first,
				    enum ls_finding_kind kind, uint32_t tid, uint32_t site)
{
	for (size_t k = first; k < f->v.len; k++) {
		struct ls_finding *g = LS_VEC_AT(&f->v, struct ls_finding, k);
		if (g->kind == kind && g->tid == tid && g->site == site)
			return g;
	}
	return NULL;
}

/* One finding per (thread, selector site): how often, how late at most. */
static void collect_slow_selector(struct ls_findings *f, const struct ls_trace *t)
{
	size_t first = f->v.len;
	for (size_t i = 0; i < t->selector_lates.len; i++) {
		const struct ls_selector_late *l =
			LS_VEC_AT(&t->selector_lates, struct ls_selector_late, i);
		double dur_ms = (double)l->dur_ticks * t->ns_per_tick / 1e6;
		double timeout_ms = l->timeout_ns < 0 ? -1.0 : (double)l->timeout_ns / 1e6;
		double late_ms = timeout_ms > 0 ? dur_ms - timeout_ms : dur_ms;
		struct ls_finding *fi = same_site(f, first, LS_FINDING_SLOW_SELECTOR, l->tid, l->site);
		if (fi == NULL) {
			fi = add(f, LS_FINDING_SLOW_SELECTOR, t, l->tid);
			fi->site = l->site;
			fi->has_api = 1;
			fi->api = l->api;
			const struct ls_site *s = ls_trace_site(t, l->site);
			fi->called_at = site_stack(t, s);
			fi->late_ms = -1;
			fi->threshold_ms = t->slow_selector_ms ? t->slow_selector_ms : DEFAULT_SLOW_MS;
		}
		fi->count++;
		fi->total_ms += dur_ms;
		if (late_ms > fi->late_ms) {
			fi->late_ms = late_ms;
			fi->max_ms = dur_ms;
			fi->timeout_ms = timeout_ms;
		}
	}
}

/* One finding per (thread, blocking call site); how often and how long
 * come from the thread's stats slot of the site, which counts every call,
 * when the slot is that thread's alone (a slot that threads which exited
 * passed on counts theirs too: the record's own call is used then). */
static void collect_blocking(struct ls_findings *f, const struct ls_trace *t)
{
	size_t first = f->v.len;
	for (size_t i = 0; i < t->blockings.len; i++) {
		const struct ls_blocking *b = LS_VEC_AT(&t->blockings, struct ls_blocking, i);
		struct ls_finding *fi = same_site(f, first, LS_FINDING_BLOCKING_CALL, b->tid, b->site);
		double ms = (double)b->dur_ticks * t->ns_per_tick / 1e6;
		if (fi != NULL) {
			fi->count++;
			fi->total_ms += ms;
			if (ms > fi->max_ms)
				fi->max_ms = ms;
			continue;
		}
		fi = add(f, LS_FINDING_BLOCKING_CALL, t, b->tid);
		fi->site = b->site;
		fi->has_api = 1;
		fi->api = b->api;
		fi->called_at = site_stack(t, ls_trace_site(t, b->site));
		const struct ls_site *in = b->in_site ? ls_trace_site(t, b->in_site) : NULL;
		take_callback(fi, in);
		if (fi->has_callback)
			fi->created_at = site_stack(t, in);
		fi->count = 1;
		fi->total_ms = fi->max_ms = ms;
		for (size_t k = 0; k < t->stats.len; k++) {
			const struct ls_stat *st = LS_VEC_AT(&t->stats, struct ls_stat, k);
			if (st->tid == b->tid && st->site == b->site && st->count > 0 &&
			    st->threads == 1) {
				fi->count = st->count;
				fi->total_ms = st->total_ns / 1e6;
				fi->max_ms = st->max_ns / 1e6;
				break;
			}
		}
	}
}

static enum ls_finding_kind py_event_kind(uint32_t what)
{
	switch (what) {
	case LS_PY_DROPPED_ERROR: return LS_FINDING_DROPPED_ERROR;
	case LS_PY_UNCLOSED: return LS_FINDING_UNCLOSED_HANDLE;
	case LS_PY_WRONG_THREAD: return LS_FINDING_WRONG_THREAD;
	}
	return LS_FINDING_NEVER_AWAITED;
}

static const struct ls_stack *stack_or_null(const struct ls_trace *t, uint32_t id)
{
	return id ? ls_trace_stack(t, id) : NULL;
}

/* The finding of an event alike (same kind, name, text and stacks) among
 * those from index first on. */
static struct ls_finding *same_py_event(struct ls_findings *f, size_t first,
					const struct ls_trace *t, const struct ls_pyevent *e)
{
	enum ls_finding_kind kind = py_event_kind(e->what);
	const struct ls_stack *at = stack_or_null(t, e->stack);
	for (size_t k = first; k < f->v.len; k++) {
		struct ls_finding *g = LS_VEC_AT(&f->v, struct ls_finding, k);
		if (g->python && g->kind == kind && strcmp(g->py_name, e->name) == 0 &&
		    strcmp(g->py_text, e->text) == 0 &&
		    g->created_at == stack_or_null(t, e->made_at) &&
		    g->raised_at == stack_or_null(t, e->raised_at) &&
		    (kind == LS_FINDING_WRONG_THREAD ? g->called_at : g->collected_at) == at &&
		    g->loop_tid == e->loop_tid && g->api == e->api)
			return g;
	}
	return NULL;
}

static void describe_py_event(struct ls_finding *fi, const struct ls_trace *t,
			      const struct ls_pyevent *e)
{
	const struct ls_stack *at = stack_or_null(t, e->stack);
	fi->python = 1;
	fi->py_name = e->name;
	fi->py_text = e->text;
	fi->created_at = stack_or_null(t, e->made_at);
	fi->raised_at = stack_or_null(t, e->raised_at);
	fi->stuck_syscall = -1;
	if (fi->kind == LS_FINDING_WRONG_THREAD) {
		fi->called_at = at;
		fi->loop_tid = e->loop_tid;
		fi->has_api = 1;
		fi->api = e->api;
	} else {
		fi->collected_at = at;
	}
	if (fi->kind == LS_FINDING_DROPPED_ERROR)
		fi->error = e->text[0] ? e->text : "unknown error";
	if (fi->kind == LS_FINDING_UNCLOSED_HANDLE) {
		fi->handle = e->name[0] ? e->name : "resource";
		fi->at_exit = 0;
	}
}

/* asyncio's own checks: one finding per event alike, with how many. */
static void collect_py_events(struct ls_findings *f, const struct ls_trace *t)
{
	size_t first = f->v.len;
	for (size_t i = 0; i < t->py_events.len; i++) {
		const struct ls_pyevent *e = LS_VEC_AT(&t->py_events, struct ls_pyevent, i);
		struct ls_finding *fi = same_py_event(f, first, t, e);
		if (fi == NULL) {
			fi = add(f, py_event_kind(e->what), t, e->tid);
			describe_py_event(fi, t, e);
		}
		fi->count++;
	}
}

/* Findings that differ only by their thread (a server's worker loops all
 * running the same slow callback) are one, listing its threads. */
static int groups(enum ls_finding_kind k)
{
	return k == LS_FINDING_SLOW_CALLBACK || k == LS_FINDING_BLOCKING_CALL ||
	       k == LS_FINDING_SLOW_SELECTOR || k == LS_FINDING_LOST_WAKEUP;
}

static int same_but_thread(const struct ls_finding *a, const struct ls_finding *b)
{
	return a->kind == b->kind && a->trace == b->trace && a->tid != b->tid &&
	       a->has_api == b->has_api && a->api == b->api && a->site == b->site &&
	       a->has_callback == b->has_callback && a->callback == b->callback &&
	       a->created_at == b->created_at && a->registered_at == b->registered_at &&
	       a->called_at == b->called_at && a->when == b->when &&
	       a->crashed_at == b->crashed_at;
}

static void add_thread(struct ls_finding *g, uint32_t tid)
{
	if (g->nothers < sizeof(g->others) / sizeof(g->others[0]))
		g->others[g->nothers++] = tid;
	else
		g->nothers_dropped++;
}

/* b into a: a keeps the longest run's thread first (its stuck_at). */
static void merge(struct ls_finding *a, const struct ls_finding *b)
{
	struct ls_finding keep = *b;
	if (b->max_ms > a->max_ms) {
		keep = *a;
		uint32_t n = a->nothers, d = a->nothers_dropped;
		uint32_t others[16];
		memcpy(others, a->others, sizeof(others));
		size_t ord = a->ord;
		*a = *b;
		a->ord = ord;
		a->nothers = 0;
		a->nothers_dropped = d;
		add_thread(a, keep.tid);
		for (uint32_t i = 0; i < n; i++)
			add_thread(a, others[i]);
	} else {
		add_thread(a, b->tid);
	}
	a->count += keep.count;
	a->total_ms += keep.total_ms;
	if (keep.late_ms > a->late_ms)
		a->late_ms = keep.late_ms;
}

static void group_threads(struct ls_findings *f, size_t first)
{
	struct ls_finding *v = f->v.items;
	size_t out = first;
	for (size_t i = first; i < f->v.len; i++) {
		size_t j = first;
		if (groups(v[i].kind))
			while (j < out && !same_but_thread(&v[j], &v[i]))
				j++;
		if (groups(v[i].kind) && j < out)
			merge(&v[j], &v[i]);
		else
			v[out++] = v[i];
	}
	f->v.len = out;
}

void ls_findings_collect(struct ls_findings *f, const struct ls_trace *t,
			 const struct ls_findings_options *opt)
{
	size_t first = f->v.len;
	collect_crashes(f, t);
	collect_misuses(f, t);
	collect_lost_wakeups(f, t);
	collect_wrong_thread(f, t);
	collect_slow(f, t, ls_findings_slow_ms(t, opt));
	collect_slow_selector(f, t);
	collect_blocking(f, t);
	collect_pending(f, t);
	collect_dropped(f, t);
	collect_py_events(f, t);
	group_threads(f, first);
}

static int finding_order(const void *a, const void *b)
{
	const struct ls_finding *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if ((x->kind == LS_FINDING_SLOW_CALLBACK || x->kind == LS_FINDING_BLOCKING_CALL) &&
	    x->max_ms != y->max_ms)
		return x->max_ms > y->max_ms ? -1 : 1;
	if (x->kind == LS_FINDING_SLOW_SELECTOR && x->late_ms != y->late_ms)
		return x->late_ms > y->late_ms ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

void ls_findings_sort(struct ls_findings *f)
{
	if (f->v.len > 1)
		qsort(f->v.items, f->v.len, sizeof(struct ls_finding),
		      finding_order);
}
