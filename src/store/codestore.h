/* codestore.h — content-addressed deployment packages.
 *
 * Layout: <dir>/<sha256-hex>/code.zip and <dir>/<sha256-hex>/tree/ (the
 * extracted files). Identical ZIPs are stored once. Extraction uses
 * libarchive and refuses anything unsafe: absolute paths, `..` components,
 * symlinks whose target leaves the tree, hard links, device/FIFO/socket
 * entries; it caps the ZIP's size and the bytes actually written (not the
 * sizes the archive claims), so a ZIP bomb stops at the cap. A package is
 * extracted into a temporary directory and renamed into place, so a
 * half-extracted tree is never visible. Blocking: call from workers.
 */
#ifndef NIMBUS_CODESTORE_H
#define NIMBUS_CODESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct codestore codestore_t;

typedef struct {
    size_t max_zip_bytes;       /* 0 -> 50 MB (52428800) */
    size_t max_unzipped_bytes;  /* 0 -> 250 MB (262144000) */
    size_t max_entries;         /* 0 -> 20000 */
} codestore_limits_t;

typedef struct {
    char hex[65];          /* key */
    char sha256_b64[45];   /* Lambda's CodeSha256 */
    int64_t zip_size;      /* CodeSize */
    int64_t unzipped_size;
} codestore_entry_t;

codestore_t *codestore_open(const char *dir, const codestore_limits_t *limits, err_t *err);
void codestore_close(codestore_t *cs);

/* Store and extract a ZIP. Errors: ERR_TOO_LARGE (zip or unzipped size
 * over the cap), ERR_ZIP (not a ZIP, or an unsafe entry; the message names
 * the entry). Already present -> succeeds without extracting again. */
int codestore_put(codestore_t *cs, const void *zip, size_t len, codestore_entry_t *out,
                  err_t *err);
/* Absolute path of the extracted tree of `hex` into buf. */
void codestore_tree_path(const codestore_t *cs, const char *hex, char *buf, size_t n);
/* Absolute path of the stored ZIP of `hex` into buf. */
void codestore_zip_path(const codestore_t *cs, const char *hex, char *buf, size_t n);
/* Bytes of the extracted tree of `hex` (files and symlinks), -1 if absent. */
int64_t codestore_tree_size(const codestore_t *cs, const char *hex);

/* The tree a function's layers make at /opt: the trees of `hexes` (stored
 * packages), in order, merged into one, a later one's files replacing an
 * earlier one's (files are hard links, copied where a link is refused).
 * Stored under a key of its own (out_hex, a digest of the list), with no
 * code.zip; the same list again reuses it. Remove it with codestore_remove. */
int codestore_merge(codestore_t *cs, const char (*hexes)[65], size_t n, char out_hex[65], err_t *err);
/* The unzipped cap in force (max_unzipped_bytes or its default). */
size_t codestore_max_unzipped(const codestore_t *cs);
/* The store's own directory (absolute). */
const char *codestore_dir(const codestore_t *cs);

/* Delete a package (tree and zip). Absent -> 0. */
int codestore_remove(codestore_t *cs, const char *hex, err_t *err);

/* The limits in force (defaults filled in). */
const codestore_limits_t *codestore_limits(const codestore_t *cs);
/* What the store holds: the bytes of its stored ZIPs (each package once),
 * and the bytes its file system still has free for more. Blocking. */
int codestore_usage(codestore_t *cs, int64_t *zip_bytes, int64_t *free_bytes, err_t *err);

#endif
