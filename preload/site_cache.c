/* The site of a registration, looked up by the registering call
 * instruction, the callback and the api, so that a call site does not
 * unwind its stack every time (stack_cache=1). */
#include "preload/shim.h"

#define LS_SITE_CACHE 32

struct ls_site_cache {
	uintptr_t ret, cb;
	uint32_t api, site;
};

static __thread struct ls_site_cache ls_sites_seen[LS_SITE_CACHE];

uint32_t ls_register_site(uint32_t api, ls_fn cb, const void *ret)
{
	uintptr_t r = (uintptr_t)ret, c = (uintptr_t)cb;
	struct ls_site_cache *slot =
		&ls_sites_seen[((r >> 2) ^ (r >> 9) ^ (c >> 4) ^ api) % LS_SITE_CACHE];
	if (ls_opt.stack_cache && slot->ret == r && slot->cb == c && slot->api == api &&
	    slot->site != 0)
		return slot->site;
	uint32_t site = ls_site_intern(api, ls_stack_capture(), c);
	*slot = (struct ls_site_cache){ .ret = r, .cb = c, .api = api, .site = site };
	return site;
}
