/* Real programs that link Debian's libevent run under the shim unchanged,
 * and their traces name their loop threads:
 *
 * - memcached (libevent, one event_base per worker thread, no libevent
 *   locking): started by the test on 127.0.0.1 with two worker threads,
 *   given a few thousand get/set/incr/delete/add requests over four
 *   connections by a client written here, then stopped with SIGTERM by pid;
 *   every reply must be the same as without the shim.
 * - tmux (libevent_core, the old API: event_init, event_set, event_loop,
 *   bufferevent_new): a detached session on a private socket (-L) in a
 *   private TMUX_TMPDIR, a few commands, then kill-server.
 *
 * Each skips, saying why, only when the program is not installed
 * (scripts/deps.sh installs both). Loopback only; every server the test
 * starts is stopped by its pid. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/harness.h"

LS_SUITE(real_libevent);

#define MEMCACHED "/usr/bin/memcached"
#define TMUX "/usr/bin/tmux"
#define MC_CONNS 4
#define MC_KEYS 500

/* ---- helpers ----------------------------------------------------------------- */

static void need(const char *path, const char *package)
{
	if (access(path, X_OK) != 0)
		cr_skip_test("%s missing (apt-get install %s)", path, package);
}

/* A TCP port on 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(s >= 0 && bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		  getsockname(s, (struct sockaddr *)&sin, &len) == 0, "%s", strerror(errno));
	close(s);
	return ntohs(sin.sin_port);
}

static int connect_port(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(s >= 0);
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(s);
		return -1;
	}
	struct timeval tv = { 10, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

/* Starts argv in dir with env added (LD_PRELOAD of the test's own
 * environment left out), stdout and stderr to dir/server.log. */
static pid_t start_server(const char *dir, const char *const *env, const char *const *argv)
{
	char *log = ls_fmt("%s/server.log", dir);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int in = open("/dev/null", O_RDONLY);
		if (fd < 0 || in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
		    chdir(dir) != 0)
			_exit(126);
		unsetenv("LD_PRELOAD");
		unsetenv("LOOPSAN_OPTIONS");
		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	free(log);
	return pid;
}

/* Stops our child pid with SIGTERM (SIGKILL after 10 s); its wait status. */
static int stop_server(pid_t pid)
{
	int status = 0;
	kill(pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	cr_assert_fail("server %d did not stop on SIGTERM within 10 s", (int)pid);
	return status;
}

/* The findings of pid in a report, as a new array. */
static json_t *findings_of(json_t *rep, long pid)
{
	json_t *out = json_array(), *f;
	size_t i;

	json_array_foreach(json_object_get(rep, "findings"), i, f)
		if (ls_int(f, "pid") == pid)
			json_array_append(out, f);
	return out;
}

/* The process entry of pid in a report; borrowed. */
static json_t *process_of(json_t *rep, long pid)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(rep, "processes"), i, p)
		if (ls_int(p, "pid") == pid)
			return p;
	cr_assert_fail("no process %ld in the report", pid);
	return NULL;
}

/* How many loop threads of p are named name. */
static size_t loops_named(json_t *p, const char *name)
{
	json_t *l;
	size_t i, n = 0;

	json_array_foreach(json_object_get(p, "loops"), i, l)
		n += strcmp(ls_str(l, "name"), name) == 0;
	return n;
}

/* ---- memcached ---------------------------------------------------------------- */

struct mc_client {
	int fd[MC_CONNS];
	char *transcript;   /* every reply, in order */
	size_t len, cap;
	int requests;
};

static void mc_append(struct mc_client *c, const char *s, size_t n)
{
	if (c->len + n + 1 > c->cap) {
		c->cap = 2 * (c->len + n + 1);
		c->transcript = realloc(c->transcript, c->cap);
		cr_assert(c->transcript);
	}
	memcpy(c->transcript + c->len, s, n);
	c->len += n;
	c->transcript[c->len] = '\0';
}

static void mc_read_exact(struct mc_client *c, int i, char *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = read(c->fd[i], buf + got, n - got);
		cr_assert_gt(r, 0, "memcached closed or timed out after request %d (%s)", c->requests,
			     r < 0 ? strerror(errno) : "EOF");
		got += (size_t)r;
	}
}

/* Sends req on connection i and reads its whole reply: VALUE blocks (their
 * data read by length), up to END, or the one line of any other reply (an
 * incr's number, STORED, ...). */
