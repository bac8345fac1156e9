/* Tables for people: aligned columns, long cells cut short with "...", control characters
 * shown as spaces; a bold header only on a terminal that allows colour ($NO_COLOR unset,
 * $TERM not "dumb"). */
#ifndef CX_CTL_TABLE_H
#define CX_CTL_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define CTL_TABLE_COLS 8

struct ctl_table;

/* ncols column titles; max[i] the widest a cell of column i may be (0: the default, 40).
 * The last column also gives way to the terminal's width on a terminal. NULL on out of
 * memory. */
struct ctl_table *ctl_table_new(size_t ncols, const char *const *titles, const size_t *max);
/* One row of ncols cells (copied; NULL cells print as "-"). 0, or -1 on out of memory. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Prints the header and rows to f, then frees t. */
void ctl_table_print(struct ctl_table *t, FILE *f);
void ctl_table_free(struct ctl_table *t);

/* The display width of s in code points (invalid bytes count one each). */
size_t ctl_text_width(const char *s);

#endif
