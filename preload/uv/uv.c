/* libuv interposers.
 *
 * Every callback the program registers is replaced by a trampoline that
 * times it; the program's own function is kept in the side table, keyed by
 * the handle or request. libuv calls some of its exported functions itself
 * (uv_timer_again -> uv_timer_start with the trampoline already in place,
 * uv_loop_init -> uv_async_init for its thread-pool wake-up): those calls
 * pass straight through, so nothing is wrapped or counted twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/uv/uv_shim.h"

struct ls_lib ls_libuv = { .soname = "libuv.so.1" };

/* ---- shared with stream.c and req.c ------------------------------------ */

int ls_uv_set_cb(uv_handle_t *h, int slot, ls_fn cb, uint32_t site, struct ls_cb_was *was)
{
	/* A handle re-armed with what it already calls (a timer restarted
	 * from its own callback): nothing to write, so no lock. */
	struct ls_entry *f = ls_table_find(h);
	if (f != NULL && __atomic_load_n(&f->loop, __ATOMIC_RELAXED) != NULL &&
	    __atomic_load_n(&f->cb[slot], __ATOMIC_RELAXED) == cb &&
	    __atomic_load_n(&f->site[slot], __ATOMIC_RELAXED) == site) {
		was->cb = cb;
		was->site = site;
		return 0;
	}
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(h);
	if (e != NULL) {
		if (e->loop == NULL)
			e->loop = h->loop;
		was->cb = e->cb[slot];
		was->site = e->site[slot];
		e->cb[slot] = cb;
		e->site[slot] = site;
	}
	ls_table_unlock();
	errno = saved;
	return e == NULL ? -1 : 0;
}

int ls_uv_undo_cb(uv_handle_t *h, int slot, const struct ls_cb_was *was, int rc)
{
	if (rc == 0)
		return rc;
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(h);
	if (e != NULL) {
		e->cb[slot] = was->cb;
		e->site[slot] = was->site;
	}
	ls_table_unlock();
	errno = saved;
	return rc;
}

ls_fn ls_uv_cb_of(const void *h, int slot, uint32_t *site)
{
	struct ls_entry *e = ls_table_find(h);
	if (LS_UNLIKELY(e == NULL || e->cb[slot] == NULL))
		ls_lost_callback("handle", h);
	*site = e->site[slot];
	return e->cb[slot];
}

/* Requests the request table had no room for (uv_shim.h) go to the side
 * table, under its lock. */
static uint32_t ls_reqs_in_side_table;   /* ever put there: takes look there too */

int ls_uv_req_start_side(void *req, const struct ls_req_info *in)
{
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_new_locked(req);
	if (e != NULL) {
		e->loop = in->loop;
		e->cb[LS_CB_MAIN] = in->cb;
		e->site[LS_CB_MAIN] = in->site;
		e->api = in->api;
		e->flags = LS_ENT_REQUEST;
		__atomic_store_n(&ls_reqs_in_side_table, 1, __ATOMIC_RELAXED);
	}
	ls_table_unlock();
	errno = saved;
	return e == NULL ? -1 : 0;
}

/* A request the request table does not have: in the side table, if any
 * request ever went there. Returns 0 when there is none. */
static int ls_uv_req_take_side_of(void *req, struct ls_req_info *r)
{
	struct ls_entry e;
	if (!__atomic_load_n(&ls_reqs_in_side_table, __ATOMIC_RELAXED))
		return 0;
	int saved = errno;
	int found = ls_table_take(req, &e);
	errno = saved;
	if (!found)
		return 0;
	r->cb = e.cb[LS_CB_MAIN];
	r->loop = e.loop;
	r->site = e.site[LS_CB_MAIN];
	r->api = e.api;
	return 1;
}

void ls_uv_req_forget(void *req)
{
	struct ls_req_info gone;
	if (!ls_req_take(req, &gone))
		ls_uv_req_take_side_of(req, &gone);
}

void ls_uv_req_take_side(void *req, struct ls_req_info *r)
{
	if (!ls_uv_req_take_side_of(req, r))
		ls_lost_callback("request", req);
}

