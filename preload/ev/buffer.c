/* libevent interposers for what is built on events: bufferevents,
 * listeners, evhttp's request callbacks and evdns's resolution callbacks.
 *
 * A bufferevent's callbacks get the bufferevent back, so its entry is keyed
 * by it and the user's argument goes to libevent unchanged. Listeners,
 * evhttp and evdns give back only the argument: the shim passes a token
 * there and keeps the user's argument in the token's entry.
 */
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_compat.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <string.h>

#include "preload/ev/ev_shim.h"

/* ---- bufferevents --------------------------------------------------------- */

enum { LS_BEV_READ = 0, LS_BEV_WRITE = 1, LS_BEV_EVENT = 2 };

static ls_fn ls_bev_cb_of(const struct bufferevent *bev, int slot, uint32_t *site)
{
	const struct ls_ev_seen *s = ls_ev_seen_of(bev);
	if (LS_LIKELY(s != NULL && s->cb[slot] != NULL)) {
		*site = s->site[slot];
		return s->cb[slot];
	}
	struct ls_entry *e = ls_table_find(bev);
	if (LS_UNLIKELY(e == NULL || e->cb[slot] == NULL))
		ls_lost_callback("bufferevent", bev);
	*site = e->site[slot];
	return e->cb[slot];
}

static void ls_bev_read_tramp(struct bufferevent *bev, void *arg)
{
	uint32_t site;
	bufferevent_data_cb cb = (bufferevent_data_cb)ls_bev_cb_of(bev, LS_BEV_READ, &site);
	LS_EV_TIMED(site, cb(bev, arg));
}

static void ls_bev_write_tramp(struct bufferevent *bev, void *arg)
{
	uint32_t site;
	bufferevent_data_cb cb = (bufferevent_data_cb)ls_bev_cb_of(bev, LS_BEV_WRITE, &site);
	LS_EV_TIMED(site, cb(bev, arg));
}

static void ls_bev_event_tramp(struct bufferevent *bev, short what, void *arg)
{
	uint32_t site;
	bufferevent_event_cb cb = (bufferevent_event_cb)ls_bev_cb_of(bev, LS_BEV_EVENT, &site);
	LS_EV_TIMED(site, cb(bev, what, arg));
}

struct ls_bev_cbs {
	ls_fn cb[3];
	uint32_t site[3];
};

/* The sites of the callbacks the program gives, registered by api[slot]. */
static void ls_bev_sites(struct ls_bev_cbs *c, const uint32_t api[3], const void *ret)
{
	for (int i = 0; i < 3; i++)
		c->site[i] = c->cb[i] ? ls_register_site(api[i], c->cb[i], ret) : 0;
}

/* The bufferevent's callbacks from now on. Callbacks the program sets are
 * recorded before libevent gets the trampolines (set_new), and callbacks it
 * clears only after libevent has dropped them (!set_new): a trampoline
 * never finds an empty slot. */
static void ls_bev_set(struct bufferevent *bev, const struct ls_bev_cbs *c, int set_new)
{
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(bev);
	if (e != NULL) {
		if (!(e->flags & LS_ENT_EV_BEV) || (e->flags & LS_ENT_EV_FREED)) {
			/* A bufferevent the shim did not see made (a filter,
			 * an evhttp connection's): not the program's to free. */
			ls_entry_reset(e);
			e->flags = LS_ENT_EV_BEV;
		}
		for (int i = 0; i < 3; i++) {
			if ((c->cb[i] != NULL) == set_new) {
				e->cb[i] = c->cb[i];
				e->site[i] = c->site[i];
			}
		}
		ls_ev_changed();
	}
	ls_table_unlock();
	errno = saved;
}

static const void *ls_bev_base(const void *base, struct bufferevent *bev)
{
	if (base == NULL)
		base = LS_EV(bufferevent_get_base)(bev);
	return base ? base : ls_ev_current_base;
}

/* A call on a bufferevent: misuse when it was freed or its base was, else
 * the thread rule (cross-thread calls are legal on a BEV_OPT_THREADSAFE
 * bufferevent with libevent's locking on). */
