/* `make install` (PREFIX, DESTDIR) and what it installs: the installed
 * loopsan run finds the installed shim, loopsan(1) renders, the bash
 * completion is in place; and the help texts the man page is made of:
 * `loopsan help CMD`, report --help's list of kinds, TERM=dumb. */
#include "tests/harness.h"

#include <sys/stat.h>

LS_SUITE(install);

/* Every finding kind, as DESIGN.md lists them: a new kind must reach the
 * help and the man page too. */
static const char *const kinds[] = {
	"slow-callback", "slow-selector", "blocking-call", "wrong-thread",
	"pending-at-close", "unclosed-handle", "dropped-error", "never-awaited",
	"lost-wakeup", "crash-in-callback", "handle-misuse", NULL,
};

static const char *const commands[] = { "report", "check", "run", "stats", "export", NULL };

/* make -C REPO BUILD=$LOOPSAN_BUILD VARS... TARGET (vars NULL-terminated). */
static void make(const char *target, const char *const *vars)
{
	char *repo = ls_repo();
	char *build = ls_fmt("BUILD=%s", ls_build());
	const char *argv[16] = { "/usr/bin/make", "--no-print-directory", "-C", repo, build };
	size_t n = 5;
	for (size_t i = 0; vars[i]; i++)
		argv[n++] = vars[i];
	argv[n++] = target;
	argv[n] = NULL;
	struct ls_run r;
	ls_run(&r, NULL, NULL, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "make %s failed:\n%s%s", target, r.out, r.err);
	ls_run_free(&r);
	free(repo);
	free(build);
}

static void assert_file(const char *root, const char *rel, mode_t mode)
{
	char *path = ls_fmt("%s%s", root, rel);
	struct stat st;
	cr_assert(stat(path, &st) == 0, "%s is not installed: %s", path, strerror(errno));
	cr_assert(S_ISREG(st.st_mode), "%s is not a regular file", path);
	cr_assert_eq(st.st_mode & 07777, mode, "%s has mode %o, not %o", path,
		     st.st_mode & 07777, mode);
	free(path);
}

static void assert_installed(const char *root)
{
	assert_file(root, "/bin/loopsan", 0755);
	assert_file(root, "/lib/loopsan/libloopsan.so", 0644);
	assert_file(root, "/share/man/man1/loopsan.1", 0644);
	assert_file(root, "/share/bash-completion/completions/loopsan", 0644);
}

/* Runs the installed loopsan (root/bin/loopsan) with args in cwd, with
 * neither LOOPSAN_BUILD nor LOOPSAN_LIB in its environment, so that
 * nothing points it at the build tree; env adds to it. */
