/* fuzz-sources: server/apibody.c */
/* libFuzzer target: the API's request bodies (POST /api/v1/tokens). An
 * accepted body must give a name and role the database would take. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apibody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct apibody_token t;
	char err[256];

	if (apibody_token((const char *)data, size, &t, err, sizeof(err)) ==
	    0) {
		size_t n = strlen(t.name);
		if (n == 0 || n > APIBODY_NAME_MAX)
			abort();
		if (strcmp(t.role, "viewer") && strcmp(t.role, "operator") &&
		    strcmp(t.role, "admin"))
			abort();
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
	return 0;
}
