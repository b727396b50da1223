/* The offline spool: mutating operations the client could not (or was told
 * not to) deliver, kept on disk until `opra sync` delivers them.
 *
 * Layout ($XDG_STATE_HOME/opra/spool, default ~/.local/state/opra/spool,
 * mode 0700):
 *
 *   000000000042-<key>.rec    one record per operation; the zero-padded
 *                             sequence makes `ls` order submission order
 *   failed/<id>.rec           records the server refused, kept for people
 *   failed/<id>.error         why (one line of text)
 *   .lock, .sync.lock         flock(2) files: writers / one sync at a time
 *
 * A record file is written to a temporary name, fsync'd and renamed, so a
 * crash leaves either no record or a whole one (and a .tmp- file, removed
 * by the next writer, or by a sync while no writer holds .lock). Its format:
 *
 *   OPRA-SPOOL 1\n
 *   {"method": ..., "idempotency_key": ..., "created_at": ..., "body": <hex
 *    of the packed request>, "body_sha256": ..., "file": {...}}\n
 *   <the copy of the file's bytes, when the record holds a copy>
 *
 * The body is the server-independent request (e.g. a packed
 * EvidenceSubmitRequest): no server URL, no token. A record that refers to
 * a file holds its absolute path, SHA-256 and size and either a copy of the
 * bytes (the default: later edits of the file do not change what is
 * delivered) or only the reference (sync then checks the hash).
 *
 * Not thread-safe; several processes may write one spool at once. */
#ifndef OPRA_CLIENT_SPOOL_H
#define OPRA_CLIENT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

/* Longest record id ("000000000042-" + sanitised key). */
#define SPOOL_ID_MAX 96
/* The largest request body a record holds. */
#define SPOOL_BODY_MAX (1024u * 1024u)

typedef struct spool spool;

/* What to write. Strings are borrowed. */
typedef struct {
	const char *method;	 /* "opra.v1.Evidence/Submit" */
	const char *key;	 /* idempotency key (also names the file) */
	const uint8_t *body;	 /* packed request */
	size_t body_len;	 /* at most SPOOL_BODY_MAX */
	const char *summary;	 /* one line for people (may be NULL) */
	const char *site;	 /* --site at spool time (may be NULL) */
	const char *file_path;	 /* absolute path of a file to deliver, or NULL */
	const char *file_sha256; /* its 64 hex digits (required with file_path) */
	uint64_t file_size;
	bool file_copy; /* copy the bytes into the record */
} spool_entry;

/* A record read back. Owned by the caller (spool_record_free). */
typedef struct {
	char id[SPOOL_ID_MAX + 1];
	char *method;
	char *key;
	char *created_at; /* RFC 3339 UTC */
	char *summary;	  /* "" when none */
	char *site;	  /* NULL when none */
	uint8_t *body;
	size_t body_len;
	bool has_file;
	char *file_path;
	char file_sha256[65];
	uint64_t file_size;
	bool file_copy;
	uint64_t data_offset; /* where the copy starts in the record file */
} spool_record;

/* A directory of the client's state: $XDG_STATE_HOME/opra/LEAF, default
 * ~/.local/state/opra/LEAF (not created here). */
int client_state_dir(char *out, size_t size, const char *leaf);
/* mkdir -p, with mode for every directory it creates. */
int client_make_dirs(const char *path, mode_t mode);

/* The spool directory: $XDG_STATE_HOME/opra/spool when XDG_STATE_HOME is
 * absolute, else $HOME/.local/state/opra/spool. OPRA_OK, NOT_FOUND (no
 * HOME) or INVALID_ARGUMENT (too long). */
int spool_default_dir(char *out, size_t size);

/* Opens (creating with mode 0700, parents too) the spool in dir (NULL: the
 * default). Caller frees with spool_close. */
int spool_open(spool **out, const char *dir);
void spool_close(spool *s);
const char *spool_dir(const spool *s);
/* dir/failed (not created until a record fails). */
const char *spool_failed_dir(const spool *s);

/* Writes one record atomically; its id goes to id_out (SPOOL_ID_MAX + 1
 * bytes). With file_copy the file is copied and re-hashed on the way: when
 * its bytes no longer match file_sha256/file_size nothing is written
 * (FAILED_PRECONDITION). Returns OPRA_OK or a status with the message. */
int spool_add(spool *s, const spool_entry *e, char *id_out);

/* The ids of the pending records in submission order. *ids is an array of
 * *n strings (free with spool_ids_free). */
int spool_list(spool *s, char ***ids, size_t *n);
void spool_ids_free(char **ids, size_t n);
/* How many records failed/ holds. */
size_t spool_failed_count(spool *s);

/* Reads and checks one pending record. A record that is not whole
 * (truncated, corrupt, unknown format) gives DATA_LOSS with a message
 * naming the file; the file is left alone. */
int spool_read(spool *s, const char *id, spool_record **out);
void spool_record_free(spool_record *r);

/* Opens the bytes to deliver for a record with a file: the copy inside the
 * record (positioned at data_offset) or the referenced file. *fd is the
 * caller's to close. */
int spool_open_data(spool *s, const spool_record *r, int *fd);

/* Removes a delivered record. */
int spool_remove(spool *s, const char *id);
/* Moves a record the server refused to failed/ and writes why next to it. */
int spool_fail(spool *s, const char *id, const char *why);

/* Takes the spool's sync lock without waiting: OPRA_OK (hold it until
 * spool_close), or ABORTED when another `opra sync` holds it. */
int spool_lock_sync(spool *s);

#endif
