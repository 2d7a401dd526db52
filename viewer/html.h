/* The pieces of the HTML report (loopsan report --format html): the page
 * and its sections (out_html.c), the timeline's data (html_timeline.c),
 * and the page's style and script (html_assets.c). */
#ifndef LOOPSAN_VIEWER_HTML_H
#define LOOPSAN_VIEWER_HTML_H

#include <stdio.h>

#include "viewer/commands.h"

/* s as HTML text, safe in an element and in a quoted attribute: markup
 * characters as entities, bytes that are not UTF-8 and control
 * characters as U+FFFD. */
void ls_html_text(FILE *out, const char *s);
/* s as valid UTF-8 (bad bytes as U+FFFD), newly allocated: what jansson
 * takes. */
char *ls_html_utf8(const char *s);

/* The timeline: which callbacks are drawn one by one and which only
 * counted in time bins (docs/HTML-REPORT.md, "Decimation"). Built before
 * the page is written, since the summary tells what it holds. */
struct ls_html_tl;
struct ls_html_tl *ls_html_tl_build(const struct ls_report *r);
void ls_html_tl_free(struct ls_html_tl *tl);
/* The end of the last callback of trace i of the report, in its ns; 0
 * when it has none. */
double ls_html_tl_last_ns(const struct ls_html_tl *tl, size_t i);
/* <li> notes on what the timeline leaves out, if anything. */
void ls_html_tl_notes(FILE *out, const struct ls_html_tl *tl);
/* The timeline's section: its canvas and its data as JSON. */
void ls_html_tl_write(FILE *out, const struct ls_html_tl *tl);

extern const char ls_html_css[];
extern const char ls_html_js[];

#endif
