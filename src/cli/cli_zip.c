/* cli_zip.c — package a directory as a ZIP in memory (libarchive), the way a
 * Lambda deployment package must look: relative names, unix permission bits
 * kept (an executable `bootstrap` must stay executable), dotfiles included.
 *
 * Walks with openat/fstatat relative to directory fds and O_NOFOLLOW, so a
 * symlink anywhere in the tree is stored as a symlink and never followed out
 * of the directory. Entries are sorted by name so the same tree gives the
 * same entry order (and, with unchanged mtimes, the same CodeSha256).
 *
 * Must never: follow a symlink below the top directory, skip a file
 * silently, or print.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

typedef struct {
    struct archive *a;
    const char *root;          /* the directory as given, for messages */
    char rel[PATH_MAX];        /* current entry name, relative to root */
} zip_walk_t;

static la_ssize_t zip_on_write(struct archive *a, void *ud, const void *p, size_t n)
{
    buf_append(ud, p, n);
    return (la_ssize_t)n;
}

static int zip_fail(zip_walk_t *w, err_t *err)
{
    return err_set(err, ERR_ZIP, "zip %s: %s: %s", w->root, w->rel[0] ? w->rel : ".",
                   archive_error_string(w->a) ? archive_error_string(w->a) : "unknown error");
}

static int zip_sys(zip_walk_t *w, const char *what, err_t *err)
{
    return err_sys(err, "zip %s: %s %s", w->root, what, w->rel[0] ? w->rel : ".");
}

static int zip_cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The entry names of directory `fd`, sorted, without "." and "..". */
static char **zip_list_dir(int fd, size_t *count)
{
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return NULL;
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = realloc(names, cap * sizeof *names);
            if (!names) abort();
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) abort();
        n++;
        errno = 0;
    }
    int saved = errno;
    closedir(d);
    if (saved) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        errno = saved;
        return NULL;
    }
    if (n) qsort(names, n, sizeof *names, zip_cmp_names);
    *count = n;
    /* An empty directory still needs a non-NULL answer. */
    if (!names) {
        names = malloc(sizeof *names);
        if (!names) abort();
    }
    return names;
}

/* Linux names are bytes, almost always UTF-8, while the process locale is
 * usually "C": a valid UTF-8 name is handed to libarchive as UTF-8 (and the
 * writer is told to store UTF-8), so the zip carries the UTF-8 flag instead
 * of bytes an unzipper would read as CP437. */
static bool zip_is_utf8(const unsigned char *s)
{
    while (*s) {
        int extra = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2
                  : (*s & 0xf8) == 0xf0 ? 3 : -1;
        if (extra < 0) return false;
        s++;
        for (int i = 0; i < extra; i++, s++)
            if ((*s & 0xc0) != 0x80) return false;
    }
    return true;
}

static void zip_set_name(struct archive_entry *e, const char *name)
{
    if (zip_is_utf8((const unsigned char *)name)) archive_entry_set_pathname_utf8(e, name);
    else archive_entry_set_pathname(e, name);
}

/* ARCHIVE_WARN here means a name is not valid UTF-8: libarchive then
 * stores its bytes as they are, which is the best a zip can do. */
static int zip_write_header(zip_walk_t *w, struct archive_entry *e)
{
    int rc = archive_write_header(w->a, e);
    return rc == ARCHIVE_OK || rc == ARCHIVE_WARN ? 0 : -1;
}

static int zip_write_file(zip_walk_t *w, int dirfd, const char *name, struct archive_entry *e,
                          const struct stat *st, err_t *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return zip_sys(w, "open", err);
    if (zip_write_header(w, e) < 0) {
        close(fd);
        return zip_fail(w, err);
    }
    char chunk[65536];
    off_t total = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) continue;
            zip_sys(w, "read", err);
            close(fd);
            return -1;
        }
        if (n == 0) break;
        if (total + n > st->st_size) break;   /* grew: the header already has the size */
        if (archive_write_data(w->a, chunk, (size_t)n) != n) {
            close(fd);
            return zip_fail(w, err);
        }
        total += n;
    }
    close(fd);
    if (total != st->st_size)
        return err_set(err, ERR_ZIP, "zip %s: %s changed while it was being read", w->root, w->rel);
    return 0;
}

