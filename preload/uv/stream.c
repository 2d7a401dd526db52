/* libuv interposers for I/O handles: streams (tcp, pipe, tty), udp, poll,
 * signal, fs_event and fs_poll, and their requests (write, shutdown,
 * connect, udp send).
 *
 * A handle's recurring callbacks live in its side-table entry, one slot
 * each (read and alloc, connection); a request's callback lives in the
 * request's own entry until it completes. A request with no callback still
 * gets a trampoline: it is how an error that nobody receives is seen.
 */
#include <string.h>

#include "preload/uv/uv_shim.h"

/* Records cb of handle h in slot, registered by api. 0: install the
 * trampoline. */
static int ls_on(uv_handle_t *h, int slot, uint32_t api, ls_fn cb, const void *ret,
		 struct ls_cb_was *was)
{
	ls_uv_check_thread(api, h->loop, h);
	ls_uv_check_open(api, h);
	uint32_t site = ls_register_site(api, cb, ret);
	return ls_uv_set_cb(h, slot, cb, site, was);
}

/* Records request req of api on loop, its callback cb possibly NULL. 0:
 * install the trampoline. */
static int ls_req(void *req, uv_loop_t *loop, uint32_t api, ls_fn cb, const void *ret)
{
	ls_uv_check_thread(api, loop, req);
	uint32_t site = ls_register_site(api, cb, ret);
	return ls_uv_req_start(req, loop, cb, site, api);
}

/* The real call's result: on failure no callback will come. */
static int ls_req_done(void *req, int rc)
{
	if (rc != 0)
		ls_uv_req_forget(req);
	return rc;
}

/* ---- reading and accepting --------------------------------------------- */

static void ls_alloc_tramp(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	uint32_t site;
	uv_alloc_cb cb = (uv_alloc_cb)ls_uv_cb_of(h, LS_CB_ALLOC, &site);
	LS_TIMED(site, 1, cb(h, size, buf));
}

static void ls_read_tramp(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	uint32_t site;
	uv_read_cb cb = (uv_read_cb)ls_uv_cb_of(s, LS_CB_MAIN, &site);
	LS_TIMED(site, 1, cb(s, nread, buf));
}

LS_EXPORT int uv_read_start(uv_stream_t *s, uv_alloc_cb alloc_cb, uv_read_cb read_cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_read_start) real = LS_UV(uv_read_start);
	if (s == NULL || alloc_cb == NULL || read_cb == NULL || read_cb == ls_read_tramp || ls_uv_skip(ret))
		return real(s, alloc_cb, read_cb);
	ls_uv_check_thread(LS_API_UV_READ_START, s->loop, s);
	ls_uv_check_open(LS_API_UV_READ_START, (uv_handle_t *)s);
	int saved = errno;
	uint32_t rsite = ls_register_site(LS_API_UV_READ_START, (ls_fn)read_cb, ret);
	uint32_t asite = ls_register_site(LS_API_UV_READ_START_ALLOC, (ls_fn)alloc_cb, ret);
	errno = saved;
	struct ls_cb_was was_main, was_alloc;
	if (ls_uv_set_cb((uv_handle_t *)s, LS_CB_MAIN, (ls_fn)read_cb, rsite, &was_main) != 0)
		return real(s, alloc_cb, read_cb);
	if (ls_uv_set_cb((uv_handle_t *)s, LS_CB_ALLOC, (ls_fn)alloc_cb, asite, &was_alloc) != 0) {
		ls_uv_undo_cb((uv_handle_t *)s, LS_CB_MAIN, &was_main, -1);
		return real(s, alloc_cb, read_cb);
	}
	int rc = real(s, ls_alloc_tramp, ls_read_tramp);
	ls_uv_undo_cb((uv_handle_t *)s, LS_CB_ALLOC, &was_alloc, rc);
	return ls_uv_undo_cb((uv_handle_t *)s, LS_CB_MAIN, &was_main, rc);
}

static void ls_connection_tramp(uv_stream_t *server, int status)
{
	uint32_t site;
	uv_connection_cb cb = (uv_connection_cb)ls_uv_cb_of(server, LS_CB_LISTEN, &site);
	LS_TIMED(site, 1, cb(server, status));
}

LS_EXPORT int uv_listen(uv_stream_t *s, int backlog, uv_connection_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_listen) real = LS_UV(uv_listen);
	struct ls_cb_was was;
	if (s == NULL || cb == NULL || cb == ls_connection_tramp || ls_uv_skip(ret) ||
	    ls_on((uv_handle_t *)s, LS_CB_LISTEN, LS_API_UV_LISTEN, (ls_fn)cb, ret, &was) != 0)
		return real(s, backlog, cb);
	return ls_uv_undo_cb((uv_handle_t *)s, LS_CB_LISTEN, &was, real(s, backlog, ls_connection_tramp));
}

