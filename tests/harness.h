/* Test harness: run a fixture under the shim, find its trace, ask the viewer
 * for the JSON report and pick findings out of it.
 *
 * Every test suite declares itself with LS_SUITE(name) so that the temporary
 * directories a test makes are removed after it, pass or fail (set
 * LOOPSAN_KEEP_TMP=1 to keep them for a post-mortem). Children run in their own
 * process group with stdin from /dev/null, stdout and stderr captured whole,
 * and are killed after LS_RUN_TIMEOUT_S seconds.
 *
 * Paths come from LOOPSAN_BUILD (set by `make test`): the shim, the viewer and
 * the fixture binaries live there (all of them in LOOPSAN_BUILD/fixtures), the
 * fixture sources beside the tests of their family, in
 * dirname(LOOPSAN_BUILD)/tests/FAMILY/fixtures (uv, ev, sys, viewer, real).
 */
#ifndef LOOPSAN_TESTS_HARNESS_H
#define LOOPSAN_TESTS_HARNESS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <jansson.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LS_RUN_TIMEOUT_S
#define LS_RUN_TIMEOUT_S 20
#endif
#define LS_MAX_TMPDIRS 8

extern char **environ;

/* ---- paths ---------------------------------------------------------------- */

static inline char *ls_fmt(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static inline char *ls_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0, "out of memory");
	return s;
}

static inline const char *ls_build(void)
{
	const char *b = getenv("LOOPSAN_BUILD");

	cr_assert(b && *b == '/',
		  "LOOPSAN_BUILD must be the absolute build directory (run `make test`)");
	return b;
}

static inline char *ls_repo(void)
{
	char *b = strdup(ls_build());
	char *r = strdup(dirname(b));

	free(b);
	return r;
}

static inline char *ls_shim(void) { return ls_fmt("%s/libloopsan.so", ls_build()); }
static inline char *ls_viewer(void) { return ls_fmt("%s/loopsan", ls_build()); }
/* "LD_PRELOAD=<the shim>", for an environment; the caller frees it. */
static inline char *ls_preload_env(void)
{
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	free(shim);
	return pre;
}

static inline char *ls_fixture_bin(const char *name)
{
	return ls_fmt("%s/fixtures/%s", ls_build(), name);
}

/* tests/FAMILY/fixtures/NAME.c, whichever family holds it (fixture names are
 * unique across families: the Makefile builds them all into one directory). */
static inline char *ls_fixture_src(const char *name)
{
	char *repo = ls_repo();
	char *pattern = ls_fmt("%s/tests/*/fixtures/%s.c", repo, name);
	glob_t g;
	int rc = glob(pattern, 0, NULL, &g);
	cr_assert(rc == 0 && g.gl_pathc == 1, "no single source of fixture %s: %s", name, pattern);
	char *p = ls_fmt("%s", g.gl_pathv[0]);
	globfree(&g);
	free(pattern);
	free(repo);
	return p;
}

/* ---- temporary directories, removed by the suite's fini ------------------- */

static char *ls__tmpdirs[LS_MAX_TMPDIRS];
static int ls__ntmpdirs;

static inline const char *ls_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *tmpl = ls_fmt("%s/loopsan-test.XXXXXX", base && *base ? base : "/tmp");

	cr_assert(ls__ntmpdirs < LS_MAX_TMPDIRS, "too many temp dirs in one test");
	cr_assert(mkdtemp(tmpl), "mkdtemp %s: %s", tmpl, strerror(errno));
	ls__tmpdirs[ls__ntmpdirs++] = tmpl;
	return tmpl;
}

