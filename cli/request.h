/* The API path and query of each acgsctl command, percent-encoded. */
#ifndef ACGS_CLI_REQUEST_H
#define ACGS_CLI_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "args.h"
#include "buf.h"

/* The most nodes one request asks for (the server's own limit). */
#define REQUEST_PAGE_MAX 1000

/* Append the path and query for a to out (nodes: the page of up to limit
 * nodes from offset). Returns 0, -EINVAL (a command that sends nothing) or
 * a negative errno from buf. */
int request_path(const struct args *a, size_t offset, size_t limit,
		 struct buf *out);

/* The HTTP method of a's request: "GET", "POST" or "DELETE". */
const char *request_method(const struct args *a);

/* The JSON body of a's request in *ret (caller frees; NULL when the request
 * has none). Returns 0 or -ENOMEM. */
int request_body(const struct args *a, char **ret);

#endif
