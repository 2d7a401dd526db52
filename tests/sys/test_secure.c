/* Under AT_SECURE (setuid/setgid programs) the shim does nothing at all.
 *
 * ld.so ignores an LD_PRELOAD path in secure-execution mode, but not
 * /etc/ld.so.preload: that is how a shim could end up in a setgid program.
 * The test gives a private mount namespace (unshare -m) its own copy of
 * /etc with an ld.so.preload naming the shim, then runs a libuv fixture as
 * user nobody twice: a plain copy (the control: it must write a trace) and a
 * setgid copy (AT_SECURE: no trace, same output). The host's /etc is never
 * touched. Needs root; skips, saying why, otherwise. */
#include "tests/harness.h"

LS_SUITE(secure);

Test(secure, setgid_program_runs_without_the_shim_doing_anything)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (mount namespace, setgid file, setpriv)");
	if (access("/usr/bin/unshare", X_OK) != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		cr_skip_test("needs unshare and setpriv (util-linux)");
	bool had_preload = access("/etc/ld.so.preload", F_OK) == 0;
	const char *d = ls_tmpdir();
	char *fx = ls_fixture_bin("slow_timer");
	char *shim = ls_shim();
	char *script = ls_fmt(
		"set -e\n"
		"D=%s\n"
		"chmod 755 $D; mkdir $D/run; chmod 777 $D/run\n"
		"cp %s $D/plain; cp %s $D/setgid; chgrp daemon $D/setgid; chmod 2755 $D/setgid\n"
		"cp %s $D/libloopsan.so; chmod 755 $D/libloopsan.so\n"
		"cp -a /etc $D/etc\n"
		"echo $D/libloopsan.so > $D/etc/ld.so.preload\n"
		"mount --bind $D/etc /etc || { echo 'cannot-mount'; exit 0; }\n"
		"cd $D/run\n"
		"as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"; }\n"
		"as_nobody $D/plain > $D/plain.out 2>/dev/null; echo \"plain $? $(ls | grep -c '^loopsan\\.')\"\n"
		"rm -f loopsan.*\n"
		"as_nobody $D/setgid > $D/setgid.out 2>/dev/null; echo \"setgid $? $(ls | grep -c '^loopsan\\.')\"\n"
		"cmp -s $D/plain.out $D/setgid.out && echo same-output\n",
		d, fx, fx, shim);
	const char *argv[] = {"/usr/bin/unshare", "-m", "/bin/sh", "-c", script, NULL};
	struct ls_run r;
	ls_run(&r, d, NULL, argv);
	if (strstr(r.out, "cannot-mount") || ls_exit_code(&r) != 0)
		cr_skip_test("no private mount namespace here: %s", r.err);
	/* The control: the shim is loaded through ld.so.preload and traces. */
	cr_assert(strstr(r.out, "plain 0 1\n"), "the plain copy did not leave one trace:\n%s\n%s",
		  r.out, r.err);
	/* AT_SECURE: the same program, setgid, leaves nothing. */
	cr_assert(strstr(r.out, "setgid 0 0\n"), "the setgid copy was traced:\n%s\n%s", r.out,
		  r.err);
	cr_assert(strstr(r.out, "same-output"), "stdout differs:\n%s", r.out);
	if (!had_preload)
		cr_assert(access("/etc/ld.so.preload", F_OK) != 0, "the host's /etc was changed");
	ls_run_free(&r);
	free(script);
	free(shim);
	free(fx);
}
