/* fuzz-sources: agent/collectors/parse.c */
/* libFuzzer target: the parsers of /proc files. The first byte picks the
 * format; the rest is the file's content. The kernel is trusted less than
 * it deserves here, so that a container's fake /proc, a FUSE mount or a
 * future format change can never crash the agent. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "collectors/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_disk(void *ctx, const struct parse_disk *d)
{
	(void)ctx;
	(void)d;
}

static void on_net(void *ctx, const struct parse_netdev *n)
{
	(*(size_t *)ctx) += strlen(n->name);
}

static void on_mount(void *ctx, const struct parse_mount *m)
{
	(*(size_t *)ctx) += strlen(m->root) + strlen(m->mount) +
			    strlen(m->fstype) + strlen(m->source);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parse_cpu cores[8];
	union {
		struct parse_stat stat;
		struct parse_meminfo mem;
		struct parse_loadavg load;
		struct parse_psi psi;
		struct parse_filenr filenr;
		double uptime;
	} out;
	size_t sink = 0;

	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 9) {
	case 0:
		parse_stat(text, len, &out.stat, cores, 8);
		break;
	case 1:
		parse_meminfo(text, len, &out.mem);
		break;
	case 2:
		parse_loadavg(text, len, &out.load);
		break;
	case 3:
		parse_psi(text, len, &out.psi);
		break;
	case 4:
		parse_diskstats(text, len, on_disk, NULL);
		break;
	case 5:
		parse_netdev(text, len, on_net, &sink);
		break;
	case 6:
		parse_mountinfo(text, len, on_mount, &sink);
		break;
	case 7:
		parse_filenr(text, len, &out.filenr);
		break;
	default:
		parse_uptime(text, len, &out.uptime);
		break;
	}
	return 0;
}
