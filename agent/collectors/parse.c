#include "config.h"

#include "parse.h"

#include <errno.h>
#include <string.h>

/* A window [p, end) onto text that is not NUL-terminated. */
struct cur {
	const char *p, *end;
};

static bool cur_line(struct cur *text, struct cur *line)
{
	const char *nl;

	if (text->p >= text->end)
		return false;
	nl = memchr(text->p, '\n', (size_t)(text->end - text->p));
	line->p = text->p;
	line->end = nl ? nl : text->end;
	text->p = nl ? nl + 1 : text->end;
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void cur_skip_blanks(struct cur *c)
{
	while (c->p < c->end && is_blank(*c->p))
		c->p++;
}

/* The next run of non-blank characters; false at the end of the line. */
static bool cur_word(struct cur *c, struct cur *word)
{
	cur_skip_blanks(c);
	if (c->p >= c->end)
		return false;
	word->p = c->p;
	while (c->p < c->end && !is_blank(*c->p))
		c->p++;
	word->end = c->p;
	return true;
}

static size_t cur_len(const struct cur *c)
{
	return (size_t)(c->end - c->p);
}

static bool cur_is(const struct cur *c, const char *s)
{
	size_t n = strlen(s);
	return cur_len(c) == n && memcmp(c->p, s, n) == 0;
}

static bool cur_starts(const struct cur *c, const char *s)
{
	size_t n = strlen(s);
	return cur_len(c) >= n && memcmp(c->p, s, n) == 0;
}

/* Decimal digits after optional blanks; false when there are none or the
 * value does not fit. Stops at the first non-digit. */
static bool cur_u64(struct cur *c, uint64_t *ret)
{
	uint64_t v = 0;
	const char *start;

	cur_skip_blanks(c);
	start = c->p;
	while (c->p < c->end && is_digit(*c->p)) {
		unsigned d = (unsigned)(*c->p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		c->p++;
	}
	if (c->p == start)
		return false;
	*ret = v;
	return true;
}

/* "12" or "12.34": the kernel's fixed-point output, so no exponent, sign or
 * locale (strtod would need a NUL and honour LC_NUMERIC). */
static bool cur_decimal(struct cur *c, double *ret)
{
	uint64_t ip;
	double v, scale = 0.1;

	if (!cur_u64(c, &ip))
		return false;
	v = (double)ip;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (c->p >= c->end || !is_digit(*c->p))
			return false;
		while (c->p < c->end && is_digit(*c->p)) {
			v += (*c->p - '0') * scale;
			scale /= 10;
			c->p++;
		}
	}
	*ret = v;
	return true;
}

/* A number that must be followed by a blank or the end of the line. */
static bool cur_u64_field(struct cur *c, uint64_t *ret)
{
	if (!cur_u64(c, ret))
		return false;
	return c->p >= c->end || is_blank(*c->p);
}

/* cpu times: at least 4 columns (2.4 kernels), at most the 8 we use; the
 * guest columns after them are ignored. */
static bool parse_cpu_times(struct cur *line, struct parse_cpu *cpu)
{
	size_t i;

	memset(cpu->t, 0, sizeof(cpu->t));
	for (i = 0; i < PARSE_CPU_NFIELDS; i++) {
		if (!cur_u64_field(line, &cpu->t[i]))
			break;
	}
	if (i < 4)
		return false;
	/* A partial number or junk after the last column we took. */
	if (i < PARSE_CPU_NFIELDS) {
		cur_skip_blanks(line);
		return line->p >= line->end;
	}
	return true;
}

/* "cpu17" -> 17; the id is bounded so that it is usable as an index. */
static bool parse_cpu_id(const struct cur *word, uint32_t *ret)
{
	struct cur c = { word->p + 3, word->end };
	uint64_t id;

	if (!cur_u64(&c, &id) || c.p != c.end || id > 1000000)
		return false;
	*ret = (uint32_t)id;
	return true;
}

int parse_stat(const char *text, size_t len, struct parse_stat *out,
	       struct parse_cpu *cores, size_t max_cores)
{
	struct cur t = { text, text + len }, line, word;
	bool have_total = false;
	unsigned procs = 0;

	memset(out, 0, sizeof(*out));
	while (cur_line(&t, &line)) {
		if (!cur_word(&line, &word))
			continue;
		if (cur_is(&word, "cpu")) {
			if (have_total || !parse_cpu_times(&line, &out->total))
				out->bad++;
			else
				have_total = true;
		} else if (cur_starts(&word, "cpu")) {
			struct parse_cpu cpu;
			if (!parse_cpu_id(&word, &cpu.id) ||
			    !parse_cpu_times(&line, &cpu)) {
				out->bad++;
				continue;
			}
			out->ncpu++;
			if (out->ncores < max_cores)
				cores[out->ncores++] = cpu;
		} else if (cur_is(&word, "processes")) {
			if (cur_u64_field(&line, &out->processes))
				procs |= 1;
		} else if (cur_is(&word, "procs_running")) {
			if (cur_u64_field(&line, &out->procs_running))
				procs |= 2;
		} else if (cur_is(&word, "procs_blocked")) {
			if (cur_u64_field(&line, &out->procs_blocked))
				procs |= 4;
		}
	}
	out->has_procs = procs == 7;
	return have_total ? 0 : -EINVAL;
}

/* "MemTotal:       24684092 kB" -> bytes. */
static bool meminfo_value(struct cur *line, uint64_t *ret)
{
	uint64_t kb;
	struct cur unit;

	if (!cur_u64_field(line, &kb))
		return false;
	if (cur_word(line, &unit) && !cur_is(&unit, "kB"))
		return false;
	if (kb > UINT64_MAX / 1024)
		return false;
	*ret = kb * 1024;
	return true;
}

int parse_meminfo(const char *text, size_t len, struct parse_meminfo *out)
{
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
		{ "MemTotal:", offsetof(struct parse_meminfo, total) },
		{ "MemFree:", offsetof(struct parse_meminfo, free) },
		{ "MemAvailable:", offsetof(struct parse_meminfo, available) },
		{ "Buffers:", offsetof(struct parse_meminfo, buffers) },
		{ "Cached:", offsetof(struct parse_meminfo, cached) },
		{ "SwapTotal:", offsetof(struct parse_meminfo, swap_total) },
		{ "SwapFree:", offsetof(struct parse_meminfo, swap_free) },
	};
	struct cur t = { text, text + len }, line, word;
	unsigned seen = 0;

	memset(out, 0, sizeof(*out));
	while (cur_line(&t, &line) && seen != (1u << 7) - 1) {
		if (!cur_word(&line, &word))
			continue;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (!cur_is(&word, keys[i].key))
				continue;
			if (meminfo_value(&line, (uint64_t *)((char *)out +
							      keys[i].offset)))
				seen |= 1u << i;
			break;
		}
	}
	if ((seen & 3) != 3)
		return -EINVAL;
	out->has_available = seen & 4;
	if (!out->has_available)
		out->available = out->free + out->buffers + out->cached;
	return 0;
}