static void ls_bev_use(uint32_t api, struct bufferevent *bev)
{
	struct ls_ev_seen *s = ls_ev_seen_of(bev);
	if (LS_LIKELY(s != NULL)) {
		/* In good standing: only the thread rule, which a
		 * thread-safe bufferevent of a lockable base passes whoever
		 * runs the base. */
		int lock_ok = (s->flags & LS_ENT_EV_LOCKABLE) != 0;
		if (s->loop == NULL)
			ls_ev_check_thread(api, ls_bev_base(NULL, bev), bev, lock_ok);
		else if (!ls_running_here(s->loop) && !ls_ev_seen_any_thread(s))
			ls_ev_check_thread(api, s->loop, bev, lock_ok);
		return;
	}
	struct ls_entry *e = ls_table_find(bev);
	uint32_t f = e ? __atomic_load_n(&e->flags, __ATOMIC_RELAXED) : 0;
	if (LS_UNLIKELY(f & LS_ENT_EV_FREED))
		ls_note_misuse(api, LS_MISUSE_USE_FREED, bev, e->init_site);
	else if (LS_UNLIKELY(f & LS_ENT_EV_BASE_GONE))
		ls_note_misuse(api, LS_MISUSE_BASE_FREED, bev, e->init_site);
	else
		ls_ev_check_thread(api,
				   ls_bev_base(e ? __atomic_load_n(&e->loop, __ATOMIC_RELAXED) : NULL,
					       bev),
				   bev, (f & LS_ENT_EV_LOCKABLE) != 0);
}

LS_EXPORT void bufferevent_setcb(struct bufferevent *bev, bufferevent_data_cb readcb,
				 bufferevent_data_cb writecb, bufferevent_event_cb eventcb,
				 void *cbarg)
{
	static const uint32_t api[3] = { LS_API_BEV_SETCB, LS_API_BEV_SETCB_WRITE,
					 LS_API_BEV_SETCB_EVENT };
	const void *ret = __builtin_return_address(0);
	__typeof__(&bufferevent_setcb) real = LS_EV(bufferevent_setcb);
	if (bev == NULL || readcb == ls_bev_read_tramp || writecb == ls_bev_write_tramp ||
	    eventcb == ls_bev_event_tramp || ls_ev_skip((const void *)real, ret) ||
	    ls_ev_own_cb((const void *)readcb) || ls_ev_own_cb((const void *)writecb) ||
	    ls_ev_own_cb((const void *)eventcb)) {
		real(bev, readcb, writecb, eventcb, cbarg);
		return;
	}
	ls_bev_use(LS_API_BEV_SETCB, bev);
	struct ls_bev_cbs c = { .cb = { (ls_fn)readcb, (ls_fn)writecb, (ls_fn)eventcb } };
	ls_bev_sites(&c, api, ret);
	ls_bev_set(bev, &c, 1);
	real(bev, readcb ? ls_bev_read_tramp : NULL, writecb ? ls_bev_write_tramp : NULL,
	     eventcb ? ls_bev_event_tramp : NULL, cbarg);
	ls_bev_set(bev, &c, 0);
}

LS_EXPORT void bufferevent_getcb(struct bufferevent *bev, bufferevent_data_cb *readcb_ptr,
				 bufferevent_data_cb *writecb_ptr,
				 bufferevent_event_cb *eventcb_ptr, void **cbarg_ptr)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&bufferevent_getcb) real = LS_EV(bufferevent_getcb);
	real(bev, readcb_ptr, writecb_ptr, eventcb_ptr, cbarg_ptr);
	if (ls_ev_skip((const void *)real, ret))
		return;
	struct ls_entry *e = ls_table_find(bev);
	if (e == NULL)
		return;
	if (readcb_ptr != NULL && *readcb_ptr == ls_bev_read_tramp && e->cb[LS_BEV_READ])
		*readcb_ptr = (bufferevent_data_cb)e->cb[LS_BEV_READ];
	if (writecb_ptr != NULL && *writecb_ptr == ls_bev_write_tramp && e->cb[LS_BEV_WRITE])
		*writecb_ptr = (bufferevent_data_cb)e->cb[LS_BEV_WRITE];
	if (eventcb_ptr != NULL && *eventcb_ptr == ls_bev_event_tramp && e->cb[LS_BEV_EVENT])
		*eventcb_ptr = (bufferevent_event_cb)e->cb[LS_BEV_EVENT];
}

struct ls_bev_born {
	const void *base;
	uint32_t site, options;
	const struct ls_bev_cbs *cbs;
};

