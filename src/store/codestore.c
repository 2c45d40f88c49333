/* codestore.c — content-addressed deployment packages (codestore.h).
 *
 * Owns <dir>: one directory per ZIP, named by its SHA-256, holding the ZIP
 * and its extracted tree. Extraction is our own walk over libarchive's
 * entries rather than archive_write_disk, so every file is created with
 * openat(O_NOFOLLOW | O_EXCL) relative to a directory we opened ourselves:
 * no path in the archive can make us write through a symlink or outside the
 * tree, whatever order the entries come in.
 * Must never: trust sizes or modes the archive claims, follow a symlink
 * while extracting, or make a partly extracted tree visible under its key.
 */
#define _GNU_SOURCE /* syncfs */
#include "store/codestore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "base/util.h"

#define DEFAULT_MAX_ZIP 52428800u        /* Lambda: 50 MB zipped, direct upload */
#define DEFAULT_MAX_UNZIPPED 262144000u  /* Lambda: 250 MB unzipped */
#define DEFAULT_MAX_ENTRIES 20000u
/* Deeper trees are refused so that walking one (to delete it) never needs
 * more than this many directory descriptors at once. */
#define MAX_DEPTH 128
#define MAX_LINK_HOPS 40                 /* the kernel's own limit */
#define BAD_ZIP "Could not unzip uploaded file. Please check your file, then try to upload again."

struct codestore {
    char dir[PATH_MAX - 128]; /* room left for "/<hex>/code.zip" and friends */
    codestore_limits_t lim;
};

/* ---- small filesystem helpers ---- */

static int mkdir_p(const char *path, err_t *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return err_set(err, ERR_INVALID, "code store path too long");
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return err_sys(err, "mkdir %s", tmp);
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return err_sys(err, "mkdir %s", tmp);
    return 0;
}

/* Removes everything below the open directory `fd` (which it closes).
 * Never follows symlinks: they are unlinked like files. */
static int remove_below(int fd, int depth)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0) continue;
        if (errno != EISDIR && errno != EPERM) {
            ret = -1;
            continue;
        }
        if (depth > MAX_DEPTH + 8) {
            ret = -1;
            continue;
        }
        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 || remove_below(sub, depth + 1) != 0) {
            ret = -1;
            continue;
        }
        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) != 0) ret = -1;
    }
    closedir(d);
    return ret;
}

/* rm -rf of `name` inside directory `parent`. */
static int remove_tree_at(int parent, const char *name)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    if (remove_below(fd, 0) != 0) return -1;
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT) return -1;
    return 0;
}

