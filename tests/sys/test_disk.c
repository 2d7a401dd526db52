/* Disk full, a missing or unwritable trace directory, a file-size limit
 * (issue 8): the program runs on unchanged (stdout, exit status, its own
 * file writes), loopsan says so in exactly one line on stderr, and what was
 * written stays readable by the viewer.
 *
 * The full disk is a tiny tmpfs mounted by the test (it needs root; without
 * the permission to mount, those tests are skipped, saying why).
 */
#include <sys/mount.h>
#include <sys/resource.h>

#include "tests/harness.h"

#define TICKS 200000L

static char *mounts[4];
static int nmounts;

static void disk_fini(void)
{
	for (int i = 0; i < nmounts; i++) {
		umount2(mounts[i], MNT_DETACH);
		free(mounts[i]);
	}
	nmounts = 0;
	ls_cleanup();
}

TestSuite(disk, .fini = disk_fini, .timeout = 90);

/* A fresh tmpfs of size kilobytes (ro: read-only) at a new temp dir. */
static const char *tiny_fs(int kb, bool ro)
{
	const char *dir = ls_tmpdir();
	char *opts = ls_fmt("size=%dk,mode=0777%s", kb, ro ? ",ro" : "");

	if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0)
		cr_skip_test("cannot mount a tmpfs to fill (%s); run the suite as root to test a full disk",
			     strerror(errno));
	cr_assert(nmounts < 4);
	mounts[nmounts++] = strdup(dir);
	free(opts);
	return dir;
}

/* Fills the file system of dir to the last block. */
static void fill(const char *dir)
{
	char *path = ls_fmt("%s/fill", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char block[4096] = {0};

	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	while (write(fd, block, sizeof(block)) > 0)
		;
	cr_assert_eq(errno, ENOSPC, "filling %s: %s", dir, strerror(errno));
	close(fd);
	free(path);
}

/* rel_writer without the shim, in a dir of its own: what to compare with. */
static void plain_run(struct ls_run *r)
{
	ls_run_fixture_ex(r, "rel_writer", ls_tmpdir(), false, NULL);
	cr_assert_eq(ls_exit_code(r), 0, "%s", r->err);
	char *want = ls_fmt("ticks %ld\nown file written: yes\n", TICKS);
	cr_assert_str_eq(r->out, want);
	free(want);
}

/* Runs rel_writer under the shim with options in a fresh working dir and
 * checks it ran as without: same stdout, exit 0, its own file written;
 * stderr exactly one line, naming what. Returns the working dir. */
static const char *traced_run(const char *options, const char *what)
{
	struct ls_run plain, r;
	const char *cwd = ls_tmpdir();

	plain_run(&plain);
	ls_run_fixture(&r, "rel_writer", cwd, options);
	cr_assert_eq(ls_exit_code(&r), 0, "%s: exit changed under the shim\n%s", options, r.err);
	cr_assert_str_eq(r.out, plain.out, "%s: stdout changed under the shim", options);
	ls_assert_one_line(&r, what);
	cr_assert(strstr(r.err, "loopsan: "), "the line is loopsan's: %s", r.err);
	char *own = ls_fmt("%s/out.txt", cwd);
	struct stat st;
	cr_assert(stat(own, &st) == 0 && st.st_size > 0, "the program's own file was not written");
	free(own);
	ls_run_free(&plain);
	ls_run_free(&r);
	return cwd;
}

/* The one trace in dir is read by report and stats, which count every one
 * of the TICKS callbacks (the stats slot was taken before the disk filled). */
static void readable_and_counted(const char *dir)
{
	char *trace = ls_single_trace(dir);
	struct ls_run r;
	const char *args[] = {"report", trace, NULL};

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "loopsan report %s:\n%s", trace, r.err);
	ls_run_free(&r);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_count(rep, NULL, NULL), 0, "no findings");
	json_decref(rep);
	json_t *st = ls_stats_json(trace);
	cr_assert_eq(ls_int(ls_stats_site(st, "on_tick"), "count"), TICKS);
	json_decref(st);
	free(trace);
}

