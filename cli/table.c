#include "config.h"

#include "table.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "utf8.h"

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column */

/* Characters that would act on the terminal or reorder the text around
 * them (Trojan Source): shown as '?'. */
static bool unsafe(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x061c ||
	       (c >= 0x200e && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069);
}

/* Display columns of a safe code point, without the locale (wcwidth would
 * make the layout depend on LC_CTYPE): combining marks and zero-width
 * characters take none, East Asian wide and emoji ranges two. */
static size_t cp_width(uint32_t c)
{
	static const uint32_t zero[][2] = {
		{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd },
		{ 0x200b, 0x200d }, { 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f },
		{ 0xfe20, 0xfe2f }, { 0xfeff, 0xfeff },
	};
	static const uint32_t wide[][2] = {
		{ 0x1100, 0x115f },   { 0x2e80, 0x303e },
		{ 0x3041, 0x33ff },   { 0x3400, 0x4dbf },
		{ 0x4e00, 0x9fff },   { 0xa000, 0xa4cf },
		{ 0xac00, 0xd7a3 },   { 0xf900, 0xfaff },
		{ 0xfe30, 0xfe4f },   { 0xff00, 0xff60 },
		{ 0xffe0, 0xffe6 },   { 0x1f300, 0x1f64f },
		{ 0x1f900, 0x1f9ff }, { 0x20000, 0x2fffd },
		{ 0x30000, 0x3fffd },
	};
	for (size_t i = 0; i < ARRAY_SIZE(zero); i++)
		if (c >= zero[i][0] && c <= zero[i][1])
			return 0;
	for (size_t i = 0; i < ARRAY_SIZE(wide); i++)
		if (c >= wide[i][0] && c <= wide[i][1])
			return 2;
	return 1;
}

size_t table_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), w = 0;

	while (n) {
		uint32_t c;
		size_t len = utf8_decode(p, n, &c);
		if (!len)
			len = 1, c = '?';
		w += cp_width(c);
		p += len;
		n -= len;
	}
	return w;
}

int table_clean(struct buf *out, const char *s, size_t max_width)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), used = 0, cut = SIZE_MAX;
	int r = 0;

	/* One pass that stops as soon as the text is known too wide: cut it
	 * where one column for the ellipsis was still free. */
	while (n && !r) {
		uint32_t c;
		size_t len = utf8_decode(p, n, &c);
		bool bad = !len || unsafe(c);
		size_t w = bad ? 1 : cp_width(c);

		if (max_width && cut == SIZE_MAX && used + w > max_width - 1)
			cut = out->len;
		if (max_width && used + w > max_width) {
			buf_truncate(out, cut);
			return buf_puts(out, ELLIPSIS);
		}
		r = bad ? buf_append(out, "?", 1) : buf_append(out, p, len);
		used += w;
		len = len ? len : 1;
		p += len;
		n -= len;
	}
	return r;
}

void table_init(struct table *t)
{
	memset(t, 0, sizeof(*t));
}

void table_release(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	table_init(t);
}

void table_col(struct table *t, const char *title, enum table_align align,
	       size_t max_width)
{
	if (t->err)
		return;
	if (t->ncols == TABLE_MAX_COLS || t->ncells) {
		t->err = -EINVAL;
		return;
	}
	if (!max_width || max_width > TABLE_CELL_MAX)
		max_width = TABLE_CELL_MAX;
	t->cols[t->ncols++] = (struct table_col){
		.title = title,
		.align = align,
		.max_width = max_width,
		.width = t->no_header ? 0 : table_width(title),
	};
}

void table_cell(struct table *t, const char *s)
{
	struct buf b;

	if (t->err)
		return;
	if (!t->ncols || t->ncells / t->ncols >= TABLE_MAX_ROWS) {
		t->err = t->ncols ? -E2BIG : -EINVAL;
		return;
	}
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **cells = realloc(t->cells, cap * sizeof(*cells));
		if (!cells) {
			t->err = -ENOMEM;
			return;
		}
		t->cells = cells;
		t->cap = cap;
	}
	struct table_col *col = &t->cols[t->ncells % t->ncols];
	buf_init(&b, TABLE_CELL_MAX * 4 + 8);
	int r = table_clean(&b, s ? s : "-", col->max_width);
	if (r == 0 && !b.data)
		r = buf_puts(&b, "");
	if (r < 0) {
		buf_release(&b);
		t->err = r;
		return;
	}
	size_t w = table_width(b.data);
	if (w > col->width)
		col->width = w;
	t->cells[t->ncells++] = b.data;
}

void table_cellf(struct table *t, const char *fmt, ...)
{
	char text[TABLE_CELL_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	table_cell(t, text);
}

size_t table_rows(const struct table *t)
{
	return t->ncols ? (t->ncells + t->ncols - 1) / t->ncols : 0;
}

static int pad(struct buf *out, size_t n)
{
	static const char spaces[] = "                                ";
	int r = 0;

	while (n && !r) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
		r = buf_append(out, spaces, k);
		n -= k;
	}
	return r;
}

static int render_line(struct table *t, const char *const *cells,
		       struct buf *out)
{
	int r = 0;

	for (size_t i = 0; i < t->ncols && !r; i++) {
		const struct table_col *col = &t->cols[i];
		size_t w = table_width(cells[i]);
		size_t gap = col->width > w ? col->width - w : 0;
		bool last = i + 1 == t->ncols;

		if (i)
			r = pad(out, 2);
		if (!r && col->align == TABLE_RIGHT)
			r = pad(out, gap);
		if (!r)
			r = buf_puts(out, cells[i]);
		if (!r && col->align == TABLE_LEFT && !last)
			r = pad(out, gap);
	}
	/* A trailing empty cell leaves blanks that no one wants. */
	while (!r && out->len && out->data[out->len - 1] == ' ')
		buf_truncate(out, out->len - 1);
	return r ? r : buf_append(out, "\n", 1);
}

int table_render(struct table *t, struct buf *out)
{
	const char *titles[TABLE_MAX_COLS];
	int r = 0;

	if (t->err)
		return t->err;
	if (!t->ncols || t->ncells % t->ncols)
		return -EINVAL;
	if (!t->no_header) {
		for (size_t i = 0; i < t->ncols; i++)
			titles[i] = t->cols[i].title;
		r = render_line(t, titles, out);
	}
	for (size_t row = 0; !r && row < t->ncells / t->ncols; row++)
		r = render_line(
		    t, (const char *const *)t->cells + row * t->ncols, out);
	return r;
}
