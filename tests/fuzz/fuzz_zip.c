/* fuzz_zip.c — libFuzzer target for deployment-package extraction.
 *
 * Input: the bytes of an uploaded ZIP, handed to codestore_put on a real
 * code store in a scratch directory (on tmpfs when there is one, so the
 * store's syncfs stays cheap). Small caps make ZIP bombs reach them fast.
 * An input whose first byte is odd is instead a list of entries (type,
 * name, data) that the harness writes as a well-formed ZIP first: libarchive
 * is not instrumented, so mutating raw bytes seldom gets past its checks to
 * the names, links and modes our extraction has to judge. Even first bytes
 * include every real ZIP ("PK").
 *
 * Besides the sanitizers, it checks what a hostile package must never get:
 * a file outside the store (a sibling directory stays empty, the scratch
 * directory holds nothing new), a half-extracted tree or leftover temporary
 * directory, a symlink in the tree that resolves outside it, a file with
 * modes other than 0644/0755, more bytes than the cap, an error class other
 * than "bad ZIP" or "too large", or a leaked descriptor.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "store/codestore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ZIP (1u << 20)
#define MAX_UNZIPPED (1u << 20)
#define MAX_ENTRIES 256u

static char root[PATH_MAX];      /* scratch: holds exactly store/ and outside/ */
static char store_dir[PATH_MAX + 16];
static char outside_dir[PATH_MAX + 16];
static codestore_t *CS;

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_zip: invariant broken: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

static void rm_rf(const char *path)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_zip: could not remove %s\n", path);
}

static void cleanup(void)
{
    if (root[0]) rm_rf(root);
}

static void setup(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(root, sizeof root, "%s/fuzz_zip.XXXXXX", base);
    if (!mkdtemp(root)) fail("mkdtemp", strerror(errno));
    atexit(cleanup);
    snprintf(store_dir, sizeof store_dir, "%s/store", root);
    snprintf(outside_dir, sizeof outside_dir, "%s/outside", root);
    if (mkdir(outside_dir, 0755) != 0) fail("mkdir outside", strerror(errno));
    codestore_limits_t lim = {.max_zip_bytes = MAX_ZIP, .max_unzipped_bytes = MAX_UNZIPPED,
                              .max_entries = MAX_ENTRIES};
    err_t err = {0};
    CS = codestore_open(store_dir, &lim, &err);
    if (!CS) fail("codestore_open", err.msg);
}