void ls_uv_dropped_error(const struct ls_req_info *q, int status)
{
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_dropped_error);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	memset(r, 0, size);
	r->type = LS_REC_DROPPED_ERROR;
	r->size = size;
	r->arg = q->site;
	struct ls_rec_dropped_error *d = (struct ls_rec_dropped_error *)(r + 1);
	d->error = status;
	d->api = q->api;
	const char *name = LS_UV(uv_err_name)(status);
	if (name != NULL)
		strncpy(d->name, name, sizeof(d->name) - 1);
	d->time_ns = ls_now();
	ls_rec_commit(size);
	ls_trace_note_dropped_error();
}

/* ---- handles whose callback takes only the handle ---------------------- */

static void ls_handle_tramp(uv_handle_t *h)
{
	uint32_t site;
	void (*cb)(uv_handle_t *) = (void (*)(uv_handle_t *))ls_uv_cb_of(h, LS_CB_MAIN, &site);
	LS_TIMED(site, 1, cb(h));
}

/* Records that `h` now calls `cb`, registered by `api`. Returns 0 when the
 * trampoline may be installed. */
static int ls_set_handle_cb(uv_handle_t *h, uint32_t api, ls_fn cb, const void *ret,
			    struct ls_cb_was *was)
{
	ls_uv_check_thread(api, h->loop, h);
	ls_uv_check_open(api, h);
	uint32_t site = ls_register_site(api, cb, ret);
	return ls_uv_set_cb(h, LS_CB_MAIN, cb, site, was);
}

/* idle, prepare, check: libuv ignores a start of an active handle (its
 * callback stays), so the shim does too. */
#define LS_UV_START(type, api)                                                   \
	LS_EXPORT int uv_##type##_start(uv_##type##_t *h, uv_##type##_cb cb)     \
	{                                                                        \
		const void *ret = __builtin_return_address(0);                   \
		__typeof__(&uv_##type##_start) real = LS_UV(uv_##type##_start);  \
		uv_##type##_cb tramp = (uv_##type##_cb)(void (*)(void))ls_handle_tramp; \
		struct ls_cb_was was;                                            \
		if (h == NULL || cb == NULL || cb == tramp || ls_uv_skip(ret) || \
		    LS_UV(uv_is_active)((uv_handle_t *)h) ||                     \
		    ls_set_handle_cb((uv_handle_t *)h, api, (ls_fn)cb, ret, &was) != 0) \
			return real(h, cb);                                      \
		return ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was, real(h, tramp)); \
	}

LS_UV_START(idle, LS_API_UV_IDLE_START)
LS_UV_START(prepare, LS_API_UV_PREPARE_START)
LS_UV_START(check, LS_API_UV_CHECK_START)

LS_EXPORT int uv_timer_start(uv_timer_t *h, uv_timer_cb cb, uint64_t timeout, uint64_t repeat)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_timer_start) real = LS_UV(uv_timer_start);
	uv_timer_cb tramp = (uv_timer_cb)(void (*)(void))ls_handle_tramp;
	/* uv_timer_again restarts with the callback already in the handle:
	 * the trampoline. That is one registration, not two. */
	struct ls_cb_was was;
	if (h == NULL || cb == NULL || cb == tramp || ls_uv_skip(ret) ||
	    ls_set_handle_cb((uv_handle_t *)h, LS_API_UV_TIMER_START, (ls_fn)cb, ret, &was) != 0)
		return real(h, cb, timeout, repeat);
	return ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was, real(h, tramp, timeout, repeat));
}

/* ---- handle creation --------------------------------------------------- */

int ls_uv_handle_born(uv_loop_t *loop, uv_handle_t *h, uint32_t htype, uint32_t api,
		      ls_fn cb, const void *ret)
{
	int saved = errno;
	uint32_t site = ls_register_site(api, cb, ret);
	ls_table_lock();
	struct ls_entry *e = ls_table_get_new_locked(h);
	if (e != NULL) {
		e->loop = loop;
		e->init_site = site;
		e->flags = LS_ENT_HANDLE;
		e->htype = htype;
		if (cb != NULL) {
			e->cb[LS_CB_MAIN] = cb;
			e->site[LS_CB_MAIN] = site;
		}
	}
	ls_table_unlock();
	errno = saved;
	return e == NULL ? -1 : 0;
}

static void ls_handle_born(const void *ret, uv_loop_t *loop, uv_handle_t *h,
			   uint32_t api, ls_fn cb)
{
	if (ls_uv_skip(ret))
		return;
	ls_uv_check_thread(api, loop, h);
	ls_uv_handle_born(loop, h, (uint32_t)h->type, api, cb, ret);
}

