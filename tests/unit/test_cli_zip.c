/* test_cli_zip.c — cli_zip_dir packages a directory the way Lambda needs:
 * relative names, exec bit kept, symlinks stored (not followed), dotfiles
 * and subdirectories included, deterministic order. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "cli/cli.h"

static char tmpdir[64];

static void write_file(const char *rel, const char *content, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0, "create %s", path);
    cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);   /* exact bits, whatever the umask */
}

static void rm_rf(const char *path)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    cr_assert_eq(system(cmd), 0);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nimbus-zip-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    write_file("bootstrap", "#!/bin/sh\necho hi\n", 0755);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/lib", tmpdir);
    cr_assert_eq(mkdir(sub, 0750), 0);
    write_file("lib/data.txt", "payload data\n", 0644);
    write_file(".env", "A=1\n", 0600);
    char link[128];
    snprintf(link, sizeof link, "%s/run", tmpdir);
    cr_assert_eq(symlink("bootstrap", link), 0);
    /* A link pointing out of the tree must be stored, not followed. */
    snprintf(link, sizeof link, "%s/passwd", tmpdir);
    cr_assert_eq(symlink("/etc/passwd", link), 0);
}

static void teardown(void)
{
    rm_rf(tmpdir);
}

typedef struct {
    char name[64];
    mode_t type;
    mode_t perm;
    char symlink[64];
    char data[64];
} entry_t;

/* Read the zip back with libarchive; returns the number of entries. */
static int read_zip(const buf_t *zip, entry_t *out, int max)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_zip(a);
    cr_assert_eq(archive_read_open_memory(a, zip->data, zip->len), ARCHIVE_OK, "%s",
                 archive_error_string(a));
    struct archive_entry *e;
    int n = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        cr_assert_lt(n, max);
        entry_t *x = &out[n++];
        memset(x, 0, sizeof *x);
        snprintf(x->name, sizeof x->name, "%s", archive_entry_pathname(e));
        x->type = archive_entry_filetype(e);
        x->perm = archive_entry_perm(e);
        if (archive_entry_symlink(e))
            snprintf(x->symlink, sizeof x->symlink, "%s", archive_entry_symlink(e));
        if (x->type == AE_IFREG) {
            la_ssize_t got = archive_read_data(a, x->data, sizeof x->data - 1);
            cr_assert_geq(got, 0);
            x->data[got] = '\0';
        }
    }
    archive_read_free(a);
    return n;
}

static const entry_t *find(const entry_t *all, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(all[i].name, name) == 0) return &all[i];
    cr_assert_fail("entry %s missing from the zip", name);
    return NULL;
}

TestSuite(cli_zip, .init = setup, .fini = teardown);

Test(cli_zip, keeps_names_contents_modes_and_symlinks)
{
    buf_t zip = {0};
    err_t err = {0};
    cr_assert_eq(cli_zip_dir(tmpdir, &zip, &err), 0, "%s", err.msg);
    cr_assert_gt(zip.len, 22u);
    /* Unblocked: the end-of-central-directory record is the last 22 bytes. */
    cr_assert_eq(memcmp(zip.data + zip.len - 22, "PK\5\6", 4), 0);

    entry_t e[16];
    int n = read_zip(&zip, e, 16);
    cr_assert_eq(n, 6, "got %d entries", n);

    /* Sorted by name at each level, directories before their contents. */
    const char *order[] = {".env", "bootstrap", "lib/", "lib/data.txt", "passwd", "run"};
    for (int i = 0; i < 6; i++) cr_expect_str_eq(e[i].name, order[i]);

    const entry_t *b = find(e, n, "bootstrap");
    cr_expect_eq(b->type, AE_IFREG);
    cr_expect_eq(b->perm, 0755);
    cr_expect_str_eq(b->data, "#!/bin/sh\necho hi\n");

    const entry_t *d = find(e, n, "lib/data.txt");
    cr_expect_eq(d->type, AE_IFREG);
    cr_expect_eq(d->perm, 0644);
    cr_expect_str_eq(d->data, "payload data\n");

    const entry_t *dir = find(e, n, "lib/");
    cr_expect_eq(dir->type, AE_IFDIR);
    cr_expect_eq(dir->perm, 0750);

    const entry_t *dot = find(e, n, ".env");
    cr_expect_eq(dot->perm, 0600);
    cr_expect_str_eq(dot->data, "A=1\n");

    const entry_t *run = find(e, n, "run");
    cr_expect_eq(run->type, AE_IFLNK);
    cr_expect_str_eq(run->symlink, "bootstrap");

    const entry_t *out = find(e, n, "passwd");
    cr_expect_eq(out->type, AE_IFLNK);
    cr_expect_str_eq(out->symlink, "/etc/passwd");
    buf_free(&zip);
}

