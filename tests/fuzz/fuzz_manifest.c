/* fuzz-sources: agent/compliance.c */
/* libFuzzer target for the sha256sum-format manifest parser. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "compliance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the parser promises each entry: a non-empty, NUL-terminated path
 * shorter than PATH_MAX. Reading every byte also lets ASan see them. */
static int entry(void *user, const char *path, const uint8_t sha256[32])
{
	size_t *n = user;
	size_t len = strlen(path);

	assert(len > 0 && len < PATH_MAX);
	*n += len + sha256[0] + sha256[31];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	size_t n = 0;
	int r = compliance_parse_manifest("fuzz", (const char *)data, size,
					  entry, &n, err, sizeof(err));

	/* A refusal always says where. */
	assert(r == 0 || (r == -EINVAL && strncmp(err, "fuzz:", 5) == 0));
	return 0;
}
