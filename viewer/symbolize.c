/* Symbolizes the addresses of one traced process.
 *
 * Each MODULE record is reported to an offline Dwfl at its load bias, so
 * that Dwfl addresses are the process's absolute addresses. A module is
 * loaded the first time one of its addresses is looked up, and only trusted
 * when its file is still on disk, is a regular file, and carries the build-id
 * that was recorded: a rebuilt binary would otherwise give wrong names. An
 * untrusted or unloadable module still gives module+offset. One file is
 * loaded once, however many modules of the trace name it (at other biases
 * or under other paths): a hostile trace would otherwise have it loaded,
 * with its debug information, hundreds of times. */
#include "viewer/symbolize.h"
#include "viewer/pycode.h"

#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libiberty/demangle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Beyond this, a hostile trace could exhaust file descriptors. */
#define MAX_LOADED_MODULES 512

enum mod_state { MOD_UNTRIED, MOD_TRUSTED, MOD_UNTRUSTED };

struct mod_entry {
	const struct ls_module *m;
	enum mod_state state;
	Dwfl_Module *dm;  /* possibly another entry's, for the same file */
	uint64_t dm_bias; /* the bias dm was reported at */
	dev_t dev;        /* the file, once stat'ed */
	ino_t ino;
};

/* Frames live on the heap so that growing the table keeps the pointers
 * ls_symbolize() has handed out valid. */
struct cache_entry {
	uint64_t pc;
	int exact;
	struct ls_frame *frame; /* NULL: free slot */
};

struct ls_symbolizer {
	const struct ls_trace *t;
	Dwfl *dwfl;
	struct mod_entry *mods;
	size_t nmods, loaded;
	struct cache_entry *cache;
	size_t cache_cap, cache_len;
	struct ls_stack_view *views;  /* by index in t->stacks, made when first asked */
	size_t npy_blocks;            /* every view's Python frames, one block each */
	struct ls_frame **py_blocks;
	struct ls_frame *code_frames; /* by index in t->pycodes, made when first asked */
};

/* Where libdwfl looks for a separate debug file (its syntax: "-" checks no
 * CRC; an empty entry is the file's own directory, a relative one a
 * subdirectory of it; in an absolute one, DIR/.build-id/xx/rest.debug by
 * build-id and DIR/<the file's directory>/<its .gnu_debuglink>): its
 * default, with the directories of LOOPSAN_DEBUG_PATH before
 * /usr/lib/debug. Set once, by the first symbolizer. */
static char *debuginfo_path;

static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

const char *ls_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* LOOPSAN_DEBUG_PATH: directories separated by ':', each taken as it
 * resolves from the working directory (libdwfl would take a relative one
 * as a subdirectory of each module's own directory); those that are no
 * directory are left out. */
static void set_debuginfo_path(void)
{
	static const char head[] = "-:.debug", tail[] = ":/usr/lib/debug";
	if (debuginfo_path)
		return;
	const char *extra = getenv("LOOPSAN_DEBUG_PATH");
	size_t len = sizeof(head) - 1, cap = sizeof(head) + sizeof(tail);
	char *path = ls_xmalloc(cap);
	memcpy(path, head, len);
	for (const char *p = extra ? extra : ""; *p;) {
		size_t n = strcspn(p, ":");
		char *dir = ls_xstrndup(p, n);
		char *abs = n ? realpath(dir, NULL) : NULL;
		struct stat st;
		if (abs && !strchr(abs, ':') && stat(abs, &st) == 0 && S_ISDIR(st.st_mode)) {
			size_t k = strlen(abs);
			cap += k + 1;
			path = ls_xrealloc(path, cap);
			path[len++] = ':';
			memcpy(path + len, abs, k);
			len += k;
		}
		free(abs);
		free(dir);
		p += n + (p[n] == ':');
	}
	memcpy(path + len, tail, sizeof(tail));
	debuginfo_path = path;
}

struct ls_symbolizer *ls_symbolizer_new(const struct ls_trace *t)
{
	struct ls_symbolizer *s = ls_xcalloc(1, sizeof(*s));
	set_debuginfo_path();
	s->t = t;
	s->dwfl = dwfl_begin(&offline_callbacks);
	s->nmods = t->modules.len;
	s->mods = ls_xcalloc(s->nmods, sizeof(*s->mods));
	for (size_t i = 0; i < s->nmods; i++)
		s->mods[i].m = LS_VEC_AT(&t->modules, struct ls_module, i);
	s->cache_cap = 256;
	s->cache = ls_xcalloc(s->cache_cap, sizeof(*s->cache));
	return s;
}

static void free_frame(struct ls_frame *f)
{
	free((char *)f->function);
	free((char *)f->plain);
	free((char *)f->file);
}

void ls_symbolizer_free(struct ls_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cache_cap; i++) {
		if (s->cache[i].frame) {
			free_frame(s->cache[i].frame);
			free(s->cache[i].frame);
		}
	}
	free(s->cache);
	if (s->views)
		for (size_t i = 0; i < s->t->stacks.len; i++)
			free(s->views[i].frames);
	free(s->views);
	for (size_t i = 0; i < s->npy_blocks; i++)
		free(s->py_blocks[i]);
	free(s->py_blocks);
	free(s->code_frames);
	free(s->mods);
	if (s->dwfl)
		dwfl_end(s->dwfl);
	free(s);
}

