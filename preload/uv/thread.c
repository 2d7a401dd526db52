/* libuv calls the shim only checks for the thread rule: a call on a loop,
 * or on one of its handles, from another thread than the one running that
 * loop. They record nothing else. The list is the table: a function that is
 * safe from any thread (uv_async_send, uv_mutex_*, uv_hrtime, ...) is not
 * in it; the interposers of uv.c, stream.c and req.c check too.
 */
#include "preload/uv/uv_shim.h"

/* X(return type, name, parameters, arguments, the loop, the handle) */
#define LS_UV_CHECKED(X)                                                                   \
	X(int, uv_timer_stop, (uv_timer_t *h), (h), h->loop, h)                             \
	X(int, uv_timer_again, (uv_timer_t *h), (h), h->loop, h)                            \
	X(int, uv_idle_stop, (uv_idle_t *h), (h), h->loop, h)                               \
	X(int, uv_prepare_stop, (uv_prepare_t *h), (h), h->loop, h)                         \
	X(int, uv_check_stop, (uv_check_t *h), (h), h->loop, h)                             \
	X(int, uv_read_stop, (uv_stream_t *h), (h), h->loop, h)                             \
	X(int, uv_udp_recv_stop, (uv_udp_t *h), (h), h->loop, h)                            \
	X(int, uv_poll_stop, (uv_poll_t *h), (h), h->loop, h)                               \
	X(int, uv_signal_stop, (uv_signal_t *h), (h), h->loop, h)                           \
	X(int, uv_fs_event_stop, (uv_fs_event_t *h), (h), h->loop, h)                       \
	X(int, uv_fs_poll_stop, (uv_fs_poll_t *h), (h), h->loop, h)                         \
	X(int, uv_try_write, (uv_stream_t *h, const uv_buf_t bufs[], unsigned int nbufs),   \
	  (h, bufs, nbufs), h->loop, h)                                                     \
	X(int, uv_udp_try_send, (uv_udp_t *h, const uv_buf_t bufs[], unsigned int nbufs,    \
				 const struct sockaddr *addr), (h, bufs, nbufs, addr), h->loop, h)

#define LS_UV_CHECKED_VOID(X)                                                              \
	X(uv_timer_set_repeat, (uv_timer_t *h, uint64_t repeat), (h, repeat), h->loop, h)   \
	X(uv_ref, (uv_handle_t *h), (h), h->loop, h)                                        \
	X(uv_unref, (uv_handle_t *h), (h), h->loop, h)                                      \
	X(uv_stop, (uv_loop_t *l), (l), l, NULL)                                            \
	X(uv_update_time, (uv_loop_t *l), (l), l, NULL)


/* The handle or loop every checked function takes first: NULL is libuv's
 * to refuse (or crash on), never the shim's. */
#define LS_FIRST(a, ...) (a)
#define LS_FIRST_ARG LS_FIRST

/* The check is out of line: libuv calls some of these itself on every
 * loop iteration (uv_timer_stop, uv_timer_again from its timer run), and
 * those calls then go straight on to libuv without saving a register. */
__attribute__((noinline)) static void ls_checked(uint32_t api, const uv_loop_t *loop,
						 const void *handle)
{
	ls_uv_check_thread(api, loop, handle);
}

#define LS_CHECKED(ret_t, name, PARAMS, ARGS, LOOP, HANDLE)                    \
	LS_EXPORT ret_t name PARAMS                                            \
	{                                                                      \
		const void *ret = __builtin_return_address(0);                 \
		if (LS_FIRST_ARG ARGS != NULL && !ls_uv_skip(ret))             \
			ls_checked(ls_api_##name, LOOP, HANDLE);               \
		return LS_UV(name) ARGS;                                       \
	}

#define LS_CHECKED_VOID(name, PARAMS, ARGS, LOOP, HANDLE)                      \
	LS_EXPORT void name PARAMS                                             \
	{                                                                      \
		const void *ret = __builtin_return_address(0);                 \
		if (LS_FIRST_ARG ARGS != NULL && !ls_uv_skip(ret))             \
			ls_checked(ls_api_##name, LOOP, HANDLE);               \
		LS_UV(name) ARGS;                                              \
	}

/* The API number of each checked function, by its own name. */
enum {
	ls_api_uv_timer_stop = LS_API_UV_TIMER_STOP,
	ls_api_uv_timer_again = LS_API_UV_TIMER_AGAIN,
	ls_api_uv_idle_stop = LS_API_UV_IDLE_STOP,
	ls_api_uv_prepare_stop = LS_API_UV_PREPARE_STOP,
	ls_api_uv_check_stop = LS_API_UV_CHECK_STOP,
	ls_api_uv_read_stop = LS_API_UV_READ_STOP,
	ls_api_uv_udp_recv_stop = LS_API_UV_UDP_RECV_STOP,
	ls_api_uv_poll_stop = LS_API_UV_POLL_STOP,
	ls_api_uv_signal_stop = LS_API_UV_SIGNAL_STOP,
	ls_api_uv_fs_event_stop = LS_API_UV_FS_EVENT_STOP,
	ls_api_uv_fs_poll_stop = LS_API_UV_FS_POLL_STOP,
	ls_api_uv_try_write = LS_API_UV_TRY_WRITE,
	ls_api_uv_udp_try_send = LS_API_UV_UDP_TRY_SEND,
	ls_api_uv_timer_set_repeat = LS_API_UV_TIMER_SET_REPEAT,
	ls_api_uv_ref = LS_API_UV_REF,
	ls_api_uv_unref = LS_API_UV_UNREF,
	ls_api_uv_stop = LS_API_UV_STOP,
	ls_api_uv_update_time = LS_API_UV_UPDATE_TIME,
};

LS_UV_CHECKED(LS_CHECKED)
LS_UV_CHECKED_VOID(LS_CHECKED_VOID)