#define LS_UV_INIT(fn, api, PARAMS, ARGS)                                        \
	LS_EXPORT int fn PARAMS                                                  \
	{                                                                        \
		const void *ret = __builtin_return_address(0);                   \
		int rc = LS_UV(fn) ARGS;                                         \
		if (rc == 0)                                                     \
			ls_handle_born(ret, loop, (uv_handle_t *)h, api, NULL);  \
		return rc;                                                       \
	}

LS_UV_INIT(uv_timer_init, LS_API_UV_TIMER_INIT, (uv_loop_t *loop, uv_timer_t *h), (loop, h))
LS_UV_INIT(uv_idle_init, LS_API_UV_IDLE_INIT, (uv_loop_t *loop, uv_idle_t *h), (loop, h))
LS_UV_INIT(uv_prepare_init, LS_API_UV_PREPARE_INIT, (uv_loop_t *loop, uv_prepare_t *h), (loop, h))
LS_UV_INIT(uv_check_init, LS_API_UV_CHECK_INIT, (uv_loop_t *loop, uv_check_t *h), (loop, h))
LS_UV_INIT(uv_tcp_init, LS_API_UV_TCP_INIT, (uv_loop_t *loop, uv_tcp_t *h), (loop, h))
LS_UV_INIT(uv_tcp_init_ex, LS_API_UV_TCP_INIT_EX,
	   (uv_loop_t *loop, uv_tcp_t *h, unsigned int flags), (loop, h, flags))
LS_UV_INIT(uv_pipe_init, LS_API_UV_PIPE_INIT, (uv_loop_t *loop, uv_pipe_t *h, int ipc), (loop, h, ipc))
LS_UV_INIT(uv_udp_init, LS_API_UV_UDP_INIT, (uv_loop_t *loop, uv_udp_t *h), (loop, h))
LS_UV_INIT(uv_udp_init_ex, LS_API_UV_UDP_INIT_EX,
	   (uv_loop_t *loop, uv_udp_t *h, unsigned int flags), (loop, h, flags))
LS_UV_INIT(uv_poll_init, LS_API_UV_POLL_INIT, (uv_loop_t *loop, uv_poll_t *h, int fd), (loop, h, fd))
LS_UV_INIT(uv_poll_init_socket, LS_API_UV_POLL_INIT_SOCKET,
	   (uv_loop_t *loop, uv_poll_t *h, uv_os_sock_t sock), (loop, h, sock))
LS_UV_INIT(uv_signal_init, LS_API_UV_SIGNAL_INIT, (uv_loop_t *loop, uv_signal_t *h), (loop, h))
LS_UV_INIT(uv_tty_init, LS_API_UV_TTY_INIT,
	   (uv_loop_t *loop, uv_tty_t *h, uv_file fd, int readable), (loop, h, fd, readable))
LS_UV_INIT(uv_fs_event_init, LS_API_UV_FS_EVENT_INIT, (uv_loop_t *loop, uv_fs_event_t *h), (loop, h))
LS_UV_INIT(uv_fs_poll_init, LS_API_UV_FS_POLL_INIT, (uv_loop_t *loop, uv_fs_poll_t *h), (loop, h))

/* uv_async_init takes its callback at creation. */
/* uv_async_send may be called from a signal handler: resolved ahead, and
 * its interposer only counts, with atomics. */
static int (*ls_real_async_send)(uv_async_t *);

/* Lost wake-ups. A send made while a thread runs the handle's loop is that
 * thread's to handle: libuv calls back in its next poll unless the thread
 * stops the loop or closes the handle first, and a program that does so
 * (libisc: uv_stop, or uv_close from the callback, then it drains its queue
 * itself after uv_run returns) knows what it left. A send made while no
 * thread runs the loop is lost when no uv_run of the loop begins after it
 * before the handle is closed (or the process exits). The loop's entry
 * counts its uv_run calls (`runs`); a handle keeps that count, plus one, at
 * its last such send and at its close. */

/* 1 + the number of uv_run calls of loop so far when no thread runs it now,
 * else 0. Lock-free: uv_async_send calls it. ls_loop_run_enter counts a run after it
 * is marked running, so a count read before a run's mark is that run's
 * predecessor's. */
