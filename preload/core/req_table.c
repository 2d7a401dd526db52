/* The request table: libuv requests in flight (a write, a connect, an fs
 * call, ...) -> the user's callback, its site, its api and its loop.
 *
 * A request is put once when it starts and taken once when its callback
 * comes, usually on the loop thread, thousands of times a second in a
 * server that writes much: so neither takes a lock. One process-wide
 * open-addressing table of small slots, mapped once (touched as used) and
 * never grown or freed, like the call-site table. A put claims a free
 * slot within LS_REQ_PROBES of the key's home by a CAS on the key (to
 * BUSY), fills it, and publishes the key with a release store; a take
 * reads the slot, then frees it (TOMB). When no slot is free in the
 * window, the caller falls back to the side table (ls_uv_req_start), which
 * a take then also looks in.
 *
 * Slots are never emptied again, only made tombstones: a key is always
 * placed before the first empty slot of its window, so a search may stop
 * there. A put first looks for its key in the window: a request whose
 * callback never came (its loop was abandoned) and whose memory now holds
 * a new request keeps one slot, the new one, as the side table's
 * ls_table_get_new_locked did.
 */
#include "preload/core/shim.h"

#define LS_REQ_BITS 15             /* 32 Ki slots of 32 bytes: 1 MiB, touched as used */
#define LS_REQ_SLOTS (1u << LS_REQ_BITS)
#define LS_REQ_PROBES 16

#define LS_REQ_EMPTY ((uintptr_t)0)
#define LS_REQ_TOMB ((uintptr_t)1)
#define LS_REQ_BUSY ((uintptr_t)2)  /* claimed, being filled */

struct ls_req_slot {
	uintptr_t key;
	ls_fn cb;
	void *loop;
	uint32_t site;
	uint16_t api;
	uint16_t flags;      /* LS_ENT_REPORTED */
};
_Static_assert(sizeof(struct ls_req_slot) == 32, "a request slot is 32 bytes");
_Static_assert(LS_API_COUNT <= UINT16_MAX, "an api fits a request slot");

static void *ls_req_tab;          /* struct ls_req_slot[LS_REQ_SLOTS] */
static int ls_req_tab_state;        /* 0 not yet, 1 mapped, -1 unavailable */

__attribute__((noinline)) static struct ls_req_slot *ls_req_tab_map(void)
{
	return ls_map_once(&ls_req_tab, &ls_req_tab_state,
			   sizeof(struct ls_req_slot) * LS_REQ_SLOTS);
}

/* The table, or NULL before the first put. */
static inline struct ls_req_slot *ls_req_tab_now(void)
{
	return (struct ls_req_slot *)__atomic_load_n(&ls_req_tab, __ATOMIC_ACQUIRE);
}

/* The table, mapped at the first put. */
static inline struct ls_req_slot *ls_req_tab_get(void)
{
	struct ls_req_slot *t = ls_req_tab_now();
	return LS_LIKELY(t != NULL) ? t : ls_req_tab_map();
}

static inline uint32_t ls_req_home(uintptr_t k)
{
	return (uint32_t)(((uint64_t)k * 0x9e3779b97f4a7c15ull) >> (64 - LS_REQ_BITS));
}

static inline struct ls_req_slot *ls_req_at(struct ls_req_slot *t, uint32_t home, uint32_t i)
{
	return &t[(home + i) & (LS_REQ_SLOTS - 1)];
}

/* The slot holding key k, or NULL; stops at the first empty slot. */
static struct ls_req_slot *ls_req_find(struct ls_req_slot *t, uintptr_t k)
{
	uint32_t home = ls_req_home(k);
	for (uint32_t i = 0; i < LS_REQ_PROBES; i++) {
		struct ls_req_slot *s = ls_req_at(t, home, i);
		uintptr_t have = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (have == k)
			return s;
		if (have == LS_REQ_EMPTY)
			return NULL;
	}
	return NULL;
}

int ls_req_put(const void *req, const struct ls_req_info *in)
{
	uintptr_t k = (uintptr_t)req;
	struct ls_req_slot *t = ls_req_tab_get();
	if (LS_UNLIKELY(t == NULL || k <= LS_REQ_BUSY))
		return -1;
	uint32_t home = ls_req_home(k);
	struct ls_req_slot *s;
	uintptr_t was;
again:
	s = NULL;
	was = 0;
	/* One pass: the key itself (a request that never called back), or
	 * else the first free slot; the key lies before the first empty one. */
	for (uint32_t i = 0; i < LS_REQ_PROBES; i++) {
		struct ls_req_slot *c = ls_req_at(t, home, i);
		uintptr_t have = __atomic_load_n(&c->key, __ATOMIC_ACQUIRE);
		if (have == k) {
			s = c;
			goto fill;
		}
		if (have <= LS_REQ_TOMB) {   /* empty or a tombstone: free */
			if (s == NULL) {
				s = c;
				was = have;
			}
			if (have == LS_REQ_EMPTY)
				break;
		}
	}
	if (s == NULL)
		return -1;
	/* Another put may claim it first: then look again. */
	if (!__atomic_compare_exchange_n(&s->key, &was, LS_REQ_BUSY, 0, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		goto again;
fill:
	s->cb = in->cb;
	s->loop = in->loop;
	s->site = in->site;
	s->api = (uint16_t)in->api;
	s->flags = 0;
	__atomic_store_n(&s->key, k, __ATOMIC_RELEASE);
	return 0;
}

int ls_req_take(const void *req, struct ls_req_info *out)
{
	struct ls_req_slot *t = ls_req_tab_now();
	uintptr_t k = (uintptr_t)req;
	if (t == NULL || k <= LS_REQ_BUSY)
		return 0;
	struct ls_req_slot *s = ls_req_find(t, k);
	if (s == NULL)
		return 0;
	out->cb = s->cb;
	out->loop = s->loop;
	out->site = s->site;
	out->api = s->api;
	/* Only after reading it: a put may claim the slot at once. */
	__atomic_store_n(&s->key, LS_REQ_TOMB, __ATOMIC_RELEASE);
	return 1;
}

void ls_req_foreach(void (*fn)(const void *req, struct ls_req_info *r, int *reported, void *arg),
		    void *arg)
{
	struct ls_req_slot *t = ls_req_tab_now();
	for (uint32_t i = 0; t != NULL && i < LS_REQ_SLOTS; i++) {
		struct ls_req_slot *s = &t[i];
		uintptr_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		if (k <= LS_REQ_BUSY)
			continue;
		struct ls_req_info r = { .cb = s->cb, .loop = s->loop, .site = s->site, .api = s->api };
		int reported = s->flags != 0;
		fn((const void *)k, &r, &reported, arg);
		s->flags = reported ? 1 : 0;
	}
}
