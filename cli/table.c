/* Tables for people (table.h). */
#include "table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../common/util.h"

#define CELL_MAX_DEFAULT 40
#define LAST_MIN         12 /* the last column never shrinks below this for the terminal */

struct ctl_table {
	size_t ncols, nrows, cap;
	size_t max[CTL_TABLE_COLS], width[CTL_TABLE_COLS];
	char **cells; /* nrows * ncols, row 0 the titles */
};

/* The length in bytes of the character at s (1 for an invalid byte). */
static size_t char_len(const char *s)
{
	size_t n = cx_utf8_seq_len((const unsigned char *)s, strnlen(s, 4));

	return n ? n : 1;
}

size_t ctl_text_width(const char *s)
{
	size_t w = 0;

	while (*s) {
		s += char_len(s);
		w++;
	}
	return w;
}

/* s made printable on one line and cut to at most max characters ("..." ends a cut one). */
static char *cell_new(const char *s, size_t max)
{
	size_t len = strlen(s), w = 0, n, used = 0, keep;
	char *out = malloc(len + 4);

	if (!out)
		return NULL;
	keep = ctl_text_width(s) > max ? (max > 3 ? max - 3 : max) : max;
	while (*s && w < keep) {
		n = char_len(s);
		if (n == 1 &&
		    ((unsigned char)*s < 0x20 || *s == 0x7f || (unsigned char)*s >= 0x80)) {
			out[used++] = (unsigned char)*s >= 0x80 ? '?' : ' ';
		} else {
			memcpy(out + used, s, n);
			used += n;
		}
		s += n;
		w++;
	}
	if (*s && max > 3) {
		memcpy(out + used, "...", 3);
		used += 3;
	}
	out[used] = '\0';
	return out;
}

struct ctl_table *ctl_table_new(size_t ncols, const char *const *titles, const size_t *max)
{
	struct ctl_table *t;

	if (!ncols || ncols > CTL_TABLE_COLS)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++)
		t->max[i] = max && max[i] ? max[i] : CELL_MAX_DEFAULT;
	if (ctl_table_add(t, titles)) {
		ctl_table_free(t);
		return NULL;
	}
	return t;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	char **grown;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
		if (!grown)
			return -1;
		t->cells = grown;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char **slot = &t->cells[t->nrows * t->ncols + i];
		*slot = cell_new(cells[i] ? cells[i] : "-", t->max[i]);
		if (!*slot) {
			while (i--)
				free(t->cells[t->nrows * t->ncols + i]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

/* The terminal's width when f is one, else 0. */
static size_t term_width(FILE *f)
{
	struct winsize ws;

	if (!isatty(fileno(f)) || ioctl(fileno(f), TIOCGWINSZ, &ws) || !ws.ws_col)
		return 0;
	return ws.ws_col;
}

static bool colour(FILE *f)
{
	const char *term = getenv("TERM");

	return isatty(fileno(f)) && !getenv("NO_COLOR") && term && strcmp(term, "dumb");
}

/* Column widths; on a terminal the last column is cut to what is left of the line. */
static void measure(struct ctl_table *t, FILE *f)
{
	size_t used = 0, cols = term_width(f), last = t->ncols - 1;

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			size_t w = ctl_text_width(t->cells[r * t->ncols + i]);
			if (w > t->width[i])
				t->width[i] = w;
		}
	for (size_t i = 0; i < last; i++)
		used += t->width[i] + 2;
	if (cols && used + LAST_MIN < cols && used + t->width[last] > cols) {
		t->width[last] = cols - used - 1;
		for (size_t r = 0; r < t->nrows; r++) {
			char **c = &t->cells[r * t->ncols + last];
			char *cut = cell_new(*c, t->width[last]);
			if (cut) {
				free(*c);
				*c = cut;
			}
		}
	}
}

void ctl_table_print(struct ctl_table *t, FILE *f)
{
	bool bold;

	if (!t)
		return;
	bold = colour(f);
	measure(t, f);
	for (size_t r = 0; r < t->nrows; r++) {
		if (!r && bold)
			fputs("\033[1m", f);
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			bool last = i + 1 == t->ncols;
			fputs(s, f);
			for (size_t w = ctl_text_width(s); !last && w < t->width[i] + 2; w++)
				fputc(' ', f);
		}
		if (!r && bold)
			fputs("\033[0m", f);
		fputc('\n', f);
	}
	ctl_table_free(t);
}

void ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