static void ls_fill_bev(struct ls_entry *e, void *arg)
{
	const struct ls_bev_born *b = arg;
	e->flags = LS_ENT_EV_BEV | LS_ENT_EV_OWNED;
	if ((b->options & BEV_OPT_THREADSAFE) && __atomic_load_n(&ls_ev_locking, __ATOMIC_RELAXED))
		e->flags |= LS_ENT_EV_LOCKABLE;
	e->loop = (void *)b->base;
	e->init_site = b->site;
	e->htype = b->options;
	for (int i = 0; b->cbs != NULL && i < 3; i++) {
		e->cb[i] = b->cbs->cb[i];
		e->site[i] = b->cbs->site[i];
	}
}

/* A bufferevent the program made: its to free. */
static void ls_bev_born(struct bufferevent *bev, const void *base, uint32_t api,
			int options, const struct ls_bev_cbs *cbs, const void *ret)
{
	struct ls_bev_born b = { .base = base, .options = (uint32_t)options, .cbs = cbs };
	b.site = ls_register_site(api, NULL, ret);
	ls_ev_record(bev, ls_fill_bev, &b);
}

LS_EXPORT struct bufferevent *bufferevent_socket_new(struct event_base *base, evutil_socket_t fd,
						     int options)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&bufferevent_socket_new) real = LS_EV(bufferevent_socket_new);
	struct bufferevent *bev = real(base, fd, options);
	if (bev != NULL && !ls_ev_skip((const void *)real, ret))
		ls_bev_born(bev, base, LS_API_BEV_SOCKET_NEW, options, NULL, ret);
	return bev;
}

LS_EXPORT int bufferevent_pair_new(struct event_base *base, int options,
				   struct bufferevent *pair[2])
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&bufferevent_pair_new) real = LS_EV(bufferevent_pair_new);
	int rc = real(base, options, pair);
	if (rc == 0 && pair != NULL && !ls_ev_skip((const void *)real, ret)) {
		ls_bev_born(pair[0], base, LS_API_BEV_PAIR_NEW, options, NULL, ret);
		ls_bev_born(pair[1], base, LS_API_BEV_PAIR_NEW, options, NULL, ret);
	}
	return rc;
}

/* The old API: callbacks at creation, on event_init's base. No callback
 * can run before the program enables the bufferevent, so the entry is
 * made after. */
LS_EXPORT struct bufferevent *bufferevent_new(evutil_socket_t fd, evbuffercb readcb,
					      evbuffercb writecb, everrorcb errorcb, void *cbarg)
{
	static const uint32_t api[3] = { LS_API_BEV_NEW, LS_API_BEV_NEW_WRITE,
					 LS_API_BEV_NEW_ERROR };
	const void *ret = __builtin_return_address(0);
	__typeof__(&bufferevent_new) real = LS_EV(bufferevent_new);
	if (ls_ev_skip((const void *)real, ret))
		return real(fd, readcb, writecb, errorcb, cbarg);
	struct ls_bev_cbs c = { .cb = { (ls_fn)readcb, (ls_fn)writecb, (ls_fn)errorcb } };
	ls_bev_sites(&c, api, ret);
	struct bufferevent *bev = real(fd, readcb ? ls_bev_read_tramp : NULL,
				       writecb ? ls_bev_write_tramp : NULL,
				       errorcb ? ls_bev_event_tramp : NULL, cbarg);
	if (bev != NULL)
		ls_bev_born(bev, NULL, LS_API_BEV_NEW, 0, &c, ret);
	return bev;
}

LS_EXPORT void bufferevent_free(struct bufferevent *bev)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&bufferevent_free) real = LS_EV(bufferevent_free);
	if (bev == NULL || ls_ev_skip((const void *)real, ret)) {
		real(bev);
		return;
	}
	struct ls_entry *e = ls_table_find(bev);
	if (e != NULL && (__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & LS_ENT_EV_FREED)) {
		ls_note_misuse(LS_API_BEV_FREE, LS_MISUSE_FREE_FREED, bev, e->init_site);
		real(bev);
		return;
	}
	ls_bev_use(LS_API_BEV_FREE, bev);
	int saved = errno;
	ls_table_lock();
	e = ls_table_get_locked(bev);
	if (e != NULL)
		e->flags |= LS_ENT_EV_BEV | LS_ENT_EV_FREED;
	ls_ev_changed();
	ls_table_unlock();
	errno = saved;
	real(bev);
}

