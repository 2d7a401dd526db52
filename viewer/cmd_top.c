/* loopsan top: a live view of a running traced process, per loop thread
 * and callback site, in the spirit of htop and tokio-console's task list.
 *
 * The shim keeps each thread's per-site stats slots (count, total, max,
 * histogram) in the mapped trace file and updates them in place, so the
 * file can be read again and again while the process runs. Every interval
 * top reads it whole (ls_trace_read_ex, keeping only the slow callbacks),
 * and the difference between two reads gives the interval's columns.
 * Names are symbolized once per site and kept across reads.
 *
 * A callback running right now is one the watchdog sampled (a STUCK
 * record: it was past slow_callback_ms) whose end (its SLOW record) is not
 * in the file yet. */
#include "viewer/commands.h"
#include "viewer/sites.h"

#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

enum col { COL_RATE, COL_P99, COL_BUSY, COL_SLOW, COL_MAX, COL_P50, COL_P99ALL, COL_TOTAL,
	   COL_P50ALL, NCOLS };

/* In the order they are kept on a narrow terminal: the first first. */
static const struct column {
	const char *title;
	int width;           /* with the space before it */
} columns[NCOLS] = {
	[COL_RATE] = { "CALLS/S", 8 },
	[COL_P99] = { "P99", 8 },
	[COL_BUSY] = { "BUSY", 7 },
	[COL_SLOW] = { "SLOW", 6 },
	[COL_MAX] = { "MAX", 8 },
	[COL_P50] = { "P50", 8 },
	[COL_P99ALL] = { "P99ALL", 8 },
	[COL_TOTAL] = { "TOTAL", 8 },
	[COL_P50ALL] = { "P50ALL", 8 },
};
/* Where the columns stand, left to right. */
static const enum col col_order[NCOLS] = { COL_RATE, COL_P50, COL_P99, COL_P50ALL, COL_P99ALL,
					   COL_MAX, COL_BUSY, COL_SLOW, COL_TOTAL };

#define COL_NAME NCOLS

static const struct sort_key {
	const char *name;
	int key;
	int col;
} sort_keys[] = {
	{ "calls", 'c', COL_RATE }, { "p99", 'p', COL_P99 },     { "max", 'm', COL_MAX },
	{ "busy", 'b', COL_BUSY },  { "total", 't', COL_TOTAL }, { "slow", 's', COL_SLOW },
	{ "name", 'n', COL_NAME },
};
#define NSORT (sizeof(sort_keys) / sizeof(sort_keys[0]))

struct top_args {
	int once;
	double interval;     /* seconds */
	size_t sort;         /* index in sort_keys */
	const char *target;
};

/* One thread's runs of one site, from one read. */
struct row {
	uint32_t tid, site;
	uint64_t count, slow;
	double total_ns, max_ns;
	uint64_t hist[LS_HIST_BUCKETS];
	int in_busy;         /* counts toward its thread's busy % (a callback) */
	/* over the last interval (top.have_iv) */
	double rate, busy;   /* calls/s, share of the interval */
	double spread_ns;    /* long runs: their part in the interval less what the slot added */
	uint64_t dcount;
	double p50_iv, p99_iv;
	const char *name;    /* the name cache's */
};

struct thread_line {
	uint32_t tid;
	char name[LS_THREAD_NAME_MAX + 1];
	double busy, rate;
};

struct running_now {
	uint32_t tid;
	double for_ns;
	const char *name, *where; /* the name cache's */
	char thread[LS_THREAD_NAME_MAX + 1];
};

struct name_ent {
	uint32_t kind, id;   /* 0: a site's name, 1: a stack's location, 2: a site's callback */
	uint32_t gen;        /* top.names_gen when made */
	char *text;
};

struct top {
	struct top_args a;
	char *path;
	long pid;            /* the PID asked for, 0 when a TRACE was */
	struct ls_vec names; /* struct name_ent; kept to the end (rows point into it) */
	uint32_t names_gen;
	struct ls_vec rows, prev; /* struct row, sorted by (tid, site) */
	struct ls_vec threads;    /* struct thread_line */
	struct ls_vec running;    /* struct running_now */
	int have_data, have_iv;
	double at_ns, prev_at_ns, iv_s; /* CLOCK_MONOTONIC of the reads */
	double read_s, wait_s;
	double ns_per_tick;
	/* from the trace's header */
	char exe[256];
	uint64_t tpid;
	uint32_t mode, slow_ms;
	uint64_t dropped;
	double start_ns, end_ns;
	int state;           /* 0 running, 1 exited, 2 gone without a clean exit */
	char msg[1024];      /* the last read's trouble, "" when none */
	/* the view */
	int width, scroll, color;
};

static volatile sig_atomic_t stop_flag;