static inline int ls__rm_one(const char *path, const struct stat *st, int flag,
			     struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void ls_cleanup(void)
{
	const char *keep = getenv("LOOPSAN_KEEP_TMP");

	for (int i = 0; i < ls__ntmpdirs; i++) {
		if (ls__tmpdirs[i] == NULL)
			continue;
		if (keep && *keep && strcmp(keep, "0"))
			fprintf(stderr, "kept %s\n", ls__tmpdirs[i]);
		else
			nftw(ls__tmpdirs[i], ls__rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(ls__tmpdirs[i]);
	}
	ls__ntmpdirs = 0;
}

#define LS_SUITE(name) TestSuite(name, .fini = ls_cleanup, .timeout = 90)

/* ---- running programs ----------------------------------------------------- */

struct ls_run {
	int status;       /* raw wait status */
	bool timed_out;
	char *out;        /* NUL-terminated; out_len excludes the NUL */
	size_t out_len;
	char *err;
	size_t err_len;
};

static inline char *ls__slurp_fd(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	cr_assert(buf);
	cr_assert(lseek(fd, 0, SEEK_SET) == 0);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert(buf);
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		cr_assert(r >= 0, "read: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static inline bool ls__env_overridden(const char *entry, const char *const *env)
{
	/* The test's own environment must not leak a shim or options into the
	 * child: only what the test asks for applies. */
	if (!strncmp(entry, "LD_PRELOAD=", 11) || !strncmp(entry, "LOOPSAN_OPTIONS=", 16))
		return true;
	for (size_t i = 0; env && env[i]; i++) {
		size_t k = strcspn(env[i], "=");
		if (!strncmp(entry, env[i], k) && entry[k] == '=')
			return true;
	}
	return false;
}

/* The test's environment minus LD_PRELOAD and LOOPSAN_OPTIONS, plus env
 * ("KEY=VALUE", NULL-terminated, may be NULL), for execve; free() the
 * array (its strings are environ's and env's). */
static inline char **ls_env_with(const char *const *env)
{
	size_t n = 0, extra = 0, k = 0;

	while (environ[n])
		n++;
	while (env && env[extra])
		extra++;
	char **envp = calloc(n + extra + 1, sizeof(*envp));
	cr_assert(envp);
	for (size_t i = 0; i < n; i++)
		if (!ls__env_overridden(environ[i], env))
			envp[k++] = environ[i];
	for (size_t i = 0; i < extra; i++)
		envp[k++] = (char *)env[i];
	envp[k] = NULL;
	return envp;
}

/* Starts argv[0] (a path) in the background with the environment
 * ls_env_with(env) gives, in cwd (NULL: the test's cwd), in a process
 * group of its own; stdin and stderr /dev/null, stdout out_fd (-1:
 * /dev/null). Its pid, for the caller to wait for or kill. */
static inline pid_t ls_start(const char *cwd, const char *const *env,
			     const char *const *argv, int out_fd)
{
	char **envp = ls_env_with(env);

	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		setpgid(0, 0);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(out_fd >= 0 ? out_fd : nul, 1) < 0 ||
		    dup2(nul, 2) < 0 || (cwd && chdir(cwd) != 0))
			_exit(126);
		execve(argv[0], (char *const *)argv, envp);
		_exit(127);
	}
	setpgid(pid, pid);
	free(envp);
	return pid;
}

/* Runs argv[0] (a path) with the environment ls_env_with(env) gives, in
 * cwd (NULL: the test's cwd). */
static inline void ls_run(struct ls_run *r, const char *cwd, const char *const *env,
			  const char *const *argv)
{
	char **envp = ls_env_with(env);

	int ofd = memfd_create("ls-stdout", 0);
	int efd = memfd_create("ls-stderr", 0);
	cr_assert(ofd >= 0 && efd >= 0, "memfd_create: %s", strerror(errno));
	/* Children of the program share these files: without O_APPEND, two of
	 * them writing at once could both write at the same offset (a memfd
	 * does not serialize its file position), one line over the other. */
	cr_assert(fcntl(ofd, F_SETFL, O_APPEND) == 0 && fcntl(efd, F_SETFL, O_APPEND) == 0,
		  "O_APPEND: %s", strerror(errno));

	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		setpgid(0, 0);
		if (in < 0 || dup2(in, 0) < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0)
			_exit(126);
		if (cwd && chdir(cwd) != 0)
			_exit(126);
		execve(argv[0], (char *const *)argv, envp);
		dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* also here, so the kill below cannot miss */

	struct timespec start, now, tick = {0, 5 * 1000 * 1000};
	clock_gettime(CLOCK_MONOTONIC, &start);
	memset(r, 0, sizeof(*r));
	for (;;) {
		pid_t w = waitpid(pid, &r->status, WNOHANG);
		if (w == pid)
			break;
		cr_assert(w == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) >=
		    LS_RUN_TIMEOUT_S * 1000000000L) {
			r->timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		nanosleep(&tick, NULL);
	}
	/* Give the rest of the group (loopsan run's children) no second chance. */
	kill(-pid, SIGKILL);

	r->out = ls__slurp_fd(ofd, &r->out_len);
	r->err = ls__slurp_fd(efd, &r->err_len);
	close(ofd);
	close(efd);
	free(envp);
	cr_assert(!r->timed_out, "%s: killed after %d s\nstderr:\n%s", argv[0],
		  LS_RUN_TIMEOUT_S, r->err);
}

static inline void ls_run_free(struct ls_run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* The child's exit status; fails the test if it was killed by a signal. */
static inline int ls_exit_code(const struct ls_run *r)
{
	cr_assert(WIFEXITED(r->status), "child killed by signal %d\nstderr:\n%s",
		  WIFSIGNALED(r->status) ? WTERMSIG(r->status) : -1, r->err);
	return WEXITSTATUS(r->status);
}

/* Runs build/fixtures/NAME [ARG] in dir under the shim (preload=false:
 * without), with LOOPSAN_OPTIONS=options when options is not NULL; arg may
 * be NULL. */
static inline void ls_run_fixture_arg(struct ls_run *r, const char *name, const char *dir,
				      bool preload, const char *options, const char *arg)
{
	char *bin = ls_fixture_bin(name);
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	char *opt = options ? ls_fmt("LOOPSAN_OPTIONS=%s", options) : NULL;
	const char *env[3] = {NULL, NULL, NULL};
	int e = 0;

	cr_assert(access(bin, X_OK) == 0, "fixture %s not built", bin);
	if (preload) {
		cr_assert(access(shim, R_OK) == 0, "shim %s not built", shim);
		env[e++] = pre;
	}
	if (opt)
		env[e++] = opt;
	const char *argv[] = {bin, arg, NULL};
	ls_run(r, dir, env, argv);
	free(bin);
	free(shim);
	free(pre);
	free(opt);
}

static inline void ls_run_fixture_ex(struct ls_run *r, const char *name, const char *dir,
				     bool preload, const char *options)
{
	ls_run_fixture_arg(r, name, dir, preload, options, NULL);
}

static inline void ls_run_fixture(struct ls_run *r, const char *name, const char *dir,
				  const char *options)
{
	ls_run_fixture_ex(r, name, dir, true, options);
}

/* Runs the viewer with args (NULL-terminated) in cwd (may be NULL). */
static inline void ls_run_viewer(struct ls_run *r, const char *cwd, const char *const *args)
{
	const char *argv[32];
	char *viewer = ls_viewer();
	size_t n = 0;

	cr_assert(access(viewer, X_OK) == 0, "viewer %s not built", viewer);
	argv[n++] = viewer;
	for (size_t i = 0; args[i]; i++) {
		cr_assert(n < 31);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	ls_run(r, cwd, NULL, argv);
	free(viewer);
}

/* ---- traces --------------------------------------------------------------- */

static inline bool ls__is_trace_name(const char *n)
{
	size_t len = strlen(n);

	if (strncmp(n, "loopsan.", 8) || len < 8 + 1 + 6 || strcmp(n + len - 6, ".trace"))
		return false;
	for (const char *p = n + 8; p < n + len - 6; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static inline int ls_count_traces(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)))
		n += ls__is_trace_name(e->d_name);
	closedir(d);
	return n;
}

/* The whole file at path (NUL-terminated), its length in *len. */
static inline char *ls_read_file(const char *path, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	cr_assert(fd >= 0 && fstat(fd, &st) == 0, "%s: %s", path, strerror(errno));
	char *buf = malloc((size_t)st.st_size + 1);
	cr_assert(buf);
	cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* The one loopsan.<pid>.trace in dir, as an absolute path. */
static inline char *ls_single_trace(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *found = NULL;
	int n = 0;

	cr_assert(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if (!ls__is_trace_name(e->d_name))
			continue;
		n++;
		free(found);
		found = ls_fmt("%s/%s", dir, e->d_name);
	}
	closedir(d);
	cr_assert_eq(n, 1, "expected exactly one loopsan.<pid>.trace in %s, found %d", dir, n);
	return found;
}

static inline long ls_trace_pid(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	cr_assert(ls__is_trace_name(b), "%s is not a trace name", path);
	return strtol(b + 8, NULL, 10);
}

static inline void ls_copy_file(const char *from, const char *to, off_t len)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[65536];
	off_t done = 0;

	cr_assert(in >= 0 && out >= 0, "copy %s -> %s: %s", from, to, strerror(errno));
	while (len < 0 || done < len) {
		size_t want = sizeof(buf);
		if (len >= 0 && (off_t)want > len - done)
			want = (size_t)(len - done);
		ssize_t r = read(in, buf, want);
		cr_assert(r >= 0);
		if (r == 0)
			break;
		cr_assert(write(out, buf, (size_t)r) == r);
		done += r;
	}
	close(in);
	close(out);
}

/* ---- the JSON report ------------------------------------------------------ */

/* Parses a viewer run's stdout as a report and checks its top level. */
static inline json_t *ls_parse_report(const struct ls_run *r)
{
	json_error_t jerr;
	json_t *root = json_loadb(r->out, r->out_len, 0, &jerr);

	cr_assert(root, "report is not JSON (%s, line %d)\nstdout:\n%s\nstderr:\n%s", jerr.text,
		  jerr.line, r->out, r->err);
	cr_assert_eq(json_integer_value(json_object_get(root, "loopsan_report")), 1,
		     "loopsan_report must be 1");
	cr_assert(json_is_array(json_object_get(root, "processes")), "no processes array");
	cr_assert(json_is_array(json_object_get(root, "findings")), "no findings array");
	return root;
}

/* `loopsan report --format json TRACE`, which must succeed. */
static inline json_t *ls_report_json(const char *trace)
{
	struct ls_run r;
	const char *args[] = {"report", "--format", "json", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "loopsan report %s failed:\n%s", trace, r.err);
	json_t *root = ls_parse_report(&r);
	ls_run_free(&r);
	return root;
}

/* Runs fixture [arg] under the shim (options may be NULL) in a new dir and
 * returns the JSON report of its one trace. The wait status goes to
 * *status when status is not NULL; otherwise the fixture must exit 0. */
static inline json_t *ls_fixture_report(const char *fixture, const char *arg,
					const char *options, int *status)
{
	struct ls_run r;
	const char *dir = ls_tmpdir();

	ls_run_fixture_arg(&r, fixture, dir, true, options, arg);
	if (status)
		*status = r.status;
	else
		cr_assert_eq(ls_exit_code(&r), 0, "%s %s exited %d\n%s", fixture, arg ? arg : "",
			     ls_exit_code(&r), r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *rep = ls_report_json(trace);
	free(trace);
	return rep;
}

static inline const char *ls_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	cr_assert(json_is_string(v), "field \"%s\" missing or not a string in %s", key,
		  json_dumps(obj, JSON_COMPACT));
	return json_string_value(v);
}

static inline json_int_t ls_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	cr_assert(json_is_integer(v), "field \"%s\" missing or not an integer in %s", key,
		  json_dumps(obj, JSON_COMPACT));
	return json_integer_value(v);
}

static inline double ls_num(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	cr_assert(json_is_number(v), "field \"%s\" missing or not a number in %s", key,
		  json_dumps(obj, JSON_COMPACT));
	return json_number_value(v);
}

static inline bool ls_bool(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	cr_assert(json_is_boolean(v), "field \"%s\" missing or not a boolean in %s", key,
		  json_dumps(obj, JSON_COMPACT));
	return json_is_true(v);
}

/* `loopsan stats --format json TRACE`, which must succeed and be a stats
 * document with a sites[] array. */
static inline json_t *ls_stats_json(const char *trace)
{
	struct ls_run r;
	const char *args[] = {"stats", "--format", "json", trace, NULL};
	json_error_t err;

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "loopsan stats %s:\n%s", trace, r.err);
	json_t *doc = json_loadb(r.out, r.out_len, 0, &err);
	cr_assert(doc, "stats JSON does not parse: %s (line %d)\n%s", err.text, err.line, r.out);
	cr_assert_eq(json_integer_value(json_object_get(doc, "loopsan_stats")), 1);
	cr_assert(json_is_array(json_object_get(doc, "sites")), "no sites[]");
	ls_run_free(&r);
	return doc;
}

/* The one stats site of callback; fails the test otherwise. Borrowed. */
static inline json_t *ls_stats_site(json_t *stats, const char *callback)
{
	json_t *sites = json_object_get(stats, "sites"), *found = NULL, *s;
	size_t i;

	json_array_foreach(sites, i, s) {
		if (strcmp(ls_str(s, "callback"), callback) == 0) {
			cr_assert_null(found, "two sites for %s:\n%s", callback,
				       json_dumps(sites, JSON_INDENT(1)));
			found = s;
		}
	}
	cr_assert(found, "no site for %s:\n%s", callback, json_dumps(sites, JSON_INDENT(1)));
	return found;
}

/* Findings of kind (NULL: any) whose callback is callback (NULL: any), as a
 * new array. */
static inline json_t *ls_findings(json_t *report, const char *kind, const char *callback)
{
	json_t *all = json_object_get(report, "findings"), *out = json_array(), *f;
	size_t i;

	json_array_foreach(all, i, f) {
		const char *k = json_string_value(json_object_get(f, "kind"));
		const char *cb = json_string_value(json_object_get(f, "callback"));
		if (kind && (!k || strcmp(k, kind)))
			continue;
		if (callback && (!cb || strcmp(cb, callback)))
			continue;
		json_array_append(out, f);
	}
	return out;
}

static inline size_t ls_count(json_t *report, const char *kind, const char *callback)
{
	json_t *a = ls_findings(report, kind, callback);
	size_t n = json_array_size(a);

	json_decref(a);
	return n;
}

/* The single finding of kind with callback; fails the test otherwise. The
 * returned reference is borrowed from report. */
static inline json_t *ls_only_finding(json_t *report, const char *kind, const char *callback)
{
	json_t *a = ls_findings(report, kind, callback);

	cr_assert_eq(json_array_size(a), 1,
		     "expected exactly one %s finding for %s, got %zu; findings:\n%s", kind,
		     callback ? callback : "(any)", json_array_size(a),
		     json_dumps(json_object_get(report, "findings"), JSON_INDENT(1)));
	json_t *f = json_array_get(a, 0);
	json_decref(a);
	return f;
}

static inline json_t *ls_process(json_t *report)
{
	json_t *procs = json_object_get(report, "processes");

	cr_assert_eq(json_array_size(procs), 1, "expected one process, got %zu",
		     json_array_size(procs));
	return json_array_get(procs, 0);
}

static inline const char *ls_basename(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* Asserts frame idx of stack field `which` ("created_at", ...): its function,
 * the basename of its file and its line. */
static inline void ls_assert_frame(json_t *finding, const char *which, size_t idx,
				   const char *function, const char *file, int line)
{
	json_t *stack = json_object_get(finding, which);

	cr_assert(json_is_array(stack) && json_array_size(stack) > idx,
		  "%s has no frame %zu in %s", which, idx, json_dumps(finding, JSON_INDENT(1)));
	json_t *fr = json_array_get(stack, idx);
	cr_assert_str_eq(ls_str(fr, "function"), function, "%s[%zu].function", which, idx);
	cr_assert_str_eq(ls_basename(ls_str(fr, "file")), file, "%s[%zu].file", which, idx);
	cr_assert_eq(ls_int(fr, "line"), line, "%s[%zu].line: expected %d, got %lld (%s)", which,
		     idx, line, (long long)ls_int(fr, "line"), json_dumps(fr, JSON_COMPACT));
	cr_assert(!strncmp(ls_str(fr, "pc"), "0x", 2), "%s[%zu].pc is not hex", which, idx);
}

/* Asserts the finding's thread is {tid, name}. */
static inline void ls_assert_thread(json_t *finding, long tid, const char *name)
{
	json_t *t = json_object_get(finding, "thread");

	cr_assert(json_is_object(t), "no thread in %s", json_dumps(finding, JSON_COMPACT));
	cr_assert_eq(ls_int(t, "tid"), tid, "thread.tid");
	cr_assert_str_eq(ls_str(t, "name"), name, "thread.name");
}

/* ---- fixture sources ------------------------------------------------------ */

/* Line number of the one line of the file at path that contains needle
 * (exactly one must); path and needle are freed. */
static inline int ls_marked_line(char *path, char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0, found = 0, hits = 0;

	cr_assert(f, "open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, needle)) {
			found = n;
			hits++;
		}
	}
	fclose(f);
	cr_assert_eq(hits, 1, "marker %s found %d times in %s", needle, hits, path);
	free(path);
	free(needle);
	return found;
}

/* Line number of the line of tests/FAMILY/fixtures/NAME.c marked with the
 * comment `@marker` (written as a C comment at the end of the line); exactly
 * one line must carry it. */
static inline int ls_marker_line(const char *fixture, const char *marker)
{
	return ls_marked_line(ls_fixture_src(fixture), ls_fmt("/* @%s */", marker));
}

/* ---- stderr ----------------------------------------------------------------- */

static inline int ls_count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* stderr is exactly one newline-terminated line containing needle. */
static inline void ls_assert_one_line(const struct ls_run *r, const char *needle)
{
	cr_assert(r->err_len > 0 && r->err[r->err_len - 1] == '\n' && ls_count_lines(r->err) == 1,
		  "expected exactly one line on stderr, got:\n%s", r->err);
	cr_assert(strstr(r->err, needle), "stderr line does not name \"%s\": %s", needle, r->err);
}

/* Validates the document doc (len bytes) with `xmllint --noout --schema`
 * against tests/schemas/junit-10.xsd (Jenkins) and JUnit.xsd (Ant). */
static inline void ls_assert_junit_valid(const char *doc, size_t len)
{
	const char *xsds[] = {"junit-10.xsd", "JUnit.xsd"};
	char *repo = ls_repo();
	char *path = ls_fmt("%s/report.xml", ls_tmpdir());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	cr_assert(fd >= 0 && write(fd, doc, len) == (ssize_t)len, "%s: %s", path, strerror(errno));
	close(fd);
	cr_assert(access("/usr/bin/xmllint", X_OK) == 0,
		  "/usr/bin/xmllint missing: apt-get install libxml2-utils (scripts/deps.sh)");
	for (size_t i = 0; i < 2; i++) {
		char *xsd = ls_fmt("%s/tests/schemas/%s", repo, xsds[i]);
		const char *argv[] = {"/usr/bin/xmllint", "--noout", "--schema", xsd, path, NULL};
		struct ls_run r;
		ls_run(&r, NULL, NULL, argv);
		cr_assert_eq(ls_exit_code(&r), 0, "JUnit output invalid against %s:\n%s\n%s", xsds[i],
			     r.err, doc);
		ls_run_free(&r);
		free(xsd);
	}
	free(path);
	free(repo);
}

/* `loopsan report --color auto trace` with stdout on a pseudo-terminal,
 * TERM=term and no_color as NO_COLOR (NULL: unset); returns what it
 * printed. */
static inline char *ls_report_on_tty(const char *trace, const char *term, const char *no_color)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	cr_assert(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
	char *slave_name = strdup(ptsname(master));
	char *viewer = ls_viewer();
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		int slave = open(slave_name, O_RDWR | O_NOCTTY);
		if (slave < 0 || dup2(slave, 1) < 0)
			_exit(126);
		setenv("TERM", term, 1);
		if (no_color)
			setenv("NO_COLOR", no_color, 1);
		else
			unsetenv("NO_COLOR");
		execl(viewer, viewer, "report", "--color", "auto", trace, (char *)NULL);
		_exit(127);
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int status;
	for (;;) {
		ssize_t k = read(master, buf + n, cap - n - 1);
		if (k > 0) {
			n += (size_t)k;
			cr_assert(n < cap - 1, "too much output");
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		break; /* EIO: the child closed the terminal */
	}
	buf[n] = '\0';
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d:\n%s", status, buf);
	close(master);
	free(slave_name);
	free(viewer);
	return buf;
}

#endif