static void mc_request(struct mc_client *c, int i, const char *req)
{
	size_t n = strlen(req);
	cr_assert_eq(write(c->fd[i], req, n), (ssize_t)n, "write: %s", strerror(errno));
	c->requests++;
	for (;;) {
		char line[512];
		size_t ln = 0;
		do {
			cr_assert_lt(ln, sizeof(line) - 1);
			mc_read_exact(c, i, &line[ln++], 1);
		} while (line[ln - 1] != '\n');
		line[ln] = '\0';
		mc_append(c, line, ln);
		unsigned flags, bytes;
		char key[256];
		if (sscanf(line, "VALUE %255s %u %u", key, &flags, &bytes) != 3)
			return;
		char data[512];
		cr_assert_lt(bytes + 2, sizeof(data));
		mc_read_exact(c, i, data, bytes + 2);
		mc_append(c, data, bytes + 2);
	}
}

/* The workload: sets, gets, an add that must fail, incrs and deletes of
 * MC_KEYS keys, spread over MC_CONNS connections (memcached hands
 * connections to its worker threads in turn). */
static void mc_workload(struct mc_client *c)
{
	char req[256];
	for (int k = 0; k < MC_KEYS; k++) {
		int i = k % MC_CONNS;
		char val[64];
		int vn = snprintf(val, sizeof(val), "value-%d-%s", k, k % 3 ? "abc" : "xyzxyz");
		snprintf(req, sizeof(req), "set key%d 0 0 %d\r\n%s\r\n", k, vn, val);
		mc_request(c, i, req);
		snprintf(req, sizeof(req), "get key%d\r\n", k);
		mc_request(c, (i + 1) % MC_CONNS, req);
		snprintf(req, sizeof(req), "add key%d 0 0 1\r\nx\r\n", k);
		mc_request(c, (i + 2) % MC_CONNS, req);
		snprintf(req, sizeof(req), "set n%d 0 0 1\r\n%d\r\n", k, k % 10);
		mc_request(c, i, req);
		snprintf(req, sizeof(req), "incr n%d %d\r\n", k, k);
		mc_request(c, (i + 3) % MC_CONNS, req);
		snprintf(req, sizeof(req), "delete key%d\r\n", k);
		if (k % 2)
			mc_request(c, i, req);
		snprintf(req, sizeof(req), "get key%d n%d missing%d\r\n", k, k, k);
		mc_request(c, (i + 1) % MC_CONNS, req);
	}
}

/* Runs memcached (under the shim when preload) in dir, the workload against
 * it; returns its pid, stopped, with the transcript in *c. When live_report
 * is not NULL, the report of its trace taken after the workload, while it
 * still runs, goes there. */
static pid_t run_memcached(const char *dir, bool preload, struct mc_client *c, json_t **live_report)
{
	int port = free_port();
	char *ports = ls_fmt("%d", port);
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	const char *env[] = { preload ? pre : NULL, NULL };
	const char *argv[12];
	size_t n = 0;

	argv[n++] = MEMCACHED;
	argv[n++] = "-l";
	argv[n++] = "127.0.0.1";
	argv[n++] = "-p";
	argv[n++] = ports;
	argv[n++] = "-U";
	argv[n++] = "0";
	argv[n++] = "-t";
	argv[n++] = "2";
	if (geteuid() == 0) {
		/* memcached will not run as root: it switches to nobody
		 * before its first loop call, and its trace is still made
		 * in dir, which only root may write (mkdtemp's 0700). */
		argv[n++] = "-u";
		argv[n++] = "nobody";
	}
	argv[n] = NULL;
	pid_t pid = start_server(dir, env, argv);

	memset(c, 0, sizeof(*c));
	for (int i = 0; i < MC_CONNS; i++) {
		int fd = -1;
		for (int tries = 0; fd < 0 && tries < 500; tries++) {
			fd = connect_port(port);
			if (fd < 0)
				usleep(10 * 1000);
		}
		if (fd < 0) {
			stop_server(pid);
			cr_assert_fail("memcached never listened on 127.0.0.1:%d", port);
		}
		c->fd[i] = fd;
	}
	mc_workload(c);
	for (int i = 0; i < MC_CONNS; i++)
		close(c->fd[i]);
	if (live_report != NULL) {
		char *trace = ls_single_trace(dir);
		*live_report = ls_report_json(trace);
		free(trace);
	}
	int status = stop_server(pid);
	cr_assert(WIFEXITED(status) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM),
		  "memcached status 0x%x", status);
	free(ports);
	free(shim);
	free(pre);
	return pid;
}