void ls_top_usage(FILE *out)
{
	fputs("usage: loopsan top [--once] [-d SECS|--interval SECS] [--sort KEY] PID|TRACE\n"
	      "\n"
	      "A live view of a process running under the shim: per loop thread and\n"
	      "callback site, how often it runs and how long, read again from its\n"
	      "trace file every interval. A PID stands for the trace file that\n"
	      "process has mapped (/proc/PID/maps: DIR/loopsan.PID.trace, or\n"
	      "DIR/loopsan.PID.N.trace after an exec) whose header names PID.\n"
	      "\n"
	      "The interval columns are over the last interval; the others since\n"
	      "the start. On a narrow terminal TOTAL goes first, then P50ALL,\n"
	      "P99ALL, P50, MAX, SLOW and BUSY; the sort column stays.\n"
	      "\n"
	      "columns:\n"
	      "  CALLS/S   callbacks that finished, per second (interval)\n"
	      "  P50, P99  median and 99th percentile of their durations (interval;\n"
	      "            - when none ran)\n"
	      "  P50ALL, P99ALL  the same of every run since the start\n"
	      "  MAX       the longest run\n"
	      "  BUSY      time in the site's callbacks, as a share of the interval\n"
	      "  SLOW      runs that took slow_callback_ms or longer\n"
	      "  TOTAL     time in the site's callbacks\n"
	      "  CALLBACK  the callback, the api that registered it and where it was\n"
	      "            registered; it takes the width left: too narrow, it goes\n"
	      "            without the api, then is cut at its end\n"
	      "\n"
	      "A thread's line gives its name, tid, busy % and calls/s. Runs are\n"
	      "counted when they end; busy % counts a slow run (and one running\n"
	      "now) for its part in each interval. The header gives the program,\n"
	      "its pid, running or exited, uptime, mode, slow threshold, records\n"
	      "dropped, how long the last read took and the interval.\n"
	      "\n"
	      "RUNNING lines at the top: a callback running right now for longer\n"
	      "than slow_callback_ms, how long so far and where it is (its first\n"
	      "frame in the program's code), as the shim's watchdog sampled it.\n"
	      "A single-threaded program has no watchdog thread until its first\n"
	      "slow run ends, so that run shows only once it has ended.\n"
	      "\n"
	      "keys: q quit; sort by c calls/s, p p99, m max, b busy, t total,\n"
	      "s slow, n name (the column marked * in the header); Up, Down,\n"
	      "PgUp, PgDn, Home, End scroll.\n"
	      "\n"
	      "A read of a large timeline trace can take longer than the\n"
	      "interval: the header shows the read's time, and the interval\n"
	      "stretches to twice it.\n"
	      "\n"
	      "options:\n"
	      "  --once             print one plain snapshot on stdout and exit:\n"
	      "                     two reads an interval apart (one when the\n"
	      "                     process has exited: interval columns are -);\n"
	      "                     as wide as COLUMNS, else the terminal, else 80\n"
	      "  -d, --interval SECS  seconds between reads (default 1; 0.1 to 3600)\n"
	      "  --sort KEY         calls (the default), p99, max, busy, total, slow\n"
	      "                     or name\n"
	      "  -h, --help         show this help\n"
	      "\n"
	      "environment:\n"
	      "  NO_COLOR   when not empty, no colors (bold and reverse video stay)\n"
	      "  TERM       TERM=dumb, an unknown terminal, or stdout not a terminal:\n"
	      "             plain snapshots every interval, as with --once, until\n"
	      "             the process exits (like top -b); Ctrl-C stops it\n",
	      out);
}

/* ---- options ---- */

static int parse_interval(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) || v < 0.1 || v > 3600) {
		ls_error("top: bad interval '%s' (seconds, 0.1 to 3600)", s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_sort(const char *s, size_t *out)
{
	for (size_t i = 0; i < NSORT; i++)
		if (strcmp(s, sort_keys[i].name) == 0) {
			*out = i;
			return 0;
		}
	ls_error("top: unknown sort key '%s' (calls, p99, max, busy, total, slow or name)", s);
	return -1;
}

static int parse_args(int argc, char **argv, struct top_args *a)
{
	int dashdash = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *v;
		int bad = 0;
		if (dashdash || arg[0] != '-' || arg[1] == '\0') {
			if (a->target) {
				ls_error("top: one PID or TRACE at a time ('%s' too many)", arg);
				return -1;
			}
			a->target = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0)
			dashdash = 1;
		else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
			return 1;
		else if (strcmp(arg, "--once") == 0)
			a->once = 1;
		else if (strcmp(arg, "-d") == 0) {
			if (i + 1 >= argc) {
				ls_error("top: -d needs a value (seconds)");
				return -1;
			}
			if (parse_interval(argv[++i], &a->interval))
				return -1;
		} else if (strncmp(arg, "-d", 2) == 0 && arg[2] != '-') {
			if (parse_interval(arg + 2, &a->interval))
				return -1;
		} else if ((v = ls_option_value("top", argc, argv, &i, "--interval", &bad))) {
			if (parse_interval(v, &a->interval))
				return -1;
		} else if (!bad && (v = ls_option_value("top", argc, argv, &i, "--sort", &bad))) {
			if (parse_sort(v, &a->sort))
				return -1;
		} else {
			if (!bad)
				ls_error("top: unknown option '%s' (see loopsan top --help)", arg);
			return -1;
		}
	}
	if (!a->target) {
		ls_error("top: no PID or TRACE given (see loopsan top --help)");
		return -1;
	}
	return 0;
}

/* ---- which trace ---- */

static int all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* The pid in a trace file's header, -1 when it is no trace. */
static long header_pid(const char *path)
{
	struct ls_file_header h;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, &h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h.magic, LS_FILE_MAGIC, 8) != 0)
		return -1;
	return (long)h.pid;
}

/* Its number N in loopsan.PID.N.trace (0 for loopsan.PID.trace), -1 when
 * base is not a trace name of pid's. */
static long trace_name_n(const char *base, long pid)
{
	char want[64];
	int k = snprintf(want, sizeof(want), "loopsan.%ld.", pid);
	size_t len = strlen(base);
	if (strncmp(base, want, (size_t)k) != 0 || len < 6 || strcmp(base + len - 6, ".trace") != 0)
		return -1;
	if ((size_t)k == len - 5) /* "loopsan.PID.trace" */
		return 0;
	char *end;
	long n = strtol(base + k, &end, 10);
	return end == base + len - 6 && n > 0 ? n : -1;
}

/* A trace of pid's that is the file (dev, ino), as pid's mapping of it
 * names it: the shim makes the file unnamed (O_TMPFILE) and links it as
 * loopsan.PID[.N].trace, so the mapping is named "DIR/#INODE (deleted)";
 * look in DIR for the link. */
struct found {
	char *path;
	long n;              /* N of loopsan.PID.N.trace; 0 without */
};

static void consider(struct found *best, const char *path, const char *base, long pid,
		     dev_t dev, unsigned long ino)
{
	struct stat st;
	long n = trace_name_n(base, pid);
	if (n < 0 || n <= best->n || stat(path, &st) != 0 || st.st_ino != ino ||
	    st.st_dev != dev || header_pid(path) != pid)
		return;
	free(best->path);
	best->path = ls_xstrdup(path);
	best->n = n;
}

static void look_in_dir(struct found *best, const char *dir, long pid, dev_t dev,
			unsigned long ino)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (trace_name_n(e->d_name, pid) < 0)
			continue;
		char *path = NULL;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			break;
		consider(best, path, e->d_name, pid, dev, ino);
		free(path);
	}
	closedir(d);
}

/* The trace file process pid has mapped; NULL (after a one-line message
 * unless quiet) when there is none. */
