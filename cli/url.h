/* Request URLs for the API: the base URL the operator gave, path segments
 * and query values percent-encoded (node ids and labels come from users and
 * agents, and a '/', '?', '&', '#' or '=' in them must stay data). */
#ifndef ACGS_CLI_URL_H
#define ACGS_CLI_URL_H

#include "buf.h"

/* Check that url is http:// or https:// with a host, and return a copy
 * without trailing slashes in *ret (caller frees). Returns 0, -EINVAL or
 * -ENOMEM. */
int url_base(const char *url, char **ret);

/* Append "/" and s as one path segment: every byte but RFC 3986's unreserved
 * (A-Z a-z 0-9 - . _ ~) is written as %XX, and so are the dots of a segment
 * that is only dots (no one may resolve it as "." or ".."). Returns 0 or a
 * negative errno from buf (-E2BIG, -ENOMEM). */
int url_append_segment(struct buf *b, const char *s);

/* Append "?key=value", or "&key=value" when b already holds a query, with
 * both parts percent-encoded as above. */
int url_append_query(struct buf *b, const char *key, const char *value);

#endif
