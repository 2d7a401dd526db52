/* What the libuv interposer files (uv.c, stream.c, req.c, thread.c) share:
 * resolving libuv, telling libuv's own calls apart, registering callback
 * sites, and timing the user's callbacks. */
#ifndef LOOPSAN_UV_SHIM_H
#define LOOPSAN_UV_SHIM_H

#include <errno.h>
#include <uv.h>

#include "preload/core/family.h"

/* libuv.so.1: its text span tells libuv's own calls apart (preload/uv/uv.c). */
extern struct ls_lib ls_libuv;

#define LS_UV(fn) LS_REAL(ls_libuv, fn)

/* Should the shim look at this call at all? */
static inline int ls_uv_skip(const void *ret)
{
	return ls_disabled || ls_from_lib(&ls_libuv, ret);
}

/* Slots of ls_entry.cb[] */
enum {
	LS_CB_MAIN = 0,    /* the handle's callback (timer, read, recv, ...) or a request's */
	LS_CB_ALLOC = 1,   /* uv_read_start / uv_udp_recv_start alloc_cb, after_work_cb */
	LS_CB_LISTEN = 2,  /* uv_listen connection_cb */
};

/* Records that handle h now calls cb in `slot`, registered by api (site
 * already interned). Returns 0 when the trampoline may be installed. */
struct ls_cb_was {
	ls_fn cb;
	uint32_t site;
};
int ls_uv_set_cb(uv_handle_t *h, int slot, ls_fn cb, uint32_t site, struct ls_cb_was *was);

/* libuv refused the start (it returns before taking the callback): the
 * handle keeps calling what it called before. Returns rc. */
int ls_uv_undo_cb(uv_handle_t *h, int slot, const struct ls_cb_was *was, int rc);

/* The callback of handle h in slot, and its site; aborts when the shim has
 * none (never call a wrong function). */
ls_fn ls_uv_cb_of(const void *h, int slot, uint32_t *site);

/* A new handle at h (perhaps where a closed one was: the old entry goes),
 * created by api, calling cb (may be NULL). Returns 0 when recorded. */
int ls_uv_handle_born(uv_loop_t *loop, uv_handle_t *h, uint32_t htype, uint32_t api,
		      ls_fn cb, const void *ret);

/* One-shot requests (write, connect, fs, ...): the site of the request is
 * interned by the caller; ls_uv_req_start records it before the real call,
 * ls_uv_req_forget undoes it when the real call fails, ls_uv_req_take
 * hands it to the trampoline and forgets it. */
int ls_uv_req_start_side(void *req, const struct ls_req_info *in);
void ls_uv_req_take_side(void *req, struct ls_req_info *r);
void ls_uv_req_forget(void *req);

/* Requests live in the request table (preload/core/req_table.c), without a lock; in
 * the side table only when that has no room near the key. */
static inline int ls_uv_req_start(void *req, void *loop, ls_fn cb, uint32_t site, uint32_t api)
{
	struct ls_req_info in = { .cb = cb, .loop = loop, .site = site, .api = api };
	if (LS_LIKELY(ls_req_put(req, &in) == 0))
		return 0;
	return ls_uv_req_start_side(req, &in);
}

/* Before the callback: it usually frees the request, and the memory may
 * hold a new one before the callback returns. Never returns without the
 * request's callback (ls_lost_callback). */
static inline void ls_uv_req_take(void *req, struct ls_req_info *r)
{
	if (LS_UNLIKELY(!ls_req_take(req, r)))
		ls_uv_req_take_side(req, r);
}

/* libuv is not thread-safe: a call on a loop, or on a handle or request of
 * it, made from another thread while that loop runs, is a wrong-thread
 * finding. Setting a loop up on one thread and running it on another is
 * fine. The calls that are safe from any thread (uv_async_send, the
 * uv_mutex_/uv_cond_/uv_thread_ family, uv_hrtime, uv_strerror, ...) are
 * simply never checked: only interposers call this, and docs/THREADS.md
 * lists which. */
void ls_uv_wrong_thread(uint32_t api, const uv_loop_t *loop, const void *handle,
			uint32_t loop_tid);

static inline void ls_uv_check_thread(uint32_t api, const uv_loop_t *loop, const void *handle)
{
	if (loop == NULL || ls_running_here(loop))
		return;
	struct ls_entry *e = ls_table_find(loop);
	if (LS_LIKELY(e == NULL))
		return;
	uint32_t run = __atomic_load_n(&e->run_tid, __ATOMIC_RELAXED);
	if (LS_LIKELY(run == 0 || run == ls_trace_tid()))
		return;
	ls_uv_wrong_thread(api, loop, handle, run);
}

/* A handle used against its life cycle (enum ls_misuse): recorded with the
 * calling stack; libuv then does what it does. */
void ls_uv_misuse(uint32_t api, uint32_t what, const void *handle);

/* Starting a handle that is closing (or closed) is a misuse. */
static inline void ls_uv_check_open(uint32_t api, uv_handle_t *h)
{
	if (LS_UNLIKELY(LS_UV(uv_is_closing)(h)))
		ls_uv_misuse(api, LS_MISUSE_START_CLOSING, h);
}

/* Closing: the bookkeeping of uv_close (thread rule, double close, the
 * close callback's site), shared with uv_tcp_close_reset. Returns 0 when
 * the caller may hand libuv ls_uv_close_tramp. */
int ls_uv_close_begin(uv_handle_t *h, ls_fn cb, const void *ret);
void ls_uv_close_undo(uv_handle_t *h);
void ls_uv_close_tramp(uv_handle_t *h);

/* A request finished with error `status` and no callback took it. */
void ls_uv_dropped_error(const struct ls_req_info *r, int status);

#endif
