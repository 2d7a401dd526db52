/* Multi-process daemons (issue 17): every process that runs a loop leaves
 * a trace, whatever shape its loop has and whoever it runs as.
 *
 * - ppoll_parent: a parent whose loop is a ppoll on its children's pipes
 *   that wakes only on events (nsd's main process) leaves a trace, like
 *   its child's epoll loop.
 * - drop_epoll: a worker forked by root that switches to nobody before its
 *   own epoll loop (no loop library: nginx's workers) leaves a trace,
 *   root's and 0600, in a directory only root may write, with its slow
 *   iteration; one that switches and runs no loop leaves none under run.
 * - nsd (xfrd + main + server child), in a network namespace of its own,
 *   answering on 127.0.0.1: the same answers with and without the shim,
 *   and a trace of each of its three processes.
 * - nginx (master + 2 workers as nobody, its own epoll loop), loaded with
 *   ab: the same replies with and without the shim, a trace of each worker.
 *
 * The real daemons skip, saying why, only when not installed or when no
 * network namespace can be made. Every process a test starts is stopped
 * by its pid, and the harness kills the rest of the group. */
#include "tests/harness.h"

LS_SUITE(daemons);

/* The report of every trace in dir, in one array (one process each). */
static json_t *dir_reports(const char *dir)
{
	json_t *all = json_array();
	DIR *d = opendir(dir);
	struct dirent *e;

	cr_assert(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		if (!ls__is_trace_name(e->d_name))
			continue;
		char *trace = ls_fmt("%s/%s", dir, e->d_name);
		json_array_append_new(all, ls_report_json(trace));
		free(trace);
	}
	closedir(d);
	return all;
}

/* The process of the report in reports whose pid is pid (NULL: none). */
static json_t *process_of(json_t *reports, long pid)
{
	json_t *rep;
	size_t i;

	json_array_foreach(reports, i, rep) {
		json_t *proc = ls_process(rep);
		if (ls_int(proc, "pid") == pid)
			return proc;
	}
	return NULL;
}

/* The api of the first loop proc names ("" when it names none). */
static const char *loop_api(json_t *proc)
{
	json_t *l = json_array_get(json_object_get(proc, "loops"), 0);
	json_t *api = l ? json_object_get(l, "api") : NULL;

	return api ? json_string_value(api) : "";
}

static const char *loop_name(json_t *proc)
{
	json_t *l = json_array_get(json_object_get(proc, "loops"), 0);
	json_t *name = l ? json_object_get(l, "name") : NULL;

	return name ? json_string_value(name) : "";
}

Test(daemons, a_ppoll_loop_that_wakes_once_in_a_forked_parent_leaves_a_trace)
{
	const char *plain_dir = ls_tmpdir(), *dir = ls_tmpdir();
	struct ls_run plain, traced;
	long parent, child;

	ls_run_fixture_ex(&plain, "ppoll_parent", plain_dir, false, NULL);
	ls_run_fixture(&traced, "ppoll_parent", dir, NULL);
	cr_assert_eq(ls_exit_code(&plain), 0, "%s", plain.err);
	cr_assert_eq(ls_exit_code(&traced), 0, "%s", traced.err);
	cr_assert_eq(traced.err_len, 0, "nothing on stderr:\n%s", traced.err);
	cr_assert(sscanf(traced.out, "parent %ld child %ld\n", &parent, &child) == 2, "%s",
		  traced.out);
	cr_assert(strstr(traced.out, "child exit 0, parent woke 1 time(s)\n"), "%s", traced.out);

	json_t *reps = dir_reports(dir);
	cr_assert_eq(json_array_size(reps), 2, "parent + child, found %zu traces",
		     json_array_size(reps));
	json_t *p = process_of(reps, parent), *c = process_of(reps, child);
	cr_assert(p, "no trace of the parent %ld (its ppoll loop)", parent);
	cr_assert(c, "no trace of the child %ld (its epoll loop)", child);
	cr_assert_str_eq(loop_api(p), "ppoll");
	cr_assert_str_eq(loop_api(c), "epoll_wait");
	cr_assert(ls_bool(p, "complete") && ls_bool(c, "complete"));
	json_t *rep;
	size_t i;
	json_array_foreach(reps, i, rep)
		cr_assert_eq(ls_count(rep, NULL, NULL), 0, "no findings:\n%s",
			     json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1)));
	json_decref(reps);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