static void run_installed(struct ls_run *r, const char *root, const char *cwd,
			  const char *const *env, const char *const *args)
{
	char *bin = ls_fmt("%s/bin/loopsan", root);
	const char *argv[16] = { bin };
	size_t n = 1;
	for (size_t i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	char *build = strdup(getenv("LOOPSAN_BUILD"));
	char *lib = getenv("LOOPSAN_LIB") ? strdup(getenv("LOOPSAN_LIB")) : NULL;
	unsetenv("LOOPSAN_BUILD");
	unsetenv("LOOPSAN_LIB");
	ls_run(r, cwd, env, argv);
	setenv("LOOPSAN_BUILD", build, 1);
	if (lib)
		setenv("LOOPSAN_LIB", lib, 1);
	free(build);
	free(lib);
	free(bin);
}

/* The installed loopsan run traces slow_timer (from a directory away from
 * the build tree) and the installed report shows its slow callback. */
static void assert_installed_cli_traces(const char *root)
{
	char *fixture = ls_fixture_bin("slow_timer");
	const char *cwd = ls_tmpdir(), *dir = ls_tmpdir();
	const char *run[] = { "run", "--dir", dir, "--", fixture, NULL };
	struct ls_run r;

	run_installed(&r, root, cwd, NULL, run);
	cr_assert_eq(ls_exit_code(&r), 0, "installed loopsan run:\n%s", r.err);
	cr_assert(strstr(r.err, "slow-callback: on_tick"),
		  "the installed run reports slow_timer's slow callback:\n%s", r.err);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	const char *report[] = { "report", trace, NULL };
	run_installed(&r, root, cwd, NULL, report);
	cr_assert_eq(ls_exit_code(&r), 0, "installed loopsan report:\n%s", r.err);
	cr_assert(strstr(r.out, "slow-callback: on_tick"), "report:\n%s", r.out);
	ls_run_free(&r);
	free(trace);
	free(fixture);
}

/* Does hay hold "pre" arg "post"? (the needle freed) */
static const char *holds(const char *hay, const char *pre, const char *arg, const char *post)
{
	char *needle = ls_fmt("%s%s%s", pre, arg, post);
	const char *at = hay ? strstr(hay, needle) : NULL;
	free(needle);
	return at;
}

Test(install, make_install_into_a_prefix_gives_a_cli_that_traces_with_the_installed_shim)
{
	char *prefix = ls_fmt("%s/p", ls_tmpdir());
	char *var = ls_fmt("PREFIX=%s", prefix);
	const char *vars[] = { var, NULL };

	make("install", vars);
	assert_installed(prefix);
	assert_installed_cli_traces(prefix);
	free(var);
	free(prefix);
}

Test(install, make_install_with_destdir_stages_the_prefix_and_uninstall_removes_it)
{
	char *destdir = ls_fmt("%s/d", ls_tmpdir());
	char *var = ls_fmt("DESTDIR=%s", destdir);
	char *root = ls_fmt("%s/usr", destdir);
	const char *vars[] = { var, "PREFIX=/usr", NULL };

	make("install", vars);
	assert_installed(root);
	assert_installed_cli_traces(root);
	make("uninstall", vars);
	const char *gone[] = { "/bin/loopsan", "/lib/loopsan/libloopsan.so", "/lib/loopsan",
			       "/share/man/man1/loopsan.1",
			       "/share/bash-completion/completions/loopsan", NULL };
	for (size_t i = 0; gone[i]; i++) {
		char *path = ls_fmt("%s%s", root, gone[i]);
		cr_assert(access(path, F_OK) != 0, "uninstall left %s", path);
		free(path);
	}
	free(root);
	free(var);
	free(destdir);
}

Test(install, man_page_renders_without_warnings_with_every_command_and_kind)
{
	char *prefix = ls_fmt("%s/p", ls_tmpdir());
	char *var = ls_fmt("PREFIX=%s", prefix);
	const char *vars[] = { var, NULL };
	make("install", vars);
	char *page = ls_fmt("%s/share/man/man1/loopsan.1", prefix);
	const char *env[] = { "MANWIDTH=80", "LC_ALL=C.UTF-8", NULL };
	const char *argv[] = { "/usr/bin/man", "--warnings", "-l", page, NULL };
	struct ls_run r;

	ls_run(&r, ls_tmpdir(), env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "man -l %s:\n%s", page, r.err);
	cr_assert_eq(r.err_len, 0, "man -l warns:\n%s", r.err);
	const char *sections[] = { "SYNOPSIS", "COMMANDS", "OPTIONS", "FINDING KINDS",
				   "EXIT STATUS", "ENVIRONMENT", NULL };
	for (size_t i = 0; sections[i]; i++)
		cr_assert(holds(r.out, "\n", sections[i], "\n"),
			  "no section %s:\n%s", sections[i], r.out);
	for (size_t i = 0; commands[i]; i++)
		cr_assert(holds(r.out, "\n   loopsan ", commands[i], "\n"),
			  "no subsection for loopsan %s:\n%s", commands[i], r.out);
	const char *finding_kinds = strstr(r.out, "\nFINDING KINDS\n");
	for (size_t i = 0; kinds[i]; i++)
		cr_assert(holds(finding_kinds, "\n       ", kinds[i], "\n"),
			  "FINDING KINDS lacks %s:\n%s", kinds[i], finding_kinds);
	const char *vars_env[] = { "LOOPSAN_OPTIONS", "LOOPSAN_LIB", "LOOPSAN_DEBUG_PATH",
				   "LOOPSAN_RUN_NOTES", "NO_COLOR", NULL };
	const char *environment = strstr(r.out, "\nENVIRONMENT\n");
	for (size_t i = 0; vars_env[i]; i++)
		cr_assert(strstr(environment, vars_env[i]), "ENVIRONMENT lacks %s:\n%s",
			  vars_env[i], environment);
	ls_run_free(&r);
	free(page);
	free(var);
	free(prefix);
}

/* loopsan run with LOOPSAN_LIB=lib in cwd, tracing slow_timer into dir. */
static void run_with_lib(struct ls_run *r, const char *cwd, const char *lib, const char *dir)
{
	char *viewer = ls_viewer();
	char *fixture = ls_fixture_bin("slow_timer");
	char *env_lib = ls_fmt("LOOPSAN_LIB=%s", lib);
	const char *env[] = { env_lib, NULL };
	const char *argv[] = { viewer, "run", "--dir", dir, "--", fixture, NULL };

	ls_run(r, cwd, env, argv);
	free(env_lib);
	free(fixture);
	free(viewer);
}

Test(install, relative_LOOPSAN_LIB_is_taken_from_the_working_directory)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	/* A bare name: LD_PRELOAD would look it up in the system's library
	 * path and silently not load it. */
	run_with_lib(&r, ls_build(), "libloopsan.so", dir);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.err, "slow-callback: on_tick"), "the shim was loaded:\n%s", r.err);
	cr_assert_eq(ls_count_traces(dir), 1, "%s", r.err);
	ls_run_free(&r);

	/* And one with a directory in it, from the repository. */
	char *repo = ls_repo();
	char *rel = ls_fmt("%s/libloopsan.so", ls_basename(ls_build()));
	const char *dir2 = ls_tmpdir();
	run_with_lib(&r, repo, rel, dir2);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	cr_assert_eq(ls_count_traces(dir2), 1, "%s", r.err);
	ls_run_free(&r);
	free(rel);
	free(repo);
}

