/* libFuzzer target: the YAML document loader on any bytes (policies, alert
 * rules and experiments are read through it). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "yamldoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[YAMLDOC_ERR_LEN];
	cJSON *doc = NULL;

	if (yamldoc_load_string("fuzz", (const char *)data, size, &doc, err,
				sizeof(err)) == 0) {
		/* what was accepted must print as JSON */
		char *s = cJSON_PrintUnformatted(doc);
		if (!s)
			abort();
		free(s);
		cJSON_Delete(doc);
	}
	return 0;
}
