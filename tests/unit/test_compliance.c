#include "config.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "check_main.h"
#include "cleanup.h"
#include "compliance.h"
#include "jsonw.h"

#define MARKER ACGS_CONSTITUTIONAL_HASH
#define HEX_A  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX_U  "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
#define HEX_B  "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* Each test runs in its own forked child with a fresh directory. */
static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_compliance.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/name, in a static ring so a test can hold a few at once. */
static const char *at(const char *name)
{
	static char ring[8][PATH_MAX];
	static unsigned next;
	char *p = ring[next++ % ARRAY_SIZE(ring)];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

static void put_file(const char *name, const void *data, size_t len)
{
	_cleanup_close_ int fd =
	    open(at(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
}

static void put_str(const char *name, const char *s)
{
	put_file(name, s, strlen(s));
}

static const char *hex_of(const void *data, size_t len)
{
	static char ring[8][65];
	static unsigned next;
	char *hex = ring[next++ % ARRAY_SIZE(ring)];
	uint8_t sha[32];

	crypto_hash_sha256(sha, data, len);
	sodium_bin2hex(hex, 65, sha, 32);
	return hex;
}

/* Run a report and give back the "compliance" object, parsed by cJSON. */
static cJSON *report(struct compliance *c, cJSON **root)
{
	struct buf out;
	struct jsonw w;
	cJSON *obj;

	buf_init(&out, 1 << 20);
	jsonw_init(&w, &out);
	jsonw_obj_begin(&w);
	ck_assert_int_eq(compliance_report(c, &w), 0);
	jsonw_obj_end(&w);
	ck_assert_int_eq(jsonw_finish(&w), 0);
	*root = cJSON_Parse(out.data);
	ck_assert_msg(*root, "not JSON: %s", out.data);
	buf_release(&out);
	obj = cJSON_GetObjectItemCaseSensitive(*root, "compliance");
	ck_assert_ptr_nonnull(obj);
	return obj;
}

static double num(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
	return v->valuedouble;
}

static const char *str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *file_entry(const cJSON *comp, const char *path)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(comp, "files"))
	{
		if (strcmp(str(f, "path"), path) == 0)
			return f;
	}
	ck_abort_msg("%s is not in files", path);
	return NULL;
}

/* The file's state, and its reason: "ok" when it is ok. */
static void assert_file(const cJSON *comp, const char *path, const char *reason)
{
	const cJSON *f = file_entry(comp, path);
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(f, "ok");
	bool want_ok = strcmp(reason, "ok") == 0;

	ck_assert(cJSON_IsBool(ok));
	ck_assert_msg(cJSON_IsTrue(ok) == want_ok, "%s: ok is %d, reason %s",
		      path, cJSON_IsTrue(ok), str(f, "reason"));
	if (want_ok)
		ck_assert_ptr_null(str(f, "reason"));
	else
		ck_assert_str_eq(str(f, "reason"), reason);
}

static void assert_counts(const cJSON *comp, double checked, double compliant)
{
	ck_assert(num(comp, "checked") == checked);
	ck_assert(num(comp, "compliant") == compliant);
	ck_assert(num(comp, "failed") == checked - compliant);
}

static struct compliance *make(const char *glob, const char *manifest,
			       bool require_marker)
{
	const char *globs[] = { glob };
	struct compliance *c = NULL;
	char err[256];
	int r = compliance_new(globs, glob ? 1 : 0, manifest, require_marker,
			       MARKER, &c, err, sizeof(err));

	ck_assert_msg(r == 0, "compliance_new: %d %s", r, err);
	return c;
}

/* --- the manifest parser ------------------------------------------------ */

struct collected {
	unsigned n;
	char paths[4][64];
	uint8_t sha[4][32];
};

static int collect(void *user, const char *path, const uint8_t sha256[32])
{
	struct collected *col = user;

	if (col->n < ARRAY_SIZE(col->paths)) {
		snprintf(col->paths[col->n], sizeof(col->paths[0]), "%s", path);
		memcpy(col->sha[col->n], sha256, 32);
	}
	col->n++;
	return 0;
}

static const struct {
	const char *text;
	unsigned n;
	const char *first, *second;
} good[] = {
	{ "", 0, NULL, NULL },
	{ "# only a comment\n\n   \n\t# indented comment\n", 0, NULL, NULL },
	{ HEX_A "  /etc/a.conf\n", 1, "/etc/a.conf", NULL },
	{ HEX_A " *bin.dat\n" HEX_U "  b c", 2, "bin.dat", "b c" },
	{ "# hdr\r\n" HEX_A "  a\r\n\r\n" HEX_A "  *b\n", 2, "a", "*b" },
	{ "  " HEX_A "  lead\n", 1, "lead", NULL },
	{ HEX_A "   two leading spaces kept\n", 1, " two leading spaces kept",
	  NULL },
};

START_TEST(manifest_good)
{
	struct collected col = { 0 };
	char err[256] = "";
	int r =
	    compliance_parse_manifest("m", good[_i].text, strlen(good[_i].text),
				      collect, &col, err, sizeof(err));

	ck_assert_msg(r == 0, "case %d: %d %s", _i, r, err);
	ck_assert_uint_eq(col.n, good[_i].n);
	if (good[_i].first) {
		ck_assert_str_eq(col.paths[0], good[_i].first);
		ck_assert_uint_eq(col.sha[0][0], 0x01);
		ck_assert_uint_eq(col.sha[0][31], 0xef);
	}
	if (good[_i].second)
		ck_assert_str_eq(col.paths[1], good[_i].second);
}
END_TEST

static const struct {
	const char *text;
	size_t len; /* 0: strlen */
	const char *msg;
} bad[] = {
	{ "zz\n", 0, "m:1: expected a SHA-256 of 64 hex digits at the start" },
	{ "# c\n\n" HEX_A "  ok\n0123  short\n", 0,
	  "m:4: expected a SHA-256 of 64 hex digits at the start" },
	{ HEX_A "0  long\n", 0,
	  "m:1: expected a SHA-256 of 64 hex digits at the start" },
	{ "SHA256 (a) = " HEX_A "\n", 0,
	  "m:1: expected a SHA-256 of 64 hex digits at the start" },
	{ HEX_A " a\n", 0,
	  "m:1: expected two spaces or \" *\" after the hash" },
	{ HEX_A "\ta\n", 0,
	  "m:1: expected two spaces or \" *\" after the hash" },
	{ "\n" HEX_A "\n", 0,
	  "m:2: expected two spaces or \" *\" after the hash" },
	{ HEX_A "  \n", 0, "m:1: no path after the hash" },
	{ HEX_A " *", 0, "m:1: no path after the hash" },
	{ "\\" HEX_A "  a\\nb\n", 0,
	  "m:1: escaped line (a name holding a newline or backslash) is not "
	  "supported" },
	{ HEX_A "  a\0b\n", 68, "m:1: NUL byte in line" },
};

START_TEST(manifest_bad)
{
	struct collected col = { 0 };
	char err[256] = "";
	size_t len = bad[_i].len ? bad[_i].len : strlen(bad[_i].text);
	int r = compliance_parse_manifest("m", bad[_i].text, len, collect, &col,
					  err, sizeof(err));

	ck_assert_msg(r == -EINVAL, "case %d: %d", _i, r);
	ck_assert_str_eq(err, bad[_i].msg);
}
END_TEST

START_TEST(manifest_limits)
{
	struct collected col = { 0 };
	char err[256] = "";
	size_t n = 64 + 2 + PATH_MAX;
	_cleanup_free_ char *text = malloc(COMPLIANCE_MANIFEST_MAX + 1);

	ck_assert_ptr_nonnull(text);
	memcpy(text, HEX_A "  ", 66);
	memset(text + 66, 'p', PATH_MAX);
	ck_assert_int_eq(compliance_parse_manifest("m", text, n, collect, &col,
						   err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "m:1: path longer than PATH_MAX");
	/* One byte shorter fits. */
	ck_assert_int_eq(compliance_parse_manifest("m", text, n - 1, collect,
						   &col, err, sizeof(err)),
			 0);

	memset(text, '\n', COMPLIANCE_MANIFEST_MAX + 1);
	ck_assert_int_eq(
	    compliance_parse_manifest("m", text, COMPLIANCE_MANIFEST_MAX,
				      collect, &col, err, sizeof(err)),
	    0);
	ck_assert_int_eq(
	    compliance_parse_manifest("m", text, COMPLIANCE_MANIFEST_MAX + 1,
				      collect, &col, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "m: larger than the 4194304-byte manifest cap");
}
END_TEST

static int refuse(void *user, const char *path, const uint8_t sha256[32])
{
	return -ENOMEM;
}

START_TEST(manifest_callback_error)
{
	char err[256] = "";
	const char *text = "# c\n" HEX_A "  a\n";

	ck_assert_int_eq(compliance_parse_manifest("m", text, strlen(text),
						   refuse, NULL, err,
						   sizeof(err)),
			 -ENOMEM);
	ck_assert_str_eq(err, "m:2: Cannot allocate memory");
}
END_TEST

/* --- compliance_new ---------------------------------------------------- */

START_TEST(new_errors)
{
	struct compliance *c = NULL;
	const char *globs[] = { "" };
	char err[512];
	char want[512];
	int r;

	ck_assert_int_eq(
	    compliance_new(NULL, 0, NULL, true, "", &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_int_eq(
	    compliance_new(NULL, 0, NULL, true, NULL, &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_int_eq(
	    compliance_new(globs, 1, NULL, false, NULL, &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "glob 1 is empty");
	ck_assert_int_eq(compliance_new(NULL, 0, at("absent"), false, NULL, &c,
					err, sizeof(err)),
			 -ENOENT);
	ck_assert_int_eq(
	    compliance_new(NULL, 0, dir, false, NULL, &c, err, sizeof(err)),
	    -EINVAL);

	/* A bad line: the message names the file and the line. */
	put_str("m", "# header\n" HEX_A "  a\n" HEX_A "0  x\n");
	r = compliance_new(NULL, 0, at("m"), false, NULL, &c, err, sizeof(err));
	ck_assert_int_eq(r, -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:3: expected a SHA-256 of 64 hex digits at the start",
		 at("m"));
	ck_assert_str_eq(err, want);

	/* The same path twice with two hashes can never comply. */
	put_str("m",
		HEX_A "  a\n" HEX_U "  ./a\n" HEX_B "  x\n" HEX_A "  ./x\n");
	r = compliance_new(NULL, 0, at("m"), false, NULL, &c, err, sizeof(err));
	ck_assert_int_eq(r, -EINVAL);
	snprintf(want, sizeof(want),
		 "%s:4: %s is listed again with a different hash (first on "
		 "line 3)",
		 at("m"), at("x"));
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(c);
	ck_assert_ptr_null(compliance_free(NULL));
}
END_TEST

/* --- reports ------------------------------------------------------------ */

START_TEST(all_compliant)
{
	const char *a = "a = 1 # " MARKER "\n", *b = MARKER, *d = "d " MARKER;
	char manifest[1024];
	struct compliance *c;
	cJSON *root, *comp;

	ck_assert_int_eq(mkdir(at("sub"), 0755), 0);
	put_str("a.conf", a);
	put_str("b.conf", b);
	put_str("sub/d.conf", d);
	/* Relative (also with "./"), absolute, and a "*" binary marker. */
	snprintf(manifest, sizeof(manifest),
		 "# governed files\n%s  a.conf\n%s *%s\n%s  ./sub//d.conf\n",
		 hex_of(a, strlen(a)), hex_of(b, strlen(b)), at("b.conf"),
		 hex_of(d, strlen(d)));
	put_str("m.sha256", manifest);

	c = make(at("*.conf"), at("m.sha256"), true);
	comp = report(c, &root);
	assert_counts(comp, 3, 3);
	ck_assert(num(comp, "ratio") == 1.0);
	ck_assert(num(comp, "files_omitted") == 0);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(comp, "files")),
			 3);
	assert_file(comp, at("a.conf"), "ok");
	assert_file(comp, at("b.conf"), "ok");
	assert_file(comp, at("sub/d.conf"), "ok");
	ck_assert_str_eq(str(file_entry(comp, at("a.conf")), "sha256"),
			 hex_of(a, strlen(a)));
	ck_assert_ptr_null(cJSON_GetObjectItem(comp, "unchecked"));
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

START_TEST(relative_manifest_path)
{
	const char *a = "x";
	char manifest[256];
	struct compliance *c;
	cJSON *root, *comp;

	ck_assert_int_eq(mkdir(at("etc"), 0755), 0);
	put_str("etc/a.conf", a);
	snprintf(manifest, sizeof(manifest), "%s  etc/a.conf\n",
		 hex_of(a, strlen(a)));
	put_str("m", manifest);
	ck_assert_int_eq(chdir(dir), 0);
	c = make(NULL, "m", false);
	/* Resolved at load: a later chdir does not move the files. */
	ck_assert_int_eq(chdir("/"), 0);
	comp = report(c, &root);
	assert_counts(comp, 1, 1);
	assert_file(comp, at("etc/a.conf"), "ok");
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

/* Set a file's mtime explicitly: a rewrite within one clock tick need not
 * move it, and the cache must see the change. */
static void set_mtime(const char *name, time_t sec)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { sec, 0 } };

	ck_assert_int_eq(utimensat(AT_FDCWD, at(name), ts, 0), 0);
}

START_TEST(cache_and_change)
{
	const char *a = "version 1 " MARKER, *b = "version 1 " MARKER;
	char manifest[512];
	struct compliance *c;
	cJSON *root, *comp;
	uint64_t n;

	put_str("a.conf", a);
	put_str("b.conf", b);
	set_mtime("a.conf", 1000000000);
	set_mtime("b.conf", 1000000000);
	snprintf(manifest, sizeof(manifest), "%s  a.conf\n%s  b.conf\n",
		 hex_of(a, strlen(a)), hex_of(b, strlen(b)));
	put_str("m", manifest);
	c = make(at("*.conf"), at("m"), true);

	comp = report(c, &root);
	assert_counts(comp, 2, 2);
	cJSON_Delete(root);
	ck_assert_uint_eq(compliance_hash_count(c), 2);

	/* Just written, so their ctime is racy: they are hashed again until
	 * it is old enough to trust. */
	comp = report(c, &root);
	cJSON_Delete(root);
	ck_assert_uint_eq(compliance_hash_count(c), 4);
	sleep(3);
	comp = report(c, &root);
	cJSON_Delete(root);
	ck_assert_uint_eq(compliance_hash_count(c), 6);

	/* Now cached: unchanged files are not read again. */
	comp = report(c, &root);
	assert_counts(comp, 2, 2);
	cJSON_Delete(root);
	ck_assert_uint_eq(compliance_hash_count(c), 6);

	/* Same size, new content. a's mtime moves; b's is put back where it
	 * was, so only its ctime tells. */
	put_str("a.conf", "version 2 " MARKER);
	put_str("b.conf", "version 3 " MARKER);
	set_mtime("a.conf", 1000000060);
	set_mtime("b.conf", 1000000000);
	comp = report(c, &root);
	n = compliance_hash_count(c);
	ck_assert_uint_eq(n, 8);
	assert_counts(comp, 2, 0);
	ck_assert(num(comp, "ratio") == 0.0);
	assert_file(comp, at("a.conf"), "mismatch");
	assert_file(comp, at("b.conf"), "mismatch");
	ck_assert_str_eq(str(file_entry(comp, at("a.conf")), "sha256"),
			 hex_of("version 2 " MARKER, strlen(a)));
	ck_assert_str_eq(str(file_entry(comp, at("a.conf")), "expected"),
			 hex_of(a, strlen(a)));
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

START_TEST(missing_file)
{
	char manifest[512];
	struct compliance *c;
	cJSON *root, *comp;
	const cJSON *f;

	put_str("here", "x");
	snprintf(manifest, sizeof(manifest), "%s  here\n%s  gone\n",
		 hex_of("x", 1), HEX_A);
	put_str("m", manifest);
	c = make(NULL, at("m"), false);
	comp = report(c, &root);
	assert_counts(comp, 2, 1);
	ck_assert(num(comp, "ratio") == 0.5);
	assert_file(comp, at("gone"), "missing");
	f = file_entry(comp, at("gone"));
	ck_assert_ptr_null(str(f, "sha256"));
	/* Failures come first. */
	ck_assert_str_eq(
	    str(cJSON_GetArrayItem(cJSON_GetObjectItem(comp, "files"), 0),
		"path"),
	    at("gone"));
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

/* A file of size bytes of filler with the marker at offset off (or none
 * when off is -1). */
static void put_marked(const char *name, size_t size, long off)
{
	_cleanup_free_ char *data = malloc(size);

	ck_assert_ptr_nonnull(data);
	memset(data, 'x', size);
	if (off >= 0)
		memcpy(data + off, MARKER, strlen(MARKER));
	put_file(name, data, size);
}

START_TEST(marker)
{
	const size_t k64 = 64 * 1024, ml = strlen(MARKER);
	struct compliance *c;
	cJSON *root, *comp;

	put_marked("start.conf", 100, 0);
	put_marked("end.conf", 3 * k64, (long)(3 * k64 - ml));
	put_marked("absent.conf", 3 * k64, -1);
	/* Straddles the first 64 KiB read: 5 bytes before, the rest after. */
	put_marked("split.conf", 2 * k64, (long)(k64 - 5));
	put_marked("split1.conf", 2 * k64, (long)(k64 - ml + 1));
	put_marked("second.conf", 2 * k64, (long)k64);
	/* Almost the marker on each side of the boundary, never whole. */
	{
		_cleanup_free_ char *data = malloc(2 * k64);

		memset(data, 'x', 2 * k64);
		memcpy(data + k64 - ml + 1, MARKER, ml - 1);
		memcpy(data + k64 + 1, MARKER + 1, ml - 1);
		put_file("near.conf", data, 2 * k64);
	}
	put_str("empty.conf", "");

	c = make(at("*.conf"), NULL, true);
	comp = report(c, &root);
	assert_counts(comp, 8, 5);
	assert_file(comp, at("start.conf"), "ok");
	assert_file(comp, at("end.conf"), "ok");
	assert_file(comp, at("split.conf"), "ok");
	assert_file(comp, at("split1.conf"), "ok");
	assert_file(comp, at("second.conf"), "ok");
	assert_file(comp, at("absent.conf"), "no_marker");
	assert_file(comp, at("near.conf"), "no_marker");
	assert_file(comp, at("empty.conf"), "no_marker");
	ck_assert_ptr_nonnull(str(file_entry(comp, at("near.conf")), "sha256"));
	cJSON_Delete(root);
	compliance_free(c);

	/* Not required: no marker is fine. */
	c = make(at("absent.conf"), NULL, false);
	comp = report(c, &root);
	assert_counts(comp, 1, 1);
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

/* Root reads through any permission, so "unreadable" is made of things
 * that fail for root too: a dangling symlink, a symlink loop, a manifest
 * entry that is a directory. */
START_TEST(unreadable)
{
	char manifest[1024];
	struct compliance *c;
	cJSON *root, *comp;

	put_str("real.conf", "x");
	ck_assert_int_eq(symlink(at("real.conf"), at("link.conf")), 0);
	ck_assert_int_eq(symlink(at("nowhere"), at("dangling.conf")), 0);
	ck_assert_int_eq(symlink(at("loop.conf"), at("loop.conf")), 0);
	ck_assert_int_eq(mkdir(at("dir.conf"), 0755), 0);
	ck_assert_int_eq(mkfifo(at("fifo.conf"), 0644), 0);
	snprintf(manifest, sizeof(manifest),
		 "%s  real.conf\n%s  link.conf\n%s  dangling.conf\n"
		 "%s  loop.conf\n%s  dir.conf\n",
		 hex_of("x", 1), hex_of("x", 1), HEX_A, HEX_A, HEX_A);
	put_str("m", manifest);

	c = make(at("*.conf"), at("m"), false);
	comp = report(c, &root);
	/* The FIFO matched the glob only and is not a regular file: not
	 * checked (nor opened, which could block). */
	assert_counts(comp, 5, 2);
	assert_file(comp, at("real.conf"), "ok");
	assert_file(comp, at("link.conf"), "ok"); /* judged by its target */
	assert_file(comp, at("dangling.conf"), "unreadable");
	assert_file(comp, at("loop.conf"), "unreadable");
	assert_file(comp, at("dir.conf"), "unreadable");
	cJSON_Delete(root);
	compliance_free(c);

	/* A glob alone: the directory and FIFO are skipped, the dangling
	 * link is a file we cannot read. */
	c = make(at("*.conf"), NULL, false);
	comp = report(c, &root);
	assert_counts(comp, 4, 2);
	assert_file(comp, at("dangling.conf"), "unreadable");
	cJSON_Delete(root);
	compliance_free(c);

	/* A file replaced by a dangling symlink between two reports. */
	c = make(at("real.conf"), NULL, false);
	comp = report(c, &root);
	assert_counts(comp, 1, 1);
	cJSON_Delete(root);
	ck_assert_int_eq(unlink(at("real.conf")), 0);
	ck_assert_int_eq(symlink(at("nowhere"), at("real.conf")), 0);
	comp = report(c, &root);
	assert_counts(comp, 1, 0);
	assert_file(comp, at("real.conf"), "unreadable");
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

START_TEST(not_in_manifest)
{
	char manifest[256];
	struct compliance *c;
	cJSON *root, *comp;

	put_str("a.conf", "a");
	put_str("extra.conf", "e");
	snprintf(manifest, sizeof(manifest), "%s  a.conf\n", hex_of("a", 1));
	put_str("m", manifest);
	c = make(at("*.conf"), at("m"), false);
	comp = report(c, &root);
	assert_counts(comp, 2, 1);
	assert_file(comp, at("extra.conf"), "not_in_manifest");
	ck_assert_str_eq(str(file_entry(comp, at("extra.conf")), "sha256"),
			 hex_of("e", 1));
	cJSON_Delete(root);
	compliance_free(c);

	/* An empty manifest: everything matched is not in it. */
	put_str("m", "# nothing yet\n");
	c = make(at("*.conf"), at("m"), false);
	comp = report(c, &root);
	assert_counts(comp, 2, 0);
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

START_TEST(no_matches)
{
	struct compliance *c = make(at("*.nothing"), NULL, true);
	cJSON *root, *comp = report(c, &root);

	assert_counts(comp, 0, 0);
	ck_assert(num(comp, "ratio") == 1.0);
	ck_assert(num(comp, "files_omitted") == 0);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(comp, "files")),
			 0);
	cJSON_Delete(root);
	compliance_free(c);

	/* And nothing configured at all. */
	c = make(NULL, NULL, false);
	comp = report(c, &root);
	assert_counts(comp, 0, 0);
	ck_assert(num(comp, "ratio") == 1.0);
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

static const struct {
	unsigned good, bad;
	double ratio;
} ratios[] = {
	{ 1, 0, 1.0 }, { 3, 1, 0.75 },	   { 2, 1, 0.666667 },
	{ 0, 2, 0.0 }, { 1, 2, 0.333333 },
};

START_TEST(ratio_math)
{
	struct compliance *c;
	cJSON *root, *comp;
	char name[32];

	for (unsigned i = 0; i < ratios[_i].good; i++) {
		snprintf(name, sizeof(name), "g%u.conf", i);
		put_str(name, MARKER);
	}
	for (unsigned i = 0; i < ratios[_i].bad; i++) {
		snprintf(name, sizeof(name), "b%u.conf", i);
		put_str(name, "no marker");
	}
	c = make(at("*.conf"), NULL, true);
	comp = report(c, &root);
	assert_counts(comp, ratios[_i].good + ratios[_i].bad, ratios[_i].good);
	ck_assert_double_eq_tol(num(comp, "ratio"), ratios[_i].ratio, 1e-6);
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

START_TEST(files_cap)
{
	const unsigned total = COMPLIANCE_FILES_LISTED_MAX + 6, nbad = 3;
	struct compliance *c;
	cJSON *root, *comp, *files, *f;
	char name[32];
	unsigned i = 0;

	/* The failures sort last by name, so only their ordering puts them
	 * first. */
	for (unsigned k = 0; k < total; k++) {
		snprintf(name, sizeof(name), "%c%03u.conf",
			 k < nbad ? 'z' : 'a', k);
		put_str(name, k < nbad ? "bad" : MARKER);
	}
	c = make(at("*.conf"), NULL, true);
	comp = report(c, &root);
	assert_counts(comp, total, total - nbad);
	files = cJSON_GetObjectItem(comp, "files");
	ck_assert_int_eq(cJSON_GetArraySize(files),
			 COMPLIANCE_FILES_LISTED_MAX);
	ck_assert(num(comp, "files_omitted") ==
		  total - COMPLIANCE_FILES_LISTED_MAX);
	cJSON_ArrayForEach(f, files)
	{
		bool ok = cJSON_IsTrue(cJSON_GetObjectItem(f, "ok"));

		ck_assert_msg(ok == (i >= nbad), "entry %u", i);
		if (!ok)
			ck_assert_str_eq(str(f, "reason"), "no_marker");
		i++;
	}
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

START_TEST(too_large)
{
	struct compliance *c;
	cJSON *root, *comp;
	int fd;

	/* Sparse: no disk used, and never read. */
	fd = open(at("huge.img"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)COMPLIANCE_FILE_MAX + 1), 0);
	close(fd);
	c = make(at("*.img"), NULL, false);
	comp = report(c, &root);
	assert_counts(comp, 1, 0);
	assert_file(comp, at("huge.img"), "too_large");
	ck_assert_uint_eq(compliance_hash_count(c), 0);
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

/* Any mtime a file can carry is handled; one in the future keeps the file
 * out of the cache (it cannot be told apart from a racy one). */
START_TEST(future_mtime)
{
	struct compliance *c;
	cJSON *root, *comp;
	struct stat st;

	put_str("f.conf", MARKER);
	set_mtime("f.conf", (time_t)100000000000LL);
	ck_assert_int_eq(stat(at("f.conf"), &st), 0);
	c = make(at("f.conf"), NULL, true);
	for (int i = 1; i <= 2; i++) {
		comp = report(c, &root);
		assert_counts(comp, 1, 1);
		cJSON_Delete(root);
		ck_assert_uint_eq(compliance_hash_count(c), (uint64_t)i);
	}
	compliance_free(c);
}
END_TEST

START_TEST(dedup_glob_and_manifest)
{
	const char *globs[] = { at("*.conf"), at("a.*"), at("a.conf") };
	char manifest[256], err[256];
	struct compliance *c;
	cJSON *root, *comp;

	put_str("a.conf", "a");
	snprintf(manifest, sizeof(manifest), "%s  %s\n%s  ./a.conf\n",
		 hex_of("a", 1), at("a.conf"), hex_of("a", 1));
	put_str("m", manifest);
	ck_assert_int_eq(compliance_new(globs, 3, at("m"), false, NULL, &c, err,
					sizeof(err)),
			 0);
	comp = report(c, &root);
	assert_counts(comp, 1, 1);
	cJSON_Delete(root);
	/* A file that leaves is evicted from the cache and forgotten. */
	ck_assert_int_eq(unlink(at("a.conf")), 0);
	comp = report(c, &root);
	assert_counts(comp, 1, 0);
	assert_file(comp, at("a.conf"), "missing");
	cJSON_Delete(root);
	compliance_free(c);
}
END_TEST

Suite *make_suite(void)
{
	Suite *s = suite_create("compliance");
	TCase *t = tcase_create("manifest");

	tcase_add_loop_test(t, manifest_good, 0, ARRAY_SIZE(good));
	tcase_add_loop_test(t, manifest_bad, 0, ARRAY_SIZE(bad));
	tcase_add_test(t, manifest_limits);
	tcase_add_test(t, manifest_callback_error);
	suite_add_tcase(s, t);

	t = tcase_create("report");
	tcase_add_checked_fixture(t, setup, teardown);
	/* cache_and_change sleeps past the racy window. */
	tcase_set_timeout(t, 30);
	tcase_add_test(t, new_errors);
	tcase_add_test(t, all_compliant);
	tcase_add_test(t, relative_manifest_path);
	tcase_add_test(t, cache_and_change);
	tcase_add_test(t, missing_file);
	tcase_add_test(t, marker);
	tcase_add_test(t, unreadable);
	tcase_add_test(t, not_in_manifest);
	tcase_add_test(t, no_matches);
	tcase_add_loop_test(t, ratio_math, 0, ARRAY_SIZE(ratios));
	tcase_add_test(t, files_cap);
	tcase_add_test(t, too_large);
	tcase_add_test(t, future_mtime);
	tcase_add_test(t, dedup_glob_and_manifest);
	suite_add_tcase(s, t);
	return s;
}