static char *trace_of_pid(long pid, int quiet)
{
	char maps[64];
	snprintf(maps, sizeof(maps), "/proc/%ld/maps", pid);
	FILE *f = fopen(maps, "re");
	if (!f && quiet)
		return NULL;
	if (!f) {
		if (errno == ENOENT || errno == ESRCH)
			ls_error("top: no process with pid %ld", pid);
		else if (errno == EACCES || errno == EPERM)
			ls_error("top: pid %ld: permission denied reading %s", pid, maps);
		else
			ls_error("top: pid %ld: %s: %s", pid, maps, strerror(errno));
		return NULL;
	}
	char line[4096 + 256];
	struct found best = { NULL, -1 };
	unsigned long seen[64];
	size_t nseen = 0;
	int unlinked = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char perms[8];
		unsigned maj, min;
		unsigned long ino;
		char *path = strchr(line, '/');
		if (!path || sscanf(line, "%*s %7s %*s %x:%x %lu", perms, &maj, &min, &ino) != 4 ||
		    strlen(perms) < 4 || perms[3] != 's' || ino == 0)
			continue;
		int dup = 0;
		for (size_t i = 0; i < nseen && !dup; i++)
			dup = seen[i] == ino;
		if (dup)
			continue;
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = ino;
		size_t len = strlen(path);
		int deleted = len > 10 && strcmp(path + len - 10, " (deleted)") == 0;
		if (deleted)
			path[len - 10] = '\0';
		char *slash = strrchr(path, '/');
		const char *base = slash + 1;
		dev_t dev = makedev(maj, min);
		if (!deleted) {
			consider(&best, path, base, pid, dev, ino);
		} else if (base[0] == '#' || strncmp(base, "loopsan.", 8) == 0) {
			long before = best.n;
			*slash = '\0';
			look_in_dir(&best, path[0] ? path : "/", pid, dev, ino);
			unlinked |= best.n == before && strncmp(base, "loopsan.", 8) == 0;
		}
	}
	int rerr = ferror(f);
	fclose(f);
	if (best.path || quiet)
		return best.path;
	if (rerr)
		ls_error("top: pid %ld: cannot read %s", pid, maps);
	else if (unlinked)
		ls_error("top: pid %ld: its trace file was deleted", pid);
	else
		ls_error("top: pid %ld has no trace mapped (not run under loopsan, or no loop yet)",
			 pid);
	return NULL;
}

/* ---- reading ---- */

static double mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Printable ASCII only: the terminal shows what it is given. */
static char *clean(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	return s;
}

static const char *cached(struct top *tp, uint32_t kind, uint32_t id)
{
	for (size_t i = 0; i < tp->names.len; i++) {
		struct name_ent *e = LS_VEC_AT(&tp->names, struct name_ent, i);
		if (e->kind == kind && e->id == id && e->gen == tp->names_gen)
			return e->text;
	}
	return NULL;
}

static const char *cache(struct top *tp, uint32_t kind, uint32_t id, char *text)
{
	struct name_ent *e = ls_vec_push(&tp->names);
	e->kind = kind;
	e->id = id;
	e->gen = tp->names_gen;
	e->text = clean(text);
	return text;
}

/* A symbolizer for t, made at the first name a read needs. */
struct namer {
	const struct ls_trace *t;
	struct ls_symbolizer *sym;
};

static struct ls_symbolizer *namer_sym(struct namer *nm)
{
	if (!nm->sym)
		nm->sym = ls_symbolizer_new(nm->t);
	return nm->sym;
}

/* The callback alone: "on_long". */
static const char *site_callback(struct top *tp, struct namer *nm, uint32_t id)
{
	const char *c = cached(tp, 2, id);
	if (c)
		return c;
	struct ls_callback_name cn;
	const char *name = ls_site_name(namer_sym(nm), ls_trace_site(nm->t, id), &cn);
	return cache(tp, 2, id, ls_xstrdup(name));
}

/* "on_fast (uv_timer_start) server.c:42", as loopsan stats names a site,
 * with the registering frame's file:line (its function when it has none). */
static const char *site_name(struct top *tp, struct namer *nm, uint32_t id)
{
	const char *c = cached(tp, 0, id);
	if (c)
		return c;
	const struct ls_site *s = ls_trace_site(nm->t, id);
	struct ls_symbolizer *sym = namer_sym(nm);
	const char *name = site_callback(tp, nm, id);
	char buf[1024];
	int k = snprintf(buf, sizeof(buf), "%s (%s)", name, s ? ls_api_name(s->api) : "unknown");
	const struct ls_frame *f = ls_site_frame(sym, nm->t, s);
	if (k > 0 && (size_t)k < sizeof(buf) && f && f->file && f->line > 0)
		snprintf(buf + k, sizeof(buf) - (size_t)k, " %s:%d", ls_basename(f->file), f->line);
	else if (k > 0 && (size_t)k < sizeof(buf) && f && f->function)
		snprintf(buf + k, sizeof(buf) - (size_t)k, " %s", f->function);
	return cache(tp, 0, id, ls_xstrdup(buf));
}

/* Where a stuck sample was: its first frame in the program's code, as a
 * report's location line finds it. */
static const char *stack_where(struct top *tp, struct namer *nm, uint32_t stack)
{
	const char *c = cached(tp, 1, stack);
	if (c)
		return c;
	struct ls_finding fi;
	memset(&fi, 0, sizeof(fi));
	fi.kind = LS_FINDING_SLOW_CALLBACK;
	fi.trace = nm->t;
	fi.called_at = ls_trace_stack(nm->t, stack);
	struct ls_trace *traces[1] = { (struct ls_trace *)nm->t };
	struct ls_symbolizer *syms[1] = { namer_sym(nm) };
	struct ls_report r;
	memset(&r, 0, sizeof(r));
	r.traces = traces;
	r.syms = syms;
	r.ntraces = 1;
	const struct ls_frame *f = fi.called_at ? ls_finding_location(&r, &fi) : NULL;
	char buf[1024];
	if (f && f->file && f->line > 0)
		snprintf(buf, sizeof(buf), "%s %s:%d", f->function ? f->function : "?",
			 ls_basename(f->file), f->line);
	else if (f && f->function)
		snprintf(buf, sizeof(buf), "%s", f->function);
	else
		snprintf(buf, sizeof(buf), "%s", "an unknown place");
	return cache(tp, 1, stack, ls_xstrdup(buf));
}

static int row_cmp_key(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->site < y->site ? -1 : x->site > y->site;
}