/* loopsan run --dir tracedir -- build/fixtures/fixture [arg], in a fresh dir. */
static void loopsan_run(struct ls_run *r, const char *fixture, const char *arg,
			const char *tracedir)
{
	char *bin = ls_fixture_bin(fixture);
	const char *args[] = {"run", "--dir", tracedir, "--", bin, arg, NULL};

	ls_run_viewer(r, ls_tmpdir(), args);
	free(bin);
}

/* A directory only root may write, as /var/log or / are. */
static const char *root_only_dir(void)
{
	const char *dir = ls_tmpdir();

	cr_assert_eq(chmod(dir, 0755), 0, "%s", strerror(errno));
	return dir;
}

static void assert_root_s_0600(const char *trace)
{
	struct stat st;

	cr_assert_eq(stat(trace, &st), 0, "%s: %s", trace, strerror(errno));
	cr_assert_eq(st.st_uid, 0, "owned by the user who started it, not %d", (int)st.st_uid);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", (unsigned)(st.st_mode & 07777));
}

Test(daemons, a_worker_that_drops_root_before_its_own_epoll_loop_leaves_root_s_trace)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	const char *dir = root_only_dir();
	struct ls_run r;
	long worker;

	loopsan_run(&r, "drop_epoll", NULL, dir);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(sscanf(r.out, "worker %ld exit 0", &worker) == 1, "%s", r.out);
	cr_assert_null(strstr(r.err, "cannot create trace"), "%s", r.err);
	char *trace = ls_single_trace(dir); /* the master runs no loop */
	cr_assert_eq(ls_trace_pid(trace), worker);
	assert_root_s_0600(trace);
	json_t *rep = ls_report_json(trace);
	cr_assert_str_eq(loop_api(ls_process(rep)), "epoll_wait");
	json_t *f = ls_only_finding(rep, "slow-callback", NULL);
	cr_assert_str_eq(ls_str(f, "api"), "epoll_wait");
	cr_assert_geq(ls_num(f, "max_ms"), 140.0);
	ls_assert_frame(f, "called_at", 0, "run_loop", "drop_epoll.c",
			ls_marker_line("drop_epoll", "wait"));
	cr_assert(strstr(r.err, "slow-callback"), "run reports it:\n%s", r.err);
	json_decref(rep);
	free(trace);
	ls_run_free(&r);
}

/* su's shape: the trace made before the switch recorded nothing; run
 * removes it, and says the program made no loop calls. */
Test(daemons, a_worker_that_drops_root_and_runs_no_loop_leaves_no_trace_under_run)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	const char *dir = root_only_dir();
	struct ls_run r;

	loopsan_run(&r, "drop_epoll", "noloop", dir);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(ls_count_traces(dir), 0, "an empty trace left in %s", dir);
	cr_assert(strstr(r.err, "made no loop calls"), "%s", r.err);
	ls_run_free(&r);
}

/* A process still root at exit removes the empty trace itself. */
Test(daemons, a_worker_that_acts_as_nobody_for_a_while_and_runs_no_loop_leaves_no_trace)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	const char *dir = root_only_dir();
	struct ls_run r;

	ls_run_fixture_arg(&r, "drop_epoll", dir, true, NULL, "bracket");
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(ls_count_traces(dir), 0, "an empty trace left in %s", dir);
	ls_run_free(&r);
}

/* A vfork child shares its parent's memory: its switch of users must not
 * make a trace there (it would be named by the child's pid, and the
 * master's loop would record into it). */
