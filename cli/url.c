#include "config.h"

#include "url.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

static int append_encoded(struct buf *b, const char *s, bool encode_dots)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && !r; p++) {
		if (unreserved(*p) && !(encode_dots && *p == '.')) {
			r = buf_append(b, p, 1);
		} else {
			char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			r = buf_append(b, esc, sizeof(esc));
		}
	}
	return r;
}

int url_base(const char *url, char **ret)
{
	const char *host;
	size_t len;
	char *copy;

	if (!url)
		return -EINVAL;
	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return -EINVAL;
	if (!*host || *host == '/' || *host == '?' || *host == '#')
		return -EINVAL;
	/* A query or fragment in the base would swallow our paths. */
	if (strpbrk(host, "?# \t\r\n"))
		return -EINVAL;
	len = strlen(url);
	while (len > (size_t)(host - url) && url[len - 1] == '/')
		len--;
	copy = strndup(url, len);
	if (!copy)
		return -ENOMEM;
	*ret = copy;
	return 0;
}

int url_append_segment(struct buf *b, const char *s)
{
	bool only_dots = *s != '\0' && strspn(s, ".") == strlen(s);
	int r = buf_append(b, "/", 1);

	return r ? r : append_encoded(b, s, only_dots);
}

int url_append_query(struct buf *b, const char *key, const char *value)
{
	bool first = !b->data || !memchr(b->data, '?', b->len);
	int r = buf_append(b, first ? "?" : "&", 1);

	if (!r)
		r = append_encoded(b, key, false);
	if (!r)
		r = buf_append(b, "=", 1);
	if (!r)
		r = append_encoded(b, value, false);
	return r;
}
