/* fuzz-sources: server/ingest.c */
/* libFuzzer target: a sequence of messages through ingest (validation plus
 * the per-node seq window, boots and states). The input is split on 0xff
 * bytes; in each piece the first byte picks the topic, the rest is the
 * payload, so the fuzzer can build streams that exercise the state. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const topics[] = {
		"acgs/v1/n1/metrics", "acgs/v1/n1/state",
		"acgs/v1/n1/birth",   "acgs/v1/n2/metrics",
		"acgs/v1/n2/state",   "acgs/v1/n1/events",
		"acgs/v1/n1/cmd",     "acgs/v1/n3/cmd/result",
	};
	struct ingest *in;
	struct ingest_result res;
	size_t start = 0;

	if (ingest_new("acgs/v1", "cdd01ef066bc6cf2", 2, &in) < 0)
		return 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && data[i] != 0xff)
			continue;
		if (i > start) {
			const char *topic =
			    topics[data[start] %
				   (sizeof(topics) / sizeof(topics[0]))];
			ingest_handle(in, topic, data + start + 1,
				      i - start - 1, 1795541401123LL, &res);
			ingest_result_release(&res);
		}
		start = i + 1;
	}
	ingest_free(in);
	return 0;
}