static int is_regular_file(const char *path, struct stat *st)
{
	return path[0] == '/' && stat(path, st) == 0 && S_ISREG(st->st_mode);
}

/* Opens the file that stat gave st, for libdwfl. O_NONBLOCK and the second
 * check: a path that became a FIFO or a device since the stat (a hostile
 * trace's directory) must not block the viewer or be read. */
static int open_checked(const char *path, const struct stat *st)
{
	struct stat now;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &now) != 0 || !S_ISREG(now.st_mode) ||
	    now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Compared only when both the trace and the file have a build-id
 * (docs/FORMAT.md): without one there is nothing better than the path. */
static int build_id_matches(Dwfl_Module *dm, const struct ls_module *m)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int len = dwfl_module_build_id(dm, &bits, &vaddr);
	if (m->build_id_len == 0 || len <= 0)
		return 1;
	return len == m->build_id_len && memcmp(bits, m->build_id, len) == 0;
}

/* The module already loaded from the same file, if any. */
static const struct mod_entry *loaded_file(const struct ls_symbolizer *s,
					   const struct stat *st)
{
	for (size_t i = 0; i < s->nmods; i++) {
		const struct mod_entry *o = &s->mods[i];
		if (o->dm && o->dev == st->st_dev && o->ino == st->st_ino)
			return o;
	}
	return NULL;
}

static void load_module(struct ls_symbolizer *s, struct mod_entry *e)
{
	struct stat st;
	e->state = MOD_UNTRUSTED;
	if (!s->dwfl || !is_regular_file(e->m->path, &st))
		return;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	const struct mod_entry *same = loaded_file(s, &st);
	if (same) {
		e->dm = same->dm;
		e->dm_bias = same->dm_bias;
	} else {
		if (s->loaded >= MAX_LOADED_MODULES)
			return;
		int fd = open_checked(e->m->path, &st);
		if (fd < 0)
			return;
		s->loaded++;
		dwfl_report_begin_add(s->dwfl);
		/* On success the module owns fd, and dwfl_end closes it. */
		Dwfl_Module *dm = dwfl_report_elf(s->dwfl, ls_basename(e->m->path),
						  e->m->path, fd, e->m->bias, true);
		if (!dm)
			close(fd);
		if (dwfl_report_end(s->dwfl, NULL, NULL) != 0 || !dm)
			return;
		e->dm = dm;
		e->dm_bias = e->m->bias;
	}
	if (build_id_matches(e->dm, e->m))
		e->state = MOD_TRUSTED;
}

static struct mod_entry *module_at(struct ls_symbolizer *s, uint64_t pc)
{
	for (size_t i = 0; i < s->nmods; i++) {
		const struct ls_module *m = s->mods[i].m;
		if (pc >= m->lo && pc < m->hi)
			return &s->mods[i];
	}
	return NULL;
}