/* Sum of regular file sizes and symlink lengths below `fd` (closed). */
static int64_t tree_size(int fd, int depth)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    int64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
            total += st.st_size;
        } else if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH + 8) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) total += tree_size(sub, depth + 1);
        }
    }
    closedir(d);
    return total;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static bool hex_key_valid(const char *hex)
{
    if (!hex || strlen(hex) != 64) return false;
    for (const char *p = hex; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

/* ---- open/close ---- */

codestore_t *codestore_open(const char *dir, const codestore_limits_t *limits, err_t *err)
{
    if (mkdir_p(dir, err)) return NULL;
    codestore_t *cs = calloc(1, sizeof *cs);
    if (!cs) abort();
    char abs[PATH_MAX];
    if (!realpath(dir, abs)) {
        err_sys(err, "code store %s", dir);
        free(cs);
        return NULL;
    }
    if (strlen(abs) >= sizeof cs->dir) {
        err_set(err, ERR_INVALID, "code store path too long: %s", abs);
        free(cs);
        return NULL;
    }
    strcpy(cs->dir, abs);
    if (limits) cs->lim = *limits;
    if (!cs->lim.max_zip_bytes) cs->lim.max_zip_bytes = DEFAULT_MAX_ZIP;
    if (!cs->lim.max_unzipped_bytes) cs->lim.max_unzipped_bytes = DEFAULT_MAX_UNZIPPED;
    if (!cs->lim.max_entries) cs->lim.max_entries = DEFAULT_MAX_ENTRIES;

    /* Leftovers of puts or removes cut short by a crash. Nothing else can be
     * using them: the store is opened once, before any put. */
    DIR *d = opendir(cs->dir);
    if (!d) {
        err_sys(err, "code store %s", cs->dir);
        free(cs);
        return NULL;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, ".tmp-", 5) == 0) remove_tree_at(dirfd(d), de->d_name);
    closedir(d);
    return cs;
}

void codestore_close(codestore_t *cs)
{
    free(cs);
}

void codestore_tree_path(const codestore_t *cs, const char *hex, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s/tree", cs->dir, hex);
}

const char *codestore_dir(const codestore_t *cs) { return cs->dir; }
size_t codestore_max_unzipped(const codestore_t *cs) { return cs->lim.max_unzipped_bytes; }

int64_t codestore_tree_size(const codestore_t *cs, const char *hex)
{
    char p[PATH_MAX];
    codestore_tree_path(cs, hex, p, sizeof p);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -1 : tree_size(fd, 0);
}

void codestore_zip_path(const codestore_t *cs, const char *hex, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s/code.zip", cs->dir, hex);
}

/* ---- entry paths ---- */

/* Splits an archive path into components in place. Backslashes count as
 * separators: Windows tools (old Compress-Archive) write them, and treating
 * them as part of a name would let "..\\x" slip past the ".." check in
 * some other consumer. Refuses absolute paths and ".."; drops "." and
 * empty components. Returns the number of components or -1. */
static int split_path(char *p, char **comp, int max, const char **why)
{
    for (char *c = p; *c; c++)
        if (*c == '\\') *c = '/';
    if (p[0] == '/') {
        *why = "is an absolute path";
        return -1;
    }
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(p, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0) continue;
        if (strcmp(t, "..") == 0) {
            *why = "has a '..' component";
            return -1;
        }
        if (n == max) {
            *why = "is nested too deeply";
            return -1;
        }
        comp[n++] = t;
    }
    return n;
}

/* A symlink target, resolved by name from the link's directory (at depth
 * `depth`), must stay inside the tree. */
static bool link_target_lexically_inside(const char *target, int depth)
{
    if (target[0] == '/') return false;
    const char *p = target;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0) return false;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            depth++;
        }
        p += len;
        if (*p == '/') p++;
    }
    return true;
}

/* Resolves symlink `link` (tree-relative, through real directories only)
 * against the finished tree, following links the way the kernel would,
 * and reports whether resolution ever leaves the tree. The lexical check
 * alone is not enough: "d/up -> .." is harmless, but "x -> d/up/.." then
 * escapes although it looks inside by name. A component that does not
 * exist ends resolution: the tree is never modified afterwards, so nothing
 * beyond it can resolve. */
static bool link_resolves_inside(int treefd, const char *link)
{
    char cur[PATH_MAX], rest[2 * PATH_MAX], target[PATH_MAX], cand[PATH_MAX];
    snprintf(cur, sizeof cur, "%s", link);
    char *slash = strrchr(cur, '/');
    const char *name = slash ? slash + 1 : cur;
    char lname[PATH_MAX];
    snprintf(lname, sizeof lname, "%s", name);
    if (slash) *slash = '\0';
    else cur[0] = '\0';
    /* Start as if the link's own name were the next component. */
    snprintf(rest, sizeof rest, "%s", lname);
    for (int hops = 0;;) {
        char *p = rest;
        while (*p == '/') p++;
        if (!*p) return true;
        char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char comp[NAME_MAX + 1];
        if (len > NAME_MAX) return true; /* ENAMETOOLONG at run time */
        memcpy(comp, p, len);
        comp[len] = '\0';
        memmove(rest, p + len, strlen(p + len) + 1);
        if (strcmp(comp, ".") == 0) continue;
        if (strcmp(comp, "..") == 0) {
            if (!cur[0]) return false;
            char *s = strrchr(cur, '/');
            if (s) *s = '\0';
            else cur[0] = '\0';
            continue;
        }
        if ((size_t)snprintf(cand, sizeof cand, "%s%s%s", cur, cur[0] ? "/" : "", comp) >=
            sizeof cand)
            return false;
        struct stat st;
        if (fstatat(treefd, cand, &st, AT_SYMLINK_NOFOLLOW) != 0) return true;
        if (S_ISLNK(st.st_mode)) {
            if (++hops > MAX_LINK_HOPS) return false;
            ssize_t n = readlinkat(treefd, cand, target, sizeof target - 1);
            if (n <= 0) return false;
            target[n] = '\0';
            if (target[0] == '/') return false;
            char tmp[2 * PATH_MAX];
            if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s", target, rest) >= sizeof tmp) return false;
            memcpy(rest, tmp, strlen(tmp) + 1);
            continue;
        }
        snprintf(cur, sizeof cur, "%s", cand);
        if (!S_ISDIR(st.st_mode)) return true; /* a file: nothing resolves below it */
    }
}

