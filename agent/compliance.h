/* Hash compliance: are the governed files on this node the ones the
 * manifest says, and do they carry the constitutional hash?
 *
 * A struct compliance holds the configuration (globs, a sha256sum-format
 * manifest, the marker) and a cache of file hashes keyed on what fstat(2)
 * says, so an unchanged file is not read again. Symlinks are followed: a
 * file is judged by its target, and a link whose target is gone is
 * "unreadable". Not thread-safe: one caller at a time. */
#ifndef ACGS_COMPLIANCE_H
#define ACGS_COMPLIANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsonw.h"

/* Limits; reaching one is reported, never fatal to the agent. */
#define COMPLIANCE_MANIFEST_MAX	    (4u << 20)	 /* bytes of manifest text */
#define COMPLIANCE_FILE_MAX	    (1ull << 30) /* larger is "too_large" */
#define COMPLIANCE_MARKER_MAX	    4096	 /* bytes of marker */
#define COMPLIANCE_FILES_LISTED_MAX 64		 /* entries in "files" */
#define COMPLIANCE_CACHE_MAX	    4096	 /* paths whose hash is kept */
#define COMPLIANCE_CHECK_MAX	    65536	 /* paths checked per report */

struct compliance;

/* globs: patterns as glob(3) takes them (nglobs may be 0); matches that are
 * not regular files are skipped. manifest_path: a sha256sum-format file
 * ("<64 hex>  <path>" or "<64 hex> *<path>", '#' comments and blank lines
 * allowed), or NULL; relative paths in it are relative to its directory.
 * require_marker: every checked file must contain marker (then non-empty,
 * at most COMPLIANCE_MARKER_MAX bytes). The manifest is loaded and
 * validated now: a bad one gives -EINVAL and err (if not NULL, errlen
 * bytes) "<path>:<line>: <what>" ("<path>: <what>" for faults of the whole
 * file). Returns 0 and *ret (free with compliance_free), or a negative
 * errno. */
int compliance_new(const char *const *globs, size_t nglobs,
		   const char *manifest_path, bool require_marker,
		   const char *marker, struct compliance **ret, char *err,
		   size_t errlen);

/* NULL-safe; returns NULL. */
struct compliance *compliance_free(struct compliance *c);

/* Check every file now (globs are expanded again each time: files come and
 * go) and write "compliance": {...} into the JSON object w has open:
 * ratio, checked, compliant, failed, files (failures first, then ok ones,
 * at most COMPLIANCE_FILES_LISTED_MAX, each with path, ok, reason when
 * failed, sha256 when known, expected on a mismatch), files_omitted, and
 * "unchecked" only when more than COMPLIANCE_CHECK_MAX paths matched.
 * Returns 0 or a negative errno (-ENOMEM, or w's sticky error); on -ENOMEM
 * nothing is written. */
int compliance_report(struct compliance *c, struct jsonw *w);

/* How many files have been read and hashed since compliance_new: a
 * diagnostic, and how the tests see the cache at work. */
uint64_t compliance_hash_count(const struct compliance *c);

/* Parse manifest text of len bytes (it need not be NUL-terminated; at most
 * COMPLIANCE_MANIFEST_MAX). Calls entry for each entry with the path as
 * written (NUL-terminated, shorter than PATH_MAX) and its hash; a negative
 * return from entry stops the parse and is returned. Returns 0, or -EINVAL
 * with err set to "<name>:<line>: <what>". Lines escaped with a leading
 * '\' (names holding a newline or backslash) are rejected; a CR before the
 * LF is dropped. */
int compliance_parse_manifest(const char *name, const char *text, size_t len,
			      int (*entry)(void *user, const char *path,
					   const uint8_t sha256[32]),
			      void *user, char *err, size_t errlen);

#endif
