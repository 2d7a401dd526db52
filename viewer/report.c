/* The report pipeline shared by the commands: read traces (a directory
 * stands for its *.trace files), symbolize lazily, collect findings, leave
 * out the suppressed ones. */
#include "viewer/commands.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

void ls_error(const char *fmt, ...)
{
	va_list ap;
	fputs("loopsan: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *ls_option_value(const char *cmd, int argc, char **argv, int *i,
			    const char *name, int *bad)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0)
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] != '\0')
		return NULL;
	if (*i + 1 == argc) {
		ls_error("%s: %s needs a value (see loopsan %s --help)", cmd, name, cmd);
		*bad = 1;
		return NULL;
	}
	return argv[++*i];
}

int ls_parse_command_line(const char *cmd, int argc, char **argv,
			  int (*option)(int argc, char **argv, int *i, void *arg), void *arg,
			  char ***paths, size_t *npaths)
{
	int only_paths = 0;
	*paths = ls_xcalloc((size_t)argc, sizeof(char *));
	*npaths = 0;
	for (int i = 1; i < argc; i++) {
		if (!only_paths && strcmp(argv[i], "--") == 0) {
			only_paths = 1;
		} else if (!only_paths && argv[i][0] == '-' && argv[i][1]) {
			int rc = option(argc, argv, &i, arg);
			if (rc)
				return rc;
		} else {
			(*paths)[(*npaths)++] = argv[i];
		}
	}
	if (*npaths == 0) {
		ls_error("%s: no trace given (see loopsan %s --help)", cmd, cmd);
		return -1;
	}
	return 0;
}

static int has_trace_suffix(const char *name)
{
	size_t n = strlen(name);
	return n > 6 && strcmp(name + n - 6, ".trace") == 0;
}

static int name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_regular(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ls_list_traces(const char *dir, struct ls_vec *out)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	size_t first = out->len;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!has_trace_suffix(e->d_name))
			continue;
		char *path = ls_xmalloc(strlen(dir) + strlen(e->d_name) + 2);
		sprintf(path, "%s/%s", dir, e->d_name);
		if (is_regular(path))
			*(char **)ls_vec_push(out) = path;
		else
			free(path);
	}
	closedir(d);
	char **items = out->items;
	if (out->len - first > 1)
		qsort(items + first, out->len - first, sizeof(char *), name_order);
	return 0;
}

static int expand_dir(const char *dir, struct ls_vec *out)
{
	size_t before = out->len;
	if (ls_list_traces(dir, out)) {
		ls_error("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (out->len == before) {
		ls_error("%s: no .trace files in this directory", dir);
		return -1;
	}
	return 0;
}

/* The files of paths; the number of paths that could not be listed. */
static size_t expand_paths(char *const *paths, size_t npaths, struct ls_vec *out)
{
	size_t bad = 0;
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;
		if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			bad += expand_dir(paths[i], out) != 0;
			continue;
		}
		*(char **)ls_vec_push(out) = ls_xstrdup(paths[i]);
	}
	return bad;
}

void ls_report_add(struct ls_report *r, struct ls_trace *t)
{
	r->traces = ls_xrealloc(r->traces, (r->ntraces + 1) * sizeof(*r->traces));
	r->syms = ls_xrealloc(r->syms, (r->ntraces + 1) * sizeof(*r->syms));
	r->traces[r->ntraces] = t;
	r->syms[r->ntraces] = ls_symbolizer_new(t);
	r->ntraces++;
}

/* ---- frames and names ---- */

/* The shim's own frames are never the user's business. */
#define SHIM_MODULE "libloopsan.so"

struct ls_symbolizer *ls_report_symbolizer(const struct ls_report *r,
					   const struct ls_trace *t)
{
	for (size_t i = 0; i < r->ntraces; i++)
		if (r->traces[i] == t)
			return r->syms[i];
	return NULL;
}

static const struct ls_stack_view no_view;

static const struct ls_stack_view *view_of(struct ls_symbolizer *s, const struct ls_stack *st)
{
	const struct ls_stack_view *v = ls_stack_view(s, st);
	return v ? v : &no_view;
}

