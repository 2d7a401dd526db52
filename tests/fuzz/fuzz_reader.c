/* libFuzzer target for the trace reader and everything downstream of it.
 *
 * Each input is a trace file: it is written to a memfd and read back through
 * /proc/self/fd/N with ls_trace_read(), the viewer's own entry point. When the
 * reader accepts it, the input goes through the whole report pipeline as
 * `loopsan report` and `loopsan stats` run it: symbolization (modules named in
 * the trace are opened, as the real viewer does), findings with and without a
 * --slow-ms override, suppressions, the text, JSON, SARIF, JUnit, HTML and
 * stats printers, and `loopsan export --format chrome` (which reads the input
 * again, as the command does, and walks every callback). Text goes to
 * /dev/null; the JSON documents must parse back (and name the one process),
 * whatever bytes the trace's strings hold. Everything is freed, so that
 * LeakSanitizer sees a leak as a bug, and every file descriptor closed: the
 * lowest free one must not creep up from input to input.
 *
 * Built and run by `make fuzz` / `make fuzz-smoke` (see the Makefile), linked
 * with every viewer object except main.o and cmd_stats.o: cmd_stats.c is
 * compiled into this file, since its print functions are static. */
#include "viewer/cmd_stats.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int input_fd = -1, export_fd = -1;
static char input_path[64], export_path[64];
static FILE *devnull;
static struct ls_suppressions supp;
static int lowest_free_fd = -1;

/* Rules that match parts of the seed traces, so that the suppression path
 * runs, without hiding most findings from the printers. */
static const char supp_rules[] =
	"# fuzz_reader's suppressions\n"
	"slow-callback:on_slow_once\n"
	"pending-at-close:*heartbeat*\n"
	"slow-callback:libuv.so*\n";

static void die(const char *what)
{
	perror(what);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	input_fd = memfd_create("fuzz-trace", MFD_CLOEXEC);
	if (input_fd < 0)
		die("memfd_create");
	snprintf(input_path, sizeof(input_path), "/proc/self/fd/%d", input_fd);
	export_fd = memfd_create("fuzz-export", MFD_CLOEXEC);
	if (export_fd < 0)
		die("memfd_create");
	snprintf(export_path, sizeof(export_path), "/proc/self/fd/%d", export_fd);
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		die("/dev/null");

	int sfd = memfd_create("fuzz-supp", MFD_CLOEXEC);
	char spath[64];
	if (sfd < 0 || write(sfd, supp_rules, sizeof(supp_rules) - 1) !=
			       (ssize_t)(sizeof(supp_rules) - 1))
		die("suppressions memfd");
	snprintf(spath, sizeof(spath), "/proc/self/fd/%d", sfd);
	ls_suppressions_init(&supp);
	if (ls_suppressions_load(&supp, spath) != 0)
		abort();
	close(sfd);
	return 0;
}

static void set_input(const uint8_t *data, size_t size)
{
	if (ftruncate(input_fd, 0) != 0)
		die("ftruncate");
	size_t off = 0;
	while (off < size) {
		ssize_t n = pwrite(input_fd, data + off, size - off, (off_t)off);
		if (n <= 0)
			die("pwrite");
		off += (size_t)n;
	}
}

/* A JSON document of the viewer must parse, and hold key, an array with
 * one item per trace when nprocs >= 0. */
static void check_json(const char *what, const char *buf, size_t len,
		       const char *key, long nprocs)
{
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, 0, &jerr);
	if (!doc) {
		fprintf(stderr, "fuzz_reader: %s: not JSON: %s (line %d)\n", what,
			jerr.text, jerr.line);
		abort();
	}
	json_t *a = json_object_get(doc, key);
	if (!a || (nprocs >= 0 && (long)json_array_size(a) != nprocs)) {
		fprintf(stderr, "fuzz_reader: %s: \"%s\" is missing or has %zu items, not %ld\n",
			what, key, json_array_size(a), nprocs);
		abort();
	}
	json_decref(doc);
}

/* Prints with fn into memory and checks the document. */
static void json_output(const char *what, int (*fn)(FILE *, const struct ls_report *),
			const struct ls_report *r, const char *key, long nprocs)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		die("open_memstream");
	fn(m, r);
	fclose(m);
	check_json(what, buf, len, key, nprocs);
	free(buf);
}

/* `loopsan stats`, both formats, with the report's symbolizer. */
static void stats(const struct ls_report *r)
{
	struct ls_vec rows = { .item_size = sizeof(struct ls_site_row) };
	for (size_t i = 0; i < r->ntraces; i++)
		ls_site_rows_collect(&rows, r->traces[i], r->syms[i]);
	ls_site_rows_sort(&rows);
	print_text(devnull, &rows, r);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		die("open_memstream");
	print_json(m, &rows, r);
	fclose(m);
	check_json("stats --format json", buf, len, "processes", (long)r->ntraces);
	check_json("stats --format json", buf, len, "sites", (long)rows.len);
	free(buf);
	ls_vec_free(&rows);
}

