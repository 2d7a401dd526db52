/* loopsan run: runs a command (and its children) under the shim, then
 * prints the text report of every trace that this run produced.
 *
 * The run is tagged with a session id passed in LOOPSAN_OPTIONS; the shim
 * writes it into each trace's header, so traces left in the same directory
 * by earlier runs are not reported again. The report goes to stderr so that
 * it does not mix with the command's own output.
 *
 * When there is no trace, run says why as far as it can tell: the shim
 * could not load (a static executable), the process died of a signal, the
 * shim could not create or write the trace (its own reason, which it leaves
 * in a directory run names in LOOPSAN_RUN_NOTES: run cannot see the
 * program's stderr), or it ran without a loop call. run is the
 * subreaper of what it starts (PR_SET_CHILD_SUBREAPER): a program that
 * daemonizes (forks, the parent exits) leaves its children to run, which
 * waits for them up to --wait seconds, then names those still running and
 * where their traces will be. */
#include "viewer/commands.h"
#include "tracer/options.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct run_args {
	const char *dir;      /* --dir */
	const char *opt_dir;  /* -O dir=, used when there is no --dir */
	int fail;             /* --fail[=CODE]: the status when CMD succeeded with findings */
	int wait_s;           /* --wait: for descendants once CMD exited */
	enum ls_color_mode color;
	struct ls_suppressions supp; /* --suppressions */
	char *options;  /* the -O pairs, joined by ':' */
	char **cmd;
};

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t interrupted;  /* SIGINT/SIGTERM: stop waiting for descendants */

#define RUN_WAIT_DEFAULT 10

void ls_run_usage(FILE *out)
{
	fputs("usage: loopsan run [--dir DIR] [--fail[=CODE]] [--suppressions FILE]... [--color WHEN]\n"
	      "                   [-O key=value]... -- CMD [ARGS...]\n"
	      "\n"
	      "Runs CMD (and all its children) with the loopsan shim preloaded, then\n"
	      "prints on stderr the report of every trace the run produced.\n"
	      "\n"
	      "options:\n"
	      "  --dir DIR        write the traces into DIR (default: the current\n"
	      "                   directory; created if missing)\n"
	      "  --fail[=CODE]    exit 66 (or CODE, 1..255) when CMD succeeded but there\n"
	      "                   is an unsuppressed finding\n"
	      "  --wait SECONDS   once CMD exited, wait this long for the processes it\n"
	      "                   left running (a daemon's children; default 10, 0: not\n"
	      "                   at all), then report; those still running are named\n"
	      "                   with the trace each will write\n"
	      "  --suppressions FILE\n"
	      "                   leave out the findings FILE's kind:pattern lines\n"
	      "                   match (repeatable)\n"
	      "  --color WHEN     auto (the default: when stderr is a terminal and\n"
	      "                   NO_COLOR is not set), always or never\n"
	      "  -O key=value     a LOOPSAN_OPTIONS setting, e.g. -O slow_callback_ms=50,\n"
	      "                   checked before CMD starts (-O help=1: the shim lists them),\n"
	      "                   as LOOPSAN_OPTIONS from the environment is\n"
	      "  -h, --help       show this help\n"
	      "\n"
	      "The shim is $LOOPSAN_LIB (a relative path taken from the working\n"
	      "directory), else ../lib/loopsan/libloopsan.so from the loopsan binary\n"
	      "(where make install puts it), else libloopsan.so beside it.\n"
	      "A program linked with AddressSanitizer gets its libasan first in\n"
	      "LD_PRELOAD, before the shim, as ASan requires.\n"
	      "\n"
	      "When there is no trace, run says why on stderr:\n"
	      "  the shim was not loaded: CMD is a static executable\n"
	      "  CMD was killed by SIGNAME before it made a trace\n"
	      "  pid N: cannot create trace DIR/loopsan.N.trace: REASON (the shim's\n"
	      "      own reason: Permission denied, No space left on device, ...;\n"
	      "      also after the report for a process whose trace stopped early)\n"
	      "  CMD made no loop calls\n"
	      "A process CMD left running past --wait: \"still running: pid N (NAME);\n"
	      "its trace: DIR/loopsan.N.trace\".\n"
	      "\n"
	      "exit status: CMD's own (128+N when killed by signal N); with --fail, 66\n"
	      "(or CODE) when CMD exited 0 and there are findings; 127 when CMD cannot\n"
	      "be run; 2 on a usage error (a bad -O key or value among them: CMD does\n"
	      "not start).\n"
	      "No trace is no error of run's: the status is still CMD's.\n",
	      out);
}