int parse_loadavg(const char *text, size_t len, struct parse_loadavg *out)
{
	struct cur t = { text, text + len }, c;
	struct parse_loadavg l;

	if (!cur_line(&t, &c) || !cur_decimal(&c, &l.load1) ||
	    !cur_decimal(&c, &l.load5) || !cur_decimal(&c, &l.load15) ||
	    !cur_u64(&c, &l.runnable) || c.p >= c.end || *c.p != '/')
		return -EINVAL;
	c.p++;
	if (c.p >= c.end || !is_digit(*c.p) || !cur_u64_field(&c, &l.entities))
		return -EINVAL;
	*out = l;
	return 0;
}

/* "avg10=0.00 avg60=0.16 avg300=0.13 total=4894543" */
static bool parse_psi_fields(struct cur *line, struct parse_psi_line *out)
{
	static const char *const names[] = { "avg10=", "avg60=", "avg300=" };
	double *avg[] = { &out->avg10, &out->avg60, &out->avg300 };
	struct cur word;

	for (size_t i = 0; i < 3; i++) {
		if (!cur_word(line, &word) || !cur_starts(&word, names[i]))
			return false;
		word.p += strlen(names[i]);
		if (!cur_decimal(&word, avg[i]) || word.p != word.end)
			return false;
	}
	if (!cur_word(line, &word) || !cur_starts(&word, "total="))
		return false;
	word.p += strlen("total=");
	if (!cur_u64(&word, &out->total_us) || word.p != word.end)
		return false;
	out->present = true;
	return true;
}