Test(install, a_LOOPSAN_LIB_that_is_not_there_is_refused_in_one_line)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;

	run_with_lib(&r, ls_tmpdir(), "nowhere/libloopsan.so", dir);
	cr_assert_eq(ls_exit_code(&r), 2, "%s", r.err);
	ls_assert_one_line(&r, "LOOPSAN_LIB=nowhere/libloopsan.so");
	cr_assert(strstr(r.err, "working directory"), "%s", r.err);
	cr_assert(!strstr(r.out, "slow_timer") && ls_count_traces(dir) == 0,
		  "the command did not run:\n%s", r.out);
	ls_run_free(&r);

	run_with_lib(&r, ls_tmpdir(), ls_build(), dir);
	cr_assert_eq(ls_exit_code(&r), 2, "a directory is no shim:\n%s", r.err);
	ls_assert_one_line(&r, "Is a directory");
	ls_run_free(&r);
}

Test(install, help_CMD_is_CMD_help)
{
	for (size_t i = 0; commands[i]; i++) {
		struct ls_run a, b;
		const char *help[] = { "help", commands[i], NULL };
		const char *dash[] = { commands[i], "--help", NULL };
		ls_run_viewer(&a, NULL, help);
		ls_run_viewer(&b, NULL, dash);
		cr_assert_eq(ls_exit_code(&a), 0, "loopsan help %s:\n%s", commands[i], a.err);
		cr_assert_eq(ls_exit_code(&b), 0, "loopsan %s --help:\n%s", commands[i], b.err);
		cr_assert(a.out_len > 0 && strncmp(a.out, "usage: loopsan ", 15) == 0, "%s", a.out);
		cr_assert_str_eq(a.out, b.out, "loopsan help %s", commands[i]);
		ls_run_free(&a);
		ls_run_free(&b);
	}
	struct ls_run top, help, bad;
	const char *h[] = { "--help", NULL }, *hh[] = { "help", NULL };
	const char *nope[] = { "help", "nope", NULL };
	ls_run_viewer(&top, NULL, h);
	ls_run_viewer(&help, NULL, hh);
	cr_assert_str_eq(top.out, help.out, "loopsan help is loopsan --help");
	cr_assert(strstr(top.out, "loopsan help COMMAND"), "%s", top.out);
	ls_run_viewer(&bad, NULL, nope);
	cr_assert_eq(ls_exit_code(&bad), 2, "%s", bad.err);
	ls_assert_one_line(&bad, "unknown command 'nope'");
	ls_run_free(&top);
	ls_run_free(&help);
	ls_run_free(&bad);
}

Test(install, report_help_lists_every_kind_with_its_meaning)
{
	struct ls_run r;
	const char *args[] = { "report", "--help", NULL };

	ls_run_viewer(&r, NULL, args);
	cr_assert_eq(ls_exit_code(&r), 0, "%s", r.err);
	const char *list = strstr(r.out, "\nfinding kinds:\n");
	cr_assert(list, "no list of kinds:\n%s", r.out);
	for (size_t i = 0; kinds[i]; i++) {
		const char *line = holds(list, "\n  ", kinds[i], " ");
		cr_assert(line, "report --help lacks %s:\n%s", kinds[i], r.out);
		line += 3 + strlen(kinds[i]);
		line += strspn(line, " ");
		cr_assert(*line >= 'A' && *line <= 'Z' && line[1] != '\n',
			  "%s has no meaning:\n%s", kinds[i], r.out);
	}
	ls_run_free(&r);
}

Test(install, TERM_dumb_means_no_color_on_a_terminal)
{
	const char *dir = ls_tmpdir();
	struct ls_run r;
	ls_run_fixture(&r, "slow_timer", dir, NULL);
	ls_run_free(&r);
	char *trace = ls_single_trace(dir);
	char *xterm = ls_report_on_tty(trace, "xterm", NULL);
	char *dumb = ls_report_on_tty(trace, "dumb", NULL);

	cr_assert(strstr(xterm, "\033["), "TERM=xterm colors:\n%s", xterm);
	cr_assert(strstr(dumb, "slow-callback") && !strstr(dumb, "\033["),
		  "TERM=dumb does not:\n%s", dumb);
	free(xterm);
	free(dumb);
	free(trace);
}