static void append(char **list, const char *item);

static char *join(const char *a, const char *sep, const char *b)
{
	if (!a || !*a)
		return ls_xstrdup(b);
	char *s = ls_xmalloc(strlen(a) + strlen(sep) + strlen(b) + 1);
	sprintf(s, "%s%s%s", a, sep, b);
	return s;
}

/* "key=value", with the value quoted when it holds a LOOPSAN_OPTIONS
 * separator; NULL when it holds both quotes as well. */
static char *quote_pair(const char *key, size_t klen, const char *v)
{
	char *pair = ls_xmalloc(klen + strlen(v) + 4);
	if (!strpbrk(v, ":, \t\n\r\v\f") && v[0] != '"' && v[0] != '\'') {
		sprintf(pair, "%.*s=%s", (int)klen, key, v);
		return pair;
	}
	char q = strchr(v, '"') ? '\'' : '"';
	if (strchr(v, q)) {
		free(pair);
		return NULL;
	}
	sprintf(pair, "%.*s=%c%s%c", (int)klen, key, q, v, q);
	return pair;
}

/* One -O pair, checked as the shim will parse it (tracer/options.c), and
 * quoted for LOOPSAN_OPTIONS when its value holds a separator. */
static int add_option(struct run_args *a, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv) {
		ls_error("run: bad option '-O %s' (want key=value; -O help=1 lists them)", kv);
		return -1;
	}
	char why[512];
	const char *v = eq + 1;
	if (ls_option_check(kv, (size_t)(eq - kv), v, strlen(v), why, sizeof(why))) {
		ls_error("run: -O %s", why);
		return -1;
	}
	char *pair = quote_pair(kv, (size_t)(eq - kv), v);
	if (!pair) {
		ls_error("run: -O %.*s: a value with both quotes and a separator cannot be passed",
			 (int)(eq - kv), kv);
		return -1;
	}
	if (strncmp(kv, "dir=", 4) == 0)
		a->opt_dir = v;
	append(&a->options, pair);
	free(pair);
	return 0;
}

static int parse_one(int argc, char **argv, int *i, struct run_args *a)
{
	const char *arg = argv[*i], *v;
	int bad = 0;
	if ((v = ls_option_value("run", argc, argv, i, "--suppressions", &bad)))
		return ls_suppressions_load(&a->supp, v);
	if (!bad && (v = ls_option_value("run", argc, argv, i, "--color", &bad))) {
		if (ls_color_parse(v, &a->color) == 0)
			return 0;
		ls_error("run: bad --color '%s' (auto, always or never)", v);
		return -1;
	}
	if (bad)
		return -1;
	if (strcmp(arg, "--fail") == 0) {
		a->fail = LS_EXIT_FINDINGS;
	} else if (strncmp(arg, "--fail=", 7) == 0) {
		char *end;
		long code = strtol(arg + 7, &end, 10);
		if (code < 1 || code > 255 || *end != '\0' || end == arg + 7) {
			ls_error("run: --fail=CODE needs an exit status in 1..255, not '%s'", arg + 7);
			return -1;
		}
		a->fail = (int)code;
	} else if (strcmp(arg, "--wait") == 0) {
		char *end;
		long w = *i + 1 < argc ? strtol(argv[*i + 1], &end, 10) : -1;
		if (w < 0 || w > 86400 || *end != '\0' || end == argv[*i + 1]) {
			ls_error("run: --wait needs a number of seconds (see loopsan run --help)");
			return -1;
		}
		a->wait_s = (int)w;
		++*i;
	} else if (strcmp(arg, "--dir") == 0 || strcmp(arg, "-O") == 0) {
		if (*i + 1 == argc) {
			ls_error("run: %s needs a value (see loopsan run --help)", arg);
			return -1;
		}
		if (arg[1] == 'O')
			return add_option(a, argv[++*i]);
		a->dir = argv[++*i];
	} else if (strncmp(arg, "--dir=", 6) == 0) {
		a->dir = arg + 6;
	} else if (strncmp(arg, "-O", 2) == 0) {
		return add_option(a, arg + 2);
	} else {
		ls_error("run: unknown option '%s' (see loopsan run --help)", arg);
		return -1;
	}
	return 0;
}

