/* loopsan report --format junit: JUnit XML that CI systems list findings
 * from with no glue, and keep a history of: one test case per finding site,
 * named the same in every run (kind, callback, site; never a pid), failing
 * with the finding's headline and stacks; and one passing test case per
 * process, so that a clean run is a suite of passed tests, not an empty one.
 * Valid against Jenkins' junit-10.xsd and Ant's JUnit.xsd (tests/schemas/).
 *
 * Everything that comes from a trace is escaped: markup characters as
 * entities, and what XML 1.0 cannot hold at all (control characters,
 * invalid UTF-8) as the visible text \xNN. */
#include "viewer/commands.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tracer/format.h"

/* Length of the UTF-8 sequence at p (at most n bytes) XML allows, 0 if
 * none: a valid one, but not the non-characters U+FFFE and U+FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len = ls_utf8_len(p, n);
	if (len == 3 && p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))
		return 0;
	return len;
}

/* attr: also newlines and tabs as character references, which attribute
 * normalization would otherwise turn into spaces. */
static void xml_escape(FILE *out, const char *s, size_t n, int attr)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		size_t len = utf8_len(p, (size_t)(end - p));
		switch (len == 1 ? *p : 0x100) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		case '\n': fputs(attr ? "&#10;" : "\n", out); break;
		case '\t': fputs(attr ? "&#9;" : "\t", out); break;
		case '\r': fputs("&#13;", out); break;
		default:
			if (len == 0 || (len == 1 && *p < 0x20)) {
				fprintf(out, "\\x%02x", *p);
				len = 1;
			} else {
				fwrite(p, 1, len, out);
			}
		}
		p += len ? len : 1;
	}
}

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xfmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? ls_xstrdup("") : s;
}

/* Copies a NUL-terminated string of at most n bytes into dst[n + 1]. */
static void copy_field(char *dst, const char *src, size_t n)
{
	size_t len = strnlen(src, n);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void xml_str(FILE *out, const char *s, int attr)
{
	xml_escape(out, s, strlen(s), attr);
}

/* Renders fn(r, fi) into a string, colorless. */
static char *render(void (*fn)(FILE *, const struct ls_report *,
			       const struct ls_finding *),
		    const struct ls_report *r, const struct ls_finding *fi,
		    size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);
	if (!m) {
		*len = 0;
		return ls_xstrdup("");
	}
	fn(m, r, fi);
	fclose(m);
	return buf;
}

/* The trace's header as the shim wrote it (the reader checked its size). */
static struct ls_file_header header_of(const struct ls_trace *t)
{
	struct ls_file_header h;
	memcpy(&h, t->map, sizeof(h));
	return h;
}

/* The program a trace is of, as a classname: the executable's name, or
 * for a Python interpreter the script it ran ("python3.11 app.py": app.py).
 * Dots become '_', since CI tools read a classname's dots as packages;
 * "loopsan." in front groups every program under one package. */
static char *classname_of(const struct ls_trace *t)
{
	struct ls_file_header h = header_of(t);
	const char *name = ls_basename(t->exe);
	uint32_t len = h.cmdline_len < sizeof(h.cmdline) ? h.cmdline_len : sizeof(h.cmdline);
	char script[sizeof(h.cmdline) + 1];

	if (!strncmp(name, "python", 6)) {
		size_t arg0 = strnlen(h.cmdline, len);
		if (arg0 + 1 < len && h.cmdline[arg0 + 1] != '-') {
			copy_field(script, h.cmdline + arg0 + 1, len - arg0 - 1);
			if (script[0])
				name = ls_basename(script);
		}
	}
	char *c = xfmt("loopsan.%s", name[0] ? name : "unknown");
	for (char *p = c + 8; *p; p++)
		if (*p == '.')
			*p = '_';
	return c;
}

/* A finding's site, the same from run to run: its kind, callback (or the
 * call it is about) and where it was registered or made; no pid, no
 * duration, no address that moves with ASLR. */