Test(real_libevent, memcached_replies_are_the_same_with_and_without_the_shim, .timeout = 120)
{
	need(MEMCACHED, "memcached");
	struct mc_client plain, traced;
	json_t *live;
	const char *dir = ls_tmpdir();

	run_memcached(ls_tmpdir(), false, &plain, NULL);
	pid_t pid = run_memcached(dir, true, &traced, &live);
	cr_assert_gt(traced.requests, 3000, "a few thousand requests");
	cr_assert_eq(traced.requests, plain.requests);
	cr_assert(strstr(plain.transcript, "VALUE key7 0 11\r\nvalue-7-abc\r\nEND\r\n"),
		  "the workload did not do what it should without the shim");
	cr_assert_eq(traced.len, plain.len, "replies differ in length under the shim");
	cr_assert_str_eq(traced.transcript, plain.transcript, "replies differ under the shim");

	/* Under load: memcached's main thread and both workers ran a base of
	 * their own (the workers are named "mc-worker" by the main thread
	 * after they start, so the name a worker had when it entered its loop
	 * may still be "memcached"), and nothing was found. */
	json_t *p = process_of(live, pid), *loops = json_object_get(p, "loops"), *l;
	size_t k, workers = 0;
	cr_assert_eq(json_array_size(loops), 3, "main + 2 workers:\n%s",
		     json_dumps(loops, JSON_INDENT(1)));
	json_array_foreach(loops, k, l) {
		workers += ls_int(l, "tid") != pid;
		cr_assert_str_eq(ls_str(l, "api"), "event_base_loop");
		for (size_t m = 0; m < k; m++) {
			json_t *o = json_array_get(loops, m);
			cr_assert_neq(ls_int(o, "tid"), ls_int(l, "tid"), "a thread per base");
			cr_assert_str_neq(ls_str(o, "loop"), ls_str(l, "loop"), "a base per thread");
		}
	}
	cr_assert_eq(workers, 2, "two worker threads ran loops:\n%s", json_dumps(loops, JSON_INDENT(1)));
	cr_assert_eq(ls_count(live, NULL, NULL), 0, "findings under normal load:\n%s",
		     json_dumps(json_object_get(live, "findings"), JSON_INDENT(1)));

	/* At SIGTERM memcached leaves its loop and frees the main base with
	 * its listening and clock events still added: true pending-at-close
	 * findings, on the main thread, of events made with event_set. That
	 * is all. */
	char *trace = ls_single_trace(dir);
	struct stat st;
	cr_assert_eq(stat(trace, &st), 0);
	cr_assert_eq(st.st_uid, geteuid(), "the trace is the starting user's");
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", (unsigned)(st.st_mode & 07777));
	json_t *rep = ls_report_json(trace);
	json_t *f;
	size_t i;
	cr_assert(ls_bool(process_of(rep, pid), "complete"), "memcached exits cleanly on SIGTERM");
	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		cr_assert_str_eq(ls_str(f, "kind"), "pending-at-close", "%s",
				 json_dumps(f, JSON_INDENT(1)));
		cr_assert_str_eq(ls_str(f, "api"), "event_set");
		cr_assert_eq(ls_int(json_object_get(f, "thread"), "tid"), pid);
	}
	json_decref(rep);
	json_decref(live);
	free(trace);
	free(plain.transcript);
	free(traced.transcript);
}

/* ---- tmux --------------------------------------------------------------------- */

/* tmux -L sock ARGS... in dir, TMUX_TMPDIR=dir, under the shim when
 * preload; its stdout (the caller frees). */