Test(disk, disk_full_while_recording_program_unchanged_trace_readable)
{
	const char *fs = tiny_fs(256, false);
	char *opt = ls_fmt("dir=%s:mode=timeline", fs);

	traced_run(opt, "No space left on device");
	readable_and_counted(fs);
	free(opt);
}

Test(disk, disk_full_before_the_trace_exists_program_unchanged_no_trace)
{
	const char *fs = tiny_fs(64, false);
	char *opt = ls_fmt("dir=%s:mode=timeline", fs);

	fill(fs);
	traced_run(opt, "No space left on device");
	cr_assert_eq(ls_count_traces(fs), 0, "no half-made trace is left");
	free(opt);
}

Test(disk, missing_trace_dir_program_unchanged_said_once)
{
	const char *base = ls_tmpdir();
	char *missing = ls_fmt("%s/no/such/dir", base);
	char *opt = ls_fmt("dir=%s", missing);

	const char *cwd = traced_run(opt, missing);
	cr_assert_eq(ls_count_traces(cwd), 0, "no trace anywhere else");
	free(missing);
	free(opt);
}

Test(disk, unwritable_trace_dir_program_unchanged_said_once)
{
	const char *dir;

	if (geteuid() == 0) {
		dir = tiny_fs(64, true); /* root writes anywhere but on a read-only mount */
	} else {
		dir = ls_tmpdir();
		cr_assert(chmod(dir, 0555) == 0);
	}
	char *opt = ls_fmt("dir=%s", dir);
	traced_run(opt, "cannot create trace");
	cr_assert_eq(ls_count_traces(dir), 0);
	free(opt);
}

/* Runs rel_writer under a soft RLIMIT_FSIZE of limit bytes, inherited by
 * the children of this test only (Criterion runs each test in a process of
 * its own). */
static void run_limited(const char *dir, rlim_t limit)
{
	char *opt = ls_fmt("dir=%s:mode=timeline", dir);
	struct rlimit old, lim;

	cr_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = limit;
	cr_assert(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	traced_run(opt, "File too large");
	cr_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
	free(opt);
}

Test(disk, file_size_limit_program_unchanged_no_sigxfsz_trace_readable)
{
	const char *dir = ls_tmpdir();

	run_limited(dir, 160 << 10); /* room for the header and two chunks */
	readable_and_counted(dir);
}

Test(disk, file_size_limit_below_the_header_program_unchanged_no_trace)
{
	const char *dir = ls_tmpdir();

	run_limited(dir, 1024);
	cr_assert_eq(ls_count_traces(dir), 0);
}

/* An address-space limit a little above the program's own size (12 MiB
 * more, set by the fixture at its start): the shim's reservations fit
 * beside it (they were 41 MiB at the first loop call, and the trace held
 * nothing at all), so every callback is counted, with its creation site,
 * and nothing is said. */
Test(disk, address_space_limit_a_little_above_the_program_still_records_everything)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	ls_run_fixture(&r, "as_limit", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "as_limit failed:\n%s", r.err);
	cr_assert_str_eq(r.out, "ticks 100\n");
	cr_assert_str_eq(r.err, "", "the shim said something:\n%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	json_t *st = ls_stats_json(trace);
	json_t *s = json_array_get(json_object_get(st, "sites"), 0);
	cr_assert_not_null(s, "no callback site recorded");
	cr_assert_str_eq(ls_str(s, "callback"), "on_tick");
	cr_assert_eq(ls_int(s, "count"), 100);
	json_t *at = json_object_get(s, "registered_at");
	cr_assert_not_null(at, "no creation site");
	cr_assert_str_eq(ls_str(at, "function"), "main");
	cr_assert_eq(ls_int(at, "line"), ls_marker_line("as_limit", "tick_start"));
	json_decref(st);
	free(trace);
}