static char *site_name(const struct ls_report *r, const struct ls_finding *fi)
{
	char cb[256], where[512] = "";
	const char *verb = "created";
	const struct ls_frame *f = ls_finding_location(r, fi);

	ls_finding_callback(cb, sizeof(cb), ls_report_symbolizer(r, fi->trace), fi);
	if (!cb[0] && fi->has_api)
		snprintf(cb, sizeof(cb), "%s", ls_api_name(fi->api));
	ls_finding_location_stack(fi, &verb);
	if (f && f->file && f->line > 0)
		snprintf(where, sizeof(where), " (%s at %s:%d)", verb, ls_basename(f->file),
			 f->line);
	else if (f && f->function)
		snprintf(where, sizeof(where), " (%s in %s)", verb, f->function);
	return xfmt("%s: %s%s", ls_finding_kind_name(fi->kind), cb[0] ? cb : "-", where);
}

/* One test case per finding site: findings of the same site (in
 * several processes of a program, or several handles made at one line)
 * are one failure whose text holds each one's block. */
struct site_case {
	char *classname, *name;
	const struct ls_finding *first;
	char *text;
	size_t text_len;
	FILE *m;
};

static size_t collect_cases(const struct ls_report *r, struct site_case **out)
{
	size_t n = ls_findings_count(&r->findings), ncases = 0;
	struct site_case *cases = ls_xmalloc((n ? n : 1) * sizeof(*cases));

	for (size_t i = 0; i < n; i++) {
		const struct ls_finding *fi = ls_finding_at(&r->findings, i);
		char *cls = classname_of(fi->trace), *name = site_name(r, fi);
		size_t k = 0;
		while (k < ncases && (strcmp(cases[k].classname, cls) || strcmp(cases[k].name, name)))
			k++;
		if (k == ncases) {
			cases[k] = (struct site_case){ .classname = cls, .name = name, .first = fi };
			cases[k].m = open_memstream(&cases[k].text, &cases[k].text_len);
			ncases++;
		} else {
			free(cls);
			free(name);
			if (cases[k].m)
				fputc('\n', cases[k].m);
		}
		if (cases[k].m)
			ls_report_print_finding(cases[k].m, r, fi);
	}
	for (size_t k = 0; k < ncases; k++) {
		if (cases[k].m)
			fclose(cases[k].m);
		else
			cases[k].text = ls_xstrdup("");
	}
	*out = cases;
	return ncases;
}

static void print_case(FILE *out, const struct ls_report *r, const struct site_case *c)
{
	size_t hlen;
	char *head = render(ls_report_print_headline, r, c->first, &hlen);

	fputs("    <testcase classname=\"", out);
	xml_str(out, c->classname, 1);
	fputs("\" name=\"", out);
	xml_str(out, c->name, 1);
	fputs("\" time=\"0\">\n      <failure type=\"", out);
	xml_str(out, ls_finding_kind_name(c->first->kind), 1);
	fputs("\" message=\"", out);
	xml_escape(out, head, hlen, 1);
	fputs("\">", out);
	xml_escape(out, c->text, c->text_len, 0);
	fputs("</failure>\n    </testcase>\n", out);
	free(head);
}

/* How long the process ran, in seconds; 0 when it has not exited. */
static double run_seconds(const struct ls_trace *t)
{
	struct ls_file_header h = header_of(t);
	if (!t->exited || h.end_mono_ns < h.start_mono_ns)
		return 0;
	return (double)(h.end_mono_ns - h.start_mono_ns) / 1e9;
}

/* The passing case of each process: it ran under loopsan and its trace
 * was read. Processes of one program are told apart by their order
 * (that of the report: by trace name), never by pid. */
