#include "tlsconf.h"

#include "opra_alloc.h"
#include "opra_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PEM_MAX (1024 * 1024)

static int read_pem(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	*out = NULL;
	if (f == NULL)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "cannot read %s: %s", path,
				    strerror(errno));
	char *buf = opra_malloc(PEM_MAX + 1);
	size_t n = buf ? fread(buf, 1, PEM_MAX + 1, f) : 0;
	fclose(f);
	if (buf == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	if (n == 0 || n > PEM_MAX || strstr(buf, "-----BEGIN") == NULL) {
		opra_free(buf);
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s is not a PEM file", path);
	}
	buf[n] = '\0';
	*out = buf;
	return OPRA_OK;
}

int tlsconf_own_cert(nng_tls_config *cfg, const char *cert_file, const char *key_file)
{
	char *cert = NULL, *key = NULL;
	int rc, nrv;
	if ((rc = read_pem(cert_file, &cert)) != OPRA_OK)
		goto done;
	if ((rc = read_pem(key_file ? key_file : cert_file, &key)) != OPRA_OK)
		goto done;
	if ((nrv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0)
		rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				  "certificate %s and key %s do not load (%s): are they PEM, "
				  "unencrypted, and a matching pair?",
				  cert_file, key_file ? key_file : cert_file, nng_strerror(nrv));
done:
	if (key) {
		memset(key, 0, strlen(key)); /* private key material */
		opra_free(key);
	}
	opra_free(cert);
	return rc;
}

/* Plain (unencrypted) transports that can reach other machines. */
static int is_plain_network(const char *url)
{
	return strncmp(url, "tcp://", 6) == 0 || strncmp(url, "tcp4://", 7) == 0 ||
	       strncmp(url, "tcp6://", 7) == 0 || strncmp(url, "ws://", 5) == 0 ||
	       strncmp(url, "ws4://", 6) == 0 || strncmp(url, "ws6://", 6) == 0;
}

/* Whether the host part of URL names the loopback interface only:
 * 127.0.0.0/8, ::1 or localhost. An empty host, *, 0.0.0.0, [::] or any
 * other name means other machines may connect. */
static int is_loopback_url(const char *url)
{
	const char *host = strstr(url, "://");
	if (host == NULL)
		return 0;
	host += 3;
	if (strncmp(host, "[::1]", 5) == 0)
		return host[5] == ':' || host[5] == '/' || host[5] == '\0';
	size_t n = strcspn(host, ":/");
	if (n == 9 && strncmp(host, "localhost", 9) == 0)
		return 1;
	if (n < 8 || n > 15 || strncmp(host, "127.", 4) != 0)
		return 0;
	/* 127.a.b.c with three more decimal parts. */
	int dots = 0;
	for (size_t i = 4; i < n; i++) {
		if (host[i] == '.')
			dots++;
		else if (host[i] < '0' || host[i] > '9')
			return 0;
	}
	return dots == 2;
}

int tlsconf_url_plain_remote(const char *url)
{
	return is_plain_network(url) && !is_loopback_url(url);
}