/* The line at addr found through the compile unit that covers it. clang
 * writes no .debug_aranges by default, and elfutils 0.188 (Debian 12) finds
 * a unit for an address only through them, so dwfl_module_getsrc finds
 * nothing in a program built with clang: this walks the units instead. */
static Dwarf_Line *line_by_cu(Dwfl_Module *dm, Dwarf_Addr addr)
{
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = NULL;
	while ((cu = dwfl_module_nextcu(dm, cu, &bias)) != NULL)
		if (dwarf_haspc(cu, addr - bias) == 1)
			return dwarf_getsrc_die(cu, addr - bias);
	return NULL;
}

/* A C++ symbol (_Z...) demangled by libiberty, the demangler of binutils
 * and gdb: function with its parameters, app::Ticker::on_tick(uv_timer_s*),
 * and plain without, app::Ticker::on_tick. Anything else as it is. */
static void set_function(struct ls_frame *f, const char *name, size_t len)
{
	char *raw = ls_xstrndup(name, len);
	char *full = raw[0] == '_' && raw[1] == 'Z' ?
		cplus_demangle(raw, DMGL_PARAMS | DMGL_ANSI) : NULL;
	if (!full) {
		f->function = raw;
		return;
	}
	char *plain = cplus_demangle(raw, DMGL_ANSI);
	free(raw);
	f->function = full;
	if (plain && strcmp(plain, full) != 0)
		f->plain = plain;
	else
		free(plain);
}

static void lookup_dwarf(Dwfl_Module *dm, uint64_t addr, struct ls_frame *f)
{
	GElf_Off off;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(dm, addr, &off, &sym, NULL,
						NULL, NULL);
	if (name && name[0] != '@') /* "fn@@GLIBC_2.34": keep the bare name */
		set_function(f, name, strcspn(name, "@"));
	Dwfl_Line *line = dwfl_module_getsrc(dm, addr);
	int lineno = 0;
	const char *file = NULL;
	if (line) {
		file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
	} else {
		Dwarf_Line *l = line_by_cu(dm, addr);
		if (l && dwarf_lineno(l, &lineno) == 0)
			file = dwarf_linesrc(l, NULL, NULL);
	}
	if (file && lineno > 0) {
		f->file = ls_xstrdup(file);
		f->line = lineno;
	}
}

static void lookup(struct ls_symbolizer *s, uint64_t pc, int exact,
		   struct ls_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->pc = pc;
	struct mod_entry *e = module_at(s, pc);
	if (!e)
		return;
	f->module = ls_basename(e->m->path);
	f->module_path = e->m->path;
	f->offset = pc - e->m->bias;
	if (e->state == MOD_UNTRIED)
		load_module(s, e);
	if (e->state == MOD_TRUSTED) {
		uint64_t addr = exact || pc == 0 ? pc : pc - 1;
		lookup_dwarf(e->dm, addr - e->m->bias + e->dm_bias, f);
	}
	/* No symbol in any source (a stripped program without its debug
	 * package): the module and the address in its ELF file, the same in
	 * every run whatever the load address, rather than pc. */
	if (!f->function) {
		char buf[300];
		snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, f->module, f->offset);
		f->function = ls_xstrdup(buf);
		f->unnamed = 1;
	}
}

static size_t slot_of(const struct ls_symbolizer *s, uint64_t pc, int exact)
{
	uint64_t h = (pc ^ (uint64_t)exact) * 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 32) & (s->cache_cap - 1);
}

static struct cache_entry *cache_find(struct ls_symbolizer *s, uint64_t pc,
				      int exact)
{
	size_t i = slot_of(s, pc, exact);
	while (s->cache[i].frame &&
	       (s->cache[i].pc != pc || s->cache[i].exact != exact))
		i = (i + 1) & (s->cache_cap - 1);
	return &s->cache[i];
}

static void cache_grow(struct ls_symbolizer *s)
{
	struct cache_entry *old = s->cache;
	size_t old_cap = s->cache_cap;
	s->cache_cap *= 2;
	s->cache = ls_xcalloc(s->cache_cap, sizeof(*s->cache));
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].frame)
			*cache_find(s, old[i].pc, old[i].exact) = old[i];
	free(old);
}

