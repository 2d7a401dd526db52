/* The module map: every loaded object a recorded address falls in, with its
 * load bias and build-id, so that the viewer symbolizes offline. Objects
 * are written lazily: before a new stack or site is written, its addresses
 * are checked against the known objects, and the loader's list is read
 * again only when one is missing (a dlopen since the last look).
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "tracer/trace.h"

#define LS_MAX_MODULES 1024

struct ls_module {
	uintptr_t lo, hi, bias;
	uint8_t build_id_len;
	uint8_t build_id[LS_BUILD_ID_MAX];
	char path[512];
};

static struct ls_module mods[LS_MAX_MODULES];
static uint32_t nmods;                 /* published with release */
static pthread_mutex_t mods_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t self_lo, self_hi;

static void ls_range(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < *lo)
			*lo = a;
		if (a + ph->p_memsz > *hi)
			*hi = a + ph->p_memsz;
	}
}

static void ls_build_id(const struct dl_phdr_info *info, struct ls_module *m)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
		const char *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
			const char *name = p + sizeof(*n);
			const char *desc = name + ((n->n_namesz + 3) & ~3u);
			const char *next = desc + ((n->n_descsz + 3) & ~3u);
			if (next > end)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && n->n_descsz <= LS_BUILD_ID_MAX) {
				m->build_id_len = (uint8_t)n->n_descsz;
				memcpy(m->build_id, desc, n->n_descsz);
				return;
			}
			p = next;
		}
	}
}

static void ls_emit_module(uint32_t id)
{
	const struct ls_module *m = &mods[id - 1];
	uint16_t len = (uint16_t)strlen(m->path);
	uint32_t size = (uint32_t)(sizeof(struct ls_rec) + sizeof(struct ls_rec_module) + len + 7) & ~7u;
	struct ls_rec *r = ls_rec_reserve(size);
	if (r == NULL)
		return;
	memset(r, 0, size);
	r->type = LS_REC_MODULE;
	r->size = (uint16_t)size;
	r->arg = id;
	struct ls_rec_module *rm = (struct ls_rec_module *)(r + 1);
	rm->bias = m->bias;
	rm->lo = m->lo;
	rm->hi = m->hi;
	rm->build_id_len = m->build_id_len;
	memcpy(rm->build_id, m->build_id, m->build_id_len);
	rm->path_len = len;
	memcpy(rm + 1, m->path, len);
	ls_rec_commit(size);
}

static int ls_known(uintptr_t pc)
{
	uint32_t n = __atomic_load_n(&nmods, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++)
		if (pc >= mods[i].lo && pc < mods[i].hi)
			return 1;
	return 0;
}

static int ls_add_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	uintptr_t lo, hi;
	ls_range(info, &lo, &hi);
	if (lo >= hi || ls_known(lo))
		return 0;
	uint32_t n = nmods;
	if (n >= LS_MAX_MODULES)
		return 1;
	struct ls_module *m = &mods[n];
	memset(m, 0, sizeof(*m));
	m->lo = lo;
	m->hi = hi;
	m->bias = info->dlpi_addr;
	const char *name = info->dlpi_name;
	if (name == NULL || name[0] == 0) {
		/* The main program has no name in the loader's list. */
		ssize_t k = readlink("/proc/self/exe", m->path, sizeof(m->path) - 1);
		m->path[k > 0 ? k : 0] = 0;
		if (k <= 0)
			strcpy(m->path, "[unknown]");
	} else {
		strncpy(m->path, name, sizeof(m->path) - 1);
	}
	ls_build_id(info, m);
	__atomic_store_n(&nmods, n + 1, __ATOMIC_RELEASE);
	return 0;
}

void ls_modules_cover(const uintptr_t *pcs, uint32_t n)
{
	uint32_t i = 0;
	while (i < n && ls_known(pcs[i]))
		i++;
	if (i == n)
		return;
	pthread_mutex_lock(&mods_lock);
	uint32_t before = nmods;
	dl_iterate_phdr(ls_add_module, NULL);
	uint32_t after = nmods;
	pthread_mutex_unlock(&mods_lock);
	for (uint32_t id = before + 1; id <= after; id++)
		ls_emit_module(id);
}

void ls_modules_replay(void)
{
	uint32_t n = __atomic_load_n(&nmods, __ATOMIC_ACQUIRE);
	for (uint32_t id = 1; id <= n; id++)
		ls_emit_module(id);
}

struct ls_find {
	uintptr_t addr, lo, hi;
	int found;
};

static int ls_find_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct ls_find *f = arg;
	uintptr_t lo, hi;
	ls_range(info, &lo, &hi);
	if (f->addr >= lo && f->addr < hi) {
		f->lo = lo;
		f->hi = hi;
		f->found = 1;
		return 1;
	}
	return 0;
}

int ls_module_range_of(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
	struct ls_find f = { .addr = (uintptr_t)addr };
	dl_iterate_phdr(ls_find_cb, &f);
	*lo = f.lo;
	*hi = f.hi;
	return f.found ? 0 : -1;
}

void ls_modules_init_self(void)
{
	ls_module_range_of((const void *)ls_modules_init_self, &self_lo, &self_hi);
}

int ls_module_is_self(uintptr_t pc)
{
	return pc >= self_lo && pc < self_hi;
}