/* The HTML page: whatever the trace's strings hold, the markup around
 * them must stay whole, so the page ends as it began and its JSON (the
 * timeline's data) parses back. */
static void html(const struct ls_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		die("open_memstream");
	ls_report_print_html(m, r);
	fclose(m);
	static const char open_tag[] = "<script type=\"application/json\" id=\"tl-data\">";
	const char *json = strstr(buf, open_tag), *end = json ? strstr(json, "</script>") : NULL;
	if (strncmp(buf, "<!DOCTYPE html>", 15) != 0 || !end ||
	    len < 8 || strcmp(buf + len - 8, "</html>\n") != 0) {
		fprintf(stderr, "fuzz_reader: report --format html: the page is not whole\n");
		abort();
	}
	json += sizeof(open_tag) - 1;
	check_json("report --format html (timeline data)", json, (size_t)(end - json), "rows", -1);
	free(buf);
}

/* Every callback counted as slow: the findings code on all the runs, with
 * the --slow-ms note. */
static void findings_low_threshold(const struct ls_report *r)
{
	struct ls_findings f;
	struct ls_findings_options opt = { .slow_ms = 1e-6 };
	ls_findings_init(&f);
	for (size_t i = 0; i < r->ntraces; i++)
		ls_findings_collect(&f, r->traces[i], &opt);
	ls_findings_sort(&f);
	ls_report_note_slow_ms(r, &opt);
	ls_findings_free(&f);
}

/* A descriptor leaked by the reader or the symbolizer takes the lowest
 * free number, so that number grows; a few spares allow for libraries that
 * open one for good (the first time). */
static void check_fds(void)
{
	int fd = dup(STDERR_FILENO);
	if (fd < 0)
		die("dup");
	close(fd);
	if (lowest_free_fd < 0)
		lowest_free_fd = fd;
	if (fd > lowest_free_fd + 8) {
		fprintf(stderr, "fuzz_reader: file descriptors leak (%d free at first, now %d)\n",
			lowest_free_fd, fd);
		abort();
	}
}

/* `loopsan export --format chrome -o OUT INPUT`, OUT a memfd whose JSON
 * must parse back. */
static void export_chrome(void)
{
	char *argv[] = { "export", "--format", "chrome", "-o", export_path,
			 input_path, NULL };
	if (ftruncate(export_fd, 0) != 0)
		die("ftruncate");
	if (ls_cmd_export(6, argv) != LS_EXIT_OK)
		abort(); /* the reader accepted the input a moment ago */
	struct stat st;
	if (fstat(export_fd, &st) != 0)
		die("fstat");
	char *buf = ls_xmalloc((size_t)st.st_size + 1);
	if (pread(export_fd, buf, (size_t)st.st_size, 0) != st.st_size)
		die("pread");
	check_json("export --format chrome", buf, (size_t)st.st_size, "traceEvents", -1);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	set_input(data, size);
	struct ls_trace *t = ls_trace_read(input_path, err, sizeof(err));
	if (!t) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort(); /* the reason must be a C string */
		check_fds();
		return 0;
	}
	(void)ls_trace_complete(t);

	struct ls_report r;
	memset(&r, 0, sizeof(r));
	ls_findings_init(&r.findings);
	ls_report_add(&r, t); /* the report owns t now */
	struct ls_findings_options opt = { .slow_ms = -1, .suppressions = &supp };
	ls_report_finish(&r, &opt);

	ls_color_set(1);
	ls_report_print_text(devnull, &r);
	ls_color_set(0);
	ls_report_print_text(devnull, &r);
	json_output("report --format json", ls_report_print_json, &r, "processes",
		    (long)r.ntraces);
	json_output("report --format sarif", ls_report_print_sarif, &r, "runs", 1);
	ls_report_print_junit(devnull, &r);
	html(&r);
	ls_report_print_suppressed(devnull, &r);
	for (size_t i = 0; i < ls_findings_count(&r.findings); i++) {
		const struct ls_finding *fi = ls_finding_at(&r.findings, i);
		if (fi->kind == LS_FINDING_SLOW_CALLBACK ||
		    fi->kind == LS_FINDING_PENDING_AT_CLOSE)
			(void)ls_finding_location(&r, fi);
	}
	stats(&r);
	findings_low_threshold(&r);
	fflush(devnull);

	ls_report_free(&r);
	export_chrome();
	check_fds();
	return 0;
}
