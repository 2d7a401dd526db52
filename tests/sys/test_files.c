/* Nobody let in (issue 8): a trace is never written through a symlink
 * planted at its name, never truncates a file that is there, and is mode
 * 0600 (whether it is created under its name or unnamed and linked).
 */
#include "tests/harness.h"

LS_SUITE(files);

static char *slurp_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	size_t len;

	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	char *s = ls__slurp_fd(fd, &len);
	close(fd);
	return s;
}

Test(files, planted_symlinks_and_files_are_never_followed_or_truncated)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	long pid;

	ls_run_fixture(&r, "rel_planted", dir, NULL);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(sscanf(r.out, "pid %ld", &pid), 1, "%s", r.out);
	cr_assert_eq(r.err_len, 0, "nothing on stderr:\n%s", r.err);
	ls_run_free(&r);

	char *victim = ls_fmt("%s/victim", dir);
	char *through = ls_fmt("%s/made-through-link", dir);
	char *kept = ls_fmt("%s/loopsan.%ld.2.trace", dir, pid);
	char *trace = ls_fmt("%s/loopsan.%ld.3.trace", dir, pid);
	char *s = slurp_file(victim);
	cr_assert_str_eq(s, "victim\n", "the symlink's target was written");
	free(s);
	cr_assert(access(through, F_OK) != 0, "a file was made through a dangling symlink");
	s = slurp_file(kept);
	cr_assert_str_eq(s, "keep\n", "an existing file was overwritten");
	free(s);

	struct stat st;
	cr_assert(lstat(trace, &st) == 0, "the trace is not at the next free name %s", trace);
	cr_assert(S_ISREG(st.st_mode), "the trace is a regular file");
	cr_assert_eq(st.st_mode & 07777, 0600, "trace mode %o", st.st_mode & 07777);
	json_t *rep = ls_report_json(trace);
	cr_assert_eq(ls_int(ls_process(rep), "pid"), pid);
	cr_assert(ls_bool(ls_process(rep), "complete"));
	json_decref(rep);
	free(victim);
	free(through);
	free(kept);
	free(trace);
}