uint32_t ls_stack_nframes(struct ls_symbolizer *s, const struct ls_stack *st)
{
	return view_of(s, st)->n;
}

uint32_t ls_stack_first_frame(struct ls_symbolizer *s, const struct ls_stack *st)
{
	const struct ls_stack_view *v = view_of(s, st);
	uint32_t i = 0;
	while (i < v->n) {
		const struct ls_frame *f = v->frames[i];
		if (!f->module || strcmp(f->module, SHIM_MODULE) != 0)
			break;
		i++;
	}
	return i;
}

const struct ls_frame *ls_stack_frame(struct ls_symbolizer *s,
				      const struct ls_stack *st, uint32_t i)
{
	return view_of(s, st)->frames[i];
}

/* A native function by its symbol, else module+0xoffset, else (outside
 * every module) its address. */
static void native_name(char *buf, size_t n, struct ls_symbolizer *s, uint64_t pc)
{
	const struct ls_frame *f = ls_symbolize(s, pc, 1);
	if (f->function)
		snprintf(buf, n, "%s", f->function);
	else
		snprintf(buf, n, "0x%" PRIx64, pc);
}

/* callback is a PYCODE id: the coroutine's for a task, 0 for a callable
 * that is not a Python function (a bound C method, a partial). */
static void python_name(struct ls_callback_name *out, struct ls_symbolizer *s, uint32_t api,
			uint64_t callback)
{
	const struct ls_frame *f = callback <= UINT32_MAX
		? ls_symbolize_code(s, (uint32_t)callback) : NULL;
	out->py = f;
	if (!f)
		snprintf(out->name, sizeof(out->name), "%s", callback ? "?" : "<not a Python function>");
	else if (api == LS_API_PY_CREATE_TASK)
		snprintf(out->name, sizeof(out->name), "Task %s()", f->function);
	else
		snprintf(out->name, sizeof(out->name), "%s", f->function);
}

/* The Python function native callback fn ran, in stuck_at (innermost
 * first): the Python frame nearest inward of fn's own frame, its
 * outermost if it recursed. NULL when stuck_at does not show fn, or no
 * Python below it. */
static const struct ls_frame *python_run_by(struct ls_symbolizer *s, const struct ls_stack *st,
					    uint64_t fn)
{
	if (!st || st->npy == 0)
		return NULL;
	uint32_t i = ls_stack_nframes(s, st);
	while (i-- > 0 && !ls_frame_in_function(s, ls_stack_frame(s, st, i), fn))
		;
	while (i != UINT32_MAX && i-- > 0)
		if (ls_stack_frame(s, st, i)->python)
			return ls_stack_frame(s, st, i);
	return NULL;
}

void ls_site_callback_name(struct ls_callback_name *out, struct ls_symbolizer *s,
			   const struct ls_site *site)
{
	memset(out, 0, sizeof(*out));
	if (ls_api_is_python(site->api))
		python_name(out, s, site->api, site->callback);
	else if (site->callback)
		native_name(out->name, sizeof(out->name), s, site->callback);
}

void ls_finding_callback_name(struct ls_callback_name *out, struct ls_symbolizer *s,
			      const struct ls_finding *fi)
{
	memset(out, 0, sizeof(*out));
	if (!fi->has_callback)
		return;
	if (ls_api_is_python(fi->callback_api)) {
		python_name(out, s, fi->callback_api, fi->callback);
		return;
	}
	const struct ls_frame *py = python_run_by(s, fi->stuck_at, fi->callback);
	if (!py) {
		native_name(out->name, sizeof(out->name), s, fi->callback);
		return;
	}
	out->py = py;
	snprintf(out->name, sizeof(out->name), "%s", py->function);
	native_name(out->run_by, sizeof(out->run_by), s, fi->callback);
}

void ls_finding_callback(char *buf, size_t n, struct ls_symbolizer *s,
			 const struct ls_finding *fi)
{
	struct ls_callback_name cn;
	ls_finding_callback_name(&cn, s, fi);
	if (n == 0)
		return;
	size_t len = strnlen(cn.name, n - 1);
	memcpy(buf, cn.name, len);
	buf[len] = '\0';
}

