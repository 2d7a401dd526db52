/* Helpers of the real-programs suites (test_real_daemons.c in `make test`,
 * real_daemons_slow.c in `make real`): a daemon or tool is run twice by its
 * script tests/real/daemons/NAME.sh (see lib.sh there), plain and under
 * `loopsan run`, each time in a private network namespace and a fresh work
 * directory; its replies and exit status must be the same, it must leave a
 * trace, and every frame of every finding must be named in code (a symbol,
 * or module+0xoffset for stripped code), with check and SARIF pointing at
 * the program's own code, not at libc or the shim. Which findings are true
 * is each test's to say. */
#ifndef LOOPSAN_TESTS_REAL_DAEMONS_H
#define LOOPSAN_TESTS_REAL_DAEMONS_H

#include "tests/harness.h"

struct daemon_run {
	const char *traces;   /* the traced run's trace directory */
	json_t *report;       /* loopsan report --format json traces */
	char *out;            /* the traced run's replies (the plain run's too) */
};

static inline void daemon_need(const char *path, const char *package)
{
	if (access(path, X_OK) != 0)
		cr_skip_test("%s missing (apt-get install %s)", path, package);
}

/* unshare -n needs root (CAP_SYS_ADMIN); the suites skip without it. */
static inline void daemon_need_netns(void)
{
	struct ls_run r;
	const char *argv[] = {"/usr/bin/unshare", "-n", "/bin/true", NULL};

	ls_run(&r, NULL, NULL, argv);
	bool ok = WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0;
	ls_run_free(&r);
	if (!ok)
		cr_skip_test("cannot make a network namespace (unshare -n needs root)");
}

/* Runs tests/real/daemons/NAME.sh in a new work directory, plain or (traces
 * not NULL) under `loopsan run --dir traces`. The work directory is world
 * readable and searchable: daemons that drop root (nginx's workers) read
 * their files there. */
static inline void daemon_script(struct ls_run *r, const char *name, const char *traces)
{
	char *repo = ls_repo();
	char *script = ls_fmt("%s/tests/real/daemons/%s.sh", repo, name);
	char *viewer = ls_viewer();
	char *w = ls_fmt("W=%s run --dir %s --", viewer, traces ? traces : "");
	const char *dir = ls_tmpdir();
	const char *env[] = {traces ? w : "W=", NULL};
	const char *argv[] = {"/usr/bin/unshare", "-n", "/bin/sh", script, NULL};

	cr_assert(access(script, R_OK) == 0, "%s: %s", script, strerror(errno));
	cr_assert(chmod(dir, 0755) == 0);
	ls_run(r, dir, env, argv);
	free(repo);
	free(script);
	free(viewer);
	free(w);
}

/* The frame's name: function (a symbol, or module+0xoffset); never a bare
 * address. */
static inline void daemon_assert_frame_named(json_t *fr, const char *what)
{
	json_t *fn = json_object_get(fr, "function");

	cr_assert(json_is_string(fn), "%s: a frame without a function: %s", what,
		  json_dumps(fr, JSON_COMPACT));
	cr_assert(strncmp(json_string_value(fn), "0x", 2) != 0,
		  "%s: a frame named by a bare address: %s", what, json_dumps(fr, JSON_COMPACT));
}

static inline void daemon_assert_findings_named(json_t *rep)
{
	static const char *const stacks[] = {"created_at", "called_at", "stuck_at",
					     "registered_at"};
	json_t *f, *fr;
	size_t i, j;

	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		json_t *cb = json_object_get(f, "callback");
		cr_assert(!json_is_string(cb) || strncmp(json_string_value(cb), "0x", 2) != 0,
			  "a callback named by a bare address: %s", json_dumps(f, JSON_INDENT(1)));
		for (size_t s = 0; s < sizeof(stacks) / sizeof(stacks[0]); s++)
			json_array_foreach(json_object_get(f, stacks[s]), j, fr)
				daemon_assert_frame_named(fr, stacks[s]);
	}
}

/* A module that is not the program's own code: libc, the loader, the shim. */
static inline bool daemon_foreign_module(const char *m)
{
	const char *b = ls_basename(m);

	return !strncmp(b, "libc.so", 7) || !strncmp(b, "ld-linux", 8) ||
	       !strncmp(b, "libloopsan", 10) || !strncmp(b, "libpthread", 10);
}

/* SARIF puts each finding at a frame of the program's own code, and every
 * FAIL line of `loopsan check` names a function, not an address. */