static uint32_t ls_loop_idle_run(const void *loop)
{
	struct ls_entry *l = ls_table_find(loop);
	if (l == NULL || !(__atomic_load_n(&l->flags, __ATOMIC_RELAXED) & LS_ENT_LOOP))
		return 1; /* never run */
	uint32_t runs = __atomic_load_n(&l->runs, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&l->run_tid, __ATOMIC_RELAXED) != 0)
		return 0;
	return runs + 1;
}

/* 1 + the number of uv_run calls of loop so far. */
static uint32_t ls_loop_run_mark(const void *loop)
{
	struct ls_entry *l = ls_table_find(loop);
	if (l == NULL || !(__atomic_load_n(&l->flags, __ATOMIC_RELAXED) & LS_ENT_LOOP))
		return 1;
	return __atomic_load_n(&l->runs, __ATOMIC_ACQUIRE) + 1;
}

static void ls_async_tramp(uv_async_t *h)
{
	struct ls_entry *e = ls_table_find(h);
	if (LS_UNLIKELY(e == NULL || e->cb[LS_CB_MAIN] == NULL))
		ls_lost_callback("async handle", h);
	/* Every send so far is answered by this run (libuv clears its
	 * pending flag before calling back). */
	__atomic_store_n(&e->seen, __atomic_load_n(&e->sent, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
	uv_async_cb cb = (uv_async_cb)e->cb[LS_CB_MAIN];
	uint32_t site = e->site[LS_CB_MAIN];
	LS_TIMED(site, 1, cb(h));
}

LS_EXPORT int uv_async_send(uv_async_t *h)
{
	const void *ret = __builtin_return_address(0);
	int (*real)(uv_async_t *) = __atomic_load_n(&ls_real_async_send, __ATOMIC_RELAXED);
	if (LS_UNLIKELY(real == NULL)) {
		real = LS_UV(uv_async_send);
		__atomic_store_n(&ls_real_async_send, real, __ATOMIC_RELAXED);
	}
	if (!ls_uv_skip(ret)) {
		struct ls_entry *e = ls_table_find(h);
		if (e != NULL && e->cb[LS_CB_MAIN] != NULL) {
			__atomic_store_n(&e->send_pc, (uintptr_t)ret, __ATOMIC_RELAXED);
			void *loop = __atomic_load_n(&e->loop, __ATOMIC_RELAXED);
			uint32_t idle = ls_running_here(loop) ? 0 : ls_loop_idle_run(loop);
			if (idle != 0)
				__atomic_store_n(&e->idle_run, idle, __ATOMIC_RELAXED);
			__atomic_add_fetch(&e->sent, 1, __ATOMIC_RELEASE);
		}
	}
	return real(h);
}

LS_EXPORT int uv_async_init(uv_loop_t *loop, uv_async_t *h, uv_async_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_async_init) real = LS_UV(uv_async_init);
	uv_async_cb tramp = ls_async_tramp;
	if (__atomic_load_n(&ls_real_async_send, __ATOMIC_RELAXED) == NULL)
		__atomic_store_n(&ls_real_async_send, LS_UV(uv_async_send), __ATOMIC_RELAXED);
	if (cb == NULL || cb == tramp || ls_uv_skip(ret))
		return real(loop, h, cb);
	int rc = real(loop, h, tramp);
	if (rc == 0)
		ls_handle_born(ret, loop, (uv_handle_t *)h, LS_API_UV_ASYNC_INIT, (ls_fn)cb);
	return rc;
}

/* ---- closing ----------------------------------------------------------- */

/* Sends to an async handle that no callback answered, when no uv_run of
 * its loop began between the last send made while no thread ran the loop
 * and the handle's close (or now, at exit). */
static void ls_check_lost_wakeup(const struct ls_entry *e, uint32_t when)
{
	uint32_t sent = __atomic_load_n(&e->sent, __ATOMIC_ACQUIRE);
	uint32_t seen = __atomic_load_n(&e->seen, __ATOMIC_ACQUIRE);
	if (e->htype != UV_ASYNC || sent == seen)
		return;
	uint32_t idle = __atomic_load_n(&e->idle_run, __ATOMIC_RELAXED);
	uint32_t until = e->close_run != 0 ? e->close_run : ls_loop_run_mark(e->loop);
	if (idle == 0 || (int32_t)(idle - until) < 0)
		return;
	int saved = errno;
	uint32_t send_stack = 0;
	if (e->send_pc != 0)
		send_stack = ls_stack_intern_pcs(&e->send_pc, 1);
	const uint32_t size = sizeof(struct ls_rec) + sizeof(struct ls_rec_lost_wakeup);
	struct ls_rec *r = ls_rec_reserve(size);
	if (r != NULL) {
		memset(r, 0, size);
		r->type = LS_REC_LOST_WAKEUP;
		r->size = size;
		r->arg = e->init_site;
		struct ls_rec_lost_wakeup *l = (struct ls_rec_lost_wakeup *)(r + 1);
		l->lost = sent - seen;
		l->when = when;
		l->handle = e->key;
		l->send_stack = send_stack;
		l->time_ns = ls_now();
		ls_rec_commit(size);
	}
	ls_trace_note_lost_wakeup();
	errno = saved;
}

void ls_uv_misuse(uint32_t api, uint32_t what, const void *handle)
{
	struct ls_entry *e = ls_table_find(handle);
	ls_note_misuse(api, what, handle, e != NULL ? e->init_site : 0);
}

void ls_uv_close_tramp(uv_handle_t *h)
{
	struct ls_entry e;
	/* Take the entry before the callback: it usually frees the handle,
	 * and the memory may hold a new handle before we return. */
	if (!ls_table_take(h, &e))
		ls_lost_callback("closed handle", h);
	ls_check_lost_wakeup(&e, LS_LOST_AT_CLOSE);
	if (e.close_cb != NULL) {
		uv_close_cb cb = (uv_close_cb)e.close_cb;
		LS_TIMED(e.close_site, 1, cb(h));
	}
}

int ls_uv_close_begin(uv_handle_t *h, ls_fn cb, const void *ret)
{
	ls_uv_check_thread(LS_API_UV_CLOSE, h->loop, h);
	if (LS_UV(uv_is_closing)(h)) {
		/* Closed twice: say so, and let libuv do what it does with it,
		 * the first close callback kept. */
		ls_uv_misuse(LS_API_UV_CLOSE, LS_MISUSE_CLOSE_CLOSING, h);
		return -1;
	}
	int saved = errno;
	uint32_t site = cb ? ls_register_site(LS_API_UV_CLOSE, cb, ret) : 0;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(h);
	if (e != NULL) {
		if (e->loop == NULL)
			e->loop = h->loop;
		e->close_cb = cb;
		e->close_site = site;
		e->flags |= LS_ENT_CLOSING;
		if (e->htype == UV_ASYNC)
			e->close_run = ls_loop_run_mark(e->loop);
	}
	ls_table_unlock();
	errno = saved;
	return e == NULL ? -1 : 0;
}

void ls_uv_close_undo(uv_handle_t *h)
{
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(h);
	if (e != NULL) {
		e->close_cb = NULL;
		e->close_site = 0;
		e->close_run = 0;
		e->flags &= ~LS_ENT_CLOSING;
	}
	ls_table_unlock();
	errno = saved;
}

LS_EXPORT void uv_close(uv_handle_t *h, uv_close_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_close) real = LS_UV(uv_close);
	/* Even a NULL close callback gets the trampoline: it is how the
	 * shim learns that the handle is gone. */
	if (h == NULL || cb == ls_uv_close_tramp || ls_uv_skip(ret) ||
	    ls_uv_close_begin(h, (ls_fn)cb, ret) != 0) {
		real(h, cb);
		return;
	}
	real(h, ls_uv_close_tramp);
}