/* ---- extraction ---- */

typedef struct {
    const codestore_t *cs;
    int treefd;
    uint64_t written;   /* bytes actually written, the ZIP-bomb counter */
    char **links;       /* tree-relative paths of symlinks, checked at the end */
    size_t nlinks, caplinks;
    char *buf;          /* copy buffer */
} extract_t;

static int too_big_unzipped(const extract_t *x, err_t *err)
{
    return err_set(err, ERR_TOO_LARGE, "Unzipped size must be smaller than %zu bytes",
                   x->cs->lim.max_unzipped_bytes);
}

/* Opens (creating as needed) the directory comp[0]/.../comp[n-1] below
 * the tree, never through a symlink. Returns an fd or -1. */
static int open_parent(extract_t *x, char **comp, int n, const char *entry, err_t *err)
{
    int fd = dup(x->treefd);
    if (fd < 0) return err_sys(err, "dup");
    for (int i = 0; i < n; i++) {
        bool made = mkdirat(fd, comp[i], 0755) == 0;
        if (!made && errno != EEXIST) {
            err_sys(err, "%s: entry '%s': mkdir", BAD_ZIP, entry);
            err->code = ERR_ZIP;
            close(fd);
            return -1;
        }
        int sub = openat(fd, comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (sub < 0) {
            err_set(err, ERR_ZIP, "%s: entry '%s' passes through a file or symlink", BAD_ZIP,
                    entry);
            return -1;
        }
        if (made && fchmod(sub, 0755) != 0) {
            close(sub);
            return err_sys(err, "chmod");
        }
        fd = sub;
    }
    return fd;
}

/* Makes room for `name` in `dirfd` when a previous entry took it: a ZIP may
 * repeat a name, and the last one wins, as with unzip -o. Directories are
 * never replaced (unlinkat without AT_REMOVEDIR fails on them). */
static int replace_existing(int dirfd, const char *name)
{
    if (unlinkat(dirfd, name, 0) != 0) return -1;
    return 0;
}

static int extract_file(extract_t *x, struct archive *a, int dirfd,
                        const char *name, mode_t mode, const char *entry, err_t *err)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST && replace_existing(dirfd, name) == 0)
        fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(err, ERR_ZIP, "%s: entry '%s' cannot be created: %s", BAD_ZIP, entry,
                strerror(errno));
        return -1;
    }
    int ret = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(a, x->buf, 65536);
        if (n == 0) break;
        if (n < 0) {
            ret = err_set(err, ERR_ZIP, "%s: entry '%s': %s", BAD_ZIP, entry,
                          archive_error_string(a) ? archive_error_string(a) : "read error");
            break;
        }
        /* Count what is really produced: the sizes in the headers are the
         * archive's claim, and a ZIP bomb lies in them. */
        if ((uint64_t)n > x->cs->lim.max_unzipped_bytes - x->written) {
            ret = too_big_unzipped(x, err);
            break;
        }
        x->written += (uint64_t)n;
        if (write_all(fd, x->buf, (size_t)n) != 0) {
            ret = err_sys(err, "write %s", entry);
            break;
        }
    }
    if (ret == 0 && fchmod(fd, mode) != 0) ret = err_sys(err, "chmod %s", entry);
    close(fd);
    return ret;
}