/* Calls the shim only checks: the thread rule and use after free. */
LS_EV_CHECKED(int, bufferevent_enable, LS_API_BEV_ENABLE, bev, ls_bev_use,
	      (struct bufferevent *bev, short event), (bev, event))
LS_EV_CHECKED(int, bufferevent_disable, LS_API_BEV_DISABLE, bev, ls_bev_use,
	      (struct bufferevent *bev, short event), (bev, event))
LS_EV_CHECKED(int, bufferevent_write, LS_API_BEV_WRITE, bev, ls_bev_use,
	      (struct bufferevent *bev, const void *data, size_t size), (bev, data, size))
LS_EV_CHECKED(int, bufferevent_write_buffer, LS_API_BEV_WRITE_BUFFER, bev, ls_bev_use,
	      (struct bufferevent *bev, struct evbuffer *buf), (bev, buf))

/* ---- listeners ------------------------------------------------------------ */

enum { LS_LEV_ACCEPT = 0, LS_LEV_ERROR = 1 };

static void ls_lev_tramp(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
			 int socklen, void *token)
{
	struct ls_entry *e = ls_table_find(token);
	if (LS_UNLIKELY(e == NULL || e->cb[LS_LEV_ACCEPT] == NULL))
		ls_lost_callback("listener", token);
	evconnlistener_cb cb = (evconnlistener_cb)e->cb[LS_LEV_ACCEPT];
	void *arg = e->arg;
	uint32_t site = e->site[LS_LEV_ACCEPT];
	LS_EV_TIMED(site, cb(lev, fd, sa, socklen, arg));
}

static void ls_lev_error_tramp(struct evconnlistener *lev, void *token)
{
	struct ls_entry *e = ls_table_find(token);
	if (LS_UNLIKELY(e == NULL || e->cb[LS_LEV_ERROR] == NULL))
		ls_lost_callback("listener", token);
	evconnlistener_errorcb cb = (evconnlistener_errorcb)e->cb[LS_LEV_ERROR];
	void *arg = e->arg;
	uint32_t site = e->site[LS_LEV_ERROR];
	LS_EV_TIMED(site, cb(lev, arg));
}

static void ls_fill_listener(struct ls_entry *e, void *token)
{
	e->flags = LS_ENT_EV_LISTENER;
	e->ref = (uintptr_t)token;
}

/* The token a listener made by the shim passes its callbacks, or NULL. */
static void *ls_lev_token(const struct evconnlistener *lev)
{
	struct ls_entry *e = ls_table_find(lev);
	if (e == NULL || !(__atomic_load_n(&e->flags, __ATOMIC_RELAXED) & LS_ENT_EV_LISTENER))
		return NULL;
	return (void *)e->ref;
}

/* The listener's callback in slot from now on. */
static void ls_lev_set(void *token, int slot, ls_fn cb, void *arg, int set_arg, uint32_t site)
{
	int saved = errno;
	ls_table_lock();
	struct ls_entry *e = ls_table_get_locked(token);
	if (e != NULL) {
		e->cb[slot] = cb;
		e->site[slot] = site;
		if (set_arg)
			e->arg = arg;
	}
	ls_table_unlock();
	errno = saved;
}

/* Makes a listener with the accept callback cb (may be NULL) through
 * make(token callback, token). */
#define LS_LEV_NEW(api, base, cb, ptr, ret, real, MAKE)                            \
	do {                                                                       \
		void *token_ = ls_ev_oneshot((api), (ls_fn)(cb), (ptr), (base), (ret), 0); \
		if (token_ == NULL)                                                \
			return real MAKE((cb), (ptr));                             \
		struct evconnlistener *lev_ = real MAKE((cb) ? ls_lev_tramp : NULL, token_); \
		if (lev_ == NULL)                                                  \
			ls_ev_forget(token_);                                      \
		else                                                               \
			ls_ev_record(lev_, ls_fill_listener, token_);              \
		return lev_;                                                       \
	} while (0)

#define LS_ARGS_NEW(cb_, ptr_) (base, cb_, ptr_, flags, backlog, fd)
#define LS_ARGS_NEW_BIND(cb_, ptr_) (base, cb_, ptr_, flags, backlog, sa, socklen)