/* ---- thread pool ------------------------------------------------------- */

static void ls_work_tramp(uv_work_t *req)
{
	struct ls_entry *e = ls_table_find(req);
	if (LS_UNLIKELY(e == NULL || e->cb[0] == NULL))
		ls_lost_callback("work request", req);
	uv_work_cb cb = (uv_work_cb)e->cb[0];
	uint32_t site = e->site[0];
	/* Work callbacks run on the pool so that they may take long. */
	LS_TIMED(site, 0, cb(req));
}

static void ls_after_work_tramp(uv_work_t *req, int status)
{
	struct ls_entry e;
	if (!ls_table_take(req, &e))
		ls_lost_callback("work request", req);
	if (e.cb[1] != NULL) {
		uv_after_work_cb cb = (uv_after_work_cb)e.cb[1];
		LS_TIMED(e.site[1], 1, cb(req, status));
	}
}

LS_EXPORT int uv_queue_work(uv_loop_t *loop, uv_work_t *req, uv_work_cb work_cb,
			    uv_after_work_cb after_work_cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_queue_work) real = LS_UV(uv_queue_work);
	if (work_cb == NULL || ls_uv_skip(ret))
		return real(loop, req, work_cb, after_work_cb);
	ls_uv_check_thread(LS_API_UV_QUEUE_WORK, loop, req);
	int saved = errno;
	uint32_t work_site = ls_register_site(LS_API_UV_QUEUE_WORK, (ls_fn)work_cb, ret);
	uint32_t after_site = after_work_cb == NULL ? 0 :
		ls_register_site(LS_API_UV_QUEUE_WORK_AFTER, (ls_fn)after_work_cb, ret);
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(req);
	if (e != NULL) {
		e->loop = loop;
		e->cb[0] = (ls_fn)work_cb;
		e->site[0] = work_site;
		e->cb[1] = (ls_fn)after_work_cb;
		e->site[1] = after_site;
		e->api = LS_API_UV_QUEUE_WORK;
		e->flags = LS_ENT_REQUEST;
	}
	ls_table_unlock();
	errno = saved;
	if (e == NULL)
		return real(loop, req, work_cb, after_work_cb);
	int rc = real(loop, req, ls_work_tramp, ls_after_work_tramp);
	if (rc != 0) {
		struct ls_entry gone;
		saved = errno;
		ls_table_take(req, &gone);
		errno = saved;
	}
	return rc;
}