const struct ls_frame *ls_symbolize(struct ls_symbolizer *s, uint64_t pc,
				    int exact)
{
	exact = !!exact;
	if (2 * (s->cache_len + 1) > s->cache_cap)
		cache_grow(s);
	struct cache_entry *c = cache_find(s, pc, exact);
	if (!c->frame) {
		c->pc = pc;
		c->exact = exact;
		c->frame = ls_xmalloc(sizeof(*c->frame));
		lookup(s, pc, exact, c->frame);
		s->cache_len++;
	}
	return c->frame;
}

/* ---- stacks with their Python frames ---- */

static int is_eval_frame(const struct ls_frame *f)
{
	return !f->python && f->function && strcmp(f->function, "_PyEval_EvalFrameDefault") == 0;
}

/* The interpreter's own module (python3.11, libpython3.13.so.1.0). */
int ls_frame_is_interpreter(const struct ls_frame *f)
{
	const char *m = f->module;
	if (f->python || !m)
		return 0;
	if (strncmp(m, "libpython3", 10) == 0)
		return strstr(m, ".so") != NULL;
	return strncmp(m, "python3", 7) == 0 && strstr(m, ".so") == NULL;
}

static struct ls_frame *new_py_frame(struct ls_symbolizer *s, const struct ls_stack *st,
				     uint32_t k)
{
	struct ls_frame *f = ls_xcalloc(1, sizeof(*f));
	s->py_blocks = ls_xrealloc(s->py_blocks, (s->npy_blocks + 1) * sizeof(*s->py_blocks));
	s->py_blocks[s->npy_blocks++] = f;
	const struct ls_pycode *c = ls_trace_pycode(s->t, st->py[k].code);
	f->python = 1;
	f->function = c && c->name[0] ? c->name : "?";
	f->file = c && c->file[0] ? c->file : NULL;
	f->line = c ? ls_pycode_line(c, st->py[k].lasti) : 0;
	f->def_line = c && c->firstlineno > 0 ? c->firstlineno : 0;
	return f;
}

/* Appends the Python frames from *k up to and including the next entry
 * frame (one C call of the eval loop runs them), or all that are left. */
static void add_py_run(struct ls_symbolizer *s, const struct ls_stack *st, uint32_t *k,
		       int all, struct ls_stack_view *v)
{
	while (*k < st->npy) {
		uint32_t at = (*k)++;
		v->frames[v->n++] = new_py_frame(s, st, at);
		if (!all && (st->py[at].flags & LS_PY_ENTRY))
			break;
	}
}

static void make_view(struct ls_symbolizer *s, const struct ls_stack *st, struct ls_stack_view *v)
{
	v->frames = ls_xcalloc((size_t)st->depth + st->npy + 1, sizeof(*v->frames));
	int evals = 0;
	for (uint32_t i = 0; i < st->depth && st->npy; i++)
		evals += is_eval_frame(ls_symbolize(s, st->pcs[i], 0));
	uint32_t k = 0;
	for (uint32_t i = 0; i < st->depth; i++) {
		int exact = i == 0 && (st->flags & LS_STACK_EXACT_PC0);
		const struct ls_frame *f = ls_symbolize(s, st->pcs[i], exact);
		if (evals && is_eval_frame(f) && k < st->npy) {
			add_py_run(s, st, &k, 0, v);
			continue;
		}
		/* No eval frame named (a stripped interpreter): the Python
		 * frames go where the interpreter's frames begin. */
		if (!evals && k == 0 && ls_frame_is_interpreter(f))
			add_py_run(s, st, &k, 1, v);
		v->frames[v->n++] = f;
	}
	/* What the native stack was too short to reach: the outermost. */
	add_py_run(s, st, &k, 1, v);
}

const struct ls_stack_view *ls_stack_view(struct ls_symbolizer *s, const struct ls_stack *st)
{
	const struct ls_vec *stacks = &s->t->stacks;
	size_t i = (size_t)(st - (const struct ls_stack *)stacks->items);
	if (stacks->len == 0 || st < (const struct ls_stack *)stacks->items || i >= stacks->len)
		return NULL;
	if (!s->views)
		s->views = ls_xcalloc(stacks->len, sizeof(*s->views));
	if (!s->views[i].frames)
		make_view(s, st, &s->views[i]);
	return &s->views[i];
}