/* Names in `dir` other than . and .., up to `max`; returns how many. */
static int list_dir(const char *dir, char names[][NAME_MAX + 1], int max)
{
    DIR *d = opendir(dir);
    if (!d) fail("opendir", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (n < max) snprintf(names[n], NAME_MAX + 1, "%s", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static bool inside(const char *resolved, const char *tree)
{
    size_t n = strlen(tree);
    return strncmp(resolved, tree, n) == 0 && (resolved[n] == '\0' || resolved[n] == '/');
}

/* Walks the extracted tree; returns the bytes it holds (file sizes plus
 * symlink lengths, as the store counts them). */
static int64_t check_tree(const char *tree, const char *dir, int depth)
{
    if (depth > 200) fail("tree deeper than the store allows", dir);
    DIR *d = opendir(dir);
    if (!d) fail("opendir in tree", dir);
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) fail("lstat in tree", p);
        if (S_ISDIR(st.st_mode)) {
            if ((st.st_mode & 07777) != 0755) fail("directory mode not 0755", p);
            total += check_tree(tree, p, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            mode_t m = st.st_mode & 07777;
            if (m != 0644 && m != 0755) fail("file mode not 0644 or 0755", p);
            if (st.st_nlink != 1) fail("hard-linked file", p);
            total += st.st_size;
        } else if (S_ISLNK(st.st_mode)) {
            total += st.st_size;
            char res[PATH_MAX];
            /* A dangling link resolves to nothing; one that resolves must
             * stay in the tree. */
            if (realpath(p, res) && !inside(res, tree)) fail("symlink resolves outside the tree", p);
        } else {
            fail("special file in tree", p);
        }
    }
    closedir(d);
    return total;
}

/* Entry list -> ZIP. Each record: type byte, name length, name, data
 * length, data (lengths one byte each). Type & 3: 0 file, 1 executable
 * file, 2 directory, 3 symlink (data = target); type & 4 adds setuid and
 * world-write bits, type & 8 stores instead of deflating. */
static size_t build_zip(const uint8_t *p, size_t n, uint8_t *out, size_t cap)
{
    struct archive *a = archive_write_new();
    if (!a) abort();
    archive_write_set_format_zip(a);
    size_t used = 0;
    if (archive_write_open_memory(a, out, cap, &used) != ARCHIVE_OK) abort();
    struct archive_entry *e = archive_entry_new();
    for (int count = 0; n >= 2 && count < 64; count++) {
        uint8_t type = p[0];
        size_t nlen = p[1];
        p += 2, n -= 2;
        if (nlen > n) nlen = n;
        char name[256];
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        p += nlen, n -= nlen;
        size_t dlen = n ? p[0] : 0;
        if (n) p++, n--;
        if (dlen > n) dlen = n;
        const uint8_t *d = p;
        p += dlen, n -= dlen;
        if (!name[0]) continue;
        archive_entry_clear(e);
        archive_entry_set_pathname(e, name);
        mode_t extra = (type & 4) ? 04002 : 0;
        archive_write_set_options(a, (type & 8) ? "zip:compression=store" : "zip:compression=deflate");
        switch (type & 3) {
        case 0: case 1:
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, ((type & 3) ? 0755 : 0644) | extra);
            archive_entry_set_size(e, (la_int64_t)dlen);
            break;
        case 2:
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_perm(e, 0755 | extra);
            dlen = 0;
            break;
        default: {
            char target[256];
            memcpy(target, d, dlen);
            target[dlen] = '\0';
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_perm(e, 0777);
            archive_entry_set_symlink(e, target);
            dlen = 0;
        }
        }
        if (archive_write_header(a, e) != ARCHIVE_OK) continue;
        if (dlen) archive_write_data(a, d, dlen);
    }
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!CS) setup();
    static uint8_t built[1 << 20];
    if (size > 0 && (data[0] & 1)) {
        size = build_zip(data + 1, size - 1, built, sizeof built);
        data = built;
    }
    int fds = count_fds();
    codestore_entry_t ent;
    memset(&ent, 0, sizeof ent);
    err_t err = {0};
    int rc = codestore_put(CS, data, size, &ent, &err);
    if (count_fds() != fds) fail("descriptor leaked by codestore_put", NULL);

    char names[4][NAME_MAX + 1];
    int n = list_dir(root, names, 4);
    if (n != 2) fail("scratch directory gained an entry", n > 2 ? names[2] : NULL);
    if (list_dir(outside_dir, names, 4) != 0) fail("a file appeared outside the store", names[0]);

    n = list_dir(store_dir, names, 4);
    if (rc != 0) {
        if (err.code != ERR_ZIP && err.code != ERR_TOO_LARGE) fail("unexpected error class", err.msg);
        if (!err.msg[0]) fail("error without a message", NULL);
        if (n != 0) fail("failed put left something in the store", names[0]);
        return 0;
    }
    if (n != 1 || strcmp(names[0], ent.hex) != 0) fail("store does not hold exactly the new key", n ? names[0] : NULL);
    if (ent.zip_size != (int64_t)size) fail("CodeSize differs from the upload", NULL);
    if (ent.unzipped_size < 0 || ent.unzipped_size > (int64_t)MAX_UNZIPPED) fail("unzipped size over the cap", NULL);

    char tree[PATH_MAX], zip[PATH_MAX], real_tree[PATH_MAX];
    codestore_tree_path(CS, ent.hex, tree, sizeof tree);
    codestore_zip_path(CS, ent.hex, zip, sizeof zip);
    if (!realpath(tree, real_tree)) fail("tree missing after a successful put", tree);
    int64_t held = check_tree(real_tree, real_tree, 0);
    /* A repeated name replaces the earlier file, so the tree may hold less
     * than was written, never more. */
    if (held > ent.unzipped_size) fail("tree holds more than the store counted", NULL);

    struct stat st;
    if (stat(zip, &st) != 0 || st.st_size != (off_t)size) fail("code.zip missing or wrong size", zip);

    if (codestore_remove(CS, ent.hex, &err) != 0) fail("codestore_remove", err.msg);
    if (list_dir(store_dir, names, 4) != 0) fail("remove left something in the store", names[0]);
    if (count_fds() != fds) fail("descriptor leaked", NULL);
    return 0;
}