static int extract_symlink(extract_t *x, struct archive_entry *e, int dirfd, const char *name,
                           const char *rel, int depth, const char *entry, err_t *err)
{
    const char *target = archive_entry_symlink(e);
    if (!target || !*target)
        return err_set(err, ERR_ZIP, "%s: symlink '%s' has no target", BAD_ZIP, entry);
    if (!link_target_lexically_inside(target, depth))
        return err_set(err, ERR_ZIP, "%s: symlink '%s' -> '%s' points outside the package",
                       BAD_ZIP, entry, target);
    size_t tlen = strlen(target);
    if (tlen > x->cs->lim.max_unzipped_bytes - x->written) return too_big_unzipped(x, err);
    x->written += tlen;
    if (symlinkat(target, dirfd, name) != 0) {
        if (errno != EEXIST || replace_existing(dirfd, name) != 0 ||
            symlinkat(target, dirfd, name) != 0)
            return err_set(err, ERR_ZIP, "%s: symlink '%s' cannot be created: %s", BAD_ZIP,
                           entry, strerror(errno));
    }
    if (x->nlinks == x->caplinks) {
        x->caplinks = x->caplinks ? x->caplinks * 2 : 16;
        x->links = realloc(x->links, x->caplinks * sizeof *x->links);
        if (!x->links) abort();
    }
    x->links[x->nlinks] = strdup(rel);
    if (!x->links[x->nlinks]) abort();
    x->nlinks++;
    return 0;
}

static int extract_entry(extract_t *x, struct archive *a, struct archive_entry *e, err_t *err)
{
    const char *raw = archive_entry_pathname(e);
    if (!raw) raw = archive_entry_pathname_utf8(e);
    if (!raw || !*raw) return err_set(err, ERR_ZIP, "%s: an entry has no usable name", BAD_ZIP);
    char entry[PATH_MAX], path[PATH_MAX];
    if (snprintf(entry, sizeof entry, "%s", raw) >= (int)sizeof entry)
        return err_set(err, ERR_ZIP, "%s: an entry name is too long", BAD_ZIP);
    memcpy(path, entry, sizeof path);

    char *comp[MAX_DEPTH + 1];
    const char *why = NULL;
    int n = split_path(path, comp, MAX_DEPTH, &why);
    if (n < 0) return err_set(err, ERR_ZIP, "%s: entry '%s' %s", BAD_ZIP, entry, why);

    if (archive_entry_hardlink(e))
        return err_set(err, ERR_ZIP, "%s: entry '%s' is a hard link", BAD_ZIP, entry);
    mode_t type = archive_entry_filetype(e);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        return err_set(err, ERR_ZIP, "%s: entry '%s' is a device, FIFO or socket", BAD_ZIP,
                       entry);
    if (n == 0) {
        if (type == AE_IFDIR) return 0; /* "./" names the tree itself */
        return err_set(err, ERR_ZIP, "%s: entry '%s' has an empty name", BAD_ZIP, entry);
    }

    /* Tree-relative, normalised path (for messages and the link check). */
    char rel[PATH_MAX];
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(rel + off, sizeof rel - off, "%s%s", i ? "/" : "", comp[i]);

    if (type == AE_IFDIR) {
        int fd = open_parent(x, comp, n, entry, err);
        if (fd < 0) return -1;
        close(fd);
        return 0;
    }
    int dirfd = open_parent(x, comp, n - 1, entry, err);
    if (dirfd < 0) return -1;
    int ret;
    if (type == AE_IFLNK) {
        ret = extract_symlink(x, e, dirfd, comp[n - 1], rel, n - 1, entry, err);
    } else {
        /* Keep only "executable or not"; no setuid/setgid/sticky, no
         * group/world write, whatever the archive says. */
        mode_t mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
        /* ZIPs made on Windows (or by tools that drop unix modes) carry no
         * exec bit; Lambda would then fail to start a custom runtime. A
         * root-level `bootstrap` is only ever meant to be executed, so it
         * is made executable here rather than leaving the user puzzled. */
        if (n == 1 && strcmp(comp[0], "bootstrap") == 0) mode = 0755;
        ret = extract_file(x, a, dirfd, comp[n - 1], mode, entry, err);
    }
    close(dirfd);
    return ret;
}