static int process_alive(long pid)
{
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static void take_header(struct top *tp, const struct ls_trace *t)
{
	struct ls_file_header h;
	memcpy(&h, t->map, sizeof(h));
	snprintf(tp->exe, sizeof(tp->exe), "%s", ls_basename(t->exe));
	clean(tp->exe);
	tp->tpid = t->pid;
	tp->mode = t->mode;
	tp->slow_ms = t->slow_callback_ms ? t->slow_callback_ms : 100;
	tp->dropped = t->dropped;
	tp->start_ns = (double)h.start_mono_ns;
	tp->end_ns = t->exited ? (double)h.end_mono_ns : 0;
	tp->state = t->exited ? 1 : process_alive((long)t->pid) ? 0 : 2;
}

/* The row of (tid, site) in rows, sorted by row_cmp_key; NULL if none. */
static struct row *find_row(const struct ls_vec *rows, uint32_t tid, uint32_t site)
{
	struct row key = { .tid = tid, .site = site };
	return rows->len ? bsearch(&key, rows->items, rows->len, sizeof(struct row), row_cmp_key)
			 : NULL;
}

/* Whether the watchdog's sample s is of a run still going: the thread's
 * latest sample, with no SLOW record of that run (same tid and begin). */
static int stuck_running(const struct ls_trace *t, const struct ls_stuck *s)
{
	for (size_t i = 0; i < t->stucks.len; i++) {
		const struct ls_stuck *o = LS_VEC_AT(&t->stucks, struct ls_stuck, i);
		if (o->tid == s->tid && o->begin_ticks > s->begin_ticks)
			return 0;
	}
	for (size_t i = 0; i < t->callbacks.len; i++) {
		const struct ls_callback *c = LS_VEC_AT(&t->callbacks, struct ls_callback, i);
		if (c->tid == s->tid && c->begin_ticks == s->begin_ticks)
			return 0;
	}
	return 1;
}

/* The rows of t, merged per (tid, site), with their slow runs counted. */
static void collect_rows(struct top *tp, const struct ls_trace *t, struct namer *nm)
{
	struct ls_vec *rows = &tp->rows;
	rows->len = 0;
	for (size_t i = 0; i < t->stats.len; i++) {
		const struct ls_stat *st = LS_VEC_AT(&t->stats, struct ls_stat, i);
		struct row *r = ls_vec_push(rows);
		memset(r, 0, sizeof(*r));
		r->tid = st->tid;
		r->site = st->site;
		r->count = st->count;
		r->total_ns = st->total_ns;
		r->max_ns = st->max_ns;
		for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++)
			r->hist[b] = st->hist[b];
	}
	/* A site whose first run has not ended has no slot yet: its row, for
	 * the time the run keeps its thread busy (spread_long_runs). */
	for (size_t i = 0; i < t->stucks.len; i++) {
		const struct ls_stuck *s = LS_VEC_AT(&t->stucks, struct ls_stuck, i);
		if (ls_trace_site(t, s->site) == NULL || !stuck_running(t, s))
			continue;
		struct row *r = ls_vec_push(rows);
		memset(r, 0, sizeof(*r));
		r->tid = s->tid;
		r->site = s->site;
	}
	if (rows->len > 1)
		qsort(rows->items, rows->len, sizeof(struct row), row_cmp_key);
	size_t kept = 0;
	struct row *r = rows->items;
	for (size_t i = 0; i < rows->len; i++) {
		if (kept > 0 && row_cmp_key(&r[kept - 1], &r[i]) == 0) {
			struct row *k = &r[kept - 1];
			k->count += r[i].count;
			k->total_ns += r[i].total_ns;
			k->max_ns = r[i].max_ns > k->max_ns ? r[i].max_ns : k->max_ns;
			for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++)
				k->hist[b] += r[i].hist[b];
		} else {
			r[kept++] = r[i];
		}
	}
	rows->len = kept;
	for (size_t i = 0; i < rows->len; i++) {
		const struct ls_site *s = ls_trace_site(t, r[i].site);
		r[i].in_busy = !s || (!ls_api_is_selector(s->api) && !ls_api_is_blocking(s->api));
		r[i].name = site_name(tp, nm, r[i].site);
	}
	/* Slow runs as the report counts them (slow-callback's count). */
	double slow_ns = tp->slow_ms * 1e6;
	for (size_t i = 0; i < t->callbacks.len; i++) {
		const struct ls_callback *c = LS_VEC_AT(&t->callbacks, struct ls_callback, i);
		const struct ls_site *s = ls_trace_site(t, c->site);
		if (c->dur_ns < slow_ns || (s && s->api == LS_API_UV_QUEUE_WORK))
			continue;
		struct row *hit = find_row(rows, c->tid, c->site);
		if (hit)
			hit->slow++;
	}
}

static double overlap_ns(double b, double e, double lo, double hi)
{
	double from = b > lo ? b : lo, to = e < hi ? e : hi;
	return to > from ? to - from : 0;
}

/* A stats slot counts a run when it ends, all at once: a run longer than
 * the interval would show 0 % busy while it runs, then hundreds of per
 * cent. The runs the trace holds one by one (every slow one) and those
 * running now (the watchdog's samples) count instead for their part inside
 * the interval: the time in ns to add to row's interval total. */
static void spread_long_runs(struct top *tp, const struct ls_trace *t)
{
	double lo = tp->prev_at_ns, hi = tp->at_ns;
	for (size_t i = 0; i < t->callbacks.len; i++) {
		const struct ls_callback *c = LS_VEC_AT(&t->callbacks, struct ls_callback, i);
		double e = c->begin_ns + c->dur_ns;
		if (e <= lo) /* counted in an earlier interval */
			continue;
		struct row *r = find_row(&tp->rows, c->tid, c->site);
		if (r) /* it ended in this read's numbers, whenever in the read */
			r->spread_ns += overlap_ns(c->begin_ns, e, lo, e > hi ? e : hi) - c->dur_ns;
	}
	for (size_t i = 0; tp->state == 0 && i < t->stucks.len; i++) {
		const struct ls_stuck *s = LS_VEC_AT(&t->stucks, struct ls_stuck, i);
		if (!stuck_running(t, s))
			continue;
		struct row *r = find_row(&tp->rows, s->tid, s->site);
		if (r)
			r->spread_ns += overlap_ns(ls_trace_ns(t, s->begin_ticks), hi, lo, hi);
	}
}

