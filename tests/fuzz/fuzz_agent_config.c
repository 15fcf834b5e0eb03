/* fuzz-sources: agent/agent_config.c agent/probe.c agent/curlapi.c */
/* libFuzzer target: the agent's INI configuration loader (inih, key
 * tables, labels, probes, cross-key rules). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config *cfg = NULL;
	struct conf_error err;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* password_file is read from disk: keep the fuzzer off the file system
	 * by letting it reach the key but not a real path (it fails cleanly).
	 */
	if (agent_config_load_string("fuzz.conf", text, size, &cfg, &err) == 0)
		agent_config_free(cfg);
	free(text);
	return 0;
}
