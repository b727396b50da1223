#include "opt.h"

#include "opra_alloc.h"
#include "opra_err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const opt_global_spec opt_global_specs[] = {
	{"--server", "URL", "OPRA_SERVER", "server", "server to call (repeatable; tried in order)"},
	{"--token", "TOKEN", "OPRA_TOKEN", "token",
	 "bearer token (OPRA_TOKEN or the config file is safer)"},
	{"--json", NULL, NULL, NULL, "print exactly one JSON document on stdout"},
	{"--quiet", NULL, NULL, NULL, "print only essential output"},
	{"--timeout", "SECONDS", NULL, "timeout",
	 "per-call timeout in seconds, may be fractional (30)"},
	{"--config", "FILE", NULL, NULL, "config file (default $XDG_CONFIG_HOME/opra/config)"},
	{"--site", "LABEL", "OPRA_SITE", "site", "site label recorded with every change"},
	{"--ca-file", "FILE", "OPRA_CA_FILE", "ca-file",
	 "CA bundle (PEM) that signed tls+tcp servers"},
	{"--tls-cert", "FILE", "OPRA_TLS_CERT", "tls-cert",
	 "client certificate (PEM) for servers that require one"},
	{"--tls-key", "FILE", "OPRA_TLS_KEY", "tls-key",
	 "private key (PEM) of --tls-cert (default: the same file)"},
	{"--insecure", NULL, "OPRA_INSECURE", "insecure",
	 "allow sending the token over plain tcp:// to a non-loopback host"},
	{"--help", NULL, NULL, NULL, "show help (also -h)"},
	{"--version", NULL, NULL, NULL, "show the client and protocol version"},
	{NULL, NULL, NULL, NULL, NULL},
};

/* Keys the config file may hold; anything else is reported as a likely
 * typo rather than silently ignored. */
static const char *const known_keys[] = {"server",  "token",	"timeout", "site",
					 "ca-file", "tls-cert", "tls-key", "insecure"};

const char *opt_env_process_get(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static const char *env_get(opt_env env, const char *name)
{
	const char *v;

	if (env.get == NULL)
		return NULL;
	v = env.get(env.ctx, name);
	/* VAR= (set but empty) is how people "unset" a variable in scripts. */
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Matches "--name" or "--name=value"; *value is set for the latter. */
static bool flag_matches(const char *arg, const char *name, const char **value)
{
	size_t n = strlen(name);

	*value = NULL;
	if (strncmp(arg, name, n) != 0)
		return false;
	if (arg[n] == '\0')
		return true;
	if (arg[n] == '=') {
		*value = arg + n + 1;
		return true;
	}
	return false;
}

int opt_parse_global(opt_flags *f, int argc, char **argv, int *i, bool *matched)
{
	const char *arg = argv[*i];
	const opt_global_spec *spec = NULL;
	const char *value = NULL;
	int next = *i + 1;

	*matched = false;
	if (strcmp(arg, "-h") == 0) {
		f->help = true;
		*matched = true;
		*i = next;
		return OPRA_OK;
	}
	for (const opt_global_spec *s = opt_global_specs; s->name; s++) {
		if (flag_matches(arg, s->name, &value)) {
			spec = s;
			break;
		}
	}
	if (spec == NULL)
		return OPRA_OK;
	*matched = true;
	if (spec->arg == NULL) {
		if (value != NULL)
			return opra_err_set(OPRA_INVALID_ARGUMENT, "%s takes no value", spec->name);
	} else if (value == NULL) {
		if (next >= argc)
			return opra_err_set(OPRA_INVALID_ARGUMENT, "%s needs a value (%s)",
					    spec->name, spec->arg);
		value = argv[next++];
	}
	if (spec->arg != NULL && value[0] == '\0')
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s needs a non-empty value (%s)",
				    spec->name, spec->arg);
	*i = next;

	if (strcmp(spec->name, "--server") == 0) {
		if (f->n_servers == RPC_MAX_URLS)
			return opra_err_set(OPRA_INVALID_ARGUMENT,
					    "too many --server flags (at most %d)", RPC_MAX_URLS);
		f->servers[f->n_servers++] = value;
	} else if (strcmp(spec->name, "--token") == 0) {
		f->token = value;
	} else if (strcmp(spec->name, "--timeout") == 0) {
		f->timeout = value;
	} else if (strcmp(spec->name, "--config") == 0) {
		f->config = value;
	} else if (strcmp(spec->name, "--site") == 0) {
		f->site = value;
	} else if (strcmp(spec->name, "--ca-file") == 0) {
		f->ca_file = value;
	} else if (strcmp(spec->name, "--tls-cert") == 0) {
		f->tls_cert = value;
	} else if (strcmp(spec->name, "--tls-key") == 0) {
		f->tls_key = value;
	} else if (strcmp(spec->name, "--insecure") == 0) {
		f->insecure = true;
	} else if (strcmp(spec->name, "--json") == 0) {
		f->json = true;
	} else if (strcmp(spec->name, "--quiet") == 0) {
		f->quiet = true;
	} else if (strcmp(spec->name, "--help") == 0) {
		f->help = true;
	} else if (strcmp(spec->name, "--version") == 0) {
		f->version = true;
	}
	return OPRA_OK;
}

int opt_parse_timeout(int *out_ms, const char *what, const char *text)
{
	size_t digits = 0, dots = 0;
	bool plain = true;
	double seconds;

	*out_ms = 0;
	/* Plain decimal only: strtod alone would also take "inf", "nan",
	 * hex floats, exponents and leading blanks, none of which a person
	 * means here. */
	for (const char *p = text; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.')
			dots++;
		else
			plain = false;
	}
	if (!plain || digits == 0 || dots > 1)
		goto bad;
	seconds = strtod(text, NULL);
	if (!(seconds > 0.0) || seconds > OPT_TIMEOUT_MAX_SECONDS)
		goto bad;
	double ms = ceil(seconds * 1000.0);
	*out_ms = ms < 1.0 ? 1 : (int)ms;
	return OPRA_OK;
bad:
	return opra_err_set(OPRA_INVALID_ARGUMENT,
			    "%s must be a positive number of seconds (at most %.0f), not '%s'",
			    what, OPT_TIMEOUT_MAX_SECONDS, text);
}

void opt_config_free(opt_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_servers; i++)
		opra_free(cfg->servers[i]);
	opra_free(cfg->token);
	opra_free(cfg->site);
	opra_free(cfg->ca_file);
	opra_free(cfg->tls_cert);
	opra_free(cfg->tls_key);
	memset(cfg, 0, sizeof(*cfg));
}

