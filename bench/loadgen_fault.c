#include "config.h"

#include "loadgen_fault.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static bool fraction_ok(double v)
{
	return isfinite(v) && v >= 0 && v <= 1;
}

static bool time_ok(double v)
{
	return isfinite(v) && v >= 0;
}

static bool is_prime(uint64_t p)
{
	if (p < 2)
		return false;
	for (uint64_t d = 2; d * d <= p; d++)
		if (p % d == 0)
			return false;
	return true;
}

/* The smallest prime from 0.618 N up that does not divide N: the golden
 * ratio step spreads consecutive ranks far apart over the ids. */
static uint64_t pick_mult(uint64_t n)
{
	uint64_t p = (uint64_t)((double)n * 0.6180339887);

	if (n <= 2)
		return 1;
	for (;; p++)
		if (is_prime(p) && n % p != 0)
			return p;
}

/* The inverse of a mod n (gcd(a, n) = 1), by the extended Euclidean
 * algorithm. */
static uint64_t inverse_mod(uint64_t a, uint64_t n)
{
	int64_t t = 0, t1 = 1, r = (int64_t)n, r1 = (int64_t)(a % n);

	if (n == 1)
		return 0;
	while (r1 != 0) {
		int64_t q = r / r1, x;
		x = t - q * t1;
		t = t1;
		t1 = x;
		x = r - q * r1;
		r = r1;
		r1 = x;
	}
	return (uint64_t)(t < 0 ? t + (int64_t)n : t);
}

int loadgen_fault_init(struct loadgen_fault *f, uint64_t nodes,
		       const struct loadgen_fault_options *o)
{
	if (nodes == 0 || nodes > UINT32_MAX ||
	    !fraction_ok(o->down_fraction) || !fraction_ok(o->flap_fraction) ||
	    o->down_fraction + o->flap_fraction > 1 || !time_ok(o->down_at_s) ||
	    !time_ok(o->up_at_s) || !time_ok(o->flap_high_s) ||
	    !time_ok(o->flap_low_s))
		return -EINVAL;
	if (o->up_at_s > 0 && o->up_at_s <= o->down_at_s)
		return -EINVAL;
	if (o->flap_fraction > 0 &&
	    (!(o->flap_high_s > 0) || !(o->flap_low_s > 0)))
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->o = *o;
	f->nodes = nodes;
	f->down = (uint64_t)llround(o->down_fraction * (double)nodes);
	f->flap = (uint64_t)llround(o->flap_fraction * (double)nodes);
	/* Two fractions that each round up may pass N together. */
	if (f->down + f->flap > nodes)
		f->flap = nodes - f->down;
	f->mult = pick_mult(nodes);
	f->inv = inverse_mod(f->mult, nodes);
	return 0;
}

enum loadgen_role loadgen_fault_role(const struct loadgen_fault *f, uint64_t i,
				     uint64_t *ret_rank)
{
	/* nodes <= 1e6 and inv < nodes: the product fits easily. */
	uint64_t pos = (i * f->inv) % f->nodes;
	enum loadgen_role role = LOADGEN_ROLE_NORMAL;
	uint64_t rank = pos - f->down - f->flap;

	if (pos < f->down) {
		role = LOADGEN_ROLE_DOWN;
		rank = pos;
	} else if (pos < f->down + f->flap) {
		role = LOADGEN_ROLE_FLAP;
		rank = pos - f->down;
	}
	if (ret_rank)
		*ret_rank = rank;
	return role;
}

bool loadgen_fault_flap_high(const struct loadgen_fault *f, uint64_t rank,
			     double t_s)
{
	double period = f->o.flap_high_s + f->o.flap_low_s;

	if (f->flap == 0 || !(period > 0))
		return false;
	double phase =
	    fmod(t_s + (double)rank * period / (double)f->flap, period);
	if (phase < 0)
		phase += period;
	return phase < f->o.flap_high_s;
}

bool loadgen_fault_is_down(const struct loadgen_fault *f, double t_s)
{
	if (f->down == 0 || t_s < f->o.down_at_s)
		return false;
	return f->o.up_at_s <= 0 || t_s < f->o.up_at_s;
}

static bool word_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

int loadgen_fault_event_line(char *out, size_t outlen, const char *event,
			     const char *node, int64_t ms)
{
	int n;

	if (!word_ok(event) || !word_ok(node))
		return -EINVAL;
	n = snprintf(out, outlen, "%s %s %" PRId64 "\n", event, node, ms);
	if (n < 0 || (size_t)n >= outlen)
		return -E2BIG;
	return n;
}
