/* scripts/deps.sh's sets (issue 18, point 10): `make demo` installs only
 * what building loopsan needs, `make test` the rest. Read from the script
 * itself (--list) and from dpkg: every header the shim and the viewer
 * include belongs to a package of the demo set (or to what gcc and
 * libc6-dev bring with them). */
#include "tests/harness.h"

LS_SUITE(deps);

/* The output of sh -c cmd (NUL-terminated, malloc'd). */
static char *sh_out(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "popen %s", cmd);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
		n += got;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[n] = 0;
	int st = pclose(p);
	cr_assert_eq(st, 0, "%s: status %d\n%s", cmd, st, buf);
	return buf;
}

/* Is pkg a line of list? */
static bool listed(const char *list, const char *pkg)
{
	size_t n = strlen(pkg);
	for (const char *p = list; (p = strstr(p, pkg)) != NULL; p += n)
		if ((p == list || p[-1] == '\n') && (p[n] == '\n' || p[n] == 0))
			return true;
	return false;
}

static char *deps_list(const char *set)
{
	char *repo = ls_repo();
	char *cmd = ls_fmt("sh %s/scripts/deps.sh --list %s", repo, set);
	char *out = sh_out(cmd);
	free(cmd);
	free(repo);
	return out;
}

Test(deps, the_demo_set_is_the_build_s_and_the_test_set_holds_it)
{
	char *demo = deps_list("demo"), *test = deps_list("test");
	const char *heavy[] = { "clang", "nodejs", "neovim", "memcached", "tmux",
				"libpython3.11-testsuite", "bind9", "libcriterion-dev", NULL };
	for (int i = 0; heavy[i]; i++) {
		cr_assert(!listed(demo, heavy[i]), "the demo set installs %s", heavy[i]);
		cr_assert(listed(test, heavy[i]), "the test set lacks %s", heavy[i]);
	}
	char *save, *copy = strdup(demo);
	for (char *p = strtok_r(copy, "\n", &save); p; p = strtok_r(NULL, "\n", &save))
		cr_assert(listed(test, p), "%s is in the demo set, not in the test set", p);
	free(copy);
	free(demo);
	free(test);
}

Test(deps, every_header_of_the_shim_and_the_viewer_comes_from_the_demo_set, .timeout = 120)
{
	char *demo = deps_list("demo");
	char *repo = ls_repo();
	/* The headers (cc -M), their packages (dpkg -S). */
	char *cmd = ls_fmt("cd %s && for f in preload/*/*.c tracer/*.c viewer/*.c; do "
			   "cc -std=c11 -D_GNU_SOURCE -I. -I/usr/include/python3.11 -M $f || exit 1; "
			   "done | tr ' \\\\' '\\n\\n' | grep '^/' | sort -u | xargs dpkg -S | "
			   "cut -d: -f1 | tr ',' '\\n' | tr -d ' ' | sort -u", repo);
	char *pkgs = sh_out(cmd);
	/* What gcc and libc6-dev bring along. */
	const char *brought[] = { "libgcc-12-dev", "linux-libc-dev", NULL };
	size_t n = 0;
	char *save;
	for (char *p = strtok_r(pkgs, "\n", &save); p; p = strtok_r(NULL, "\n", &save), n++) {
		bool ok = listed(demo, p);
		for (int i = 0; brought[i] && !ok; i++)
			ok = strcmp(p, brought[i]) == 0;
		cr_assert(ok, "a header of the shim or the viewer is in %s, not in the demo set", p);
	}
	cr_assert_geq(n, 8, "only %zu packages: the headers were not found", n);
	free(pkgs);
	free(cmd);
	free(repo);
	free(demo);
}

Test(deps, an_unknown_set_is_a_usage_error)
{
	char *repo = ls_repo();
	char *cmd = ls_fmt("sh %s/scripts/deps.sh --list nosuchset 2>&1; echo \"rc=$?\"", repo);
	char *out = sh_out(cmd);
	cr_assert(strstr(out, "usage: scripts/deps.sh") && strstr(out, "rc=2"), "%s", out);
	free(out);
	free(cmd);
	free(repo);
}