Test(cli_zip, same_tree_gives_same_bytes)
{
    buf_t z1 = {0}, z2 = {0};
    err_t err = {0};
    cr_assert_eq(cli_zip_dir(tmpdir, &z1, &err), 0, "%s", err.msg);
    cr_assert_eq(cli_zip_dir(tmpdir, &z2, &err), 0, "%s", err.msg);
    cr_assert_eq(z1.len, z2.len);
    cr_assert_eq(memcmp(z1.data, z2.data, z1.len), 0);
    buf_free(&z1);
    buf_free(&z2);
}

Test(cli_zip, empty_directory_is_a_valid_empty_zip)
{
    char empty[64];
    snprintf(empty, sizeof empty, "/tmp/nimbus-zip-empty-XXXXXX");
    cr_assert_not_null(mkdtemp(empty));
    buf_t zip = {0};
    err_t err = {0};
    int rc = cli_zip_dir(empty, &zip, &err);
    rmdir(empty);
    cr_assert_eq(rc, 0, "%s", err.msg);
    entry_t e[2];
    cr_expect_eq(read_zip(&zip, e, 2), 0);
    buf_free(&zip);
}

Test(cli_zip, refuses_special_files_and_missing_dirs)
{
    char fifo[128];
    snprintf(fifo, sizeof fifo, "%s/pipe", tmpdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    buf_t zip = {0};
    err_t err = {0};
    cr_expect_eq(cli_zip_dir(tmpdir, &zip, &err), -1);
    cr_expect_eq(err.code, ERR_ZIP);
    cr_expect_not_null(strstr(err.msg, "pipe"), "%s", err.msg);
    buf_free(&zip);

    err_clear(&err);
    cr_expect_eq(cli_zip_dir("/nonexistent/nimbus-dir", &zip, &err), -1);
    cr_expect_eq(err.code, ERR_SYS);
    buf_free(&zip);
}

Test(cli_zip, utf8_names_are_flagged_utf8)
{
    /* The test runs in the "C" locale, like the CLI usually does. */
    write_file("h\xc3\xa9llo.txt", "x", 0644);
    buf_t zip = {0};
    err_t err = {0};
    cr_assert_eq(cli_zip_dir(tmpdir, &zip, &err), 0, "%s", err.msg);
    /* Find the entry's local header: the name bytes must be unchanged and
     * general-purpose flag bit 11 (UTF-8) set. */
    int seen = 0;
    for (size_t i = 0; i + 30 + 10 <= zip.len; i++) {
        if (memcmp(zip.data + i, "PK\3\4", 4) != 0) continue;
        unsigned name_len = (unsigned char)zip.data[i + 26] | (unsigned char)zip.data[i + 27] << 8;
        if (name_len != 10 || memcmp(zip.data + i + 30, "h\xc3\xa9llo.txt", 10) != 0) continue;
        seen++;
        cr_expect(zip.data[i + 7] & 0x08, "UTF-8 flag not set");
    }
    cr_expect_eq(seen, 1, "entry with the UTF-8 name not found");
    buf_free(&zip);
}