static int extract_all(extract_t *x, const void *zip, size_t len, err_t *err)
{
    struct archive *a = archive_read_new();
    if (!a) abort();
    archive_read_support_format_zip(a);
    int ret = 0;
    if (archive_read_open_memory(a, zip, len) != ARCHIVE_OK) {
        ret = err_set(err, ERR_ZIP, "%s: %s", BAD_ZIP,
                      archive_error_string(a) ? archive_error_string(a) : "not a ZIP file");
        goto out;
    }
    size_t entries = 0;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            ret = err_set(err, ERR_ZIP, "%s: %s", BAD_ZIP,
                          archive_error_string(a) ? archive_error_string(a) : "bad entry");
            break;
        }
        if (++entries > x->cs->lim.max_entries) {
            ret = err_set(err, ERR_TOO_LARGE, "%s: more than %zu entries", BAD_ZIP,
                          x->cs->lim.max_entries);
            break;
        }
        if ((ret = extract_entry(x, a, e, err)) != 0) break;
    }
    for (size_t i = 0; ret == 0 && i < x->nlinks; i++)
        if (!link_resolves_inside(x->treefd, x->links[i]))
            ret = err_set(err, ERR_ZIP, "%s: symlink '%s' resolves outside the package", BAD_ZIP,
                          x->links[i]);
out:
    archive_read_free(a);
    return ret;
}

/* ---- put/remove ---- */

static void fill_entry(codestore_entry_t *out, const uint8_t digest[32], const char *hex,
                       size_t len, int64_t unzipped)
{
    if (!out) return;
    memcpy(out->hex, hex, 65);
    char *b64 = util_base64_encode(digest, 32, NULL);
    snprintf(out->sha256_b64, sizeof out->sha256_b64, "%s", b64);
    free(b64);
    out->zip_size = (int64_t)len;
    out->unzipped_size = unzipped;
}

/* Already stored: a complete package directory always has its code.zip,
 * since directories only appear under their key by rename. */
static bool present(const codestore_t *cs, const char *hex, int64_t *unzipped)
{
    char p[PATH_MAX];
    codestore_zip_path(cs, hex, p, sizeof p);
    struct stat st;
    if (stat(p, &st) != 0) return false;
    codestore_tree_path(cs, hex, p, sizeof p);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    *unzipped = tree_size(fd, 0);
    return true;
}