void opt_rpc_options(rpc_options *ro, const opt_config *cfg)
{
	memset(ro, 0, sizeof(*ro));
	for (size_t k = 0; k < cfg->n_servers && k < RPC_MAX_URLS; k++)
		ro->urls[ro->n_urls++] = cfg->servers[k];
	ro->token = cfg->token;
	ro->timeout_ms = cfg->timeout_ms;
	ro->site = cfg->site;
	ro->ca_file = cfg->ca_file;
	ro->cert_file = cfg->tls_cert;
	ro->key_file = cfg->tls_key;
	ro->insecure = cfg->insecure ? 1 : 0;
}

static int set_string(char **dst, const char *src)
{
	*dst = opra_strdup(src);
	return *dst ? OPRA_OK : opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
}

/* Adds one server URL, refusing text that cannot be a URL so that a typo
 * like "localhost:7430" is caught here with a hint instead of as an
 * obscure transport error. `what` names where it came from. */
static int add_server(opt_config *cfg, const char *what, const char *url, size_t len)
{
	char *copy;

	if (cfg->n_servers == RPC_MAX_URLS)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "%s: too many servers (at most %d)",
				    what, RPC_MAX_URLS);
	copy = opra_strndup(url, len);
	if (copy == NULL)
		return opra_err_set(OPRA_RESOURCE_EXHAUSTED, "out of memory");
	if (strstr(copy, "://") == NULL) {
		int rc = opra_err_set(OPRA_INVALID_ARGUMENT,
				      "%s: '%s' is not a server URL; use tcp://HOST:PORT, "
				      "tls+tcp://HOST:PORT or ipc:///PATH",
				      what, copy);
		opra_free(copy);
		return rc;
	}
	cfg->servers[cfg->n_servers++] = copy;
	return OPRA_OK;
}

/* OPRA_SERVER is a comma separated list; blanks around items are
 * forgiven, empty items skipped. */
static int servers_from_list(opt_config *cfg, const char *list)
{
	const char *p = list;
	int rc;

	while (*p) {
		size_t n = strcspn(p, ",");
		const char *start = p, *end = p + n;
		while (start < end && (*start == ' ' || *start == '\t'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end > start &&
		    (rc = add_server(cfg, "OPRA_SERVER", start, (size_t)(end - start))) != OPRA_OK)
			return rc;
		p += n;
		if (*p == ',')
			p++;
	}
	if (cfg->n_servers == 0)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "OPRA_SERVER names no server URL");
	return OPRA_OK;
}

