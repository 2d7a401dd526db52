/* peakrss [VAR=VALUE...] CMD [ARG...]: runs CMD with those variables added
 * to its environment (not peakrss's: LD_PRELOAD given so loads nothing
 * into this process) and prints its peak RSS in KiB on stderr
 * ("peakrss_kb=N"), then exits with its status. A child's ru_maxrss also
 * counts the memory of the process it was forked from (Linux keeps the
 * high-water mark across exec), so bench/memory.py starts programs from
 * this small process, not from Python. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int cmd = 1;
	while (cmd < argc && strchr(argv[cmd], '=') != NULL)
		cmd++;
	if (cmd >= argc) {
		fprintf(stderr, "usage: peakrss [VAR=VALUE...] CMD [ARG...]\n");
		return 2;
	}
	pid_t pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		for (int i = 1; i < cmd; i++)
			putenv(argv[i]);
		execvp(argv[cmd], argv + cmd);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) != pid)
		return 2;
	fprintf(stderr, "peakrss_kb=%ld\n", ru.ru_maxrss);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