int parse_psi(const char *text, size_t len, struct parse_psi *out)
{
	struct cur t = { text, text + len }, line, word;
	struct parse_psi p;

	memset(&p, 0, sizeof(p));
	while (cur_line(&t, &line)) {
		struct parse_psi_line *dst;

		if (!cur_word(&line, &word))
			continue;
		if (cur_is(&word, "some"))
			dst = &p.some;
		else if (cur_is(&word, "full"))
			dst = &p.full;
		else
			continue;
		if (!parse_psi_fields(&line, dst))
			memset(dst, 0, sizeof(*dst));
	}
	if (!p.some.present)
		return -EINVAL;
	*out = p;
	return 0;
}

static bool copy_name(const struct cur *word, char *dst, size_t max)
{
	size_t n = cur_len(word);

	if (n == 0 || n >= max)
		return false;
	memcpy(dst, word->p, n);
	dst[n] = '\0';
	return true;
}

static bool parse_disk_line(struct cur *line, struct parse_disk *d)
{
	uint64_t v[11], major, minor;
	struct cur name;

	if (!cur_u64_field(line, &major) || !cur_u64_field(line, &minor) ||
	    major > UINT32_MAX || minor > UINT32_MAX ||
	    !cur_word(line, &name) ||
	    !copy_name(&name, d->name, sizeof(d->name)))
		return false;
	for (size_t i = 0; i < 11; i++) {
		if (!cur_u64_field(line, &v[i]))
			return false;
	}
	d->major = (unsigned)major;
	d->minor = (unsigned)minor;
	d->reads = v[0];
	d->sectors_read = v[2];
	d->read_ms = v[3];
	d->writes = v[4];
	d->sectors_written = v[6];
	d->write_ms = v[7];
	d->io_ms = v[9];
	return true;
}

size_t parse_diskstats(const char *text, size_t len, parse_disk_fn fn,
		       void *ctx)
{
	struct cur t = { text, text + len }, line;
	size_t bad = 0;

	while (cur_line(&t, &line)) {
		struct parse_disk d;
		struct cur probe = line;

		cur_skip_blanks(&probe);
		if (probe.p >= probe.end)
			continue;
		if (parse_disk_line(&line, &d))
			fn(ctx, &d);
		else
			bad++;
	}
	return bad;
}

static bool parse_netdev_line(struct cur *line, struct parse_netdev *n)
{
	uint64_t v[16];
	const char *colon;
	struct cur name;

	/* Names cannot hold ':' or blanks (dev_valid_name), so the first colon
	 * ends the name; old kernels wrote no blank after it. */
	cur_skip_blanks(line);
	colon = memchr(line->p, ':', cur_len(line));
	if (!colon)
		return false;
	name.p = line->p;
	name.end = colon;
	for (const char *p = name.p; p < name.end; p++) {
		if (is_blank(*p))
			return false;
	}
	if (!copy_name(&name, n->name, sizeof(n->name)))
		return false;
	line->p = colon + 1;
	for (size_t i = 0; i < 16; i++) {
		if (!cur_u64_field(line, &v[i]))
			return false;
	}
	n->rx_bytes = v[0];
	n->rx_packets = v[1];
	n->rx_errors = v[2];
	n->rx_drops = v[3];
	n->tx_bytes = v[8];
	n->tx_packets = v[9];
	n->tx_errors = v[10];
	n->tx_drops = v[11];
	return true;
}

size_t parse_netdev(const char *text, size_t len, parse_netdev_fn fn, void *ctx)
{
	struct cur t = { text, text + len }, line;
	size_t bad = 0, lineno = 0;

	while (cur_line(&t, &line)) {
		struct parse_netdev n;
		struct cur probe = line;

		lineno++;
		if (lineno <= 2 && memchr(line.p, '|', cur_len(&line)))
			continue;
		cur_skip_blanks(&probe);
		if (probe.p >= probe.end)
			continue;
		if (parse_netdev_line(&line, &n))
			fn(ctx, &n);
		else
			bad++;
	}
	return bad;
}

static int octal_digit(char c)
{
	return c >= '0' && c <= '7' ? c - '0' : -1;
}

/* Copy word into dst (max bytes with the NUL) undoing the kernel's
 * mangle(): space, tab, newline and backslash are written as \ooo. */
