/* fuzz-sources: server/alertrule.c */
/* libFuzzer target: alert rule files from memory (alertrule_set_add_string)
 * and templates. Whatever loads must render, and every rendering must be
 * NUL-terminated valid UTF-8 within its buffer. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alertrule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s[0..n) is valid UTF-8 (no overlongs, surrogates or cut ends). */
static int valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		unsigned lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 2;
		else if (c >= 0xe0 && c <= 0xef)
			k = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 4;
		else
			return 0;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (i + k > n || s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t j = 2; j < k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

static const char *node_label(void *user, const char *key)
{
	(void)user;
	return strcmp(key, "rack") == 0 ? "r\xff\xe2\x82" : NULL;
}

static void render_checked(const char *tmpl, const struct alertrule_ctx *ctx,
			   size_t outlen, int must_be_valid)
{
	char out[2048];
	int r;

	memset(out, 0x55, sizeof(out));
	r = alertrule_render(tmpl, ctx, out, outlen);
	if (must_be_valid && r == -EINVAL)
		abort(); /* a template that loaded must render */
	if (r != 0 && r != -E2BIG && r != -EINVAL)
		abort();
	size_t len = strnlen(out, outlen);
	if (len >= outlen)
		abort();
	if (!valid_utf8((const unsigned char *)out, len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ALERTRULE_ERR_LEN];
	struct alertrule_set *s = alertrule_set_new();
	size_t outlen = size ? (size_t)data[0] % 64 + 1 : 1;

	if (!s)
		return 0;
	if (alertrule_set_add_string(s, "fuzz", (const char *)data, size, err,
				     sizeof(err)) == 0) {
		for (size_t i = 0; i < s->n; i++) {
			const struct alertrule *r = &s->rules[i];
			struct alertrule_ctx ctx = { .rule = r,
						     .node = "node-\xc3\xa9",
						     .service = "svc",
						     .probe = "p",
						     .value = 0.5,
						     .node_label = node_label };
			if (r->nlabels > ALERTRULE_MAX_LABELS ||
			    r->timing.for_ms < 0 ||
			    r->timing.for_ms > ALERTRULE_MAX_DURATION_MS ||
			    !isfinite(r->cond.threshold) ||
			    alertrule_set_find(s, r->name) != r)
				abort();
			for (size_t j = 1; j < r->nlabels; j++)
				if (strcmp(r->labels[j - 1].key,
					   r->labels[j].key) >= 0)
					abort();
			render_checked(r->summary, &ctx, 2048, 1);
			render_checked(r->description, &ctx, outlen, 1);
		}
	} else if (strlen(err) == 0) {
		abort(); /* every failure says why */
	}
	alertrule_set_free(s);

	/* the input itself as a template */
	char *tmpl = malloc(size + 1);
	if (!tmpl)
		return 0;
	memcpy(tmpl, data, size);
	tmpl[size] = '\0';
	struct alertrule_ctx ctx = { .node = "n",
				     .value = NAN,
				     .node_label = node_label };
	render_checked(tmpl, &ctx, outlen, 0);
	render_checked(tmpl, &ctx, 2048, 0);
	free(tmpl);
	return 0;
}