Test(daemons, a_vfork_child_that_switches_users_makes_no_trace_in_its_parent_s_memory)
{
	if (geteuid() != 0)
		cr_skip_test("needs root");
	const char *dir = root_only_dir();
	struct ls_run r;
	long master;

	ls_run_fixture_arg(&r, "drop_epoll", dir, true, NULL, "vfork");
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(sscanf(r.out, "master %ld loops", &master) == 1, "%s", r.out);
	char *trace = ls_single_trace(dir);
	cr_assert_eq(ls_trace_pid(trace), master, "the trace is the master's");
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_int(ls_process(rep), "pid"), master);
	cr_assert_eq(ls_count(rep, "slow-callback", NULL), 1);
	json_decref(rep);
	free(trace);
	ls_run_free(&r);
}

/* ---- real daemons ---------------------------------------------------------- */

#define UNSHARE "/usr/bin/unshare"
#define NSD "/usr/sbin/nsd"
#define DIG "/usr/bin/dig"

static void need(const char *path, const char *package)
{
	if (access(path, X_OK) != 0)
		cr_skip_test("%s missing (apt-get install %s)", path, package);
}

static void need_netns(void)
{
	struct ls_run r;
	const char *argv[] = {UNSHARE, "-n", "/bin/true", NULL};

	ls_run(&r, NULL, NULL, argv);
	bool ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
	ls_run_free(&r);
	if (!ok)
		cr_skip_test("cannot make a network namespace (unshare -n needs root)");
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	cr_assert(fp, "%s: %s", path, strerror(errno));
	fputs(text, fp);
	cr_assert_eq(fclose(fp), 0);
}

/* Runs script with sh in a network namespace of its own (only loopback,
 * up), in dir, with SHIM set to the shim's path when preload, else empty:
 * the script preloads it only into the daemon, not into its clients. */
static void run_netns(struct ls_run *r, const char *dir, bool preload, const char *script)
{
	char *shim = ls_shim();
	char *env_shim = ls_fmt("SHIM=%s", preload ? shim : "");
	char *cmd = ls_fmt("ip link set lo up && %s", script);
	const char *env[] = {env_shim, NULL};
	const char *argv[] = {UNSHARE, "-n", "/bin/sh", "-c", cmd, NULL};

	ls_run(r, dir, env, argv);
	free(cmd);
	free(env_shim);
	free(shim);
}

static const char nsd_zone[] =
	"$ORIGIN probe.test.\n"
	"$TTL 300\n"
	"@ IN SOA ns.probe.test. admin.probe.test. 1 3600 600 86400 300\n"
	"@ IN NS ns.probe.test.\n"
	"ns IN A 127.0.0.1\n"
	"www IN A 127.0.0.10\n"
	"* IN TXT \"wild\"\n";

static const char nsd_conf[] =
	"server:\n"
	"  ip-address: 127.0.0.1@5300\n"
	"  do-ip6: no\n"
	"  username: \"\"\n"
	"  chroot: \"\"\n"
	"  zonesdir: \".\"\n"
	"  database: \"\"\n"
	"  pidfile: \"nsd.pid\"\n"
	"  zonelistfile: \"zone.list\"\n"
	"  xfrdfile: \"xfrd.state\"\n"
	"  logfile: \"nsd.log\"\n"
	"  server-count: 1\n"
	"remote-control:\n"
	"  control-enable: no\n"
	"zone:\n"
	"  name: probe.test\n"
	"  zonefile: probe.test.zone\n";

/* nsd started in the foreground (-d), asked over UDP and TCP once it
 * answers, then stopped by the pid in nsd.pid (xfrd's, the process the
 * shell started) and waited for. dig is never preloaded. */