const struct ls_frame *ls_site_frame(struct ls_symbolizer *s, const struct ls_trace *t,
				     const struct ls_site *site)
{
	const struct ls_stack *st = site ? ls_trace_stack(t, site->stack) : NULL;
	if (!st)
		return NULL;
	uint32_t first = ls_stack_first_frame(s, st), n = ls_stack_nframes(s, st);
	for (uint32_t i = first; st->npy && i < n; i++)
		if (ls_stack_frame(s, st, i)->python && ls_frame_is_user(ls_stack_frame(s, st, i)))
			return ls_stack_frame(s, st, i);
	return first < n ? ls_stack_frame(s, st, first) : NULL;
}

/* libc, libuv, libpthread, the shim, the dynamic loader: frames there
 * are where the user's call went, not where it came from. */
int ls_frame_is_user(const struct ls_frame *f)
{
	if (f->python)
		return f->file && f->file[0] != '<' && !strstr(f->file, "/lib/python3") &&
		       !strstr(f->file, "-packages/");
	const char *m = f->module;
	if (!m)
		return 1;
	if ((strncmp(m, "lib", 3) == 0 && strstr(m, ".so")) ||
	    strncmp(m, "ld-linux", 8) == 0 || strncmp(m, "ld64.so", 7) == 0)
		return 0;
	/* The interpreter, and a Python package's extension (uvloop's
	 * loop.cpython-311-x86_64-linux-gnu.so): the loop, not the program. */
	if (ls_frame_is_interpreter(f))
		return 0;
	const char *p = f->module_path;
	return !(p && strstr(m, ".cpython-") &&
		 (strstr(p, "-packages/") || strstr(p, "/lib/python3")));
}

/* Where every thread starts, in the program's own module when it links
 * statically or in libc: not the code a finding is about. */
static int is_startup(const struct ls_frame *f)
{
	static const char *const names[] = {
		"_start", "__libc_start_main", "__libc_start_call_main", "__libc_start_main_impl",
		"start_thread", "clone", "clone3", "__clone", "__clone3",
	};
	if (!f->function)
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(f->function, names[i]) == 0)
			return 1;
	return f->file && strcmp(ls_basename(f->file), "pthread_create.c") == 0;
}

int ls_split_file_line(const char *s, size_t *file_len, int *line)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || colon[1] == '\0' || strlen(colon + 1) > 9 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	*file_len = (size_t)(colon - s);
	*line = atoi(colon + 1);
	return 0;
}

const struct ls_stack *ls_finding_location_stack(const struct ls_finding *fi, const char **verb)
{
	const char *v = "created";
	const struct ls_stack *st = fi->created_at;
	if (fi->crashed_at)
		v = "crashed", st = fi->crashed_at;
	else if (fi->called_at)
		v = "called", st = fi->called_at;
	else if (!st && fi->collected_at)
		v = fi->kind == LS_FINDING_NEVER_AWAITED ? "dropped" : "collected", st = fi->collected_at;
	else if (!st && fi->raised_at)
		v = "raised", st = fi->raised_at;
	if (verb)
		*verb = v;
	return st;
}

static const struct ls_frame *location_in(struct ls_symbolizer *s, const struct ls_stack *st);

const struct ls_frame *ls_finding_location(const struct ls_report *r,
					   const struct ls_finding *fi)
{
	const struct ls_stack *st = ls_finding_location_stack(fi, NULL);
	struct ls_symbolizer *s = ls_report_symbolizer(r, fi->trace);
	if (!st || !s)
		return NULL;
	const struct ls_frame *f = location_in(s, st);
	/* A call made from no frame of the program's (a library's tail
	 * call): where the thing was created. */
	if (f == NULL && st != fi->created_at && fi->created_at != NULL)
		f = location_in(s, fi->created_at);
	return f;
}

