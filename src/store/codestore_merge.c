/* codestore_merge.c — the tree a function's layers make at /opt
 * (codestore_merge in codestore.h).
 *
 * Lambda extracts a function's layers into /opt one after another, so a
 * later layer's file replaces an earlier one's. Here the extracted trees
 * of the layers are merged into one new tree in the code store, made of
 * hard links to their files (copies where the file system refuses a
 * link): nothing is extracted twice, and the merged tree stays whole when
 * a layer version is deleted and its own tree removed. Built in a
 * temporary directory and renamed into place, like a package. Symlinks
 * are copied as they are: beside another layer's files one may resolve
 * elsewhere than in its own tree, but only inside an instance, where /opt
 * is a mount whose parent is the sandbox's own root; nothing here follows
 * one.
 * Must never: follow a symlink of a layer while merging, or write outside
 * the temporary tree.
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
#include <unistd.h>

#include "base/util.h"

#define MAX_DEPTH 140   /* the extractor refuses deeper trees */

/* rm -rf of `name` in `parent` (no symlink followed). */
static int remove_at(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
    if ((errno != EISDIR && errno != EPERM) || depth > MAX_DEPTH) return -1;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    DIR *d = fdopendir(fd);
    if (!d) { close(fd); return -1; }
    int ret = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (remove_at(dirfd(d), de->d_name, depth + 1) != 0) ret = -1;
    }
    closedir(d);
    if (ret == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0) ret = -1;
    return ret;
}

static int copy_file(int sfd, int dfd, const char *name, mode_t mode)
{
    int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) return -1;
    int out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) { close(in); return -1; }
    char buf[65536];
    ssize_t k;
    int ret = 0;
    while ((k = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < k;) {
            ssize_t w = write(out, buf + off, (size_t)(k - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) { ret = -1; break; }
            off += w;
        }
        if (ret) break;
    }
    if (k < 0 || fchmod(out, mode & 0755) != 0) ret = -1;
    close(in);
    close(out);
    return ret;
}

/* Lay the tree open at `sfd` over the one at `dfd` (both closed here). */
static int merge_dir(int sfd, int dfd, int depth, err_t *err)
{
    DIR *d = fdopendir(sfd);
    if (!d) {
        close(sfd);
        close(dfd);
        return err_sys(err, "code store: merge layers");
    }
    int ret = 0;
    struct dirent *de;
    while (ret == 0 && (de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0) continue;
        struct stat st, dst;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0) { ret = err_sys(err, "code store: merge %s", n); break; }
        bool have = fstatat(dfd, n, &dst, AT_SYMLINK_NOFOLLOW) == 0;
        if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DEPTH) { ret = err_set(err, ERR_ZIP, "layers nest too deep"); break; }
            if (have && !S_ISDIR(dst.st_mode) && remove_at(dfd, n, 0) != 0) { ret = err_sys(err, "code store: merge %s", n); break; }
            if ((!have || !S_ISDIR(dst.st_mode)) && mkdirat(dfd, n, 0755) != 0) { ret = err_sys(err, "code store: merge %s", n); break; }
            int s2 = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int d2 = s2 < 0 ? -1 : openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (s2 < 0 || d2 < 0) {
                if (s2 >= 0) close(s2);
                ret = err_sys(err, "code store: merge %s", n);
                break;
            }
            ret = merge_dir(s2, d2, depth + 1, err);
            continue;
        }
        if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) continue;   /* the extractor makes no others */
        if (have && remove_at(dfd, n, 0) != 0) { ret = err_sys(err, "code store: merge %s", n); break; }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t k = readlinkat(dirfd(d), n, target, sizeof target - 1);
            if (k < 0) { ret = err_sys(err, "code store: merge %s", n); break; }
            target[k] = '\0';
            if (symlinkat(target, dfd, n) != 0) ret = err_sys(err, "code store: merge %s", n);
        } else if (linkat(dirfd(d), n, dfd, n, 0) != 0 && copy_file(dirfd(d), dfd, n, st.st_mode) != 0) {
            ret = err_sys(err, "code store: merge %s", n);
        }
    }
    closedir(d);
    close(dfd);
    return ret;
}

int codestore_merge(codestore_t *cs, const char (*hexes)[65], size_t n, char out_hex[65], err_t *err)
{
    buf_t list = { 0 };
    buf_appendf(&list, "nimbus-opt\n");
    for (size_t i = 0; i < n; i++) buf_appendf(&list, "%s\n", hexes[i]);
    uint8_t digest[32];
    util_sha256(list.data, list.len, digest);
    util_hex(digest, 32, out_hex);

    const char *dir = codestore_dir(cs);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s/layers", dir, out_hex);
    struct stat st;
    if (stat(p, &st) == 0) { buf_free(&list); return 0; }   /* made before: complete, since renamed in */

    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.tmp-XXXXXX", dir);
    if (!mkdtemp(tmp)) { buf_free(&list); return err_sys(err, "code store: mkdtemp in %s", dir); }
    const char *tmpname = strrchr(tmp, '/') + 1;
    int ret = -1;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int tmpfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0 || tmpfd < 0 || fchmod(tmpfd, 0755) != 0 || mkdirat(tmpfd, "tree", 0755) != 0) {
        err_sys(err, "code store: prepare %s", tmp);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        codestore_tree_path(cs, hexes[i], p, sizeof p);
        int sfd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0) { err_set(err, ERR_NOT_FOUND, "code store: layer code %s is gone", hexes[i]); goto out; }
        int dfd = openat(tmpfd, "tree", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) { close(sfd); err_sys(err, "code store: open tree"); goto out; }
        if (fchmod(dfd, 0755) != 0 || merge_dir(sfd, dfd, 0, err) != 0) goto out;
    }
    int lf = openat(tmpfd, "layers", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (lf < 0 || write(lf, list.data, list.len) != (ssize_t)list.len) {
        if (lf >= 0) close(lf);
        err_sys(err, "code store: write layers");
        goto out;
    }
    close(lf);
    if (syncfs(tmpfd) != 0) { err_sys(err, "code store: sync"); goto out; }
    if (renameat(dirfd, tmpname, dirfd, out_hex) != 0) {
        if (errno != EEXIST && errno != ENOTEMPTY) { err_sys(err, "code store: rename to %s", out_hex); goto out; }
    } else {
        tmpname = NULL;
        fsync(dirfd);
    }
    ret = 0;
out:
    if (tmpfd >= 0) close(tmpfd);
    if (tmpname && dirfd >= 0) remove_at(dirfd, tmpname, 0);
    if (dirfd >= 0) close(dirfd);
    buf_free(&list);
    return ret;
}
