/* libcurl, loaded at run time.
 *
 * Linking libcurl costs about 4 MiB of resident memory before a single
 * request (it pulls in some thirty libraries, gnutls among them, whose
 * constructors run at load) and curl_global_init another 2 MiB. Most nodes
 * run no HTTP probe, so the agent loads libcurl only when one is configured
 * (as collectd loads its plugins). The types come from curl/curl.h at build
 * time; the functions are looked up in libcurl.so.4 with dlsym. */
#ifndef ACGS_CURLAPI_H
#define ACGS_CURLAPI_H

#include <stddef.h>

#include <curl/curl.h>

struct curl_api {
	void *dl;
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *e);
	const char *(*easy_strerror)(CURLcode code);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
	CURLMcode (*multi_perform)(CURLM *m, int *running);
	CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd extra[],
				unsigned extra_nfds, int timeout_ms, int *ret);
	CURLMsg *(*multi_info_read)(CURLM *m, int *left);
	CURLMcode (*multi_cleanup)(CURLM *m);
	const char *(*multi_strerror)(CURLMcode code);
};

/* Load libcurl.so.4, resolve every function above and run
 * curl_global_init. Returns 0, or -ENOENT when the library or a function is
 * missing (err says which), -EIO when global init fails. */
int curl_api_open(struct curl_api *api, char *err, size_t errlen);

/* curl_global_cleanup and unload; safe on an api that never opened. */
void curl_api_close(struct curl_api *api);

#endif
