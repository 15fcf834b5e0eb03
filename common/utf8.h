/* UTF-8 decoding with one definition of "valid", shared by everything that
 * writes or measures text from outside (JSON output, notification payloads,
 * alert templates, acgsctl's tables). */
#ifndef ACGS_UTF8_H
#define ACGS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode the sequence at s (n > 0 bytes available). Returns its length
 * (1-4) and sets *cp when cp is not NULL, or 0 when the bytes there are not
 * a valid sequence: overlong, a surrogate, past U+10FFFF, or cut short. */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Whether the NUL-terminated string s is valid UTF-8 throughout. */
bool utf8_valid_str(const char *s);

#endif
