#include "config.h"

#include "curlapi.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The soname libcurl4-openssl-dev links against (and libcurl4-gnutls too). */
#define CURL_SONAME "libcurl.so.4"

int curl_api_open(struct curl_api *api, char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t offset;
	} syms[] = {
#define SYM(field, name) { name, offsetof(struct curl_api, field) }
		SYM(global_init, "curl_global_init"),
		SYM(global_cleanup, "curl_global_cleanup"),
		SYM(easy_init, "curl_easy_init"),
		SYM(easy_setopt, "curl_easy_setopt"),
		SYM(easy_getinfo, "curl_easy_getinfo"),
		SYM(easy_cleanup, "curl_easy_cleanup"),
		SYM(easy_strerror, "curl_easy_strerror"),
		SYM(multi_init, "curl_multi_init"),
		SYM(multi_add_handle, "curl_multi_add_handle"),
		SYM(multi_remove_handle, "curl_multi_remove_handle"),
		SYM(multi_perform, "curl_multi_perform"),
		SYM(multi_poll, "curl_multi_poll"),
		SYM(multi_info_read, "curl_multi_info_read"),
		SYM(multi_cleanup, "curl_multi_cleanup"),
		SYM(multi_strerror, "curl_multi_strerror"),
#undef SYM
	};

	memset(api, 0, sizeof(*api));
	api->dl = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!api->dl) {
		snprintf(err, errlen, "cannot load %s for HTTP probes: %s",
			 CURL_SONAME, dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *p = dlsym(api->dl, syms[i].name);
		if (!p) {
			snprintf(err, errlen, "%s has no %s", CURL_SONAME,
				 syms[i].name);
			dlclose(api->dl);
			memset(api, 0, sizeof(*api));
			return -ENOENT;
		}
		/* POSIX guarantees a data pointer from dlsym converts to a
		 * function pointer; copy the bytes to say so to the compiler.
		 */
		memcpy((char *)api + syms[i].offset, &p, sizeof(p));
	}
	if (api->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		dlclose(api->dl);
		memset(api, 0, sizeof(*api));
		return -EIO;
	}
	return 0;
}

void curl_api_close(struct curl_api *api)
{
	if (!api->dl)
		return;
	api->global_cleanup();
	/* libcurl may leave a detached resolver thread (CURLOPT_QUICK_EXIT)
	 * running its code; unloading it under that thread would crash, so
	 * the library stays mapped: dlopen counts references and the next
	 * open is free. */
	api->dl = NULL;
}