/* Returns -1 on a usage error, 1 for --help, 0 otherwise. */
static int parse_args(int argc, char **argv, struct run_args *a)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
		if (parse_one(argc, argv, &i, a))
			return -1;
	}
	if (i == argc) {
		ls_error("run: no command given (see loopsan run --help)");
		return -1;
	}
	if (!a->dir)
		a->dir = a->opt_dir && *a->opt_dir ? a->opt_dir : ".";
	if (a->dir[0] == '\0') {
		ls_error("run: --dir needs a directory");
		return -1;
	}
	a->cmd = argv + i;
	return 0;
}

static int make_dirs(const char *dir)
{
	char *p = ls_xstrdup(dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) != 0 && errno != EEXIST)
			break;
		*s = '/';
	}
	int rc = mkdir(p, 0777) != 0 && errno != EEXIST ? -1 : 0;
	free(p);
	if (rc)
		ls_error("%s: cannot create directory: %s", dir, strerror(errno));
	return rc;
}

static char *resolve_dir(const char *dir)
{
	if (make_dirs(dir))
		return NULL;
	char *abs = realpath(dir, NULL);
	if (!abs) {
		ls_error("%s: %s", dir, strerror(errno));
		return NULL;
	}
	char *pair = quote_pair("dir", 3, abs);  /* as set_environment passes it */
	if (!pair) {
		ls_error("%s: a directory whose name holds both quotes and a separator cannot be "
			 "passed to the shim", dir);
		free(abs);
		return NULL;
	}
	free(pair);
	return abs;
}

static void make_session(char *buf, size_t n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(buf, n, "run-%ld-%lld%09ld", (long)getpid(),
		 (long long)ts.tv_sec, (long)ts.tv_nsec);
}

/* Appends ":item" to *list, or sets it to item when it is empty. */
static void append(char **list, const char *item)
{
	char *joined = join(*list, ":", item);
	free(*list);
	*list = joined;
}

static void set_environment(const char *shim, const struct run_args *a,
			    const char *dir, const char *session, const char *asan)
{
	const char *old = getenv("LD_PRELOAD");
	/* ASan checks that its runtime is the first library loaded; a name
	 * without a slash is looked up as the program's DT_NEEDED is. */
	char *preload = *asan ? join(asan, ":", shim) : ls_xstrdup(shim);
	if (old && *old)
		append(&preload, old);
	setenv("LD_PRELOAD", preload, 1);
	free(preload);

	old = getenv("LOOPSAN_OPTIONS");
	char *opts = ls_xstrdup(old ? old : "");
	size_t n = strlen(opts);
	while (n && opts[n - 1] == ':')
		opts[--n] = '\0';
	if (a->options)
		append(&opts, a->options);
	char *tail = quote_pair("dir", 3, dir);  /* not NULL: resolve_dir checked */
	append(&opts, tail);
	free(tail);
	tail = ls_xmalloc(strlen(session) + 16);
	sprintf(tail, "session=%s", session);
	append(&opts, tail);
	setenv("LOOPSAN_OPTIONS", opts, 1);
	free(opts);
	free(tail);
}

/* A signal typed at the terminal already reached the child, which is in
 * our process group; only one sent to us alone is passed on. */
static void forward_signal(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	if (child_pid > 0 && info->si_code != SI_KERNEL)
		kill((pid_t)child_pid, sig);
	interrupted = 1;
}

