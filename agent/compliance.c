#include "config.h"

#include "compliance.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"

#define CHUNK (64u * 1024)

enum reason {
	REASON_OK,
	REASON_MISMATCH,
	REASON_MISSING,
	REASON_NO_MARKER,
	REASON_NOT_IN_MANIFEST,
	REASON_UNREADABLE,
	REASON_TOO_LARGE,
};

static const char *const reason_names[] = {
	[REASON_OK] = "ok",
	[REASON_MISMATCH] = "mismatch",
	[REASON_MISSING] = "missing",
	[REASON_NO_MARKER] = "no_marker",
	[REASON_NOT_IN_MANIFEST] = "not_in_manifest",
	[REASON_UNREADABLE] = "unreadable",
	[REASON_TOO_LARGE] = "too_large",
};

struct manifest_entry {
	char *path; /* normalised, absolute when the manifest's was */
	uint8_t sha[32];
	unsigned line;
};

/* What fstat said when the hash was taken: if any of it differs, the file
 * may have changed. ctime is in the key because it moves on every write
 * even when mtime is set back (touch -d, tar). */
struct cache_entry {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
	struct timespec ctim;
	uint8_t sha[32];
	bool marker;
};

struct compliance {
	char **globs;
	size_t nglobs;
	bool have_manifest;
	struct manifest_entry *manifest; /* sorted by path, unique */
	size_t nmanifest;
	bool require_marker;
	char *marker;
	size_t marker_len;
	struct cache_entry *cache; /* sorted by path */
	size_t ncache;
	/* One read chunk plus the marker's tail from the chunk before. */
	uint8_t *window;
	uint64_t hashed;
};

/* One path under check in a report. */
struct item {
	const char *path;
	const struct manifest_entry *m; /* NULL: not in the manifest */
	enum reason reason;
	bool skip; /* not a regular file, or a glob match that went away */
	bool have_sha;
	uint8_t sha[32];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* One line without its newline. Returns 1 with sha and path (PATH_MAX
 * bytes) filled, 0 for a blank or comment line, -EINVAL with *what. */
static int parse_line(const char *s, size_t n, uint8_t sha[32], char *path,
		      const char **what)
{
	size_t i = 0, h, plen;

	if (memchr(s, '\0', n)) {
		*what = "NUL byte in line";
		return -EINVAL;
	}
	/* sha256sum -c skips leading blanks too. */
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	if (s[i] == '\\') {
		*what = "escaped line (a name holding a newline or backslash) "
			"is not supported";
		return -EINVAL;
	}
	for (h = i; h < n && hexval(s[h]) >= 0; h++)
		;
	if (h - i != 64) {
		*what = "expected a SHA-256 of 64 hex digits at the start";
		return -EINVAL;
	}
	for (size_t k = 0; k < 32; k++)
		sha[k] = (uint8_t)(hexval(s[i + 2 * k]) << 4 |
				   hexval(s[i + 2 * k + 1]));
	i = h;
	if (n - i < 2 || s[i] != ' ' || (s[i + 1] != ' ' && s[i + 1] != '*')) {
		*what = "expected two spaces or \" *\" after the hash";
		return -EINVAL;
	}
	i += 2;
	plen = n - i;
	if (plen == 0) {
		*what = "no path after the hash";
		return -EINVAL;
	}
	if (plen >= PATH_MAX) {
		*what = "path longer than PATH_MAX";
		return -EINVAL;
	}
	memcpy(path, s + i, plen);
	path[plen] = '\0';
	return 1;
}

typedef int (*entry_fn)(void *user, unsigned line, const char *path,
			const uint8_t sha256[32]);

static const char *entry_error(int r)
{
	if (r == -ENAMETOOLONG)
		return "path too long once joined to the manifest's directory";
	return strerror(-r);
}

static int parse_manifest(const char *name, const char *text, size_t len,
			  entry_fn entry, void *user, char *err, size_t errlen)
{
	_cleanup_free_ char *path = NULL;
	unsigned line = 0;
	size_t pos = 0;
	uint8_t sha[32];

	if (len > COMPLIANCE_MANIFEST_MAX) {
		set_err(err, errlen, "%s: larger than the %u-byte manifest cap",
			name, COMPLIANCE_MANIFEST_MAX);
		return -EINVAL;
	}
	path = malloc(PATH_MAX);
	if (!path)
		return -ENOMEM;
	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		const char *what = NULL;
		int r;

		pos += n + (nl ? 1 : 0);
		line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		r = parse_line(s, n, sha, path, &what);
		if (r < 0) {
			set_err(err, errlen, "%s:%u: %s", name, line, what);
			return r;
		}
		if (r == 0)
			continue;
		r = entry(user, line, path, sha);
		if (r < 0) {
			set_err(err, errlen, "%s:%u: %s", name, line,
				entry_error(r));
			return r;
		}
	}
	return 0;
}