static int servers_from_file(opt_config *cfg, const kvfile *file, const char *origin)
{
	char what[512];
	size_t n = kvfile_count(file);
	int rc;

	for (size_t i = 0; i < n; i++) {
		const char *key, *value;
		int line;
		kvfile_entry(file, i, &key, &value, &line);
		if (strcmp(key, "server") != 0)
			continue;
		snprintf(what, sizeof(what), "%s:%d: server", origin, line);
		if (value[0] == '\0')
			return opra_err_set(OPRA_INVALID_ARGUMENT, "%s needs a URL", what);
		if ((rc = add_server(cfg, what, value, strlen(value))) != OPRA_OK)
			return rc;
	}
	return OPRA_OK;
}

/* The last non-empty value of key in the file, with its line. */
static const char *file_get(const kvfile *file, const char *key, int *line)
{
	const char *found = NULL;
	size_t n = kvfile_count(file);

	*line = 0;
	for (size_t i = 0; i < n; i++) {
		const char *k, *v;
		int l;
		kvfile_entry(file, i, &k, &v, &l);
		if (strcmp(k, key) == 0 && v[0] != '\0') {
			found = v;
			*line = l;
		}
	}
	return found;
}

/* One single-valued string setting: flag > env > file. */
static int resolve_string(char **dst, opt_source *from, const char *flag, const char *env_value,
			  const kvfile *file, const char *key)
{
	const char *v = NULL;
	opt_source src = OPT_FROM_NONE;
	int line;

	if (flag != NULL) {
		v = flag;
		src = OPT_FROM_FLAG;
	} else if (env_value != NULL) {
		v = env_value;
		src = OPT_FROM_ENV;
	} else if (file != NULL && (v = file_get(file, key, &line)) != NULL) {
		src = OPT_FROM_FILE;
	}
	if (from)
		*from = src;
	return v ? set_string(dst, v) : OPRA_OK;
}

int opt_resolve(opt_config *out, const opt_flags *f, opt_env env, const kvfile *file,
		const char *file_origin)
{
	opt_config cfg;
	const char *origin = file_origin ? file_origin : "config file";
	const char *env_servers = env_get(env, "OPRA_SERVER");
	int rc = OPRA_OK;

	memset(out, 0, sizeof(*out));
	memset(&cfg, 0, sizeof(cfg));

	if (f->n_servers > 0) {
		cfg.servers_from = OPT_FROM_FLAG;
		for (size_t i = 0; i < f->n_servers; i++)
			if ((rc = add_server(&cfg, "--server", f->servers[i],
					     strlen(f->servers[i]))) != OPRA_OK)
				goto done;
	} else if (env_servers != NULL) {
		cfg.servers_from = OPT_FROM_ENV;
		if ((rc = servers_from_list(&cfg, env_servers)) != OPRA_OK)
			goto done;
	} else if (file != NULL && (rc = servers_from_file(&cfg, file, origin)) != OPRA_OK) {
		goto done;
	}
	if (cfg.n_servers > 0 && cfg.servers_from == OPT_FROM_NONE)
		cfg.servers_from = OPT_FROM_FILE;
	if (cfg.n_servers == 0) {
		cfg.servers_from = OPT_FROM_DEFAULT;
		if ((rc = add_server(&cfg, "default", OPT_DEFAULT_SERVER,
				     strlen(OPT_DEFAULT_SERVER))) != OPRA_OK)
			goto done;
	}

	if ((rc = resolve_string(&cfg.token, &cfg.token_from, f->token, env_get(env, "OPRA_TOKEN"),
				 file, "token")) != OPRA_OK ||
	    (rc = resolve_string(&cfg.site, NULL, f->site, env_get(env, "OPRA_SITE"), file,
				 "site")) != OPRA_OK ||
	    (rc = resolve_string(&cfg.ca_file, NULL, f->ca_file, env_get(env, "OPRA_CA_FILE"), file,
				 "ca-file")) != OPRA_OK ||
	    (rc = resolve_string(&cfg.tls_cert, NULL, f->tls_cert, env_get(env, "OPRA_TLS_CERT"),
				 file, "tls-cert")) != OPRA_OK ||
	    (rc = resolve_string(&cfg.tls_key, NULL, f->tls_key, env_get(env, "OPRA_TLS_KEY"), file,
				 "tls-key")) != OPRA_OK)
		goto done;
	if (cfg.tls_key != NULL && cfg.tls_cert == NULL) {
		rc = opra_err_set(
			OPRA_INVALID_ARGUMENT,
			"a TLS key (--tls-key, OPRA_TLS_KEY or tls-key) was given without "
			"its certificate: add --tls-cert FILE");
		goto done;
	}
	if (f->insecure) {
		cfg.insecure = true;
	} else {
		const char *v = env_get(env, "OPRA_INSECURE");
		int line = 0;
		const char *what = "OPRA_INSECURE";
		char where[512];
		if (v == NULL && file != NULL && (v = file_get(file, "insecure", &line)) != NULL) {
			snprintf(where, sizeof(where), "%s:%d: insecure", origin, line);
			what = where;
		}
		if (v != NULL) {
			int b = kvfile_bool(v);
			if (b < 0) {
				rc = opra_err_set(OPRA_INVALID_ARGUMENT,
						  "%s must be true or false, not '%s'", what, v);
				goto done;
			}
			cfg.insecure = b == 1;
		}
	}

	if (f->timeout != NULL) {
		cfg.timeout_from = OPT_FROM_FLAG;
		if ((rc = opt_parse_timeout(&cfg.timeout_ms, "--timeout", f->timeout)) != OPRA_OK)
			goto done;
	} else {
		int line;
		const char *v = file ? file_get(file, "timeout", &line) : NULL;
		if (v != NULL) {
			char what[512];
			snprintf(what, sizeof(what), "%s:%d: timeout", origin, line);
			cfg.timeout_from = OPT_FROM_FILE;
			if ((rc = opt_parse_timeout(&cfg.timeout_ms, what, v)) != OPRA_OK)
				goto done;
		}
	}

	cfg.json = f->json;
	cfg.quiet = f->quiet;
	*out = cfg;
	memset(&cfg, 0, sizeof(cfg));
done:
	opt_config_free(&cfg);
	return rc;
}

