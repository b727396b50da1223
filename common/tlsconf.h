/* TLS configuration shared by oprad (listeners) and clients (dialers). */
#ifndef OPRA_TLSCONF_H
#define OPRA_TLSCONF_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

/* Loads our own certificate (chain) and private key from two PEM files
 * into cfg (nng's *_cert_key_file wants both in one file; operators keep
 * them apart). Returns OPRA_OK or INVALID_ARGUMENT naming the file. */
int tlsconf_own_cert(nng_tls_config *cfg, const char *cert_file, const char *key_file);

/* 1 when url is a plain (unencrypted) network transport (tcp://, tcp4://,
 * tcp6://, ws://...) whose host is not loopback-only (127.0.0.0/8, [::1],
 * localhost): tokens sent there could be read on the network. oprad refuses
 * to listen on such a URL and the client to send a token to it, unless
 * told --insecure. ipc://, inproc:// and tls+tcp:// are never "plain
 * remote". */
int tlsconf_url_plain_remote(const char *url);

#endif