/* ---- loops ------------------------------------------------------------- */

/* libuv reads the loop's clock in uv_loop_init and keeps it until uv_run:
 * the shim's one-time work goes before that, not into the first handle's
 * init, where it would make the first timers due early. */
LS_EXPORT int uv_loop_init(uv_loop_t *loop)
{
	ls_trace_prepare();
	return LS_UV(uv_loop_init)(loop);
}

LS_EXPORT uv_loop_t *uv_default_loop(void)
{
	ls_trace_prepare();
	return LS_UV(uv_default_loop)();
}

LS_EXPORT int uv_run(uv_loop_t *loop, uv_run_mode mode)
{
	__typeof__(&uv_run) real = LS_UV(uv_run);
	if (ls_disabled)
		return real(loop, mode);
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
	uint32_t other = ls_loop_run_enter(loop, LS_API_UV_RUN, frame);
	if (other != 0)  /* uv_run while another thread runs it */
		ls_uv_wrong_thread(LS_API_UV_RUN, loop, NULL, other);
	struct ls_run_here was;
	ls_run_here_begin(&was, other == 0 ? loop : NULL, frame);
	int rc = real(loop, mode);
	ls_run_here_end(&was);
	ls_loop_run_leave(loop);
	return rc;
}

void ls_uv_wrong_thread(uint32_t api, const uv_loop_t *loop, const void *handle,
			uint32_t loop_tid)
{
	int saved = errno;
	if (ls_thread_gone(loop_tid)) {
		/* Nobody runs the loop now: the call is fine. */
		ls_table_lock();
		struct ls_entry *e = ls_table_get_locked(loop);
		if (e != NULL && e->run_tid == loop_tid) {
			e->run_depth = 0;
			__atomic_store_n(&e->run_tid, 0, __ATOMIC_RELAXED);
		}
		ls_table_unlock();
		errno = saved;
		return;
	}
	ls_note_wrong_thread(api, loop, handle, loop_tid);
}

struct ls_open_list {
	const void *loop;
	struct ls_rec_open_handle *v;
	uint32_t n, cap;
};

/* With the table locked: a handle of the loop being closed that libuv
 * still holds. Only the entry is read, never the handle: a program may
 * have freed a handle it never closed (libuv would never reach it: it
 * stops at the first open one and says UV_EBUSY). */
static void ls_collect_open(struct ls_entry *e, void *arg)
{
	struct ls_open_list *l = arg;
	if (e->loop != l->loop || (e->flags & (LS_ENT_LOOP | LS_ENT_REQUEST)) ||
	    !(e->flags & LS_ENT_HANDLE))
		return;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? 2 * l->cap : 16;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (v == NULL)
			return;
		l->v = v;
		l->cap = cap;
	}
	struct ls_rec_open_handle *o = &l->v[l->n++];
	memset(o, 0, sizeof(*o));
	o->loop = (uintptr_t)e->loop;
	o->handle = e->key;
	o->handle_type = e->htype;
	if (e->flags & LS_ENT_CLOSING)
		o->flags |= LS_HANDLE_CLOSING;
	const char *name = LS_UV(uv_handle_type_name)((uv_handle_type)e->htype);
	if (name != NULL)
		strncpy(o->type_name, name, sizeof(o->type_name) - 1);
	o->init_site = e->init_site;
	o->site = e->site[LS_CB_MAIN];
	/* Once is enough: not again at exit. */
	e->flags |= LS_ENT_REPORTED;
}