int opt_config_path(char *out, size_t size, bool *explicit_path, const opt_flags *f, opt_env env)
{
	const char *xdg = env_get(env, "XDG_CONFIG_HOME");
	const char *home = env_get(env, "HOME");
	int n;

	*explicit_path = false;
	if (size > 0)
		out[0] = '\0';
	if (f->config != NULL) {
		*explicit_path = true;
		n = snprintf(out, size, "%s", f->config);
	} else if (xdg != NULL && xdg[0] == '/') {
		/* The XDG spec says relative values are to be ignored. */
		n = snprintf(out, size, "%s/opra/config", xdg);
	} else if (home != NULL) {
		n = snprintf(out, size, "%s/.config/opra/config", home);
	} else {
		return OPRA_NOT_FOUND;
	}
	if (n < 0 || (size_t)n >= size)
		return opra_err_set(OPRA_INVALID_ARGUMENT, "config file path is too long");
	return OPRA_OK;
}

void opt_config_warn(FILE *warn, const kvfile *kv, const char *path, unsigned int mode)
{
	size_t n = kvfile_count(kv);

	if (warn == NULL || kv == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *key, *value;
		int line;
		bool known = false;
		kvfile_entry(kv, i, &key, &value, &line);
		for (size_t k = 0; k < sizeof(known_keys) / sizeof(known_keys[0]); k++)
			known = known || strcmp(key, known_keys[k]) == 0;
		if (!known)
			fprintf(warn,
				"opra: warning: %s:%d: unknown key '%s' (ignored; known keys: "
				"server, token, timeout, site, ca-file, tls-cert, tls-key, "
				"insecure)\n",
				path, line, key);
	}
	if (kvfile_get(kv, "token") != NULL && (mode & (S_IRWXG | S_IRWXO)) != 0)
		fprintf(warn,
			"opra: warning: %s holds a token but other users can access it; "
			"run: chmod 600 %s\n",
			path, path);
}

int opt_config_load(kvfile **out, const char *path, bool explicit_path, FILE *warn)
{
	kvfile *kv = NULL;
	struct stat st;
	int rc;

	*out = NULL;
	rc = kvfile_load(&kv, path);
	if (rc == OPRA_NOT_FOUND && !explicit_path) {
		/* No default config file is the normal case, not an error. */
		opra_err_clear();
		return OPRA_OK;
	}
	if (rc != OPRA_OK)
		return rc;
	if (stat(path, &st) == 0)
		opt_config_warn(warn, kv, path, (unsigned int)st.st_mode);
	*out = kv;
	return OPRA_OK;
}