static int zip_walk(zip_walk_t *w, int dirfd, size_t rel_len, err_t *err);

/* Add the entry `name` of directory `dirfd`; w->rel holds its relative name. */
static int zip_add_entry(zip_walk_t *w, int dirfd, const char *name, size_t rel_len, err_t *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return zip_sys(w, "stat", err);

    struct archive_entry *e = archive_entry_new();
    if (!e) abort();
    archive_entry_set_perm(e, st.st_mode & 07777);
    archive_entry_set_mtime(e, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    int rc = 0;

    if (S_ISREG(st.st_mode)) {
        zip_set_name(e, w->rel);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, st.st_size);
        rc = zip_write_file(w, dirfd, name, e, &st, err);
    } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
        if (n < 0) {
            rc = zip_sys(w, "readlink", err);
        } else {
            target[n] = '\0';
            zip_set_name(e, w->rel);
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, target);
            archive_entry_set_size(e, 0);
            if (zip_write_header(w, e) < 0) rc = zip_fail(w, err);
        }
    } else if (S_ISDIR(st.st_mode)) {
        if (rel_len + 1 >= sizeof w->rel) {
            rc = err_set(err, ERR_ZIP, "zip %s: path too long: %s", w->root, w->rel);
        } else {
            /* Directory entries carry their mode (and let empty dirs exist). */
            w->rel[rel_len] = '/';
            w->rel[rel_len + 1] = '\0';
            zip_set_name(e, w->rel);
            archive_entry_set_filetype(e, AE_IFDIR);
            archive_entry_set_size(e, 0);
            if (zip_write_header(w, e) < 0) rc = zip_fail(w, err);
            w->rel[rel_len] = '\0';
            if (rc == 0) {
                int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0) {
                    rc = zip_sys(w, "open", err);
                } else {
                    rc = zip_walk(w, sub, rel_len, err);
                    close(sub);
                }
            }
        }
    } else {
        rc = err_set(err, ERR_ZIP,
                     "zip %s: %s is not a regular file, directory or symlink", w->root, w->rel);
    }
    archive_entry_free(e);
    return rc;
}

/* Add everything under directory `dirfd`, whose relative name is the first
 * rel_len bytes of w->rel (0 for the root). */
static int zip_walk(zip_walk_t *w, int dirfd, size_t rel_len, err_t *err)
{
    size_t n = 0;
    char **names = zip_list_dir(dirfd, &n);
    if (!names) return zip_sys(w, "read directory", err);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(names[i]);
        size_t need = rel_len + (rel_len ? 1 : 0) + len;
        if (need + 2 > sizeof w->rel) {   /* + '/' for a directory + NUL */
            rc = err_set(err, ERR_ZIP, "zip %s: path too long: %.*s/%s", w->root, (int)rel_len,
                         w->rel, names[i]);
            break;
        }
        size_t at = rel_len;
        if (rel_len) w->rel[at++] = '/';
        memcpy(w->rel + at, names[i], len + 1);
        rc = zip_add_entry(w, dirfd, names[i], need, err);
        w->rel[rel_len] = '\0';
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

int cli_zip_dir(const char *dir, buf_t *out, err_t *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return err_sys(err, "%s", dir);

    zip_walk_t w = {.root = dir};
    w.a = archive_write_new();
    if (!w.a) abort();
    int rc = -1;
    /* Unblocked output: the zip must end exactly at its end record. */
    if (archive_write_set_format_zip(w.a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(w.a, 0) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
        archive_write_set_options(w.a, "zip:hdrcharset=UTF-8") != ARCHIVE_OK ||
        archive_write_open(w.a, out, NULL, zip_on_write, NULL) != ARCHIVE_OK) {
        zip_fail(&w, err);
        goto out;
    }
    if (zip_walk(&w, fd, 0, err) < 0) goto out;
    w.rel[0] = '\0';
    if (archive_write_close(w.a) != ARCHIVE_OK) {
        zip_fail(&w, err);
        goto out;
    }
    if (!out->data) buf_append(out, "", 0);
    rc = 0;
out:
    archive_write_free(w.a);
    close(fd);
    return rc;
}