static void install_forwarding(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int wait_child(pid_t pid, int *raw)
{
	int status;
	child_pid = pid;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			ls_error("waitpid: %s", strerror(errno));
			return 127;
		}
	}
	child_pid = 0;
	*raw = status;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* The errno of a failed exec comes back through a close-on-exec pipe, so
 * that an exec failure is told apart from a command that exits 127. */
static int exec_error(int fd)
{
	int err = 0;
	ssize_t n;
	while ((n = read(fd, &err, sizeof(err))) < 0 && errno == EINTR)
		;
	close(fd);
	return n == (ssize_t)sizeof(err) ? err : 0;
}

/* Returns the command's exit status as a shell reports it; *exec_failed
 * is set when it could not be run at all. */
static int run_child(char **cmd, int *exec_failed, int *raw)
{
	int fds[2];
	fflush(NULL);
	if (pipe2(fds, O_CLOEXEC) != 0) {
		ls_error("pipe: %s", strerror(errno));
		return 127;
	}
	pid_t pid = fork();
	if (pid < 0) {
		ls_error("fork: %s", strerror(errno));
		return 127;
	}
	if (pid == 0) {
		close(fds[0]);
		execvp(cmd[0], cmd);
		int err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	close(fds[1]);
	int err = exec_error(fds[0]);
	int status = wait_child(pid, raw);
	if (err) {
		ls_error("%s: %s", cmd[0], strerror(err));
		*exec_failed = 1;
		return err == ENOENT ? 127 : 126;
	}
	return status;
}

enum trace_of { NOT_OURS, OURS, OURS_EMPTY };

/* Whether path's header names this session; reads only the header. A
 * trace of ours that is only its header and lost nothing recorded
 * nothing: the shim made it before its process switched users
 * (preload/sys/privilege.c), and the process never ran a loop. */
static enum trace_of of_session(const char *path, const char *session,
				struct ls_file_header *h)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NOT_OURS;
	ssize_t n = pread(fd, h, sizeof(*h), 0);
	int size_ok = fstat(fd, &st) == 0;
	close(fd);
	if (n != (ssize_t)sizeof(*h) || memcmp(h->magic, LS_FILE_MAGIC, 8) != 0 ||
	    strncmp(h->session, session, sizeof(h->session)) != 0)
		return NOT_OURS;
	return size_ok && st.st_size == LS_HEADER_SIZE && h->dropped == 0 ? OURS_EMPTY : OURS;
}

/* An empty trace (of_session) is left out of the report, and removed once
 * its process is gone: one still running may yet run its loop. */
static void drop_empty(const char *path, const struct ls_file_header *h)
{
	pid_t pid = (pid_t)h->pid;
	if (h->state == LS_STATE_EXITED ||
	    (pid > 0 && kill(pid, 0) != 0 && errno == ESRCH))
		unlink(path);
}

/* The traces in dir whose header names this session. */
static void find_traces(const char *dir, const char *session, struct ls_vec *out)
{
	struct ls_vec all = { .item_size = sizeof(char *) };
	ls_list_traces(dir, &all);
	for (size_t i = 0; i < all.len; i++) {
		char *path = ((char **)all.items)[i];
		struct ls_file_header h;
		enum trace_of of = of_session(path, session, &h);
		if (of == OURS) {
			*(char **)ls_vec_push(out) = path;
			continue;
		}
		if (of == OURS_EMPTY)
			drop_empty(path, &h);
		free(path);
	}
	ls_vec_free(&all);
}

/* "SIGSEGV" for 11. */
static const char *signal_name(int sig, char *buf, size_t n)
{
	const char *abbrev = sigabbrev_np(sig);
	if (abbrev)
		snprintf(buf, n, "SIG%s", abbrev);
	else
		snprintf(buf, n, "signal %d", sig);
	return buf;
}

/* The directory where the shim leaves its reasons for a trace it could not
 * create or write (tracer/trace.c, ls_tell_run): a file per pid. Anyone may
 * add a file, nobody but run may list or remove the others' (01733, like
 * /tmp without the listing): a process that switched users must still be
 * able to say why. NULL when it cannot be made (run goes on without). */
