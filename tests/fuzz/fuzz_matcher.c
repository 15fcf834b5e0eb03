/* fuzz-sources: server/matcher.c */
/* libFuzzer target: label matchers as operators write them (route config,
 * silences through the API, as text and as JSON). Whatever parses must
 * format and parse back to as many matchers. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "matcher.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct label labels[] = { { "node", "web-1" },
					       { "severity", "critical" } };
	char *in = malloc(size + 1), err[256], text[16384];
	struct matchers ms, back;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (matchers_parse(in, &ms, err, sizeof(err)) == 0) {
		(void)matchers_match(&ms, labels, 2);
		matchers_format(&ms, text, sizeof(text));
		if (matchers_parse(text, &back, err, sizeof(err)) != 0 ||
		    back.n != ms.n)
			abort();
		matchers_release(&back);
		matchers_release(&ms);
	}
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	if (j && matchers_from_json(j, &ms, err, sizeof(err)) == 0) {
		(void)matchers_match(&ms, labels, 2);
		matchers_release(&ms);
	}
	cJSON_Delete(j);
	free(in);
	return 0;
}