/* The interval's columns, from the read before. */
static void interval_columns(struct top *tp, const struct ls_trace *t)
{
	double dt = (tp->at_ns - tp->prev_at_ns) / 1e9;
	tp->have_iv = tp->have_data && dt > 0;
	tp->iv_s = dt;
	if (!tp->have_iv)
		return;
	spread_long_runs(tp, t);
	for (size_t i = 0; i < tp->rows.len; i++) {
		struct row *r = LS_VEC_AT(&tp->rows, struct row, i);
		const struct row *p = find_row(&tp->prev, r->tid, r->site);
		uint64_t dh[LS_HIST_BUCKETS];
		double dtotal = r->total_ns;
		r->dcount = r->count;
		memcpy(dh, r->hist, sizeof(dh));
		/* A slot that went backwards (its chunk passed to another
		 * thread): the interval is taken as all of it. Not judged by
		 * total_ns, which each read converts from ticks at the rate
		 * it estimates then: the same ticks may read a little less. */
		int sane = p != NULL && p->count <= r->count;
		for (uint32_t b = 0; sane && b < LS_HIST_BUCKETS; b++)
			sane = p->hist[b] <= r->hist[b];
		if (sane) {
			r->dcount = r->count - p->count;
			dtotal = r->dcount ? r->total_ns - p->total_ns : 0;
			if (dtotal < 0)
				dtotal = 0;
			for (uint32_t b = 0; b < LS_HIST_BUCKETS; b++)
				dh[b] = r->hist[b] - p->hist[b];
		}
		r->rate = (double)r->dcount / dt;
		r->busy = (dtotal + r->spread_ns) / (dt * 1e9);
		if (r->busy < 0)
			r->busy = 0;
		r->p50_iv = ls_hist_quantile_ns(dh, t->ns_per_tick, r->max_ns, 0.50);
		r->p99_iv = ls_hist_quantile_ns(dh, t->ns_per_tick, r->max_ns, 0.99);
	}
}

static void collect_threads(struct top *tp, const struct ls_trace *t)
{
	tp->threads.len = 0;
	struct ls_vec tids = { .item_size = sizeof(uint32_t) };
	for (size_t i = 0; i < tp->rows.len; i++)
		*(uint32_t *)ls_vec_push(&tids) = LS_VEC_AT(&tp->rows, struct row, i)->tid;
	for (size_t i = 0; i < t->loop_runs.len; i++)
		*(uint32_t *)ls_vec_push(&tids) = LS_VEC_AT(&t->loop_runs, struct ls_loop_run, i)->tid;
	for (size_t i = 0; i < tids.len; i++) {
		uint32_t tid = *LS_VEC_AT(&tids, uint32_t, i);
		int seen = 0;
		for (size_t j = 0; j < tp->threads.len && !seen; j++)
			seen = LS_VEC_AT(&tp->threads, struct thread_line, j)->tid == tid;
		if (seen)
			continue;
		struct thread_line *th = ls_vec_push(&tp->threads);
		memset(th, 0, sizeof(*th));
		th->tid = tid;
		const struct ls_thread *lt = ls_trace_thread(t, tid);
		snprintf(th->name, sizeof(th->name), "%s", lt ? lt->name : "?");
		clean(th->name);
		for (size_t j = 0; j < tp->rows.len; j++) {
			const struct row *r = LS_VEC_AT(&tp->rows, struct row, j);
			if (r->tid == tid && r->in_busy && tp->have_iv) {
				th->busy += r->busy;
				th->rate += r->rate;
			}
		}
	}
	ls_vec_free(&tids);
}

/* The watchdog's samples of runs whose end is not written yet: the
 * latest per thread, while the process runs. */
static void collect_running(struct top *tp, const struct ls_trace *t, struct namer *nm)
{
	tp->running.len = 0;
	if (tp->state != 0)
		return;
	double now = mono_ns();
	for (size_t i = 0; i < t->stucks.len; i++) {
		const struct ls_stuck *s = LS_VEC_AT(&t->stucks, struct ls_stuck, i);
		if (!stuck_running(t, s))
			continue;
		struct running_now *rn = ls_vec_push(&tp->running);
		memset(rn, 0, sizeof(*rn));
		rn->tid = s->tid;
		rn->for_ns = now - ls_trace_ns(t, s->begin_ticks);
		rn->name = site_callback(tp, nm, s->site);
		rn->where = stack_where(tp, nm, s->stack);
		const struct ls_thread *lt = ls_trace_thread(t, s->tid);
		snprintf(rn->thread, sizeof(rn->thread), "%s", lt ? lt->name : "?");
		clean(rn->thread);
	}
}

/* Reads the trace once more. On failure keeps the last numbers and says
 * why in tp->msg; -1. */
static int top_read(struct top *tp)
{
	char err[512];
	struct ls_read_options opt = { .keep_callbacks_ms = 0, .progress = 0 };
	double t0 = mono_ns();
	struct ls_trace *t = ls_trace_read_ex(tp->path, &opt, err, sizeof(err));
	if (!t && tp->pid > 0 && process_alive(tp->pid)) {
		/* exec'd: its new trace (loopsan.PID.N.trace) */
		char *again = trace_of_pid(tp->pid, 1);
		if (again && strcmp(again, tp->path) != 0) {
			free(tp->path);
			tp->path = again;
			tp->have_data = 0;
			tp->names_gen++; /* another trace: its own site and stack ids */
			t = ls_trace_read_ex(tp->path, &opt, err, sizeof(err));
		} else {
			free(again);
		}
	}
	double t1 = mono_ns();
	if (!t) {
		snprintf(tp->msg, sizeof(tp->msg), "%s: %s", tp->path, err);
		clean(tp->msg);
		if (tp->state == 0 && !process_alive((long)tp->tpid))
			tp->state = 2;
		tp->running.len = 0;
		return -1;
	}
	tp->msg[0] = '\0';
	tp->read_s = (t1 - t0) / 1e9;
	struct ls_vec swap = tp->prev;
	tp->prev = tp->rows;
	tp->rows = swap;
	tp->prev_at_ns = tp->at_ns;
	tp->at_ns = t0;
	take_header(tp, t);
	tp->ns_per_tick = t->ns_per_tick;
	struct namer nm = { .t = t };
	collect_rows(tp, t, &nm);
	interval_columns(tp, t);
	collect_threads(tp, t);
	collect_running(tp, t, &nm);
	if (nm.sym)
		ls_symbolizer_free(nm.sym);
	ls_trace_free(t);
	tp->have_data = 1;
	/* A read that takes longer than half the interval stretches it. */
	tp->wait_s = tp->a.interval;
	if (tp->read_s * 2 > tp->wait_s)
		tp->wait_s = tp->read_s * 2;
	return 0;
}