LS_EXPORT struct evconnlistener *evconnlistener_new(struct event_base *base, evconnlistener_cb cb,
						    void *ptr, unsigned flags, int backlog,
						    evutil_socket_t fd)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&evconnlistener_new) real = LS_EV(evconnlistener_new);
	if (ls_ev_skip((const void *)real, ret))
		return real(base, cb, ptr, flags, backlog, fd);
	LS_LEV_NEW(LS_API_EVCONNLISTENER_NEW, base, cb, ptr, ret, real, LS_ARGS_NEW);
}

LS_EXPORT struct evconnlistener *evconnlistener_new_bind(struct event_base *base,
							 evconnlistener_cb cb, void *ptr,
							 unsigned flags, int backlog,
							 const struct sockaddr *sa, int socklen)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&evconnlistener_new_bind) real = LS_EV(evconnlistener_new_bind);
	if (ls_ev_skip((const void *)real, ret))
		return real(base, cb, ptr, flags, backlog, sa, socklen);
	LS_LEV_NEW(LS_API_EVCONNLISTENER_NEW_BIND, base, cb, ptr, ret, real, LS_ARGS_NEW_BIND);
}

LS_EXPORT void evconnlistener_set_cb(struct evconnlistener *lev, evconnlistener_cb cb, void *arg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&evconnlistener_set_cb) real = LS_EV(evconnlistener_set_cb);
	void *token = lev ? ls_lev_token(lev) : NULL;
	if (token == NULL || ls_ev_skip((const void *)real, ret)) {
		real(lev, cb, arg);
		return;
	}
	uint32_t site = cb ? ls_register_site(LS_API_EVCONNLISTENER_SET_CB, (ls_fn)cb, ret) : 0;
	if (cb != NULL)
		ls_lev_set(token, LS_LEV_ACCEPT, (ls_fn)cb, arg, 1, site);
	real(lev, cb ? ls_lev_tramp : NULL, token);
	if (cb == NULL)
		ls_lev_set(token, LS_LEV_ACCEPT, NULL, arg, 1, 0);
}

LS_EXPORT void evconnlistener_set_error_cb(struct evconnlistener *lev, evconnlistener_errorcb errorcb)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&evconnlistener_set_error_cb) real = LS_EV(evconnlistener_set_error_cb);
	void *token = lev ? ls_lev_token(lev) : NULL;
	if (token == NULL || ls_ev_skip((const void *)real, ret)) {
		real(lev, errorcb);
		return;
	}
	uint32_t site = errorcb ? ls_register_site(LS_API_EVCONNLISTENER_SET_ERROR_CB,
						   (ls_fn)errorcb, ret) : 0;
	if (errorcb != NULL)
		ls_lev_set(token, LS_LEV_ERROR, (ls_fn)errorcb, NULL, 0, site);
	real(lev, errorcb ? ls_lev_error_tramp : NULL);
	if (errorcb == NULL)
		ls_lev_set(token, LS_LEV_ERROR, NULL, NULL, 0, 0);
}

LS_EXPORT void evconnlistener_free(struct evconnlistener *lev)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&evconnlistener_free) real = LS_EV(evconnlistener_free);
	void *token = lev ? ls_lev_token(lev) : NULL;
	if (token == NULL || ls_ev_skip((const void *)real, ret)) {
		real(lev);
		return;
	}
	/* The listener's entry goes first: once freed, its address may hold
	 * a new one. The token's goes after: no callback comes then. */
	ls_ev_forget(lev);
	real(lev);
	ls_ev_forget(token);
}

/* ---- evhttp --------------------------------------------------------------- */

static void ls_http_tramp(struct evhttp_request *req, void *token)
{
	struct ls_entry *e = ls_table_find(token);
	if (LS_UNLIKELY(e == NULL || e->cb[0] == NULL))
		ls_lost_callback("evhttp callback", token);
	void (*cb)(struct evhttp_request *, void *) = (void (*)(struct evhttp_request *, void *))e->cb[0];
	void *arg = e->arg;
	uint32_t site = e->site[0];
	LS_EV_TIMED(site, cb(req, arg));
}

/* A path's callback stays as long as the evhttp: its token's entry too. */
LS_EXPORT int evhttp_set_cb(struct evhttp *http, const char *path,
			    void (*cb)(struct evhttp_request *, void *), void *arg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&evhttp_set_cb) real = LS_EV(evhttp_set_cb);
	if (cb == NULL || ls_ev_skip((const void *)real, ret) || ls_ev_own_cb((const void *)cb))
		return real(http, path, cb, arg);
	void *token = ls_ev_oneshot(LS_API_EVHTTP_SET_CB, (ls_fn)cb, arg, NULL, ret, 0);
	if (token == NULL)
		return real(http, path, cb, arg);
	int rc = real(http, path, ls_http_tramp, token);
	if (rc != 0)
		ls_ev_forget(token);
	return rc;
}

