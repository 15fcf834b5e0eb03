/* clang-format off */
/* fuzz-sources: cli/render.c cli/table.c cli/duration.c cli/settings.c cli/url.c */
/* clang-format on */
/* libFuzzer target: what acgsctl takes from outside besides the JSON parse
 * itself: every renderer over any JSON document (the server's answers, and
 * the agents' text inside them; alerts and silences included), spans, the
 * cleaning and cutting of table cells, the [acgsctl] config file, and
 * durations. */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* run.sh adds no -I for cli/: reach the headers by path. */
#include "../../cli/duration.h"
#include "../../cli/render.h"
#include "../../cli/settings.h"
#include "../../cli/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*render_fn)(const cJSON *, int64_t, struct buf *);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const render_fn renderers[] = {
		render_fleet,	   render_nodes,    render_node,
		render_history,	   render_services, render_service,
		render_compliance, render_alerts,   render_alert,
		render_silences,   render_silence,  render_silence_id,
	};
	char *text = malloc(size + 1);
	struct buf out;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	cJSON *doc = cJSON_ParseWithLength(text, size);
	for (size_t i = 0; doc && i < sizeof(renderers) / sizeof(*renderers);
	     i++) {
		buf_init(&out, 1 << 20);
		renderers[i](doc, 1795548700000LL, &out);
		buf_release(&out);
	}
	cJSON_Delete(doc);

	/* Spans from any 8 bytes: two units at most, up to 99999 days. */
	if (size >= 8) {
		int64_t ms;
		char span[32];
		memcpy(&ms, data, sizeof(ms));
		render_span(ms, span);
		if (strlen(span) > 9)
			abort(); /* "99998d23h" is the longest */
	}

	/* The first byte picks the cut width, the rest is the cell. */
	buf_init(&out, 1 << 20);
	if (size && table_clean(&out, text + 1, (unsigned char)text[0]) == 0 &&
	    out.data && (unsigned char)text[0] &&
	    table_width(out.data) > (unsigned char)text[0])
		abort(); /* a cut cell wider than its cap */
	buf_release(&out);

	struct settings_file f;
	struct conf_error err;
	settings_file_load_string("fuzz.conf", text, size, &f, &err);
	settings_file_release(&f);

	int64_t v;
	bool dur;
	duration_parse(text, size & 1, &v);
	duration_or_time(text, &dur, &v);
	free(text);
	return 0;
}