static void process_case(FILE *out, const struct ls_report *r, size_t i)
{
	const struct ls_trace *t = r->traces[i];
	char *cls = classname_of(t);
	size_t nth = 1;

	for (size_t j = 0; j < i; j++) {
		char *other = classname_of(r->traces[j]);
		nth += !strcmp(other, cls);
		free(other);
	}
	fputs("    <testcase classname=\"", out);
	xml_str(out, cls, 1);
	fputs("\" name=\"traced", out);
	if (nth > 1)
		fprintf(out, " (process %zu)", nth);
	fprintf(out, "\" time=\"%.3f\"/>\n", run_seconds(t));
	free(cls);
}

/* Which process each trace was, and the notes on incomplete ones: the
 * suite's output, since a test case of Ant's schema holds no output. */
static void suite_output(FILE *out, const struct ls_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	fputs("    <system-out>", out);
	for (size_t i = 0; i < r->ntraces; i++) {
		const struct ls_trace *t = r->traces[i];
		char line[64];
		snprintf(line, sizeof(line), "pid %" PRIu64 ": ", t->pid);
		fputs(line, out);
		xml_str(out, t->exe, 0);
		fputs(", trace ", out);
		xml_str(out, t->path, 0);
		fputc('\n', out);
		if (m)
			ls_report_print_notes(m, t);
	}
	fputs("</system-out>\n    <system-err>", out);
	if (m) {
		fclose(m);
		xml_escape(out, buf, len, 0);
		free(buf);
	}
	fputs("</system-err>\n", out);
}

/* When the first process started (UTC: Ant's schema takes no zone) and
 * how long the report's processes ran together. */
static void suite_times(const struct ls_report *r, char *stamp, size_t n, double *seconds)
{
	uint64_t first = UINT64_MAX;
	*seconds = 0;
	for (size_t i = 0; i < r->ntraces; i++) {
		struct ls_file_header h = header_of(r->traces[i]);
		if (h.start_realtime_ns && h.start_realtime_ns < first)
			first = h.start_realtime_ns;
		*seconds += run_seconds(r->traces[i]);
	}
	time_t secs = first == UINT64_MAX ? time(NULL) : (time_t)(first / 1000000000u);
	struct tm tm;
	if (!gmtime_r(&secs, &tm) || !strftime(stamp, n, "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(stamp, n, "1970-01-01T00:00:00");
}

int ls_report_print_junit(FILE *out, const struct ls_report *r)
{
	struct site_case *cases;
	size_t ncases = collect_cases(r, &cases);
	size_t tests = ncases + r->ntraces;
	char stamp[32], host[256] = "";
	double seconds;

	ls_color_set(0);
	for (size_t i = 0; i < r->ntraces; i++)
		ls_report_print_notes(stderr, r->traces[i]);
	suite_times(r, stamp, sizeof(stamp), &seconds);
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
	/* Ant's schema allows no attribute on testsuites: the counts are the suite's. */
	fputs("<testsuites>\n", out);
	fprintf(out, "  <testsuite name=\"loopsan\" package=\"loopsan\" id=\"0\" tests=\"%zu\" "
		"failures=\"%zu\" errors=\"0\" skipped=\"0\" time=\"%.3f\" timestamp=\"%s\" "
		"hostname=\"", tests, ncases, seconds, stamp);
	xml_str(out, host, 1);
	fputs("\">\n    <properties>\n", out);
	fputs("      <property name=\"loopsan.version\" value=\"" LOOPSAN_VERSION "\"/>\n", out);
	fputs("    </properties>\n", out);
	for (size_t k = 0; k < ncases; k++) {
		print_case(out, r, &cases[k]);
		free(cases[k].classname);
		free(cases[k].name);
		free(cases[k].text);
	}
	free(cases);
	for (size_t i = 0; i < r->ntraces; i++)
		process_case(out, r, i);
	suite_output(out, r);
	fputs("  </testsuite>\n</testsuites>\n", out);
	return ferror(out) ? -1 : 0;
}