static const struct ls_frame *location_in(struct ls_symbolizer *s, const struct ls_stack *st)
{
	const struct ls_frame *any = NULL;
	/* Python code first: a C extension or an interpreter with debug
	 * information is not where a Python programmer looks. */
	for (uint32_t i = ls_stack_first_frame(s, st); st->npy && i < ls_stack_nframes(s, st); i++) {
		const struct ls_frame *f = ls_stack_frame(s, st, i);
		if (f->python && f->file && f->line > 0 && ls_frame_is_user(f))
			return f;
	}
	/* The program's own code: its first frame with a line, else (a
	 * stripped program) its first frame, named module+0xoffset. Never
	 * libc, the loop library, the loader or where threads start. */
	for (uint32_t i = ls_stack_first_frame(s, st); i < ls_stack_nframes(s, st); i++) {
		const struct ls_frame *f = ls_stack_frame(s, st, i);
		if (f->python || !f->module || !ls_frame_is_user(f) || is_startup(f))
			continue;
		if (f->file && f->line > 0)
			return f;
		if (!any)
			any = f;
	}
	return any;
}

/* ---- suppressions ---- */

/* The names a finding is known by, for suppressions. Most point into the
 * symbolizer; the FILE:LINE ones are owned. */
struct names {
	struct ls_vec v;     /* of const char * */
	struct ls_vec owned; /* of char * */
};

static void names_init(struct names *nm)
{
	memset(nm, 0, sizeof(*nm));
	nm->v.item_size = sizeof(const char *);
	nm->owned.item_size = sizeof(char *);
}

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->owned.len; i++)
		free(*LS_VEC_AT(&nm->owned, char *, i));
	ls_vec_free(&nm->v);
	ls_vec_free(&nm->owned);
}

static void add_name(struct names *nm, const char *s)
{
	if (s && *s)
		*(const char **)ls_vec_push(&nm->v) = s;
}

static void add_file_line(struct names *nm, const char *file, int line)
{
	char *s = ls_xmalloc(strlen(file) + 16);
	sprintf(s, "%s:%d", file, line);
	*(char **)ls_vec_push(&nm->owned) = s;
	add_name(nm, s);
}

static void add_stack_names(struct names *nm, const struct ls_trace *t,
			    struct ls_symbolizer *s, const struct ls_stack *st)
{
	if (!st)
		return;
	for (uint32_t i = ls_stack_first_frame(s, st); i < ls_stack_nframes(s, st); i++) {
		const struct ls_frame *f = ls_stack_frame(s, st, i);
		const struct ls_module *m = ls_trace_module_at(t, f->pc);
		add_name(nm, f->function);
		add_name(nm, f->plain);
		add_name(nm, f->file);
		if (f->file && ls_basename(f->file) != f->file)
			add_name(nm, ls_basename(f->file));
		if (f->file && f->line > 0) {
			add_file_line(nm, f->file, f->line);
			if (ls_basename(f->file) != f->file)
				add_file_line(nm, ls_basename(f->file), f->line);
		}
		add_name(nm, f->module);
		if (m && m->path && (!f->module || strcmp(m->path, f->module) != 0))
			add_name(nm, m->path);
	}
}

/* The kinds whose report names the function that was called (the
 * blocking function, the selector call, the misused or off-thread API). */
static int names_its_api(const struct ls_finding *fi)
{
	return fi->has_api && !fi->python &&
	       (fi->kind == LS_FINDING_BLOCKING_CALL || fi->kind == LS_FINDING_SLOW_SELECTOR ||
		fi->kind == LS_FINDING_WRONG_THREAD || fi->kind == LS_FINDING_HANDLE_MISUSE ||
		fi->kind == LS_FINDING_DROPPED_ERROR);
}