static char *tmux(const char *dir, bool preload, const char *const *args)
{
	char *shim = ls_shim();
	char *pre = ls_fmt("LD_PRELOAD=%s", shim);
	char *tmp = ls_fmt("TMUX_TMPDIR=%s", dir);
	const char *env[] = { tmp, "TERM=xterm", "SHELL=/bin/sh", preload ? pre : NULL, NULL };
	const char *argv[16] = { TMUX, "-L", "loopsan", "-f", "/dev/null" };
	size_t n = 5;
	struct ls_run r;

	for (size_t i = 0; args[i]; i++) {
		cr_assert_lt(n, 15);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	ls_run(&r, dir, env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "tmux %s: %s", args[0], r.err);
	char *out = strdup(r.out);
	ls_run_free(&r);
	free(shim);
	free(pre);
	free(tmp);
	return out;
}

/* A session, a few commands, kill-server; the deterministic outputs, and
 * the server's pid. */
static char *tmux_session(const char *dir, bool preload, long *server)
{
	const char *new_session[] = { "new-session", "-d", "-s", "probe", "-x", "80", "-y", "24", NULL };
	const char *pid[] = { "display-message", "-p", "-t", "probe", "#{pid}", NULL };
	const char *send[] = { "send-keys", "-t", "probe", "echo loopsan-probe", "Enter", NULL };
	const char *new_window[] = { "new-window", "-d", "-t", "probe", "-n", "second", NULL };
	const char *rename[] = { "rename-window", "-t", "probe:0", "first", NULL };
	const char *list[] = { "list-windows", "-t", "probe", "-F", "#{window_index}:#{window_name}", NULL };
	const char *size[] = { "display-message", "-p", "-t", "probe",
			       "#{session_name} #{window_width}x#{window_height}", NULL };
	const char *kill_server[] = { "kill-server", NULL };

	free(tmux(dir, preload, new_session));
	char *p = tmux(dir, preload, pid);
	*server = strtol(p, NULL, 10);
	free(p);
	cr_assert_gt(*server, 1);
	free(tmux(dir, preload, send));
	free(tmux(dir, preload, new_window));
	free(tmux(dir, preload, rename));
	char *a = tmux(dir, preload, list), *b = tmux(dir, preload, size);
	char *out = ls_fmt("%s%s", a, b);
	free(a);
	free(b);
	free(tmux(dir, preload, kill_server));
	/* The server is not our child: wait for its pid to go, then make sure. */
	for (int i = 0; i < 500 && kill((pid_t)*server, 0) == 0; i++)
		usleep(10 * 1000);
	if (kill((pid_t)*server, 0) == 0) {
		kill((pid_t)*server, SIGKILL);
		cr_assert_fail("tmux server %ld outlived kill-server by 5 s", *server);
	}
	return out;
}

Test(real_libevent, tmux_session_works_the_same_and_finds_only_true_findings, .timeout = 120)
{
	need(TMUX, "tmux");
	long plain_server, server;
	const char *dir = ls_tmpdir();
	char *plain = tmux_session(ls_tmpdir(), false, &plain_server);
	char *traced = tmux_session(dir, true, &server);

	cr_assert_str_eq(plain, "0:first\n1:second\nprobe 80x24\n");
	cr_assert_str_eq(traced, plain, "tmux answers differently under the shim");

	/* Every tmux process (the server, one client per command) left a
	 * trace; the server ran its loop with the old API's event_loop. */
	struct ls_run r;
	const char *args[] = { "report", "--format", "json", dir, NULL };
	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	json_t *rep = ls_parse_report(&r);
	ls_run_free(&r);
	cr_assert_geq(json_array_size(json_object_get(rep, "processes")), 8);
	json_t *sp = process_of(rep, server);
	cr_assert(ls_bool(sp, "complete"), "the server exits cleanly at kill-server");
	cr_assert_eq(loops_named(sp, "tmux: server"), 1, "%s",
		     json_dumps(json_object_get(sp, "loops"), JSON_INDENT(1)));
	cr_assert_str_eq(ls_str(json_array_get(json_object_get(sp, "loops"), 0), "api"), "event_loop");
	/* The server's one finding is true: when it makes a pane, tmux's
	 * utempter support (libutempter) forks a helper and waits for it with
	 * waitpid, inside a libevent callback, on the loop thread. */
	json_t *sf = findings_of(rep, server), *f;
	size_t i;
	json_array_foreach(sf, i, f) {
		cr_assert_str_eq(ls_str(f, "kind"), "blocking-call", "in the tmux server:\n%s",
				 json_dumps(f, JSON_INDENT(1)));
		cr_assert_str_eq(ls_str(f, "api"), "waitpid");
		json_t *fr;
		size_t k;
		bool utempter = false;
		json_array_foreach(json_object_get(f, "called_at"), k, fr)
			utempter |= strcmp(ls_str(fr, "module"), "libutempter.so.0") == 0;
		cr_assert(utempter, "a waitpid not from libutempter:\n%s", json_dumps(f, JSON_INDENT(1)));
	}
	json_decref(sf);

	/* A client that prints (display-message, list-windows) exits without
	 * freeing the bufferevent that wrote its stdout: a true
	 * unclosed-handle at exit, as LeakSanitizer would report the memory.
	 * Nothing else is found in any client. */
	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		if (ls_int(f, "pid") == server)
			continue;
		cr_assert_str_eq(ls_str(f, "kind"), "unclosed-handle", "%s",
				 json_dumps(f, JSON_INDENT(1)));
		cr_assert_str_eq(ls_str(f, "handle"), "bufferevent");
		cr_assert_str_eq(ls_str(f, "api"), "bufferevent_new");
	}
	json_decref(rep);
	free(plain);
	free(traced);
}