static void ls_write_loop_close(uv_loop_t *loop, int rc, const struct ls_open_list *open)
{
	ls_note_loop_close(loop, rc, open->n, LS_API_UV_LOOP_CLOSE);
	for (uint32_t i = 0; i < open->n; i++) {
		ls_note_open(&open->v[i]);
		ls_trace_note_open_handle();
	}
}

/* libuv answers first: the handles it still holds are then listed from
 * what the shim recorded of them, never by walking the loop's queue. */
LS_EXPORT int uv_loop_close(uv_loop_t *loop)
{
	__typeof__(&uv_loop_close) real = LS_UV(uv_loop_close);
	if (ls_disabled)
		return real(loop);
	ls_uv_check_thread(LS_API_UV_LOOP_CLOSE, loop, NULL);
	int rc = real(loop);
	int saved = errno;
	struct ls_open_list open = { .loop = loop };
	if (rc == UV_EBUSY)
		ls_table_foreach(ls_collect_open, &open);
	ls_write_loop_close(loop, rc, &open);
	if (rc == 0) {
		struct ls_entry gone;
		ls_table_take(loop, &gone);
	}
	free(open.v);
	errno = saved;
	return rc;
}

/* ---- process exit ------------------------------------------------------ */

/* The OPEN_HANDLE record of a request never done, its callback of site. */
static void ls_request_open(struct ls_rec_open_handle *o, uint32_t site)
{
	o->flags |= LS_HANDLE_REQUEST;
	o->init_site = site;
	o->site = site;
	strcpy(o->type_name, "request");
}

static void ls_report_leftover_request(const void *req, struct ls_req_info *r, int *reported,
				       void *arg)
{
	(void)arg;
	if (*reported)
		return;
	struct ls_rec_open_handle o;
	memset(&o, 0, sizeof(o));
	o.loop = (uintptr_t)r->loop;
	o.handle = (uintptr_t)req;
	o.flags = LS_HANDLE_AT_EXIT;
	ls_request_open(&o, r->site);
	ls_note_open(&o);
	ls_trace_note_unclosed();
	*reported = 1;
}

/* With the table locked: a handle never closed or a request never done.
 * The handle's memory may be gone by now: only the entry is read. */
static void ls_report_leftover(struct ls_entry *e, void *arg)
{
	(void)arg;
	if ((e->flags & (LS_ENT_LOOP | LS_ENT_REPORTED)) ||
	    !(e->flags & (LS_ENT_HANDLE | LS_ENT_REQUEST)))
		return;
	struct ls_rec_open_handle o;
	memset(&o, 0, sizeof(o));
	o.loop = (uintptr_t)e->loop;
	o.handle = e->key;
	o.flags = LS_HANDLE_AT_EXIT;
	if (e->flags & LS_ENT_CLOSING)
		o.flags |= LS_HANDLE_CLOSING;
	if (e->flags & LS_ENT_REQUEST) {
		ls_request_open(&o, e->site[LS_CB_MAIN]);
	} else {
		o.handle_type = e->htype;
		o.init_site = e->init_site;
		o.site = e->site[LS_CB_MAIN];
		const char *name = LS_UV(uv_handle_type_name)((uv_handle_type)e->htype);
		if (name != NULL)
			strncpy(o.type_name, name, sizeof(o.type_name) - 1);
	}
	ls_note_open(&o);
	ls_trace_note_unclosed();
	ls_check_lost_wakeup(e, LS_LOST_AT_EXIT);
}

/* Runs before the trace is finished. */
static void ls_uv_at_exit(void)
{
	if (ls_disabled || ls_libuv.text.hi == 0)
		return;
	int saved = errno;
	ls_table_foreach_at_exit(ls_report_leftover, NULL);
	ls_req_foreach(ls_report_leftover_request, NULL);
	errno = saved;
}

LS_FAMILY(uv) = {
	.name = "uv",
	.span = &ls_libuv.text,
	.at_exit = ls_uv_at_exit,
};
