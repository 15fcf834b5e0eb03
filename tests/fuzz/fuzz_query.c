/* fuzz-sources: server/apiparse.c */
/* libFuzzer target: the API's path and query parsing. The input is a raw
 * request target ("/path?query"); the path is split and matched against
 * the server's route shapes, each query argument decoded as api.c does, and
 * the whole input also read as an Authorization header value. */
#include "config.h"

#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apiparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {
	"/",
	"/health/live",
	"/api/v1/nodes/{id}",
	"/api/v1/nodes/{id}/history",
	"/api/v1/chaos/{name}/runs/{run}",
};

static void query(const char *q, char *scratch)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		size_t eq = strcspn(q, "=");
		if (eq > n)
			eq = n;
		(void)apiparse_pct_decode(q, eq, scratch);
		if (eq < n &&
		    apiparse_pct_decode(q + eq + 1, n - eq - 1, scratch) >= 0) {
			/* Values as the history route reads them. */
			int64_t ms;
			if (apiparse_duration_ms(scratch, &ms) == 0 &&
			    (ms < 0 || ms > 3650ll * 86400 * 1000))
				abort();
			(void)apiparse_time_ms(scratch, 1764000000000, &ms);
		}
		q += n;
		if (*q == '&')
			q++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	char *scratch = malloc(size + 1);
	if (!in || !scratch)
		goto out;
	memcpy(in, data, size);
	in[size] = '\0';

	const char *tok;
	size_t len;
	if (apiparse_bearer(in, 512, &tok, &len) == 0 &&
	    (len == 0 || len > 512 || tok < in || tok + len > in + size))
		abort();

	char *qm = strchr(in, '?');
	if (qm)
		*qm = '\0';
	struct apiparse_path p;
	if (apiparse_split(in, scratch, size + 1, &p) == 0) {
		for (size_t i = 0; i < sizeof(patterns) / sizeof(*patterns);
		     i++) {
			struct apiparse_param params[APIPARSE_MAX_PARAMS];
			size_t np;
			if (apiparse_match(patterns[i], &p, params, &np))
				for (size_t k = 0; k < np; k++)
					if (!params[k].value[0])
						abort();
		}
	}
	(void)apiparse_pattern_check(in);
	if (qm)
		query(qm + 1, scratch);
out:
	free(in);
	free(scratch);
	return 0;
}
