/* libFuzzer target: the wire decoder on any topic and payload. The first
 * byte picks the topic kind; the rest is the payload. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const topics[] = {
		"acgs/v1/n1/metrics", "acgs/v1/n1/state",
		"acgs/v1/n1/birth",   "acgs/v1/n1/events",
		"acgs/v1/n1/cmd",     "acgs/v1/n1/cmd/result",
		"acgs/v1/n2/metrics", "acgs/v1/+/metrics",
	};
	struct wire_msg m;
	char detail[256];

	if (size < 1)
		return 0;
	const char *topic =
	    topics[data[0] % (sizeof(topics) / sizeof(topics[0]))];
	if (wire_decode("acgs/v1", topic, data + 1, size - 1,
			"cdd01ef066bc6cf2", 1795541401123LL, &m, detail,
			sizeof(detail)) == WIRE_OK)
		wire_msg_release(&m);
	return 0;
}
