/* TLS configuration shared by oprad (listeners) and clients (dialers). */
#ifndef OPRA_TLSCONF_H
#define OPRA_TLSCONF_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* Loads our own certificate (chain) and private key from two PEM files
 * into cfg (nng's *_cert_key_file wants both in one file; operators keep
 * them apart). Returns OPRA_OK or INVALID_ARGUMENT naming the file. */
int tlsconf_own_cert(nng_tls_config *cfg, const char *cert_file, const char *key_file);

#endif
