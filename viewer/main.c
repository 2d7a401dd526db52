/* loopsan: the viewer CLI. Dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "viewer/commands.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *out);
	const char *summary;
};

static const struct command commands[] = {
	{ "report", ls_cmd_report, ls_report_usage,
	  "print the findings of traces as text, JSON, SARIF or JUnit XML" },
	{ "check", ls_cmd_check, ls_check_usage,
	  "the CI gate: exit 1 when a finding fails, 0 when none does" },
	{ "run", ls_cmd_run, ls_run_usage,
	  "run a command under the shim, then report on its traces" },
	{ "stats", ls_cmd_stats, ls_stats_usage,
	  "per callback site: count, p50, p99, max and total time" },
	{ "export", ls_cmd_export, ls_export_usage,
	  "write a timeline for Perfetto UI / chrome://tracing" },
	{ "top", ls_cmd_top, ls_top_usage,
	  "a live view of a running traced process (--once: a snapshot)" },
};

static void usage(FILE *out)
{
	fputs("usage: loopsan COMMAND [OPTIONS] [ARGS...]\n"
	      "       loopsan help [COMMAND]\n"
	      "\n"
	      "loopsan is a runtime sanitizer and tracer for event-loop programs.\n"
	      "LD_PRELOAD=libloopsan.so PROGRAM writes loopsan.<pid>.trace; these\n"
	      "commands read such traces.\n"
	      "\n"
	      "commands:\n", out);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\n"
	      "options:\n"
	      "  -h, --help     show this help; loopsan help COMMAND (or loopsan\n"
	      "                 COMMAND --help) for a command's\n"
	      "  --version      show the version\n"
	      "\n"
	      "environment:\n"
	      "  LOOPSAN_OPTIONS     the shim's settings, key=value pairs separated\n"
	      "                      by ':', ',' or spaces, e.g.\n"
	      "                      slow_callback_ms=50:dir=/tmp/traces; help=1 lists\n"
	      "                      them on the program's stderr\n"
	      "  LOOPSAN_LIB         the shim run preloads (default: the one\n"
	      "                      installed with loopsan, ../lib/loopsan/ from\n"
	      "                      the binary, else libloopsan.so beside it); a\n"
	      "                      relative path is taken from the working directory\n"
	      "  LOOPSAN_DEBUG_PATH  directories (':'-separated) searched for\n"
	      "                      separate debug files before /usr/lib/debug\n"
	      "  LOOPSAN_RUN_NOTES   set by run for the shim: where it leaves the\n"
	      "                      reason it could not write a trace\n"
	      "  NO_COLOR            when not empty, --color auto means no color;\n"
	      "                      so does TERM=dumb\n"
	      "\n"
	      "exit status: 0 ok, 2 usage error or bad trace file;\n"
	      "check: 1 when a finding fails the gate;\n"
	      "run: the command's own status (128+N when killed by signal N); with\n"
	      "--fail, 66 (or --fail=CODE) when it exited 0 with unsuppressed findings.\n",
	      out);
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* loopsan help [COMMAND]: the same text as loopsan [COMMAND] --help. */
static int help(int argc, char **argv)
{
	if (argc < 2) {
		usage(stdout);
		return LS_EXIT_OK;
	}
	const struct command *c = find_command(argv[1]);
	if (!c) {
		ls_error("help: unknown command '%s' (see loopsan --help)", argv[1]);
		return LS_EXIT_USAGE;
	}
	if (argc > 2) {
		ls_error("help: one command at a time ('%s' too many)", argv[2]);
		return LS_EXIT_USAGE;
	}
	c->usage(stdout);
	return LS_EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		ls_error("no command given (see loopsan --help)");
		return LS_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return LS_EXIT_OK;
	}
	if (strcmp(cmd, "help") == 0)
		return help(argc - 1, argv + 1);
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("loopsan %s (trace format %u)\n", LOOPSAN_VERSION,
		       LS_FORMAT_VERSION);
		return LS_EXIT_OK;
	}
	const struct command *c = find_command(cmd);
	if (c)
		return c->run(argc - 1, argv + 1);
	if (cmd[0] == '-')
		ls_error("unknown option '%s' (see loopsan --help)", cmd);
	else
		ls_error("unknown command '%s' (see loopsan --help)", cmd);
	return LS_EXIT_USAGE;
}