LS_EXPORT void evhttp_set_gencb(struct evhttp *http, void (*cb)(struct evhttp_request *, void *),
				void *arg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&evhttp_set_gencb) real = LS_EV(evhttp_set_gencb);
	void *token = NULL;
	if (cb != NULL && !ls_ev_skip((const void *)real, ret) && !ls_ev_own_cb((const void *)cb))
		token = ls_ev_oneshot(LS_API_EVHTTP_SET_GENCB, (ls_fn)cb, arg, NULL, ret, 0);
	if (token == NULL)
		real(http, cb, arg);
	else
		real(http, ls_http_tramp, token);
}

/* ---- evdns ---------------------------------------------------------------- */

/* Resolution callbacks run once (with an error when cancelled or when the
 * evdns base is freed with its requests failed); a request evdns refused
 * at once may or may not have called back, so its token is left, not
 * forgotten. */
static void ls_dns_tramp(int result, char type, int count, int ttl, void *addresses, void *token)
{
	struct ls_entry e;
	ls_ev_oneshot_take(token, &e);
	evdns_callback_type cb = (evdns_callback_type)e.cb[0];
	LS_EV_TIMED(e.site[0], cb(result, type, count, ttl, addresses, e.arg));
}

static void ls_gai_tramp(int result, struct evutil_addrinfo *res, void *token)
{
	struct ls_entry e;
	ls_ev_oneshot_take(token, &e);
	evdns_getaddrinfo_cb cb = (evdns_getaddrinfo_cb)e.cb[0];
	LS_EV_TIMED(e.site[0], cb(result, res, e.arg));
}

/* The callback may run before evdns_getaddrinfo returns (a numeric host,
 * a cached answer): the token is made first. */
LS_EXPORT struct evdns_getaddrinfo_request *
evdns_getaddrinfo(struct evdns_base *dns_base, const char *nodename, const char *servname,
		  const struct evutil_addrinfo *hints_in, evdns_getaddrinfo_cb cb, void *arg)
{
	const void *ret = __builtin_return_address(0);
	__typeof__(&evdns_getaddrinfo) real = LS_EV(evdns_getaddrinfo);
	void *token = NULL;
	if (cb != NULL && !ls_ev_skip((const void *)real, ret) && !ls_ev_own_cb((const void *)cb))
		token = ls_ev_oneshot(LS_API_EVDNS_GETADDRINFO, (ls_fn)cb, arg, NULL, ret, 0);
	if (token == NULL)
		return real(dns_base, nodename, servname, hints_in, cb, arg);
	return real(dns_base, nodename, servname, hints_in, ls_gai_tramp, token);
}

#define LS_DNS_RESOLVE(name, api, what_t)                                                   \
	LS_EXPORT struct evdns_request *name(struct evdns_base *base, what_t what, int flags, \
					     evdns_callback_type cb, void *ptr)             \
	{                                                                                   \
		const void *ret = __builtin_return_address(0);                              \
		__typeof__(&name) real = LS_EV(name);                                       \
		void *token = NULL;                                                         \
		if (cb != NULL && !ls_ev_skip((const void *)real, ret) &&                   \
		    !ls_ev_own_cb((const void *)cb))                                        \
			token = ls_ev_oneshot((api), (ls_fn)cb, ptr, NULL, ret, 0);         \
		if (token == NULL)                                                          \
			return real(base, what, flags, cb, ptr);                            \
		return real(base, what, flags, ls_dns_tramp, token);                        \
	}

LS_DNS_RESOLVE(evdns_base_resolve_ipv4, LS_API_EVDNS_RESOLVE_IPV4, const char *)
LS_DNS_RESOLVE(evdns_base_resolve_ipv6, LS_API_EVDNS_RESOLVE_IPV6, const char *)
LS_DNS_RESOLVE(evdns_base_resolve_reverse, LS_API_EVDNS_RESOLVE_REVERSE, const struct in_addr *)
LS_DNS_RESOLVE(evdns_base_resolve_reverse_ipv6, LS_API_EVDNS_RESOLVE_REVERSE_IPV6,
	       const struct in6_addr *)