struct plain_entry {
	int (*entry)(void *user, const char *path, const uint8_t sha256[32]);
	void *user;
};

static int plain_entry(void *user, unsigned line, const char *path,
		       const uint8_t sha256[32])
{
	struct plain_entry *p = user;

	return p->entry(p->user, path, sha256);
}

int compliance_parse_manifest(const char *name, const char *text, size_t len,
			      int (*entry)(void *user, const char *path,
					   const uint8_t sha256[32]),
			      void *user, char *err, size_t errlen)
{
	struct plain_entry p = { entry, user };

	return parse_manifest(name, text, len, plain_entry, &p, err, errlen);
}

/* Lexical only, in place: repeated slashes and "." components go. ".."
 * stays, since through a symlink "a/../b" need not be "b". Glob matches
 * and manifest entries go through this so the same file meets itself. */
static void path_normalize(char *p)
{
	char *out = p;
	const char *in = p;

	if (*in == '/')
		*out++ = '/';
	while (*in) {
		const char *start;
		size_t n;

		while (*in == '/')
			in++;
		start = in;
		while (*in && *in != '/')
			in++;
		n = (size_t)(in - start);
		if (n == 0 || (n == 1 && start[0] == '.'))
			continue;
		if (out > p && out[-1] != '/')
			*out++ = '/';
		memmove(out, start, n);
		out += n;
	}
	if (out == p)
		*out++ = '.';
	*out = '\0';
}

/* The directory relative manifest entries hang off, made absolute with
 * the current directory now so a later chdir does not move the files. It
 * is not resolved through symlinks: the paths have to meet the glob
 * matches, which are not either. */