static bool unescape(const struct cur *word, char *dst, size_t max)
{
	size_t n = 0;

	for (const char *p = word->p; p < word->end; p++) {
		char c = *p;
		if (c == '\\' && word->end - p >= 4) {
			int a = octal_digit(p[1]), b = octal_digit(p[2]),
			    d = octal_digit(p[3]);
			if (a >= 0 && b >= 0 && d >= 0 && a <= 3) {
				c = (char)(a * 64 + b * 8 + d);
				p += 3;
			}
		}
		if (c == '\0' || n + 1 >= max)
			return false;
		dst[n++] = c;
	}
	dst[n] = '\0';
	return n > 0;
}

/* "ro" as one of the comma-separated options. */
static bool opts_have_ro(const struct cur *opts)
{
	const char *p = opts->p;

	while (p < opts->end) {
		const char *comma = memchr(p, ',', (size_t)(opts->end - p));
		const char *e = comma ? comma : opts->end;
		if (e - p == 2 && p[0] == 'r' && p[1] == 'o')
			return true;
		p = e + 1;
	}
	return false;
}

/* The decoded strings of one line. */
struct mount_buf {
	char root[PARSE_PATH_MAX];
	char mount[PARSE_PATH_MAX];
	char source[PARSE_PATH_MAX];
	char fstype[256];
};

/* "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw" */
static bool parse_mount_line(struct cur *line, struct mount_buf *b,
			     struct parse_mount *m)
{
	struct cur w, root, mnt, opts, fstype, source, sopts;
	uint64_t major, minor;

	if (!cur_word(line, &w) || !cur_word(line, &w) || !cur_word(line, &w))
		return false;
	if (!cur_u64(&w, &major) || w.p >= w.end || *w.p != ':')
		return false;
	w.p++;
	if (!cur_u64(&w, &minor) || w.p != w.end || major > UINT32_MAX ||
	    minor > UINT32_MAX)
		return false;
	if (!cur_word(line, &root) || !cur_word(line, &mnt) ||
	    !cur_word(line, &opts))
		return false;
	/* Zero or more optional fields ("shared:1") up to a lone "-". */
	do {
		if (!cur_word(line, &w))
			return false;
	} while (!cur_is(&w, "-"));
	if (!cur_word(line, &fstype) || !cur_word(line, &source) ||
	    !cur_word(line, &sopts))
		return false;
	if (!unescape(&root, b->root, sizeof(b->root)) ||
	    !unescape(&mnt, b->mount, sizeof(b->mount)) ||
	    !unescape(&fstype, b->fstype, sizeof(b->fstype)) ||
	    !unescape(&source, b->source, sizeof(b->source)))
		return false;
	m->major = (unsigned)major;
	m->minor = (unsigned)minor;
	m->root = b->root;
	m->mount = b->mount;
	m->fstype = b->fstype;
	m->source = b->source;
	m->readonly = opts_have_ro(&opts) || opts_have_ro(&sopts);
	return true;
}

size_t parse_mountinfo(const char *text, size_t len, parse_mount_fn fn,
		       void *ctx)
{
	struct cur t = { text, text + len }, line;
	struct mount_buf b;
	size_t bad = 0;

	while (cur_line(&t, &line)) {
		struct parse_mount m;
		struct cur probe = line;

		cur_skip_blanks(&probe);
		if (probe.p >= probe.end)
			continue;
		if (parse_mount_line(&line, &b, &m))
			fn(ctx, &m);
		else
			bad++;
	}
	return bad;
}

int parse_filenr(const char *text, size_t len, struct parse_filenr *out)
{
	struct cur t = { text, text + len }, c;
	struct parse_filenr f;

	if (!cur_line(&t, &c) || !cur_u64_field(&c, &f.allocated) ||
	    !cur_u64_field(&c, &f.free) || !cur_u64_field(&c, &f.max))
		return -EINVAL;
	*out = f;
	return 0;
}

int parse_uptime(const char *text, size_t len, double *out)
{
	struct cur t = { text, text + len }, c;
	double v;

	if (!cur_line(&t, &c) || !cur_decimal(&c, &v) ||
	    (c.p < c.end && !is_blank(*c.p)))
		return -EINVAL;
	*out = v;
	return 0;
}
