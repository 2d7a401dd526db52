/* What the tests of Python programs share (tests/py/, tests/viewer/): the
 * interpreters, and a script run under the shim. Include after harness.h. */
#ifndef LOOPSAN_TESTS_PY_HARNESS_H
#define LOOPSAN_TESTS_PY_HARNESS_H

#define LS_PY_DEBIAN "/usr/bin/python3"   /* 3.11, with python3-uvloop */
#define LS_PYENV "/root/.pyenv/versions/"

/* The interpreter env names, or else path; it must be there (CI runs on
 * this machine, which has them). */
static inline const char *ls_pyenv_python(const char *env, const char *path)
{
	const char *p = getenv(env);
	if (p != NULL && *p != '\0')
		path = p;
	cr_assert(access(path, X_OK) == 0, "%s missing (%s names another): %s", path, env,
		  strerror(errno));
	return path;
}

#define LS_PY311 LS_PYENV "3.11.7/bin/python3"
#define LS_PY310 ls_pyenv_python("LOOPSAN_TEST_PY310", LS_PYENV "3.10.13/bin/python3.10")
#define LS_PY312 ls_pyenv_python("LOOPSAN_TEST_PY312", LS_PYENV "3.12.1/bin/python3.12")
#define LS_PY313 ls_pyenv_python("LOOPSAN_TEST_PY313", LS_PYENV "3.13.0/bin/python3.13")

/* Skips the test when python, or its module (NULL: none), is missing. */
static inline void ls_need_python(const char *python, const char *module)
{
	if (access(python, X_OK) != 0)
		cr_skip_test("%s missing", python);
	if (module == NULL)
		return;
	struct ls_run r;
	char *code = ls_fmt("import %s", module);
	const char *argv[] = {python, "-c", code, NULL};
	ls_run(&r, NULL, NULL, argv);
	int ok = ls_exit_code(&r) == 0;
	ls_run_free(&r);
	free(code);
	if (!ok)
		cr_skip_test("%s has no %s module (apt-get install python3-%s)", python, module,
			     module);
}

/* tests/DIR/NAME, which must exist; the caller frees it. */
static inline char *ls_py_file(const char *dir, const char *name)
{
	char *repo = ls_repo();
	char *p = ls_fmt("%s/tests/%s/%s", repo, dir, name);
	free(repo);
	cr_assert(access(p, R_OK) == 0, "%s: %s", p, strerror(errno));
	return p;
}

/* Runs python SCRIPT [ARG] (a path) under the shim in a new directory,
 * LOOPSAN_OPTIONS opts (NULL: none); it must exit 0 having printed
 * expect_out. Its one trace. */
static inline char *ls_py_run(const char *python, const char *script, const char *arg,
			      const char *opts, const char *expect_out)
{
	const char *dir = ls_tmpdir();
	char *pre = ls_preload_env();
	char *o = ls_fmt("LOOPSAN_OPTIONS=%s", opts ? opts : "");
	const char *env[] = {pre, o, "PYTHONDONTWRITEBYTECODE=1", NULL};
	const char *argv[] = {python, script, arg, NULL};
	struct ls_run r;
	cr_assert(access(python, X_OK) == 0, "%s: %s", python, strerror(errno));
	ls_run(&r, dir, env, argv);
	cr_assert_eq(ls_exit_code(&r), 0, "%s %s %s failed under the shim:\n%s", python, script,
		     arg ? arg : "", r.err);
	cr_assert_str_eq(r.out, expect_out, "%s %s %s", python, script, arg ? arg : "");
	ls_run_free(&r);
	free(o);
	free(pre);
	return ls_single_trace(dir);
}

#endif