static int manifest_dir(const char *path, struct buf *dir)
{
	const char *slash = strrchr(path, '/');
	int r = 0;

	if (path[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		r = buf_puts(dir, cwd);
		if (r == 0)
			r = buf_puts(dir, "/");
	}
	if (r == 0 && slash)
		r = buf_append(dir, path, (size_t)(slash - path) + 1);
	return r == -E2BIG ? -ENAMETOOLONG : r;
}

struct load {
	struct compliance *c;
	const char *dir;
	size_t alloc;
};

static int load_entry(void *user, unsigned line, const char *path,
		      const uint8_t sha256[32])
{
	struct load *l = user;
	struct compliance *c = l->c;
	struct buf full;
	int r = 0;

	if (c->nmanifest == l->alloc) {
		size_t n = l->alloc ? l->alloc * 2 : 64;
		struct manifest_entry *m =
		    reallocarray(c->manifest, n, sizeof(*m));

		if (!m)
			return -ENOMEM;
		c->manifest = m;
		l->alloc = n;
	}
	buf_init(&full, PATH_MAX - 1);
	if (path[0] != '/')
		r = buf_puts(&full, l->dir);
	if (r == 0)
		r = buf_puts(&full, path);
	if (r == 0 && !full.data)
		r = -ENOMEM;
	if (r < 0) {
		buf_release(&full);
		return r == -E2BIG ? -ENAMETOOLONG : r;
	}
	path_normalize(full.data);
	c->manifest[c->nmanifest].path = full.data;
	memcpy(c->manifest[c->nmanifest].sha, sha256, 32);
	c->manifest[c->nmanifest].line = line;
	c->nmanifest++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct manifest_entry *x = a, *y = b;
	int r = strcmp(x->path, y->path);

	if (r)
		return r;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sort, merge repeats of a path with the same hash, and refuse repeats
 * with a different one: that file could never comply. */
static int manifest_dedup(struct compliance *c, const char *name, char *err,
			  size_t errlen)
{
	size_t out = 0;

	if (c->nmanifest == 0)
		return 0;
	qsort(c->manifest, c->nmanifest, sizeof(*c->manifest), cmp_entry);
	for (size_t i = 1; i < c->nmanifest; i++) {
		struct manifest_entry *prev = &c->manifest[out];
		struct manifest_entry *cur = &c->manifest[i];

		if (strcmp(prev->path, cur->path) != 0) {
			c->manifest[++out] = *cur;
			continue;
		}
		if (memcmp(prev->sha, cur->sha, 32) != 0) {
			set_err(err, errlen,
				"%s:%u: %s is listed again with a different "
				"hash (first on line %u)",
				name, cur->line, cur->path, prev->line);
			/* Keep the array whole for compliance_free. */
			for (size_t k = i; k < c->nmanifest; k++)
				c->manifest[++out] = c->manifest[k];
			c->nmanifest = out + 1;
			return -EINVAL;
		}
		free(cur->path);
	}
	c->nmanifest = out + 1;
	return 0;
}

static int read_all(int fd, uint8_t *tmp, struct buf *text)
{
	for (;;) {
		ssize_t n = read(fd, tmp, CHUNK);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		r = buf_append(text, tmp, (size_t)n);
		if (r < 0)
			return r;
	}
}

static int manifest_load(struct compliance *c, const char *path, char *err,
			 size_t errlen)
{
	_cleanup_close_ int fd = -1;
	struct buf text, dir;
	struct load l = { c, NULL, 0 };
	struct stat st;
	int r;

	buf_init(&text, COMPLIANCE_MANIFEST_MAX);
	buf_init(&dir, PATH_MAX - 1);
	c->have_manifest = true;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		set_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	r = read_all(fd, c->window, &text);
	if (r == -E2BIG) {
		r = -EINVAL;
		set_err(err, errlen, "%s: larger than the %u-byte manifest cap",
			path, COMPLIANCE_MANIFEST_MAX);
		goto out;
	}
	if (r < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	r = manifest_dir(path, &dir);
	if (r == 0 && !dir.data)
		r = buf_puts(&dir, "");
	if (r < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(-r));
		goto out;
	}
	l.dir = dir.data;
	r = parse_manifest(path, text.data ? text.data : "", text.len,
			   load_entry, &l, err, errlen);
	if (r == 0)
		r = manifest_dedup(c, path, err, errlen);
out:
	buf_release(&text);
	buf_release(&dir);
	return r;
}

struct compliance *compliance_free(struct compliance *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->nglobs; i++)
		free(c->globs[i]);
	free(c->globs);
	for (size_t i = 0; i < c->nmanifest; i++)
		free(c->manifest[i].path);
	free(c->manifest);
	for (size_t i = 0; i < c->ncache; i++)
		free(c->cache[i].path);
	free(c->cache);
	free(c->marker);
	free(c->window);
	free(c);
	return NULL;
}

static void compliance_freep(struct compliance **c)
{
	compliance_free(*c);
}

int compliance_new(const char *const *globs, size_t nglobs,
		   const char *manifest_path, bool require_marker,
		   const char *marker, struct compliance **ret, char *err,
		   size_t errlen)
{
	_cleanup_(compliance_freep) struct compliance *c = NULL;
	int r;

	set_err(err, errlen, "%s", "");
	if (!ret || (nglobs > 0 && !globs))
		return -EINVAL;
	if (require_marker && (!marker || marker[0] == '\0' ||
			       strlen(marker) > COMPLIANCE_MARKER_MAX)) {
		set_err(err, errlen,
			"the marker must be 1 to %d bytes when it is required",
			COMPLIANCE_MARKER_MAX);
		return -EINVAL;
	}
	/* Idempotent and thread-safe; 1 means it had been done already. */
	if (sodium_init() < 0)
		return -EIO;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->globs = calloc(nglobs ? nglobs : 1, sizeof(*c->globs));
	if (!c->globs)
		return -ENOMEM;
	for (size_t i = 0; i < nglobs; i++) {
		if (!globs[i] || globs[i][0] == '\0') {
			set_err(err, errlen, "glob %zu is empty", i + 1);
			return -EINVAL;
		}
		c->globs[i] = strdup(globs[i]);
		if (!c->globs[i])
			return -ENOMEM;
		c->nglobs++;
	}
	c->require_marker = require_marker;
	if (require_marker) {
		c->marker = strdup(marker);
		if (!c->marker)
			return -ENOMEM;
		c->marker_len = strlen(marker);
	}
	c->window = malloc(CHUNK + c->marker_len);
	if (!c->window)
		return -ENOMEM;
	if (manifest_path) {
		r = manifest_load(c, manifest_path, err, errlen);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

uint64_t compliance_hash_count(const struct compliance *c)
{
	return c->hashed;
}

/* SHA-256 of the whole file and whether the marker is in it, in one pass.
 * The marker search keeps the last marker_len - 1 bytes of each chunk in
 * front of the next one, so a marker split across chunks is found. */
static int hash_fd(struct compliance *c, int fd, uint8_t sha[32],
		   bool *ret_marker)
{
	crypto_hash_sha256_state st;
	bool found = !c->require_marker;
	uint64_t total = 0;
	size_t keep = 0;

	crypto_hash_sha256_init(&st);
	for (;;) {
		ssize_t n = read(fd, c->window + keep, CHUNK);
		size_t have;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		/* It grew past the cap after fstat. */
		if (total > COMPLIANCE_FILE_MAX)
			return -EFBIG;
		crypto_hash_sha256_update(&st, c->window + keep,
					  (unsigned long long)n);
		if (found)
			continue;
		have = keep + (size_t)n;
		if (memmem(c->window, have, c->marker, c->marker_len)) {
			found = true;
			continue;
		}
		keep = have < c->marker_len - 1 ? have : c->marker_len - 1;
		memmove(c->window, c->window + have - keep, keep);
	}
	crypto_hash_sha256_final(&st, sha);
	c->hashed++;
	*ret_marker = found;
	return 0;
}

static bool same_stat(const struct cache_entry *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino &&
	       e->size == st->st_size && e->mtim.tv_sec == st->st_mtim.tv_sec &&
	       e->mtim.tv_nsec == st->st_mtim.tv_nsec &&
	       e->ctim.tv_sec == st->st_ctim.tv_sec &&
	       e->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/* A timestamp this close to now may be shared by a second write of the
 * same size that lands after our read (timestamps come from a coarse
 * clock, and some filesystems keep whole seconds): such a file is hashed
 * again next time rather than trusted to the cache, as git does with
 * racily clean index entries. */
#define RACY_SEC 2

/* In seconds and nanoseconds apart: a file can carry any mtime, and
 * folding it into one number of nanoseconds could overflow. */
static bool recent(const struct timespec *t, const struct timespec *now)
{
	time_t edge = now->tv_sec - RACY_SEC;

	return t->tv_sec > edge ||
	       (t->tv_sec == edge && t->tv_nsec > now->tv_nsec);
}

static bool racy(const struct stat *st)
{
	struct timespec now;

	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return true;
	return recent(&st->st_mtim, &now) || recent(&st->st_ctim, &now);
}

/* stat(2) or open(2) failed with err: is the file missing, or there but
 * unusable? A dangling symlink is there (lstat finds it) but unreadable. */
static enum reason absent_reason(const char *path, int err)
{
	struct stat st;

	if (err != ENOENT && err != ENOTDIR)
		return REASON_UNREADABLE;
	if (lstat(path, &st) == 0)
		return REASON_UNREADABLE;
	return REASON_MISSING;
}

/* A glob match that is a directory, FIFO or device was never one of the
 * files: leave it out. A manifest entry names a file that must be there. */
static void not_regular(struct item *it)
{
	it->reason = REASON_UNREADABLE;
	it->skip = !it->m;
}

/* Check one file. old: its cache entry from the last report, or NULL.
 * slot: where to cache the result, or NULL when the cache is full.
 * Returns whether slot was filled. */
static bool check_file(struct compliance *c, struct item *it,
		       struct cache_entry *old, struct cache_entry *slot)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	bool marker = false, cached = false;
	int r;

	/* stat before open: opening a FIFO or a device can block or have
	 * side effects (a tape rewinds), and those are skipped anyway. */
	if (stat(it->path, &st) < 0) {
		it->reason = absent_reason(it->path, errno);
		if (it->reason == REASON_MISSING && !it->m)
			it->skip = true;
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		not_regular(it);
		return false;
	}
	fd = open(it->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		it->reason = absent_reason(it->path, errno);
		return false;
	}
	if (fstat(fd, &st) < 0) {
		it->reason = REASON_UNREADABLE;
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		not_regular(it);
		return false;
	}
	if ((uint64_t)st.st_size > COMPLIANCE_FILE_MAX) {
		it->reason = REASON_TOO_LARGE;
		return false;
	}
	if (old && same_stat(old, &st)) {
		memcpy(it->sha, old->sha, 32);
		marker = old->marker;
	} else {
		r = hash_fd(c, fd, it->sha, &marker);
		if (r < 0) {
			it->reason =
			    r == -EFBIG ? REASON_TOO_LARGE : REASON_UNREADABLE;
			return false;
		}
	}
	it->have_sha = true;
	if (slot && !racy(&st)) {
		cached = true;
		slot->dev = st.st_dev;
		slot->ino = st.st_ino;
		slot->size = st.st_size;
		slot->mtim = st.st_mtim;
		slot->ctim = st.st_ctim;
		memcpy(slot->sha, it->sha, 32);
		slot->marker = marker;
	}

	if (it->m && memcmp(it->m->sha, it->sha, 32) != 0)
		it->reason = REASON_MISMATCH;
	else if (c->have_manifest && !it->m)
		it->reason = REASON_NOT_IN_MANIFEST;
	else if (c->require_marker && !marker)
		it->reason = REASON_NO_MARKER;
	else
		it->reason = REASON_OK;
	return cached;
}

struct report {
	char **globbed; /* sorted, unique */
	size_t nglobbed;
	size_t unchecked;
	struct item *items;
	size_t nitems;
	struct cache_entry *cache;
	size_t ncache;
};

static void report_release(struct report *rep)
{
	for (size_t i = 0; i < rep->nglobbed; i++)
		free(rep->globbed[i]);
	free(rep->globbed);
	free(rep->items);
	for (size_t i = 0; i < rep->ncache; i++)
		free(rep->cache[i].path);
	free(rep->cache);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int glob_add(struct report *rep, size_t *alloc, const char *path)
{
	char *p;

	if (rep->nglobbed == COMPLIANCE_CHECK_MAX) {
		rep->unchecked++;
		return 0;
	}
	if (rep->nglobbed == *alloc) {
		size_t n = *alloc ? *alloc * 2 : 64;
		char **g = reallocarray(rep->globbed, n, sizeof(*g));

		if (!g)
			return -ENOMEM;
		rep->globbed = g;
		*alloc = n;
	}
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	path_normalize(p);
	rep->globbed[rep->nglobbed++] = p;
	return 0;
}

/* Without GLOB_ERR, a directory glob(3) cannot read just matches nothing
 * in it; GLOB_ABORTED still leaves what it found. */
static int expand_globs(struct compliance *c, struct report *rep)
{
	size_t alloc = 0, out = 0;

	for (size_t i = 0; i < c->nglobs; i++) {
		glob_t g;
		int r = glob(c->globs[i], GLOB_NOSORT, NULL, &g);

		if (r == GLOB_NOSPACE) {
			globfree(&g);
			return -ENOMEM;
		}
		if (r == GLOB_NOMATCH)
			continue;
		for (size_t k = 0; r == 0 && k < g.gl_pathc; k++)
			r = glob_add(rep, &alloc, g.gl_pathv[k]);
		globfree(&g);
		if (r < 0)
			return r;
	}
	if (rep->nglobbed == 0)
		return 0;
	qsort(rep->globbed, rep->nglobbed, sizeof(*rep->globbed), cmp_str);
	for (size_t i = 1; i < rep->nglobbed; i++) {
		if (strcmp(rep->globbed[out], rep->globbed[i]) == 0)
			free(rep->globbed[i]);
		else
			rep->globbed[++out] = rep->globbed[i];
	}
	rep->nglobbed = out + 1;
	return 0;
}

/* The union of glob matches and manifest entries, in path order. */
static int merge_items(struct compliance *c, struct report *rep)
{
	size_t g = 0, m = 0;

	rep->items =
	    calloc(rep->nglobbed + c->nmanifest + 1, sizeof(*rep->items));
	if (!rep->items)
		return -ENOMEM;
	while (g < rep->nglobbed || m < c->nmanifest) {
		struct item *it = &rep->items[rep->nitems];
		int d;

		if (g == rep->nglobbed)
			d = 1;
		else if (m == c->nmanifest)
			d = -1;
		else
			d = strcmp(rep->globbed[g], c->manifest[m].path);
		if (rep->nitems == COMPLIANCE_CHECK_MAX) {
			rep->unchecked++;
			g += d <= 0;
			m += d >= 0;
			continue;
		}
		it->path = d <= 0 ? rep->globbed[g] : c->manifest[m].path;
		it->m = d >= 0 ? &c->manifest[m] : NULL;
		g += d <= 0;
		m += d >= 0;
		rep->nitems++;
	}
	return 0;
}

/* Check every item, building the next cache as we go: paths no longer
 * checked fall out of it, and past COMPLIANCE_CACHE_MAX paths are hashed
 * every time rather than cached. */
static void check_items(struct compliance *c, struct report *rep)
{
	size_t o = 0;

	for (size_t i = 0; i < rep->nitems; i++) {
		struct item *it = &rep->items[i];
		struct cache_entry *old = NULL, *slot = NULL;

		while (o < c->ncache && strcmp(c->cache[o].path, it->path) < 0)
			o++;
		if (o < c->ncache && strcmp(c->cache[o].path, it->path) == 0)
			old = &c->cache[o++];
		if (rep->ncache < COMPLIANCE_CACHE_MAX) {
			slot = &rep->cache[rep->ncache];
			memset(slot, 0, sizeof(*slot));
		}
		if (!check_file(c, it, old, slot))
			continue;
		if (old) {
			slot->path = TAKE_PTR(old->path);
		} else {
			/* Out of memory here only costs a rehash next time. */
			slot->path = strdup(it->path);
			if (!slot->path)
				continue;
		}
		rep->ncache++;
	}
	for (size_t i = 0; i < c->ncache; i++)
		free(c->cache[i].path);
	free(c->cache);
	c->cache = TAKE_PTR(rep->cache);
	c->ncache = rep->ncache;
	rep->ncache = 0;
}

static void write_hex(struct jsonw *w, const char *key, const uint8_t sha[32])
{
	char hex[65];

	sodium_bin2hex(hex, sizeof(hex), sha, 32);
	jsonw_kv_str(w, key, hex);
}

static void write_item(struct jsonw *w, const struct item *it)
{
	jsonw_obj_begin(w);
	jsonw_kv_str(w, "path", it->path);
	jsonw_kv_bool(w, "ok", it->reason == REASON_OK);
	if (it->reason != REASON_OK)
		jsonw_kv_str(w, "reason", reason_names[it->reason]);
	if (it->have_sha)
		write_hex(w, "sha256", it->sha);
	if (it->reason == REASON_MISMATCH)
		write_hex(w, "expected", it->m->sha);
	jsonw_obj_end(w);
}

static void write_report(struct jsonw *w, const struct report *rep)
{
	uint64_t checked = 0, compliant = 0, listed = 0;

	for (size_t i = 0; i < rep->nitems; i++) {
		if (rep->items[i].skip)
			continue;
		checked++;
		compliant += rep->items[i].reason == REASON_OK;
	}
	jsonw_key(w, "compliance");
	jsonw_obj_begin(w);
	jsonw_kv_double(w, "ratio",
			checked ? (double)compliant / (double)checked : 1.0);
	jsonw_kv_u64(w, "checked", checked);
	jsonw_kv_u64(w, "compliant", compliant);
	jsonw_kv_u64(w, "failed", checked - compliant);
	jsonw_key(w, "files");
	jsonw_arr_begin(w);
	/* Failures first: when the list is cut, they are what matters. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < rep->nitems; i++) {
			const struct item *it = &rep->items[i];

			if (it->skip ||
			    (it->reason == REASON_OK) != (pass == 1))
				continue;
			if (listed == COMPLIANCE_FILES_LISTED_MAX)
				break;
			write_item(w, it);
			listed++;
		}
	}
	jsonw_arr_end(w);
	jsonw_kv_u64(w, "files_omitted", checked - listed);
	if (rep->unchecked)
		jsonw_kv_u64(w, "unchecked", rep->unchecked);
	jsonw_obj_end(w);
}

int compliance_report(struct compliance *c, struct jsonw *w)
{
	struct report rep = { 0 };
	int r;

	r = expand_globs(c, &rep);
	if (r == 0)
		r = merge_items(c, &rep);
	if (r == 0) {
		size_t n = rep.nitems < COMPLIANCE_CACHE_MAX
			       ? rep.nitems
			       : COMPLIANCE_CACHE_MAX;

		rep.cache = calloc(n + 1, sizeof(*rep.cache));
		if (!rep.cache)
			r = -ENOMEM;
	}
	if (r == 0) {
		check_items(c, &rep);
		write_report(w, &rep);
		r = w->err;
	}
	report_release(&rep);
	return r;
}
