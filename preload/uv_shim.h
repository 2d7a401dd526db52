/* What the libuv interposer files (uv.c, uv_stream.c, uv_req.c) share:
 * resolving libuv, telling libuv's own calls apart, registering callback
 * sites, and timing the user's callbacks. */
#ifndef LOOPSAN_UV_SHIM_H
#define LOOPSAN_UV_SHIM_H

#include <errno.h>
#include <uv.h>

#include "preload/shim.h"

#define LS_UV(fn) LS_REAL(ls_libuv, fn)

/* Should the shim look at this call at all? */
static inline int ls_uv_skip(const void *ret)
{
	return ls_disabled || ls_from_lib(&ls_libuv, ret);
}

static inline uint32_t ls_register_site(uint32_t api, ls_fn cb)
{
	return ls_site_intern(api, ls_stack_capture(), (uintptr_t)cb);
}

/* Runs the user's callback of `site`, timed. on_loop: 0 for the thread
 * pool's work callbacks, which do not block a loop. */
#define LS_TIMED(site, on_loop, call)                                       \
	do {                                                                \
		uint64_t t0_ = ls_ticks();                                  \
		call;                                                       \
		ls_record_callback((site), t0_, ls_ticks() - t0_, (on_loop)); \
	} while (0)

/* Slots of ls_entry.cb[] */
enum {
	LS_CB_MAIN = 0,    /* the handle's callback (timer, read, recv, ...) or a request's */
	LS_CB_ALLOC = 1,   /* uv_read_start / uv_udp_recv_start alloc_cb, after_work_cb */
	LS_CB_LISTEN = 2,  /* uv_listen connection_cb */
};

/* Records that handle h now calls cb in `slot`, registered by api (site
 * already interned). Returns 0 when the trampoline may be installed. */
int ls_uv_set_cb(uv_handle_t *h, int slot, ls_fn cb, uint32_t site);

/* The callback of handle h in slot, and its site; aborts when the shim has
 * none (never call a wrong function). */
ls_fn ls_uv_cb_of(const void *h, int slot, uint32_t *site);

/* One-shot requests (write, connect, fs, ...): the site of the request is
 * interned by the caller; ls_uv_req_start records it before the real call,
 * ls_uv_req_forget undoes it when the real call fails, ls_uv_req_take
 * hands it to the trampoline and forgets it. */
int ls_uv_req_start(void *req, void *loop, ls_fn cb, uint32_t site, uint32_t api);
void ls_uv_req_forget(void *req);
void ls_uv_req_take(void *req, struct ls_entry *e);

/* A request finished with error `status` and no callback took it. */
void ls_uv_dropped_error(const struct ls_entry *e, int status);

#endif