static void ls_recv_tramp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			  const struct sockaddr *addr, unsigned flags)
{
	uint32_t site;
	uv_udp_recv_cb cb = (uv_udp_recv_cb)ls_uv_cb_of(h, LS_CB_MAIN, &site);
	LS_TIMED(site, 1, cb(h, nread, buf, addr, flags));
}

LS_EXPORT int uv_udp_recv_start(uv_udp_t *h, uv_alloc_cb alloc_cb, uv_udp_recv_cb recv_cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_udp_recv_start) real = LS_UV(uv_udp_recv_start);
	if (h == NULL || alloc_cb == NULL || recv_cb == NULL || recv_cb == ls_recv_tramp || ls_uv_skip(ret))
		return real(h, alloc_cb, recv_cb);
	ls_uv_check_thread(LS_API_UV_UDP_RECV_START, h->loop, h);
	ls_uv_check_open(LS_API_UV_UDP_RECV_START, (uv_handle_t *)h);
	int saved = errno;
	uint32_t rsite = ls_register_site(LS_API_UV_UDP_RECV_START, (ls_fn)recv_cb, ret);
	uint32_t asite = ls_register_site(LS_API_UV_UDP_RECV_START_ALLOC, (ls_fn)alloc_cb, ret);
	errno = saved;
	struct ls_cb_was was_main, was_alloc;
	if (ls_uv_set_cb((uv_handle_t *)h, LS_CB_MAIN, (ls_fn)recv_cb, rsite, &was_main) != 0)
		return real(h, alloc_cb, recv_cb);
	if (ls_uv_set_cb((uv_handle_t *)h, LS_CB_ALLOC, (ls_fn)alloc_cb, asite, &was_alloc) != 0) {
		ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was_main, -1);
		return real(h, alloc_cb, recv_cb);
	}
	int rc = real(h, ls_alloc_tramp, ls_recv_tramp);
	ls_uv_undo_cb((uv_handle_t *)h, LS_CB_ALLOC, &was_alloc, rc);
	return ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was_main, rc);
}

/* A client of another loop than its server's is a misuse. */
LS_EXPORT int uv_accept(uv_stream_t *server, uv_stream_t *client)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_accept) real = LS_UV(uv_accept);
	if (server != NULL && !ls_uv_skip(ret)) {
		ls_uv_check_thread(LS_API_UV_ACCEPT, server->loop, server);
		if (client != NULL && client->loop != server->loop)
			ls_uv_misuse(LS_API_UV_ACCEPT, LS_MISUSE_OTHER_LOOP, client);
	}
	return real(server, client);
}

/* ---- requests: write, shutdown, connect, udp send ---------------------- */

/* The status-only request callbacks have one shape: (req *, int status). */
#define LS_REQ_TRAMP(name, req_t, cb_t)                                          \
	static void name(req_t *req, int status)                                 \
	{                                                                        \
		struct ls_req_info r;                                            \
		ls_uv_req_take(req, &r);                                         \
		if (r.cb != NULL) {                                              \
			cb_t cb = (cb_t)r.cb;                                    \
			LS_TIMED(r.site, 1, cb(req, status));                    \
		} else if (status < 0 && status != UV_ECANCELED) {               \
			ls_uv_dropped_error(&r, status);                         \
		}                                                                \
	}

LS_REQ_TRAMP(ls_write_tramp, uv_write_t, uv_write_cb)
LS_REQ_TRAMP(ls_shutdown_tramp, uv_shutdown_t, uv_shutdown_cb)
LS_REQ_TRAMP(ls_connect_tramp, uv_connect_t, uv_connect_cb)
LS_REQ_TRAMP(ls_udp_send_tramp, uv_udp_send_t, uv_udp_send_cb)

LS_EXPORT int uv_write(uv_write_t *req, uv_stream_t *s, const uv_buf_t bufs[],
		       unsigned int nbufs, uv_write_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_write) real = LS_UV(uv_write);
	if (req == NULL || s == NULL || cb == ls_write_tramp || ls_uv_skip(ret) ||
	    ls_req(req, s->loop, LS_API_UV_WRITE, (ls_fn)cb, ret) != 0)
		return real(req, s, bufs, nbufs, cb);
	return ls_req_done(req, real(req, s, bufs, nbufs, ls_write_tramp));
}

