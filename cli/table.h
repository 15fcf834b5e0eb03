/* Aligned text tables for a terminal, and the cleaning of text that came
 * from outside (node ids, labels, probe errors, file paths reach us from
 * agents through the server).
 *
 * Column widths are computed from the data in display columns (UTF-8 aware,
 * wide East Asian characters count two), each capped by the column's
 * max_width: longer cells end in "…". Control characters, invalid UTF-8 and
 * bidirectional overrides become '?', so no cell can move the cursor, change
 * colours or reorder what the operator reads. Errors are sticky: after the
 * first failure every call is a no-op and table_render() returns it. */
#ifndef ACGS_CLI_TABLE_H
#define ACGS_CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define TABLE_MAX_COLS 16
/* Cells are cut here even without a column cap (a 1 MiB label stays a
 * table). */
#define TABLE_CELL_MAX 512
/* Rows at most: a table is for reading; scripts use --json. */
#define TABLE_MAX_ROWS 1000000

enum table_align {
	TABLE_LEFT,
	TABLE_RIGHT,
};

struct table_col {
	const char *title;
	enum table_align align;
	size_t max_width; /* display columns, 0 for TABLE_CELL_MAX */
	size_t width;	  /* computed */
};

struct table {
	struct table_col cols[TABLE_MAX_COLS];
	size_t ncols;
	bool no_header; /* a key: value block */
	char **cells;	/* nrows * ncols, cleaned copies */
	size_t ncells, cap;
	int err;
};

void table_init(struct table *t);

/* Free the cells; the table may be initialised again. */
void table_release(struct table *t);

/* Add a column (before any cell). title is not copied. */
void table_col(struct table *t, const char *title, enum table_align align,
	       size_t max_width);

/* The next cell, left to right, then row by row; NULL is shown as "-". */
void table_cell(struct table *t, const char *s);
void table_cellf(struct table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Rows added so far (a partial row counts). */
size_t table_rows(const struct table *t);

/* Append the table to out: a header line of titles unless no_header, then
 * one line per row; two spaces between columns, no trailing blanks. Returns
 * 0, -EINVAL (the last row is incomplete), -E2BIG or -ENOMEM. */
int table_render(struct table *t, struct buf *out);

/* Append s to out cleaned as a cell is (see above) and cut to max_width
 * display columns (0: no cut). Returns 0 or a negative errno from buf. */
int table_clean(struct buf *out, const char *s, size_t max_width);

/* Display columns of s, which must be clean (table_clean's output). */
size_t table_width(const char *s);

#endif