static char *make_notes_dir(void)
{
	/* $TMPDIR, unless a process of another user could not reach it. */
	const char *tmp = getenv("TMPDIR");
	struct stat st;
	if (!tmp || *tmp != '/' || stat(tmp, &st) != 0 || !(st.st_mode & S_IXOTH))
		tmp = "/tmp";
	char *dir = join(tmp, "/", "loopsan-run.XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 01733) != 0) {
		rmdir(dir);
		free(dir);
		return NULL;
	}
	return dir;
}

/* Calls each(pid, line) for every line the shim left in notes, the
 * "loopsan: " it starts with left out; removes the files and, when
 * remove is set, the directory. Returns the number of lines. */
static size_t read_notes(const char *notes, const char *cmd,
			 void (*each)(const char *cmd, long pid, const char *line), int remove)
{
	DIR *d = notes ? opendir(notes) : NULL;
	struct dirent *e;
	size_t n = 0;
	while (d && (e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (pid <= 0 || *end != '\0')
			continue;
		char *path = join(notes, "/", e->d_name);
		char buf[4096];
		struct stat st;
		ssize_t got = -1;
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
			got = read(fd, buf, sizeof(buf) - 1);
		if (fd >= 0)
			close(fd);
		buf[got > 0 ? got : 0] = '\0';
		for (char *line = buf, *nl; *line; line = nl) {
			nl = line + strcspn(line, "\n");
			if (*nl)
				*nl++ = '\0';
			if (strncmp(line, "loopsan: ", 9) == 0)
				line += 9;
			if (*line && each) {
				each(cmd, pid, line);
				n++;
			}
		}
		if (remove)
			unlink(path);
		free(path);
	}
	if (d)
		closedir(d);
	if (notes && remove)
		rmdir(notes);
	return n;
}

static void say_no_trace(const char *cmd, long pid, const char *line)
{
	ls_error("%s produced no trace: pid %ld: %s", cmd, pid, line);
}

static void say_note(const char *cmd, long pid, const char *line)
{
	(void)cmd;
	ls_error("pid %ld: %s", pid, line);
}

/* What happened, when the run left no trace: never "no loop calls" when
 * run knows it was something else. */
static void explain_no_trace(const char *cmd, int raw, const struct ls_run_exe *exe,
			     const char *notes)
{
	char sig[32];
	if (read_notes(notes, cmd, say_no_trace, 0) > 0)
		return;
	if (exe->is_static)
		ls_error("%s produced no trace: the shim was not loaded (%s is a static "
			 "executable: LD_PRELOAD cannot reach it)", cmd, cmd);
	else if (WIFSIGNALED(raw))
		ls_error("%s produced no trace: it was killed by %s before it made one", cmd,
			 signal_name(WTERMSIG(raw), sig, sizeof(sig)));
	else
		ls_error("%s produced no trace: it made no loop calls", cmd);
}

/* The pids of the processes whose parent is run: orphans of CMD's that
 * reparented to run, the subreaper, and are still alive. */
static size_t still_running(pid_t *out, size_t max)
{
	char path[64];
	size_t n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	long pid;
	while (n < max && fscanf(f, "%ld", &pid) == 1)
		out[n++] = (pid_t)pid;
	fclose(f);
	return n;
}

/* Waits up to wait_s seconds for every process CMD left behind (reaping
 * them: run is their subreaper), then names those still running. */
static void wait_descendants(int wait_s, const char *dir)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	for (long waited_ms = 0; !interrupted && waited_ms < wait_s * 1000L; waited_ms += 20) {
		int st;
		while (waitpid(-1, &st, WNOHANG) > 0)
			;
		pid_t pids[1];
		if (still_running(pids, 1) == 0)
			return;
		nanosleep(&tick, NULL);
	}
	pid_t pids[64];
	size_t n = still_running(pids, 64);
	for (size_t i = 0; i < n; i++) {
		char comm[64] = "?", path[64];
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pids[i]);
		FILE *f = fopen(path, "re");
		if (f) {
			if (fgets(comm, sizeof(comm), f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
		ls_error("still running after %d s: pid %d (%s); its trace: %s/loopsan.%d.trace "
			 "(read it later with loopsan report)", wait_s, (int)pids[i], comm, dir,
			 (int)pids[i]);
	}
}

/* Returns the number of findings that fail the gate, or -1 when nothing
 * could be reported. */
static int report_session(const char *dir, const char *session, char **cmd,
			  struct run_args *a, int raw, const struct ls_run_exe *exe,
			  const char *notes)
{
	struct ls_vec paths = { .item_size = sizeof(char *) };
	find_traces(dir, session, &paths);
	struct ls_report r;
	memset(&r, 0, sizeof(r));
	char err[256];
	for (size_t i = 0; i < paths.len; i++) {
		char *path = ((char **)paths.items)[i];
		struct ls_trace *t = ls_trace_read(path, err, sizeof(err));
		if (t)
			ls_report_add(&r, t);
		else
			ls_error("%s: %s", path, err);
		free(path);
	}
	ls_vec_free(&paths);
	if (r.ntraces == 0) {
		explain_no_trace(cmd[0], raw, exe, notes);
		ls_report_free(&r);
		return -1;
	}
	struct ls_findings_options opt = { .slow_ms = -1, .suppressions = &a->supp };
	ls_report_finish(&r, &opt);
	ls_color_setup(a->color, fileno(stderr));
	ls_report_print_text(stderr, &r);
	int n = (int)ls_gate_failing(&r, LS_KINDS_ALL);
	ls_report_free(&r);
	read_notes(notes, cmd[0], say_note, 0);  /* a process whose trace stopped early */
	char sig[32];
	if (WIFSIGNALED(raw))
		ls_error("%s was killed by %s", cmd[0], signal_name(WTERMSIG(raw), sig, sizeof(sig)));
	return n;
}

/* "loopsan: LOOPSAN_OPTIONS: ..." as "loopsan: run: LOOPSAN_OPTIONS: ...". */
static void say_environment(const char *line)
{
	fprintf(stderr, "loopsan: run: %s", line + strlen("loopsan: "));
}

int ls_cmd_run(int argc, char **argv)
{
	struct run_args a = { .wait_s = RUN_WAIT_DEFAULT };
	ls_suppressions_init(&a.supp);
	int rc = parse_args(argc, argv, &a);
	/* The environment's options are checked as -O's are: every process
	 * would otherwise say the same line and go on with a default. */
	const char *env = getenv("LOOPSAN_OPTIONS");
	if (rc == 0 && env && ls_options_check_text(env, say_environment))
		rc = -1;
	if (rc != 0) {
		ls_suppressions_free(&a.supp);
		free(a.options);
		if (rc > 0)
			ls_run_usage(stdout);
		return rc > 0 ? LS_EXIT_OK : LS_EXIT_USAGE;
	}
	char *shim = ls_run_find_shim();
	char *dir = shim ? resolve_dir(a.dir) : NULL;
	if (!dir) {
		free(shim);
		ls_suppressions_free(&a.supp);
		free(a.options);
		return LS_EXIT_USAGE;
	}
	char session[64];
	make_session(session, sizeof(session));
	struct ls_run_exe exe = { 0 };
	char *exe_path = ls_run_exe_path(a.cmd[0]);
	if (exe_path)
		ls_run_exe_inspect(exe_path, &exe);
	free(exe_path);
	char *notes = make_notes_dir();
	set_environment(shim, &a, dir, session, exe.asan);
	if (notes)
		setenv("LOOPSAN_RUN_NOTES", notes, 1);
	install_forwarding();
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	int exec_failed = 0, raw = 0;
	int status = run_child(a.cmd, &exec_failed, &raw);
	if (!exec_failed)
		wait_descendants(a.wait_s, dir);
	int findings = exec_failed ? 0 : report_session(dir, session, a.cmd, &a, raw, &exe, notes);
	read_notes(notes, a.cmd[0], NULL, 1);
	free(notes);
	free(shim);
	free(dir);
	ls_suppressions_free(&a.supp);
	free(a.options);
	/* CMD's own failure says more than findings do (a crash's 139 stays). */
	return status == 0 && a.fail && findings > 0 ? a.fail : status;
}
