/* The sys family's entry in the family table, and its hooks in the
 * tracer: crash handlers when the trace is made, the watchdog's slot of a
 * thread that exits, and where a slow run was stuck. */
#include "preload/sys/sys.h"

static const struct ls_trace_hooks ls_sys_hooks = {
	.opened = ls_crash_arm,
	.thread_exit = ls_watch_detach,
	.slow_run = ls_watch_slow_run,
};

static void ls_sys_init(void)
{
	ls_watch_init();
	ls_sig_init();
	ls_trace_hooks_add(&ls_sys_hooks);
}

LS_FAMILY(sys) = {
	.name = "sys",
	.init = ls_sys_init,
	.at_fork_child = ls_watch_atfork_child,
	.loop_thread = ls_loop_thread_seen,
	.loop_left = ls_sel_loop_left,
};