static const char nsd_script[] =
	"LD_PRELOAD=$SHIM " NSD " -d -c nsd.conf & N=$!\n"
	"q() { " DIG " @127.0.0.1 -p 5300 +tries=1 +time=2 \"$@\"; }\n"
	"i=0; until [ -s nsd.pid ] && q www.probe.test +short >/dev/null 2>&1; do\n"
	"  i=$((i+1)); [ $i -gt 100 ] && { kill $N; echo nsd never answered; exit 1; }\n"
	"  sleep 0.1; done\n"
	"q www.probe.test +short; q a1.probe.test TXT +short; q +tcp www.probe.test +short\n"
	"kill $(cat nsd.pid); wait $N; echo nsd exit $?\n";

static void run_nsd(struct ls_run *r, const char *dir, bool preload)
{
	char *zone = ls_fmt("%s/probe.test.zone", dir), *conf = ls_fmt("%s/nsd.conf", dir);

	write_file(zone, nsd_zone);
	write_file(conf, nsd_conf);
	run_netns(r, dir, preload, nsd_script);
	free(zone);
	free(conf);
}

Test(daemons, nsd_answers_the_same_and_each_of_its_processes_leaves_a_trace, .timeout = 60)
{
	need(NSD, "nsd");
	need(DIG, "bind9-dnsutils");
	need_netns();
	const char *plain_dir = ls_tmpdir(), *dir = ls_tmpdir();
	struct ls_run plain, traced;

	run_nsd(&plain, plain_dir, false);
	run_nsd(&traced, dir, true);
	cr_assert_eq(ls_exit_code(&plain), 0, "%s%s", plain.out, plain.err);
	cr_assert_str_eq(plain.out, "127.0.0.10\n\"wild\"\n127.0.0.10\nnsd exit 0\n");
	cr_assert_eq(ls_exit_code(&traced), 0, "%s%s", traced.out, traced.err);
	cr_assert_str_eq(traced.out, plain.out, "answers differ under the shim");
	cr_assert_eq(ls_count_traces(plain_dir), 0);

	/* xfrd (libevent), main (its own ppoll loop) and one server child
	 * (libevent): three processes, three traces. */
	json_t *reps = dir_reports(dir);
	cr_assert_eq(json_array_size(reps), 3, "xfrd, main and a server child, found %zu traces",
		     json_array_size(reps));
	bool xfrd = false, main_ = false, server = false;
	json_t *rep;
	size_t i;
	json_array_foreach(reps, i, rep) {
		json_t *proc = ls_process(rep);
		const char *name = loop_name(proc);
		cr_assert_str_eq(ls_str(proc, "exe"), "nsd");
		cr_assert(ls_bool(proc, "complete"), "%s did not finish its trace", name);
		xfrd |= !strcmp(name, "nsd: xfrd");
		server |= !strcmp(name, "nsd: server 1");
		if (!strcmp(name, "nsd: main")) {
			main_ = true;
			cr_assert_str_eq(loop_api(proc), "ppoll");
		}
	}
	cr_assert(xfrd && main_ && server, "a loop named for each nsd process:\n%s",
		  json_dumps(reps, JSON_INDENT(1)));
	json_decref(reps);
	ls_run_free(&plain);
	ls_run_free(&traced);
}

#define NGINX "/usr/sbin/nginx"
#define AB "/usr/bin/ab"
#define CURL "/usr/bin/curl"

/* Two workers that run as nobody, the master as root; everything in dir
 * (0755, root's: the workers read www/ but may write nothing there). */
static const char nginx_conf[] =
	"daemon off;\n"
	"worker_processes 2;\n"
	"user nobody nogroup;\n"
	"pid nginx.pid;\n"
	"error_log error.log;\n"
	"events { worker_connections 64; }\n"
	"http {\n"
	"  access_log off;\n"
	"  client_body_temp_path tmp/body;\n"
	"  proxy_temp_path tmp/proxy;\n"
	"  fastcgi_temp_path tmp/fastcgi;\n"
	"  uwsgi_temp_path tmp/uwsgi;\n"
	"  scgi_temp_path tmp/scgi;\n"
	"  server { listen 127.0.0.1:18081; root www; }\n"
	"}\n";