/* ---- the lines shown ---- */

enum line_kind { L_TITLE, L_INFO, L_WARN, L_NOTE, L_COLS, L_THREAD, L_ROW };

struct line {
	enum line_kind kind;
	char *text;
	int mark_at, mark_len; /* L_COLS: the sort column's title */
};

struct lines {
	struct ls_vec v;     /* struct line */
	size_t body;         /* index of the first line that scrolls */
};

/* name ("on_tick (uv_timer_start) p.c:11") in at most avail columns: whole,
 * else without its api ("on_tick p.c:11"), which says least; add_line
 * cuts what is still too long. */
static const char *fit_name(const char *name, int avail, char *buf, size_t n)
{
	const char *api = strstr(name, " (");
	for (const char *p = api; p; p = strstr(p + 1, " ("))
		api = p;
	const char *close = api ? strchr(api, ')') : NULL;
	if ((int)strlen(name) <= avail || close == NULL)
		return name;
	snprintf(buf, n, "%.*s%s", (int)(api - name), name, close + 1);
	return buf;
}

static void add_line(struct lines *ls, int width, enum line_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_line(struct lines *ls, int width, enum line_kind kind, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = ls_xstrdup("");
	va_end(ap);
	if ((int)strlen(s) > width)
		s[width] = '\0';
	struct line *l = ls_vec_push(&ls->v);
	l->kind = kind;
	l->text = s;
	l->mark_at = l->mark_len = 0;
}

static void lines_free(struct lines *ls)
{
	for (size_t i = 0; i < ls->v.len; i++)
		free(LS_VEC_AT(&ls->v, struct line, i)->text);
	ls_vec_free(&ls->v);
}

static void human_s(char *buf, size_t n, double s)
{
	if (s < 60)
		snprintf(buf, n, "%.1f s", s);
	else if (s < 3600)
		snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* A duration in at most 7 characters. */
static void dur(char *buf, size_t n, double ns)
{
	if (ns >= 100e9)
		snprintf(buf, n, "%.0fs", ns / 1e9);
	else
		ls_human_ns(buf, n, ns, 1);
}

static void cell(char *buf, size_t n, const struct top *tp, const struct row *r, enum col c)
{
	int iv = tp->have_iv;
	switch (c) {
	case COL_RATE:
		if (!iv)
			snprintf(buf, n, "-");
		else if (r->rate < 1000)
			snprintf(buf, n, "%.1f", r->rate);
		else if (r->rate < 1e7)
			snprintf(buf, n, "%.0f", r->rate);
		else
			snprintf(buf, n, "%.1e", r->rate);
		return;
	case COL_P50:
	case COL_P99:
		if (!iv || r->dcount == 0)
			snprintf(buf, n, "-");
		else
			dur(buf, n, c == COL_P50 ? r->p50_iv : r->p99_iv);
		return;
	case COL_P50ALL:
	case COL_P99ALL:
		dur(buf, n, ls_hist_quantile_ns(r->hist, tp->ns_per_tick, r->max_ns,
						c == COL_P50ALL ? 0.5 : 0.99));
		return;
	case COL_MAX:
		dur(buf, n, r->max_ns);
		return;
	case COL_TOTAL:
		dur(buf, n, r->total_ns);
		return;
	case COL_BUSY:
		if (!iv)
			snprintf(buf, n, "-");
		else
			snprintf(buf, n, "%.1f%%", r->busy * 100 > 999.9 ? 999.9 : r->busy * 100);
		return;
	case COL_SLOW:
		snprintf(buf, n, "%" PRIu64, r->slow);
		return;
	case NCOLS:
		break;
	}
	buf[0] = '\0';
}

/* Columns shown at this width: dropped from the end of `columns` (but
 * the sort column) while the name would get less than two fifths of the
 * line (20 at least). */
static void visible_columns(int width, int sort_col, int vis[NCOLS])
{
	int min_name = width * 2 / 5 > 20 ? width * 2 / 5 : 20, sum = 0;
	for (int c = 0; c < NCOLS; c++) {
		vis[c] = 1;
		sum += columns[c].width;
	}
	for (int c = NCOLS - 1; c > 0 && sum + 1 + min_name > width; c--) {
		if (c == sort_col)
			continue;
		vis[c] = 0;
		sum -= columns[c].width;
	}
}

struct sorter {
	const struct top *tp;
	int col;
};
static struct sorter sorting; /* for qsort's comparison */

static double sort_value(const struct top *tp, const struct row *r, int col)
{
	int iv = tp->have_iv;
	switch (col) {
	case COL_RATE: return iv ? r->rate : (double)r->count;
	case COL_P99:
		if (iv)
			return r->dcount ? r->p99_iv : -1;
		return ls_hist_quantile_ns(r->hist, tp->ns_per_tick, r->max_ns, 0.99);
	case COL_MAX: return r->max_ns;
	case COL_BUSY: return iv ? r->busy : r->total_ns;
	case COL_TOTAL: return r->total_ns;
	case COL_SLOW: return (double)r->slow;
	}
	return 0;
}

static int row_order(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	if (sorting.col == COL_NAME) {
		int c = strcmp(x->name, y->name);
		if (c)
			return c;
	} else {
		double vx = sort_value(sorting.tp, x, sorting.col);
		double vy = sort_value(sorting.tp, y, sorting.col);
		if (vx != vy)
			return vx > vy ? -1 : 1;
	}
	return x->site < y->site ? -1 : x->site > y->site;
}

static const char *mode_name(uint32_t mode)
{
	return mode == LS_MODE_TIMELINE ? "timeline" : mode == LS_MODE_SUMMARY ? "summary" : "?";
}

/* Everything shown, each line at most width characters. */
static void build_lines(const struct top *tp, int width, struct lines *ls)
{
	memset(ls, 0, sizeof(*ls));
	ls->v.item_size = sizeof(struct line);
	char up[32], rd[32];
	double now = tp->state == 1 && tp->end_ns > 0 ? tp->end_ns : mono_ns();
	if (tp->state == 2)
		snprintf(up, sizeof(up), "-");
	else
		human_s(up, sizeof(up), (now - tp->start_ns) / 1e9);
	add_line(ls, width, L_TITLE, "loopsan top - %s, pid %" PRIu64 ", %s, up %s", tp->exe,
		 tp->tpid, tp->state == 0 ? "running" : tp->state == 1 ? "exited" :
		 "exited (no clean exit)", up);
	ls_human_ns(rd, sizeof(rd), tp->read_s * 1e9, 1);
	add_line(ls, width, L_INFO, "%s mode, slow >= %u ms, %" PRIu64 " dropped, read %s, "
		 "every %.1f s%s", mode_name(tp->mode), tp->slow_ms, tp->dropped, rd, tp->wait_s,
		 tp->wait_s > tp->a.interval ? " (stretched: slow reads)" : "");
	if (tp->msg[0])
		add_line(ls, width, L_WARN, "cannot read the trace (last numbers kept): %s", tp->msg);
	for (size_t i = 0; i < tp->running.len; i++) {
		const struct running_now *rn = LS_VEC_AT(&tp->running, struct running_now, i);
		char f[32];
		human_s(f, sizeof(f), rn->for_ns / 1e9);
		add_line(ls, width, L_WARN, "RUNNING for %s: %s at %s, thread %s [tid %u]", f,
			 rn->name, rn->where, rn->thread, rn->tid);
	}
	if (!tp->have_iv && tp->state != 0)
		add_line(ls, width, L_NOTE, "(exited: no interval, so the interval columns are -)");

	int vis[NCOLS];
	int sort_col = sort_keys[tp->a.sort].col;
	visible_columns(width, sort_col, vis);
	char hdr[1024];
	int at = 0, mark_at = 0, mark_len = 0;
	for (int k = 0; k < NCOLS; k++) {
		enum col c = col_order[k];
		if (!vis[c])
			continue;
		char title[32];
		snprintf(title, sizeof(title), "%s%s", (int)c == sort_col ? "*" : "", columns[c].title);
		int n = snprintf(hdr + at, sizeof(hdr) - (size_t)at, "%*s", columns[c].width, title);
		if ((int)c == sort_col) {
			mark_len = (int)strlen(title);
			mark_at = at + n - mark_len;
		}
		at += n;
	}
	const char *cbt = sort_col == COL_NAME ? "*CALLBACK" : "CALLBACK";
	if (sort_col == COL_NAME) {
		mark_at = at + 1;
		mark_len = (int)strlen(cbt);
	}
	snprintf(hdr + at, sizeof(hdr) - (size_t)at, " %s", cbt);
	add_line(ls, width, L_COLS, "%s", hdr);
	struct line *cl = LS_VEC_AT(&ls->v, struct line, ls->v.len - 1);
	cl->mark_at = mark_at < width ? mark_at : 0;
	cl->mark_len = mark_at + mark_len <= width ? mark_len : 0;
	ls->body = ls->v.len;

	const struct row **order = ls_xcalloc(tp->rows.len + 1, sizeof(*order));
	for (size_t i = 0; i < tp->threads.len; i++) {
		const struct thread_line *th = LS_VEC_AT(&tp->threads, struct thread_line, i);
		char busy[32], rate[32];
		size_t n = 0;
		for (size_t j = 0; j < tp->rows.len; j++)
			if (LS_VEC_AT(&tp->rows, struct row, j)->tid == th->tid)
				order[n++] = LS_VEC_AT(&tp->rows, struct row, j);
		if (tp->have_iv) {
			snprintf(busy, sizeof(busy), "%.1f%%", th->busy * 100);
			snprintf(rate, sizeof(rate), "%.1f", th->rate);
		} else {
			snprintf(busy, sizeof(busy), "-");
			snprintf(rate, sizeof(rate), "-");
		}
		add_line(ls, width, L_THREAD, "thread %s [tid %u]  busy %s  %s calls/s", th->name,
			 th->tid, busy, rate);
		sorting.tp = tp;
		sorting.col = sort_col;
		if (n > 1)
			qsort(order, n, sizeof(*order), row_order);
		for (size_t j = 0; j < n; j++) {
			char text[1024];
			int pos = 0;
			for (int k = 0; k < NCOLS; k++) {
				enum col c = col_order[k];
				if (!vis[c])
					continue;
				char v[32];
				cell(v, sizeof(v), tp, order[j], c);
				pos += snprintf(text + pos, sizeof(text) - (size_t)pos, "%*s",
						columns[c].width, v);
			}
			char fit[1024];
			add_line(ls, width, L_ROW, "%s %s", text,
				 fit_name(order[j]->name, width - pos - 1, fit, sizeof(fit)));
		}
	}
	free(order);
}

static int env_width(void)
{
	const char *c = getenv("COLUMNS");
	if (c && all_digits(c)) {
		long w = strtol(c, NULL, 10);
		if (w > 0 && w < 10000)
			return (int)w;
	}
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

static void print_snapshot(FILE *out, const struct top *tp, int width)
{
	struct lines ls;
	build_lines(tp, width, &ls);
	for (size_t i = 0; i < ls.v.len; i++) {
		const struct line *l = LS_VEC_AT(&ls.v, struct line, i);
		fprintf(out, "%s\n", l->text);
	}
	lines_free(&ls);
	fflush(out);
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_flag)
		;
}

/* --once, and a terminal ncurses cannot drive (TERM=dumb): plain snapshots. */
static int run_plain(struct top *tp, int once)
{
	int width = env_width();
	for (;;) {
		if (tp->state != 0) {
			/* exited: one read is all there is */
			print_snapshot(stdout, tp, width);
			return LS_EXIT_OK;
		}
		sleep_s(tp->wait_s);
		if (stop_flag)
			return LS_EXIT_OK;
		top_read(tp);
		print_snapshot(stdout, tp, width);
		if (once || tp->state != 0)
			return LS_EXIT_OK;
		fputc('\n', stdout);
	}
}

/* ---- the live view ---- */

enum { PAIR_THREAD = 1, PAIR_WARN, PAIR_TITLE };

static int line_attr(const struct top *tp, enum line_kind k)
{
	switch (k) {
	case L_TITLE: return A_BOLD | (tp->color ? COLOR_PAIR(PAIR_TITLE) : 0);
	case L_WARN: return A_BOLD | (tp->color ? COLOR_PAIR(PAIR_WARN) : 0);
	case L_COLS: return A_REVERSE;
	case L_THREAD: return A_BOLD | (tp->color ? COLOR_PAIR(PAIR_THREAD) : 0);
	default: return A_NORMAL;
	}
}

static void draw(struct top *tp)
{
	int width = COLS, height = LINES;
	struct lines ls;
	build_lines(tp, width, &ls);
	erase();
	int y = 0;
	size_t body = ls.body;
	for (size_t i = 0; i < body && y < height - 1; i++, y++) {
		const struct line *l = LS_VEC_AT(&ls.v, struct line, i);
		attrset(line_attr(tp, l->kind));
		mvaddnstr(y, 0, l->text, width);
		if (l->kind == L_COLS) {
			for (int x = (int)strlen(l->text); x < width; x++)
				mvaddch(y, x, ' ');
			if (l->mark_len > 0) {
				attrset(A_REVERSE | A_BOLD | A_UNDERLINE);
				mvaddnstr(y, l->mark_at, l->text + l->mark_at, l->mark_len);
			}
		}
	}
	int avail = height - 1 - y;
	int nbody = (int)(ls.v.len - body);
	if (avail < 0)
		avail = 0;
	if (tp->scroll > nbody - avail)
		tp->scroll = nbody - avail;
	if (tp->scroll < 0)
		tp->scroll = 0;
	for (int i = 0; i < avail && tp->scroll + i < nbody; i++) {
		const struct line *l = LS_VEC_AT(&ls.v, struct line, body + (size_t)(tp->scroll + i));
		attrset(line_attr(tp, l->kind));
		mvaddnstr(y + i, 0, l->text, width);
	}
	attrset(A_REVERSE);
	char help[256];
	snprintf(help, sizeof(help), "%s%s", width >= 90 ?
		 "q quit  sort: c calls/s p p99 m max b busy t total s slow n name  "
		 "Up/Down/PgUp/PgDn scroll" : "q quit  sort: c p m b t s n  arrows scroll",
		 nbody > avail ? (tp->scroll + avail < nbody ? "  (more below)" : "  (end)") : "");
	mvaddnstr(height - 1, 0, help, width - 1 > 0 ? width - 1 : 0);
	attrset(A_NORMAL);
	refresh();
	lines_free(&ls);
}

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int run_live(struct top *tp)
{
	SCREEN *scr = newterm(NULL, stdout, stdin);
	if (!scr)
		return run_plain(tp, 0);
	const char *nc = getenv("NO_COLOR");
	tp->color = !(nc && *nc) && has_colors();
	if (tp->color) {
		start_color();
		use_default_colors();
		init_pair(PAIR_THREAD, COLOR_CYAN, -1);
		init_pair(PAIR_WARN, COLOR_RED, -1);
		init_pair(PAIR_TITLE, COLOR_GREEN, -1);
	}
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	double next = mono_ns() + tp->wait_s * 1e9;
	draw(tp);
	while (!stop_flag) {
		double now = mono_ns();
		if (now >= next) {
			if (tp->state == 0) /* exited: the last numbers stay */
				top_read(tp);
			next = mono_ns() + tp->wait_s * 1e9;
			draw(tp);
			continue;
		}
		int ms = (int)((next - now) / 1e6) + 1;
		timeout(ms > 1000 ? 1000 : ms);
		int ch = getch();
		int page = LINES - 6 > 1 ? LINES - 6 : 1;
		switch (ch) {
		case ERR: continue;
		case 'q': case 'Q': stop_flag = 1; continue;
		case KEY_UP: tp->scroll--; break;
		case KEY_DOWN: tp->scroll++; break;
		case KEY_PPAGE: tp->scroll -= page; break;
		case KEY_NPAGE: tp->scroll += page; break;
		case KEY_HOME: tp->scroll = 0; break;
		case KEY_END: tp->scroll = 1 << 30; break;
		case KEY_RESIZE: break;
		default:
			for (size_t i = 0; i < NSORT; i++)
				if (ch == sort_keys[i].key)
					tp->a.sort = i;
			break;
		}
		draw(tp);
	}
	endwin();
	delscreen(scr);
	return LS_EXIT_OK;
}

static int plain_terminal(void)
{
	const char *term = getenv("TERM");
	return !isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO) || !term || !*term ||
	       strcmp(term, "dumb") == 0;
}

int ls_cmd_top(int argc, char **argv)
{
	struct top tp;
	memset(&tp, 0, sizeof(tp));
	tp.a.interval = 1;
	tp.names.item_size = sizeof(struct name_ent);
	tp.rows.item_size = tp.prev.item_size = sizeof(struct row);
	tp.threads.item_size = sizeof(struct thread_line);
	tp.running.item_size = sizeof(struct running_now);
	int rc = parse_args(argc, argv, &tp.a);
	if (rc != 0) {
		if (rc > 0)
			ls_top_usage(stdout);
		return rc > 0 ? LS_EXIT_OK : LS_EXIT_USAGE;
	}
	struct stat st;
	if (all_digits(tp.a.target) && stat(tp.a.target, &st) != 0) {
		tp.pid = strtol(tp.a.target, NULL, 10);
		tp.path = tp.pid > 0 ? trace_of_pid(tp.pid, 0) : NULL;
		if (tp.pid <= 0)
			ls_error("top: no process with pid %s", tp.a.target);
		if (!tp.path)
			return LS_EXIT_USAGE;
	} else {
		tp.path = ls_xstrdup(tp.a.target);
	}
	if (top_read(&tp) != 0) {
		ls_error("%s", tp.msg);
		rc = LS_EXIT_USAGE;
		goto out;
	}
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	if (tp.a.once)
		rc = run_plain(&tp, 1);
	else if (plain_terminal())
		rc = run_plain(&tp, 0);
	else
		rc = run_live(&tp);
out:
	for (size_t i = 0; i < tp.names.len; i++)
		free(LS_VEC_AT(&tp.names, struct name_ent, i)->text);
	ls_vec_free(&tp.names);
	ls_vec_free(&tp.rows);
	ls_vec_free(&tp.prev);
	ls_vec_free(&tp.threads);
	ls_vec_free(&tp.running);
	free(tp.path);
	return rc;
}