__attribute__((noinline)) static int ls_write2(uv_write_t *req, uv_stream_t *s,
						const uv_buf_t bufs[], unsigned int nbufs,
						uv_stream_t *send_handle, uv_write_cb cb,
						const void *ret)
{
	__typeof__(&uv_write2) real = LS_UV(uv_write2);
	if (ls_req(req, s->loop, LS_API_UV_WRITE2, (ls_fn)cb, ret) != 0)
		return real(req, s, bufs, nbufs, send_handle, cb);
	return ls_req_done(req, real(req, s, bufs, nbufs, send_handle, ls_write_tramp));
}

/* libuv's own uv_write calls this with the trampoline already in place:
 * that call goes straight on (a tail call, nothing saved). */
LS_EXPORT int uv_write2(uv_write_t *req, uv_stream_t *s, const uv_buf_t bufs[],
			unsigned int nbufs, uv_stream_t *send_handle, uv_write_cb cb)
{
	const void *ret = __builtin_return_address(0);
	if (req == NULL || s == NULL || cb == ls_write_tramp || ls_uv_skip(ret))
		return LS_UV(uv_write2)(req, s, bufs, nbufs, send_handle, cb);
	return ls_write2(req, s, bufs, nbufs, send_handle, cb, ret);
}

LS_EXPORT int uv_shutdown(uv_shutdown_t *req, uv_stream_t *s, uv_shutdown_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_shutdown) real = LS_UV(uv_shutdown);
	if (req == NULL || s == NULL || cb == ls_shutdown_tramp || ls_uv_skip(ret) ||
	    ls_req(req, s->loop, LS_API_UV_SHUTDOWN, (ls_fn)cb, ret) != 0)
		return real(req, s, cb);
	return ls_req_done(req, real(req, s, ls_shutdown_tramp));
}

LS_EXPORT int uv_tcp_connect(uv_connect_t *req, uv_tcp_t *h, const struct sockaddr *addr,
			     uv_connect_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_tcp_connect) real = LS_UV(uv_tcp_connect);
	if (req == NULL || h == NULL || cb == ls_connect_tramp || ls_uv_skip(ret) ||
	    ls_req(req, h->loop, LS_API_UV_TCP_CONNECT, (ls_fn)cb, ret) != 0)
		return real(req, h, addr, cb);
	return ls_req_done(req, real(req, h, addr, ls_connect_tramp));
}

/* uv_pipe_connect reports every error through its callback. */
LS_EXPORT void uv_pipe_connect(uv_connect_t *req, uv_pipe_t *h, const char *name,
			       uv_connect_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_pipe_connect) real = LS_UV(uv_pipe_connect);
	if (req == NULL || h == NULL || cb == ls_connect_tramp || ls_uv_skip(ret) ||
	    ls_req(req, h->loop, LS_API_UV_PIPE_CONNECT, (ls_fn)cb, ret) != 0) {
		real(req, h, name, cb);
		return;
	}
	real(req, h, name, ls_connect_tramp);
}

LS_EXPORT int uv_udp_send(uv_udp_send_t *req, uv_udp_t *h, const uv_buf_t bufs[],
			  unsigned int nbufs, const struct sockaddr *addr, uv_udp_send_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_udp_send) real = LS_UV(uv_udp_send);
	if (req == NULL || h == NULL || cb == ls_udp_send_tramp || ls_uv_skip(ret) ||
	    ls_req(req, h->loop, LS_API_UV_UDP_SEND, (ls_fn)cb, ret) != 0)
		return real(req, h, bufs, nbufs, addr, cb);
	return ls_req_done(req, real(req, h, bufs, nbufs, addr, ls_udp_send_tramp));
}

/* ---- poll, signal, fs_event, fs_poll ----------------------------------- */

static void ls_poll_tramp(uv_poll_t *h, int status, int events)
{
	uint32_t site;
	uv_poll_cb cb = (uv_poll_cb)ls_uv_cb_of(h, LS_CB_MAIN, &site);
	LS_TIMED(site, 1, cb(h, status, events));
}

LS_EXPORT int uv_poll_start(uv_poll_t *h, int events, uv_poll_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_poll_start) real = LS_UV(uv_poll_start);
	struct ls_cb_was was;
	if (h == NULL || cb == NULL || cb == ls_poll_tramp || ls_uv_skip(ret) ||
	    ls_on((uv_handle_t *)h, LS_CB_MAIN, LS_API_UV_POLL_START, (ls_fn)cb, ret, &was) != 0)
		return real(h, events, cb);
	return ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was, real(h, events, ls_poll_tramp));
}

