#include "config.h"

#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "timeutil.h"

static const struct {
	char unit;
	int64_t secs;
} units[] = {
	{ 'w', 7 * 86400 }, { 'd', 86400 }, { 'h', 3600 },
	{ 'm', 60 },	    { 's', 1 },
};

static int64_t unit_secs(char c)
{
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (units[i].unit == c)
			return units[i].secs;
	return 0;
}

int duration_parse(const char *s, bool bare_seconds, int64_t *ret_s)
{
	int64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		int64_t n = 0;
		const char *start = p;
		/* Digits by hand: strtoll would take signs, spaces and hex. */
		while (*p >= '0' && *p <= '9') {
			if (n > DURATION_MAX_S)
				return -ERANGE;
			n = n * 10 + (*p - '0');
			p++;
		}
		if (p == start)
			return -EINVAL;
		int64_t mult = unit_secs(*p);
		if (!mult) {
			/* A bare number only as the whole string. */
			if (*p || start != s || !bare_seconds)
				return -EINVAL;
			mult = 1;
		} else {
			p++;
		}
		if (n > DURATION_MAX_S / mult)
			return -ERANGE;
		total += n * mult;
		if (total > DURATION_MAX_S)
			return -ERANGE;
	}
	if (total == 0)
		return -EINVAL;
	*ret_s = total;
	return 0;
}

void duration_format(int64_t secs, char out[DURATION_STR_LEN])
{
	size_t used = 0;

	out[0] = '\0';
	if (secs <= 0) {
		snprintf(out, DURATION_STR_LEN, "%llds",
			 secs < 0 ? (long long)secs : 0LL);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units) && secs; i++) {
		int64_t n = secs / units[i].secs;
		if (!n)
			continue;
		secs -= n * units[i].secs;
		int w = snprintf(out + used, DURATION_STR_LEN - used, "%lld%c",
				 (long long)n, units[i].unit);
		if (w < 0 || (size_t)w >= DURATION_STR_LEN - used)
			return;
		used += (size_t)w;
	}
}

int duration_or_time(const char *s, bool *ret_is_duration, int64_t *ret_value)
{
	int64_t v;
	int r = duration_parse(s, false, &v);

	if (r == 0) {
		*ret_is_duration = true;
		*ret_value = v;
		return 0;
	}
	if (r == -ERANGE)
		return r;
	if (time_parse_rfc3339(s, &v) < 0)
		return -EINVAL;
	*ret_is_duration = false;
	*ret_value = v;
	return 0;
}
