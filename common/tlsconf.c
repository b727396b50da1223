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