static inline void daemon_assert_located(const char *traces, size_t nfindings)
{
	struct ls_run r;
	const char *sarif[] = {"report", "--format", "sarif", traces, NULL};
	json_error_t jerr;

	ls_run_viewer(&r, NULL, sarif);
	cr_assert_eq(ls_exit_code(&r), 0, "loopsan report --format sarif:\n%s", r.err);
	json_t *doc = json_loadb(r.out, r.out_len, 0, &jerr);
	cr_assert(doc, "SARIF is not JSON: %s", jerr.text);
	json_t *results = json_object_get(json_array_get(json_object_get(doc, "runs"), 0),
					  "results"), *res;
	size_t i;
	cr_assert_eq(json_array_size(results), nfindings, "SARIF results:\n%s", r.out);
	json_array_foreach(results, i, res) {
		json_t *loc = json_array_get(json_object_get(res, "locations"), 0);
		json_t *uri = json_object_get(
			json_object_get(json_object_get(loc, "physicalLocation"), "artifactLocation"),
			"uri");
		cr_assert(json_is_string(uri), "a SARIF result without a location: %s",
			  json_dumps(res, JSON_INDENT(1)));
		cr_assert(!daemon_foreign_module(json_string_value(uri)),
			  "a SARIF result located outside the program: %s",
			  json_dumps(res, JSON_INDENT(1)));
		json_t *ll = json_array_get(json_object_get(loc, "logicalLocations"), 0);
		json_t *name = json_object_get(ll, "fullyQualifiedName");
		cr_assert(!json_is_string(name) || strncmp(json_string_value(name), "0x", 2),
			  "a SARIF result named by an address: %s", json_dumps(res, JSON_INDENT(1)));
	}
	json_decref(doc);
	ls_run_free(&r);

	const char *check[] = {"check", traces, NULL};
	ls_run_viewer(&r, NULL, check);
	cr_assert_eq(ls_exit_code(&r), nfindings ? 1 : 0, "loopsan check:\n%s%s", r.out, r.err);
	for (const char *l = r.out; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, "FAIL ", 5))
			continue;
		const char *at = strstr(l, " at ");
		const char *nl = strchr(l, '\n');
		cr_assert(at && (!nl || at < nl) && strncmp(at + 4, "0x", 2) != 0,
			  "a check line without a named frame:\n%s", r.out);
	}
	ls_run_free(&r);
}

/* Runs NAME.sh plain and under loopsan run: the same replies and exit
 * status (the script's last line, "exit: N", is the program's), the plain
 * run's replies containing expect, at least one trace. The caller judges
 * the findings in d->report, then daemon_done checks they are named. */
static inline void daemon_both(struct daemon_run *d, const char *name, const char *expect)
{
	struct ls_run plain, traced;

	daemon_need_netns();
	daemon_script(&plain, name, NULL);
	cr_assert_eq(ls_exit_code(&plain), 0, "%s.sh failed without the shim:\n%s%s", name,
		     plain.out, plain.err);
	cr_assert(strstr(plain.out, expect), "%s without the shim: no \"%s\" in its replies:\n%s",
		  name, expect, plain.out);
	cr_assert(strstr(plain.out, "exit: "), "%s.sh printed no exit status:\n%s", name,
		  plain.out);

	d->traces = ls_tmpdir();
	cr_assert(chmod(d->traces, 0755) == 0);
	daemon_script(&traced, name, d->traces);
	cr_assert_eq(ls_exit_code(&traced), 0, "%s.sh failed under the shim:\n%s%s", name,
		     traced.out, traced.err);
	cr_assert_str_eq(plain.out, traced.out,
			 "%s: replies or exit status differ under the shim\n--- plain:\n%s"
			 "--- under loopsan run:\n%s--- stderr:\n%s",
			 name, plain.out, traced.out, traced.err);
	cr_assert_geq(ls_count_traces(d->traces), 1, "%s left no trace under the shim:\n%s", name,
		      traced.err);
	d->report = ls_report_json(d->traces);
	d->out = traced.out;
	traced.out = NULL;
	ls_run_free(&plain);
	ls_run_free(&traced);
}

/* After the caller judged the findings: each is named in code. */
static inline void daemon_done(struct daemon_run *d)
{
	daemon_assert_findings_named(d->report);
	daemon_assert_located(d->traces, json_array_size(json_object_get(d->report, "findings")));
	json_decref(d->report);
	free(d->out);
}

/* Every finding's kind is one of kinds (a NULL-terminated list), each
 * judged true for this program by the caller's comment. */
static inline void daemon_assert_kinds(json_t *rep, const char *const *kinds)
{
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const char *k = ls_str(f, "kind");
		bool ok = false;
		for (size_t j = 0; kinds[j]; j++)
			ok |= strcmp(k, kinds[j]) == 0;
		cr_assert(ok, "a %s finding, which this program should not have:\n%s", k,
			  json_dumps(f, JSON_INDENT(1)));
	}
}

/* Whether some frame of stack `which` of f has function fn. */
static inline bool daemon_stack_has(json_t *f, const char *which, const char *fn)
{
	json_t *fr;
	size_t i;

	json_array_foreach(json_object_get(f, which), i, fr) {
		json_t *name = json_object_get(fr, "function");
		if (json_is_string(name) && strcmp(json_string_value(name), fn) == 0)
			return true;
	}
	return false;
}

static inline const char *daemon_findings_text(json_t *rep)
{
	return json_dumps(json_object_get(rep, "findings"), JSON_INDENT(1));
}

#endif