int codestore_put(codestore_t *cs, const void *zip, size_t len, codestore_entry_t *out,
                  err_t *err)
{
    if (len > cs->lim.max_zip_bytes)
        return err_set(err, ERR_TOO_LARGE, "Zipped size must be smaller than %zu bytes",
                       cs->lim.max_zip_bytes);
    uint8_t digest[32];
    char hex[65];
    util_sha256(zip, len, digest);
    util_hex(digest, 32, hex);
    int64_t unzipped;
    if (present(cs, hex, &unzipped)) {
        fill_entry(out, digest, hex, len, unzipped);
        return 0;
    }

    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", cs->dir);
    if (!mkdtemp(tmp)) return err_sys(err, "code store: mkdtemp in %s", cs->dir);
    const char *tmpname = strrchr(tmp, '/') + 1;
    int ret = -1;
    extract_t x = {.cs = cs, .treefd = -1};
    int dirfd = open(cs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int tmpfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0 || tmpfd < 0) {
        err_sys(err, "code store: open %s", tmp);
        goto out;
    }
    /* mkdtemp makes 0700; sandboxed runtimes may read the tree as another
     * user. */
    if (fchmod(tmpfd, 0755) != 0 || mkdirat(tmpfd, "tree", 0755) != 0) {
        err_sys(err, "code store: prepare %s", tmp);
        goto out;
    }
    x.treefd = openat(tmpfd, "tree", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (x.treefd < 0 || fchmod(x.treefd, 0755) != 0) {
        err_sys(err, "code store: open tree");
        goto out;
    }
    x.buf = malloc(65536);
    if (!x.buf) abort();
    if (extract_all(&x, zip, len, err) != 0) goto out;

    int zfd = openat(tmpfd, "code.zip", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (zfd < 0 || write_all(zfd, zip, len) != 0 || fchmod(zfd, 0644) != 0) {
        err_sys(err, "code store: write code.zip");
        if (zfd >= 0) close(zfd);
        goto out;
    }
    close(zfd);
    /* The function that will reference this package is committed to the
     * store right after we return; the files must be on disk first. One
     * syncfs beats an fsync per extracted file. */
    if (syncfs(tmpfd) != 0) {
        err_sys(err, "code store: sync");
        goto out;
    }
    if (renameat(dirfd, tmpname, dirfd, hex) != 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) {
            err_sys(err, "code store: rename to %s", hex);
            goto out;
        }
        /* Another put of the same ZIP won the race; its copy is as good. */
    } else {
        tmpname = NULL;
        fsync(dirfd);
    }
    fill_entry(out, digest, hex, len, (int64_t)x.written);
    ret = 0;
out:
    if (x.treefd >= 0) close(x.treefd);
    if (tmpfd >= 0) close(tmpfd);
    if (tmpname && dirfd >= 0) remove_tree_at(dirfd, tmpname);
    if (dirfd >= 0) close(dirfd);
    for (size_t i = 0; i < x.nlinks; i++) free(x.links[i]);
    free(x.links);
    free(x.buf);
    return ret;
}

int codestore_remove(codestore_t *cs, const char *hex, err_t *err)
{
    if (!hex_key_valid(hex)) return err_set(err, ERR_INVALID, "bad code key '%.80s'", hex);
    int dirfd = open(cs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return err_sys(err, "code store: open %s", cs->dir);
    /* Move it out of its key first so nobody sees a half-deleted tree. */
    char doomed[32];
    char rnd[37];
    util_uuid4(rnd);
    snprintf(doomed, sizeof doomed, ".tmp-rm-%.8s", rnd);
    int ret = 0;
    if (renameat(dirfd, hex, dirfd, doomed) != 0) {
        if (errno != ENOENT) ret = err_sys(err, "code store: remove %s", hex);
    } else if (remove_tree_at(dirfd, doomed) != 0) {
        ret = err_sys(err, "code store: remove %s", hex);
    }
    close(dirfd);
    return ret;
}

const codestore_limits_t *codestore_limits(const codestore_t *cs)
{
    return &cs->lim;
}

int codestore_usage(codestore_t *cs, int64_t *zip_bytes, int64_t *free_bytes, err_t *err)
{
    *zip_bytes = *free_bytes = 0;
    DIR *d = opendir(cs->dir);
    if (!d) return err_sys(err, "code store %s", cs->dir);
    struct dirent *de;
    char rel[80];
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (!hex_key_valid(de->d_name)) continue;
        snprintf(rel, sizeof rel, "%s/code.zip", de->d_name);
        /* A package being removed meanwhile is simply not counted. */
        if (fstatat(dirfd(d), rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            *zip_bytes += (int64_t)st.st_size;
    }
    closedir(d);
    struct statvfs vfs;
    if (statvfs(cs->dir, &vfs) != 0) return err_sys(err, "statvfs %s", cs->dir);
    *free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    return 0;
}