static void ls_signal_tramp(uv_signal_t *h, int signum)
{
	uint32_t site;
	uv_signal_cb cb = (uv_signal_cb)ls_uv_cb_of(h, LS_CB_MAIN, &site);
	LS_TIMED(site, 1, cb(h, signum));
}

LS_EXPORT int uv_signal_start(uv_signal_t *h, uv_signal_cb cb, int signum)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_signal_start) real = LS_UV(uv_signal_start);
	struct ls_cb_was was;
	if (h == NULL || cb == NULL || cb == ls_signal_tramp || ls_uv_skip(ret) ||
	    ls_on((uv_handle_t *)h, LS_CB_MAIN, LS_API_UV_SIGNAL_START, (ls_fn)cb, ret, &was) != 0)
		return real(h, cb, signum);
	return ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was, real(h, ls_signal_tramp, signum));
}

LS_EXPORT int uv_signal_start_oneshot(uv_signal_t *h, uv_signal_cb cb, int signum)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_signal_start_oneshot) real = LS_UV(uv_signal_start_oneshot);
	struct ls_cb_was was;
	if (h == NULL || cb == NULL || cb == ls_signal_tramp || ls_uv_skip(ret) ||
	    ls_on((uv_handle_t *)h, LS_CB_MAIN, LS_API_UV_SIGNAL_START_ONESHOT, (ls_fn)cb, ret, &was) != 0)
		return real(h, cb, signum);
	return ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was, real(h, ls_signal_tramp, signum));
}

static void ls_fs_event_tramp(uv_fs_event_t *h, const char *filename, int events, int status)
{
	uint32_t site;
	uv_fs_event_cb cb = (uv_fs_event_cb)ls_uv_cb_of(h, LS_CB_MAIN, &site);
	LS_TIMED(site, 1, cb(h, filename, events, status));
}

LS_EXPORT int uv_fs_event_start(uv_fs_event_t *h, uv_fs_event_cb cb, const char *path,
				unsigned int flags)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_fs_event_start) real = LS_UV(uv_fs_event_start);
	struct ls_cb_was was;
	if (h == NULL || cb == NULL || cb == ls_fs_event_tramp || ls_uv_skip(ret) ||
	    ls_on((uv_handle_t *)h, LS_CB_MAIN, LS_API_UV_FS_EVENT_START, (ls_fn)cb, ret, &was) != 0)
		return real(h, cb, path, flags);
	return ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was, real(h, ls_fs_event_tramp, path, flags));
}

static void ls_fs_poll_tramp(uv_fs_poll_t *h, int status, const uv_stat_t *prev,
			     const uv_stat_t *curr)
{
	uint32_t site;
	uv_fs_poll_cb cb = (uv_fs_poll_cb)ls_uv_cb_of(h, LS_CB_MAIN, &site);
	LS_TIMED(site, 1, cb(h, status, prev, curr));
}

LS_EXPORT int uv_fs_poll_start(uv_fs_poll_t *h, uv_fs_poll_cb cb, const char *path,
			       unsigned int interval)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_fs_poll_start) real = LS_UV(uv_fs_poll_start);
	struct ls_cb_was was;
	if (h == NULL || cb == NULL || cb == ls_fs_poll_tramp || ls_uv_skip(ret) ||
	    LS_UV(uv_is_active)((uv_handle_t *)h) ||
	    ls_on((uv_handle_t *)h, LS_CB_MAIN, LS_API_UV_FS_POLL_START, (ls_fn)cb, ret, &was) != 0)
		return real(h, cb, path, interval);
	return ls_uv_undo_cb((uv_handle_t *)h, LS_CB_MAIN, &was, real(h, ls_fs_poll_tramp, path, interval));
}

/* uv_tcp_close_reset closes the handle itself (its uv_close is libuv's own
 * call): the same bookkeeping as uv_close, undone when it refuses. */
LS_EXPORT int uv_tcp_close_reset(uv_tcp_t *h, uv_close_cb cb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&uv_tcp_close_reset) real = LS_UV(uv_tcp_close_reset);
	if (h == NULL || ls_uv_skip(ret))
		return real(h, cb);
	if (ls_uv_close_begin((uv_handle_t *)h, (ls_fn)cb, ret) != 0)
		return real(h, cb);
	int rc = real(h, ls_uv_close_tramp);
	if (rc != 0)
		ls_uv_close_undo((uv_handle_t *)h);
	return rc;
}