const struct ls_frame *ls_symbolize_code(struct ls_symbolizer *s, uint32_t code)
{
	const struct ls_pycode *c = ls_trace_pycode(s->t, code);
	if (!c)
		return NULL;
	size_t i = (size_t)(c - (const struct ls_pycode *)s->t->pycodes.items);
	if (!s->code_frames)
		s->code_frames = ls_xcalloc(s->t->pycodes.len, sizeof(*s->code_frames));
	struct ls_frame *f = &s->code_frames[i];
	if (!f->python) {
		f->python = 1;
		f->function = c->name[0] ? c->name : "?";
		f->file = c->file[0] ? c->file : NULL;
		f->def_line = f->line = c->firstlineno > 0 ? c->firstlineno : 0;
	}
	return f;
}

/* .eh_frame_hdr's search table (the form every linker writes: a 4-byte
 * count and pairs of 4-byte offsets from the section) sorted by the first
 * address of each function that has unwind information, which every
 * function a C compiler emits has, stripped or not. */
struct fde_table {
	const uint8_t *pairs; /* count pairs of int32: start, FDE */
	uint32_t count;
	uint64_t base;        /* the section's address (ELF) */
};

static int fde_table_of(Elf *elf, struct fde_table *tab)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return -1;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;
		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
		    strcmp(name, ".eh_frame_hdr") != 0)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		const uint8_t *p = d ? d->d_buf : NULL;
		/* version 1; eh_frame_ptr any 4-byte form; count udata4;
		 * table datarel sdata4 */
		if (!p || d->d_size < 12 || p[0] != 1 || (p[1] & 0x0f) != 0x0b ||
		    p[2] != 0x03 || p[3] != 0x3b)
			return -1;
		memcpy(&tab->count, p + 8, 4);
		if (tab->count > (d->d_size - 12) / 8)
			return -1;
		tab->pairs = p + 12;
		tab->base = sh.sh_addr;
		return 0;
	}
	return -1;
}

/* The index of the function that holds ELF address addr; -1 if none. */
static int64_t fde_index(const struct fde_table *tab, uint64_t addr)
{
	int64_t lo = 0, hi = (int64_t)tab->count - 1, found = -1;
	while (lo <= hi) {
		int64_t mid = lo + (hi - lo) / 2;
		int32_t start;
		memcpy(&start, tab->pairs + 8 * mid, 4);
		if (tab->base + (uint64_t)(int64_t)start <= addr) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

/* Whether Dwfl addresses a and b are in one function, by the unwind
 * tables; -1 when the module has none to ask. */
static int same_fde(Dwfl_Module *dm, uint64_t a, uint64_t b)
{
	GElf_Addr bias;
	struct fde_table tab;
	if (fde_table_of(dwfl_module_getelf(dm, &bias), &tab) != 0)
		return -1;
	int64_t i = fde_index(&tab, a - bias);
	return i >= 0 && i == fde_index(&tab, b - bias);
}

int ls_frame_in_function(struct ls_symbolizer *s, const struct ls_frame *f, uint64_t fn)
{
	if (f->python || f->pc == 0)
		return 0;
	struct mod_entry *e = module_at(s, fn);
	if (!e || e != module_at(s, f->pc))
		return 0;
	if (e->state == MOD_UNTRIED)
		load_module(s, e);
	uint64_t at = f->pc - e->m->bias + e->dm_bias, want = fn - e->m->bias + e->dm_bias;
	/* A return address is just past its call, which may end the
	 * function; a sampled pc (frame 0) is exact. */
	int same = e->state == MOD_TRUSTED ? same_fde(e->dm, want, at - 1) : -1;
	if (same == 0 && e->state == MOD_TRUSTED)
		same = same_fde(e->dm, want, at);
	if (same >= 0)
		return same;
	const struct ls_frame *cb = ls_symbolize(s, fn, 1);
	return cb->function && f->function && strcmp(cb->function, f->function) == 0;
}