static void finding_names(const struct ls_report *r, const struct ls_finding *fi,
			  struct names *nm)
{
	struct ls_symbolizer *s = ls_report_symbolizer(r, fi->trace);
	struct ls_callback_name cn;
	ls_finding_callback_name(&cn, s, fi);
	if (cn.name[0]) { /* cn is ours: a copy */
		char *name = ls_xstrdup(cn.name);
		*(char **)ls_vec_push(&nm->owned) = name;
		add_name(nm, name);
	}
	/* What the report says was called: "usleep blocked the loop thread"
	 * is blocking-call:usleep, as for blocking_allow=. */
	if (names_its_api(fi))
		add_name(nm, ls_api_name(fi->api));
	/* A Python callback also by its bare name (a task's coroutine), its
	 * file, and the native callback that ran it. */
	if (cn.py) {
		add_name(nm, cn.py->function);
		add_name(nm, cn.py->file);
		if (cn.py->file)
			add_name(nm, ls_basename(cn.py->file));
	}
	if (cn.run_by[0])
		add_name(nm, ls_symbolize(s, fi->callback, 1)->function);
	/* A C++ callback also without its parameters; an unnamed one also
	 * by its module. */
	if (fi->has_callback && !ls_api_is_python(fi->callback_api)) {
		add_name(nm, ls_symbolize(s, fi->callback, 1)->plain);
		add_name(nm, ls_symbolize(s, fi->callback, 1)->module);
	}
	add_stack_names(nm, fi->trace, s, fi->created_at);
	add_stack_names(nm, fi->trace, s, fi->registered_at);
	add_stack_names(nm, fi->trace, s, fi->called_at);
	add_stack_names(nm, fi->trace, s, fi->raised_at);
	add_stack_names(nm, fi->trace, s, fi->collected_at);
	/* asyncio's checks: the coroutine (task, object), and the file of a
	 * coroutine's definition. */
	size_t file_len;
	int line;
	if (fi->python)
		add_name(nm, fi->py_name);
	if (fi->kind == LS_FINDING_NEVER_AWAITED &&
	    ls_split_file_line(fi->py_text, &file_len, &line) == 0) {
		char *file = ls_xstrndup(fi->py_text, file_len);
		*(char **)ls_vec_push(&nm->owned) = file;
		add_name(nm, file);
		add_name(nm, ls_basename(file));
	}
}

static struct ls_suppression *suppressed_by(const struct ls_report *r,
					    const struct ls_finding *fi)
{
	struct names nm;
	names_init(&nm);
	finding_names(r, fi, &nm);
	struct ls_suppression *by = ls_suppressions_match(r->suppressions, fi->kind,
							  nm.v.items, nm.v.len);
	names_free(&nm);
	return by;
}

/* ---- the rule that silences exactly one finding ---- */

/* A finding's names, copied: "a\0b\0...\0". */
struct name_block {
	char *text;
	size_t len;
};

static struct name_block name_block_of(const struct ls_report *r, const struct ls_finding *fi)
{
	struct names nm;
	struct name_block b = { NULL, 0 };
	names_init(&nm);
	finding_names(r, fi, &nm);
	for (size_t i = 0; i < nm.v.len; i++)
		b.len += strlen(*LS_VEC_AT(&nm.v, const char *, i)) + 1;
	b.text = ls_xmalloc(b.len + 1);
	char *p = b.text;
	for (size_t i = 0; i < nm.v.len; i++)
		p = stpcpy(p, *LS_VEC_AT(&nm.v, const char *, i)) + 1;
	names_free(&nm);
	return b;
}

static int block_has(const struct name_block *b, const char *name)
{
	for (size_t i = 0; i < b->len; i += strlen(b->text + i) + 1)
		if (strcmp(b->text + i, name) == 0)
			return 1;
	return 0;
}

/* The names a rule for fi is tried with, the most telling first: the
 * callback (a blocking call: the blocking function first, as its report
 * says "usleep blocked the loop thread"), asyncio's object, the function
 * of its location (the FAIL line's), the function its report names, that
 * location's file:line. At most 5, copied into buf. */
