/* The schema migrations compiled into the server, generated at build time
 * from server/migrations/NNNN_name.sql by server/gen-migrations.sh. */
#ifndef ACGS_MIGRATIONS_H
#define ACGS_MIGRATIONS_H

#include <stddef.h>

struct store_migration {
	int version;	  /* NNNN of the file name; strictly increasing */
	const char *name; /* the file name's rest, without .sql */
	const char *sql;  /* run as one simple query in its own transaction */
};

extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

#endif