/* nginx in the foreground, asked once it answers, loaded with ab (200
 * requests, 4 at a time), then stopped by SIGQUIT to the master (the
 * process the shell started) and waited for; its pid goes to master.pid.
 * curl and ab are never preloaded. */
static const char nginx_script[] =
	"LD_PRELOAD=$SHIM " NGINX " -p \"$PWD\" -c \"$PWD/n.conf\" & N=$!; echo $N >master.pid\n"
	"U=http://127.0.0.1:18081/index.html\n"
	"i=0; until " CURL " -s -o /dev/null $U; do\n"
	"  i=$((i+1)); [ $i -gt 100 ] && { kill $N; echo nginx never answered; exit 1; }\n"
	"  sleep 0.1; done\n"
	CURL " -s $U\n"
	AB " -q -n 200 -c 4 $U | grep -E '^(Complete|Failed) requests|^Non-2xx|^Document Length'\n"
	"kill -QUIT $N; wait $N; echo nginx exit $?\n";

static long run_nginx(struct ls_run *r, const char *dir, bool preload)
{
	char *www = ls_fmt("%s/www", dir), *tmp = ls_fmt("%s/tmp", dir);
	char *index = ls_fmt("%s/index.html", www), *conf = ls_fmt("%s/n.conf", dir);
	char *pidfile = ls_fmt("%s/master.pid", dir);

	cr_assert_eq(chmod(dir, 0755), 0);
	cr_assert(mkdir(www, 0755) == 0 && mkdir(tmp, 0755) == 0, "%s", strerror(errno));
	write_file(index, "hello from nginx\n");
	write_file(conf, nginx_conf);
	run_netns(r, dir, preload, nginx_script);
	size_t len;
	char *pid = ls_read_file(pidfile, &len);
	long master = strtol(pid, NULL, 10);
	free(pid);
	free(www);
	free(tmp);
	free(index);
	free(conf);
	free(pidfile);
	return master;
}

Test(daemons, nginx_replies_the_same_and_each_worker_leaves_a_trace, .timeout = 60)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (the workers switch to nobody)");
	need(NGINX, "nginx-light");
	need(AB, "apache2-utils");
	need(CURL, "curl");
	need_netns();
	const char *plain_dir = ls_tmpdir(), *dir = ls_tmpdir();
	struct ls_run plain, traced;

	run_nginx(&plain, plain_dir, false);
	long master = run_nginx(&traced, dir, true);
	cr_assert_eq(ls_exit_code(&plain), 0, "%s%s", plain.out, plain.err);
	cr_assert_str_eq(plain.out, "hello from nginx\n"
				    "Document Length:        17 bytes\n"
				    "Complete requests:      200\n"
				    "Failed requests:        0\n"
				    "nginx exit 0\n");
	cr_assert_eq(ls_exit_code(&traced), 0, "%s%s", traced.out, traced.err);
	cr_assert_str_eq(traced.out, plain.out, "replies differ under the shim");
	cr_assert_eq(ls_count_traces(plain_dir), 0);

	/* The master waits in sigsuspend (no loop): the two workers only. */
	json_t *reps = dir_reports(dir);
	cr_assert_eq(json_array_size(reps), 2, "one trace per worker, found %zu",
		     json_array_size(reps));
	json_t *rep;
	size_t i;
	json_array_foreach(reps, i, rep) {
		json_t *proc = ls_process(rep);
		long pid = (long)ls_int(proc, "pid");
		cr_assert_neq(pid, master, "the master runs no loop");
		cr_assert_str_eq(ls_str(proc, "exe"), "nginx");
		cr_assert_str_eq(loop_api(proc), "epoll_wait", "worker %ld", pid);
		cr_assert(ls_bool(proc, "complete"), "worker %ld did not finish its trace", pid);
		char *trace = ls_fmt("%s/loopsan.%ld.trace", dir, pid);
		assert_root_s_0600(trace);
		free(trace);
	}
	json_decref(reps);
	ls_run_free(&plain);
	ls_run_free(&traced);
}