static size_t candidates(const struct ls_report *r, const struct ls_finding *fi,
			 char buf[][256])
{
	struct ls_callback_name cn;
	size_t n = 0;
	ls_finding_callback_name(&cn, ls_report_symbolizer(r, fi->trace), fi);
	const char *api = names_its_api(fi) ? ls_api_name(fi->api) : NULL;
	int blocking = fi->kind == LS_FINDING_BLOCKING_CALL;
	const char *list[5] = {
		blocking ? api : cn.name,
		blocking ? cn.name : fi->python ? fi->py_name : NULL,
		NULL,
		blocking ? NULL : api,
		NULL,
	};
	const struct ls_frame *f = ls_finding_location(r, fi);
	if (f) {
		list[2] = f->function;
		if (f->file && f->line > 0) {
			snprintf(buf[4], 256, "%s:%d", ls_basename(f->file), f->line);
			list[4] = buf[4];
		}
	}
	char copy[5][256];
	for (size_t i = 0; i < 5; i++)
		snprintf(copy[i], sizeof(copy[i]), "%s", list[i] ? list[i] : "");
	for (size_t i = 0; i < 5; i++) {
		const char *c = copy[i];
		/* an address changes from run to run; a broad name is no rule */
		if (!c[0] || strncmp(c, "0x", 2) == 0 || strlen(c) >= 200)
			continue;
		char pat[512];
		ls_suppression_escape(pat, sizeof(pat), c);
		if (ls_suppression_broad_name(pat))
			continue;
		/* under 200 bytes (above): it fits */
		memcpy(buf[n++], c, strlen(c) + 1);
	}
	return n;
}

/* Sets each finding's suppression: its first candidate name no other
 * finding of its kind is known by, else the one fewest others are. */
static void make_suppressions(struct ls_report *r)
{
	struct ls_vec *v = &r->findings.v;
	struct name_block *blocks = ls_xcalloc(v->len + 1, sizeof(*blocks));
	for (size_t i = 0; i < v->len; i++)
		blocks[i] = name_block_of(r, LS_VEC_AT(v, struct ls_finding, i));
	for (size_t i = 0; i < v->len; i++) {
		struct ls_finding *fi = LS_VEC_AT(v, struct ls_finding, i);
		char cand[5][256];
		size_t nc = candidates(r, fi, cand), best = 0, best_others = SIZE_MAX;
		for (size_t c = 0; c < nc && best_others > 0; c++) {
			size_t others = 0;
			for (size_t j = 0; j < v->len; j++)
				others += j != i && LS_VEC_AT(v, struct ls_finding, j)->kind == fi->kind &&
					  block_has(&blocks[j], cand[c]);
			if (others < best_others)
				best = c, best_others = others;
		}
		if (nc == 0)
			continue;
		char pat[512];
		ls_suppression_escape(pat, sizeof(pat), cand[best]);
		const char *kind = ls_finding_kind_name(fi->kind);
		fi->suppression = ls_xmalloc(strlen(kind) + strlen(pat) + 2);
		sprintf(fi->suppression, "%s:%s", kind, pat);
	}
	for (size_t i = 0; i < v->len; i++)
		free(blocks[i].text);
	free(blocks);
}

static void suppress(struct ls_report *r)
{
	struct ls_vec *v = &r->findings.v;
	size_t kept = 0;
	for (size_t i = 0; i < v->len; i++) {
		struct ls_finding *fi = LS_VEC_AT(v, struct ls_finding, i);
		struct ls_suppression *by = suppressed_by(r, fi);
		if (by) {
			by->count++;
			r->nsuppressed++;
			free(fi->suppression);
			continue;
		}
		if (kept != i)
			*LS_VEC_AT(v, struct ls_finding, kept) = *fi;
		kept++;
	}
	v->len = kept;
}

/* On stderr: the rules that silenced nothing, by file:line. */
static void note_unmatched(const struct ls_report *r)
{
	for (size_t i = 0; i < ls_suppressions_count(r->suppressions); i++) {
		const struct ls_suppression *s = ls_suppression_at(r->suppressions, i);
		char shown[512];
		if (s->count)
			continue;
		ls_escape_bytes(shown, sizeof(shown), s->rule, strlen(s->rule));
		ls_error("%s:%d: note: rule '%s' matched no finding", s->file, s->line, shown);
	}
}

void ls_report_finish(struct ls_report *r, const struct ls_findings_options *opt)
{
	ls_findings_init(&r->findings);
	for (size_t i = 0; i < r->ntraces; i++)
		ls_findings_collect(&r->findings, r->traces[i], opt);
	r->suppressions = opt ? opt->suppressions : NULL;
	r->nsuppressed = 0;
	make_suppressions(r);
	if (r->suppressions && ls_suppressions_count(r->suppressions)) {
		suppress(r);
		note_unmatched(r);
	}
	ls_findings_sort(&r->findings);
}

