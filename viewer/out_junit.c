/* loopsan report --format junit: JUnit XML, one test case per process and
 * one failure per finding, so that CI systems list findings with no glue.
 *
 * Everything that comes from a trace is escaped: markup characters as
 * entities, and what XML 1.0 cannot hold at all (control characters,
 * invalid UTF-8) as the visible text \xNN. */
#include "viewer/commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t min, c;
	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, min = 0x80, c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, min = 0x800, c = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, min = 0x10000, c = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
	    c == 0xfffe || c == 0xffff)
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

static void failure(FILE *out, const struct ls_report *r, const struct ls_finding *fi)
{
	size_t hlen, blen;
	char *head = render(ls_report_print_headline, r, fi, &hlen);
	char *body = render(ls_report_print_finding, r, fi, &blen);
	fputs("      <failure type=\"", out);
	xml_str(out, ls_finding_kind_name(fi->kind), 1);
	fputs("\" message=\"", out);
	xml_escape(out, head, hlen, 1);
	fputs("\">", out);
	xml_escape(out, body, blen, 0);
	fputs("</failure>\n", out);
	free(head);
	free(body);
}

static void notes(FILE *out, const struct ls_trace *t)
{
	size_t len = 0;
	char *buf = NULL;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return;
	ls_report_print_notes(m, t);
	fclose(m);
	if (len) {
		fputs("      <system-err>", out);
		xml_escape(out, buf, len, 0);
		fputs("</system-err>\n", out);
	}
	free(buf);
}

static void testcase(FILE *out, const struct ls_report *r, const struct ls_trace *t)
{
	char name[64];
	fputs("    <testcase classname=\"loopsan\" name=\"", out);
	xml_str(out, ls_basename(t->exe), 1);
	snprintf(name, sizeof(name), "[%" PRIu64 "]", t->pid);
	fputs(name, out);
	fputs("\">\n", out);
	for (size_t i = 0; i < ls_findings_count(&r->findings); i++) {
		const struct ls_finding *fi = ls_finding_at(&r->findings, i);
		if (fi->trace == t)
			failure(out, r, fi);
	}
	notes(out, t);
	fputs("    </testcase>\n", out);
}

int ls_report_print_junit(FILE *out, const struct ls_report *r)
{
	size_t failures = ls_findings_count(&r->findings);
	ls_color_set(0);
	for (size_t i = 0; i < r->ntraces; i++)
		ls_report_print_notes(stderr, r->traces[i]);
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
	fprintf(out, "<testsuites name=\"loopsan\" tests=\"%zu\" failures=\"%zu\">\n",
		r->ntraces, failures);
	fprintf(out, "  <testsuite name=\"loopsan\" tests=\"%zu\" failures=\"%zu\" "
		"errors=\"0\" skipped=\"0\">\n", r->ntraces, failures);
	for (size_t i = 0; i < r->ntraces; i++)
		testcase(out, r, r->traces[i]);
	fputs("  </testsuite>\n</testsuites>\n", out);
	return ferror(out) ? -1 : 0;
}