void ls_report_print_suppression(FILE *out, const struct ls_finding *fi)
{
	if (fi->suppression)
		fprintf(out, "  suppress with: %s\n", fi->suppression);
}

void ls_report_print_suppressed(FILE *out, const struct ls_report *r)
{
	if (!r->nsuppressed)
		return;
	fprintf(out, "loopsan: suppressed %zu finding%s:", r->nsuppressed,
		r->nsuppressed == 1 ? "" : "s");
	const char *sep = " ";
	for (size_t i = 0; i < ls_suppressions_count(r->suppressions); i++) {
		const struct ls_suppression *s = ls_suppression_at(r->suppressions, i);
		if (!s->count)
			continue;
		fprintf(out, "%s%zu by '%s' (%s:%d)", sep, s->count, s->rule,
			s->file, s->line);
		sep = ", ";
	}
	fputc('\n', out);
}

void ls_report_note_slow_ms(const struct ls_report *r,
			    const struct ls_findings_options *opt)
{
	uint32_t recorded = 0;
	if (!opt || opt->slow_ms < 0)
		return;
	for (size_t i = 0; i < r->ntraces; i++) {
		const struct ls_trace *t = r->traces[i];
		if (t->mode != LS_MODE_TIMELINE && opt->slow_ms < t->slow_callback_ms &&
		    t->slow_callback_ms > recorded)
			recorded = t->slow_callback_ms;
	}
	if (recorded)
		ls_error("note: --slow-ms %g is below the %" PRIu32 " ms the traces "
			 "were recorded with (slow_callback_ms); runs between the "
			 "two may be missing", opt->slow_ms, recorded);
}

/* Reads every file; the number that could not be read, each named on
 * stderr. */
static size_t read_paths(struct ls_report *r, const struct ls_vec *files,
			 const struct ls_findings_options *opt, int keep_going)
{
	char err[256];
	size_t bad = 0;
	/* Only the callbacks a finding can be made of stay in memory. */
	struct ls_read_options ro = {
		.keep_callbacks_ms = opt && opt->slow_ms > 0 ? opt->slow_ms : 0,
		.progress = isatty(STDERR_FILENO),
	};
	for (size_t i = 0; i < files->len && (keep_going || bad == 0); i++) {
		const char *path = ((char **)files->items)[i];
		struct ls_trace *t = ls_trace_read_ex(path, &ro, err, sizeof(err));
		if (!t) {
			ls_error("%s: %s", path, err);
			bad++;
			continue;
		}
		ls_report_add(r, t);
	}
	return bad;
}

static int load(struct ls_report *r, char *const *paths, size_t npaths,
		const struct ls_findings_options *opt, int keep_going)
{
	struct ls_vec files = { .item_size = sizeof(char *) };
	memset(r, 0, sizeof(*r));
	ls_findings_init(&r->findings);
	r->nbad = expand_paths(paths, npaths, &files);
	if (r->nbad == 0 || keep_going)
		r->nbad += read_paths(r, &files, opt, keep_going);
	for (size_t i = 0; i < files.len; i++)
		free(((char **)files.items)[i]);
	ls_vec_free(&files);
	if (r->ntraces == 0 || (r->nbad && !keep_going))
		return -1;
	ls_report_finish(r, opt);
	return 0;
}

int ls_report_load(struct ls_report *r, char *const *paths, size_t npaths,
		   const struct ls_findings_options *opt)
{
	return load(r, paths, npaths, opt, 0);
}

int ls_report_load_all(struct ls_report *r, char *const *paths, size_t npaths,
		       const struct ls_findings_options *opt)
{
	return load(r, paths, npaths, opt, 1);
}

void ls_report_free(struct ls_report *r)
{
	ls_findings_free(&r->findings);
	for (size_t i = 0; i < r->ntraces; i++) {
		ls_symbolizer_free(r->syms[i]);
		ls_trace_free(r->traces[i]);
	}
	free(r->traces);
	free(r->syms);
	memset(r, 0, sizeof(*r));
}
