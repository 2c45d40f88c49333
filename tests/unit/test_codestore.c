/* test_codestore.c — codestore: extraction, modes, dedup and every unsafe
 * ZIP the code store must refuse. ZIPs are built here with libarchive's
 * writer (and patched by hand where the writer will not produce the
 * hostile entry), so the suite needs no fixture files. */
#include <criterion/criterion.h>
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/codestore.h"
#include "base/util.h"

static char root[64];

static void setup(void)
{
    strcpy(root, "/tmp/nimbus-cs-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(codestore, .init = setup, .fini = teardown);

typedef struct {
    const char *name;
    int type;          /* AE_IFREG (default when 0), AE_IFDIR, AE_IFLNK */
    int perm;          /* 0 -> 0644 (0755 for dirs) */
    const char *data;  /* file contents (NUL-terminated unless len) */
    size_t len;        /* bytes of data; 0 -> strlen(data) */
    const char *target;/* symlink target */
} ent_t;

/* Builds a ZIP in memory. `zeros` > 0 adds one more entry "zeros.bin" of
 * that many zero bytes (deflated, so a few KB). */
static unsigned char *make_zip(const ent_t *ents, size_t n, size_t zeros, const char *compression,
                               size_t *len)
{
    size_t cap = 8u << 20;
    unsigned char *buf = malloc(cap);
    struct archive *a = archive_write_new();
    cr_assert_eq(archive_write_set_format_zip(a), ARCHIVE_OK);
    if (compression) {
        char opt[64];
        snprintf(opt, sizeof opt, "zip:compression=%s", compression);
        cr_assert_eq(archive_write_set_options(a, opt), ARCHIVE_OK);
    }
    size_t used = 0;
    cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, ents[i].name);
        int type = ents[i].type ? ents[i].type : (int)AE_IFREG;
        archive_entry_set_filetype(e, (unsigned)type);
        archive_entry_set_perm(e, (mode_t)(ents[i].perm ? ents[i].perm
                                                        : type == AE_IFDIR ? 0755 : 0644));
        size_t dl = 0;
        if (type == AE_IFLNK) {
            archive_entry_set_symlink(e, ents[i].target);
        } else if (type == AE_IFREG && ents[i].data) {
            dl = ents[i].len ? ents[i].len : strlen(ents[i].data);
        }
        archive_entry_set_size(e, (la_int64_t)dl);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
        if (dl) cr_assert_eq(archive_write_data(a, ents[i].data, dl), (la_ssize_t)dl);
        archive_entry_free(e);
    }
    if (zeros) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, "zeros.bin");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)zeros);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
        static char z[65536];
        for (size_t done = 0; done < zeros;) {
            size_t c = zeros - done < sizeof z ? zeros - done : sizeof z;
            cr_assert_eq(archive_write_data(a, z, c), (la_ssize_t)c);
            done += c;
        }
        archive_entry_free(e);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *len = used;
    return buf;
}

/* Rewrites the unix mode of entry `name` in the ZIP's central directory:
 * libarchive's writer refuses devices and FIFOs, but a hostile ZIP can
 * claim them all the same. */
static void patch_mode(unsigned char *zip, size_t len, const char *name, unsigned mode)
{
    size_t nl = strlen(name);
    bool found = false;
    for (size_t i = 0; i + 46 <= len; i++) {
        if (memcmp(zip + i, "PK\x01\x02", 4) != 0) continue;
        size_t fnl = zip[i + 28] | (size_t)zip[i + 29] << 8;
        if (fnl != nl || i + 46 + fnl > len || memcmp(zip + i + 46, name, nl) != 0) continue;
        zip[i + 5] = 3; /* made by: UNIX */
        uint32_t attr = (uint32_t)mode << 16;
        zip[i + 38] = (unsigned char)attr;
        zip[i + 39] = (unsigned char)(attr >> 8);
        zip[i + 40] = (unsigned char)(attr >> 16);
        zip[i + 41] = (unsigned char)(attr >> 24);
        found = true;
    }
    cr_assert(found, "central directory entry %s not found", name);
}

static codestore_t *open_cs(size_t max_zip, size_t max_unzipped, size_t max_entries)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/code", root);
    codestore_limits_t lim = {max_zip, max_unzipped, max_entries};
    err_t err = {0};
    codestore_t *cs = codestore_open(dir, &lim, &err);
    cr_assert_not_null(cs, "%s", err.msg);
    return cs;
}

/* Number of entries in <root>/code (dot entries included, . and .. not). */
static int count_store_entries(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/code", root);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

static char *tree_file(codestore_t *cs, const char *hex, const char *rel, char *buf, size_t n)
{
    char t[512];
    codestore_tree_path(cs, hex, t, sizeof t);
    snprintf(buf, n, "%s/%s", t, rel);
    return buf;
}

static void expect_refused(codestore_t *cs, const void *zip, size_t len, err_code_t code,
                           const char *needle)
{
    err_t err = {0};
    codestore_entry_t ent;
    cr_assert_eq(codestore_put(cs, zip, len, &ent, &err), -1, "accepted (wanted %s)", needle);
    cr_assert_eq(err.code, code, "code %d: %s", err.code, err.msg);
    if (needle) cr_assert(strstr(err.msg, needle), "'%s' not in: %s", needle, err.msg);
    /* Refused: no package and no temporary directory left behind. */
    cr_assert_eq(count_store_entries(), 0);
}

Test(codestore, good_zip_extracted_with_modes)
{
    codestore_t *cs = open_cs(0, 0, 0);
    ent_t ents[] = {
        {.name = "bootstrap", .perm = 0755, .data = "#!/bin/sh\necho hi\n"},
        {.name = "lib/deep/data.txt", .data = "hello"},
        {.name = "bin/", .type = AE_IFDIR},
        {.name = "bin/tool", .perm = 04775, .data = "x"},
        {.name = "./dot/file", .perm = 0600, .data = "y"},
        {.name = "win\\style.txt", .data = "w"},
        {.name = "empty", .data = NULL},
    };
    size_t len;
    unsigned char *zip = make_zip(ents, sizeof ents / sizeof *ents, 0, NULL, &len);
    codestore_entry_t ent;
    err_t err = {0};
    cr_assert_eq(codestore_put(cs, zip, len, &ent, &err), 0, "%s", err.msg);

    uint8_t d[32];
    char hex[65];
    util_sha256(zip, len, d);
    util_hex(d, 32, hex);
    cr_assert_str_eq(ent.hex, hex);
    char *b64 = util_base64_encode(d, 32, NULL);
    cr_assert_str_eq(ent.sha256_b64, b64);
    free(b64);
    cr_assert_eq(ent.zip_size, (int64_t)len);
    cr_assert_eq(ent.unzipped_size, 18 + 5 + 1 + 1 + 1);

    char p[600];
    struct stat st;
    cr_assert_eq(stat(tree_file(cs, hex, "bootstrap", p, sizeof p), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0755);
    cr_assert_eq(access(p, X_OK), 0);
    cr_assert_eq(stat(tree_file(cs, hex, "lib/deep/data.txt", p, sizeof p), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644);
    cr_assert_eq(st.st_size, 5);
    cr_assert_eq(stat(tree_file(cs, hex, "lib/deep", p, sizeof p), &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0755);
    cr_assert_eq(stat(tree_file(cs, hex, "bin/tool", p, sizeof p), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0755, "setuid/group-write must go: %o", st.st_mode & 07777);
    cr_assert_eq(stat(tree_file(cs, hex, "dot/file", p, sizeof p), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644);
    cr_assert_eq(stat(tree_file(cs, hex, "win/style.txt", p, sizeof p), &st), 0);
    cr_assert_eq(stat(tree_file(cs, hex, "empty", p, sizeof p), &st), 0);
    cr_assert_eq(st.st_size, 0);

    /* code.zip is the upload, byte for byte. */
    codestore_zip_path(cs, hex, p, sizeof p);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f);
    unsigned char *back = malloc(len + 1);
    cr_assert_eq(fread(back, 1, len + 1, f), len);
    fclose(f);
    cr_assert_eq(memcmp(back, zip, len), 0);
    free(back);
    cr_assert_eq(count_store_entries(), 1, "temporary directory left behind");
    free(zip);
    codestore_close(cs);
}

Test(codestore, bootstrap_without_exec_bit_made_executable)
{
    codestore_t *cs = open_cs(0, 0, 0);
    ent_t ents[] = {
        {.name = "bootstrap", .perm = 0644, .data = "#!/bin/sh\n"},
        {.name = "sub/bootstrap", .perm = 0644, .data = "#!/bin/sh\n"},
    };
    size_t len;
    unsigned char *zip = make_zip(ents, 2, 0, NULL, &len);
    codestore_entry_t ent;
    err_t err = {0};
    cr_assert_eq(codestore_put(cs, zip, len, &ent, &err), 0, "%s", err.msg);
    char p[600];
    struct stat st;
    cr_assert_eq(stat(tree_file(cs, ent.hex, "bootstrap", p, sizeof p), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0755);
    cr_assert_eq(stat(tree_file(cs, ent.hex, "sub/bootstrap", p, sizeof p), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644);
    free(zip);
    codestore_close(cs);
}

Test(codestore, identical_zip_stored_once)
{
    codestore_t *cs = open_cs(0, 0, 0);
    ent_t ents[] = {{.name = "a.txt", .data = "same"}};
    size_t len;
    unsigned char *zip = make_zip(ents, 1, 0, NULL, &len);
    codestore_entry_t e1, e2;
    err_t err = {0};
    cr_assert_eq(codestore_put(cs, zip, len, &e1, &err), 0, "%s", err.msg);
    /* A marker proves the second put does not extract again. */
    char p[600];
    FILE *f = fopen(tree_file(cs, e1.hex, "marker", p, sizeof p), "w");
    cr_assert_not_null(f);
    fputs("12", f);
    fclose(f);
    cr_assert_eq(codestore_put(cs, zip, len, &e2, &err), 0, "%s", err.msg);
    cr_assert_str_eq(e1.hex, e2.hex);
    cr_assert_str_eq(e1.sha256_b64, e2.sha256_b64);
    cr_assert_eq(e2.zip_size, (int64_t)len);
    cr_assert_eq(e2.unzipped_size, 4 + 2);
    cr_assert_eq(access(p, F_OK), 0);
    cr_assert_eq(count_store_entries(), 1);
    free(zip);
    codestore_close(cs);
}

Test(codestore, empty_zip_ok)
{
    codestore_t *cs = open_cs(0, 0, 0);
    size_t len;
    unsigned char *zip = make_zip(NULL, 0, 0, NULL, &len);
    codestore_entry_t ent;
    err_t err = {0};
    cr_assert_eq(codestore_put(cs, zip, len, &ent, &err), 0, "%s", err.msg);
    cr_assert_eq(ent.unzipped_size, 0);
    char p[600];
    codestore_tree_path(cs, ent.hex, p, sizeof p);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    free(zip);
    codestore_close(cs);
}

Test(codestore, traversal_refused)
{
    codestore_t *cs = open_cs(0, 0, 0);
    const char *names[] = {"../evil", "a/../../evil", "ok/..\\..\\evil", "a/b/../c"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        ent_t ents[] = {{.name = "fine.txt", .data = "x"}, {.name = names[i], .data = "pwned"}};
        size_t len;
        unsigned char *zip = make_zip(ents, 2, 0, NULL, &len);
        expect_refused(cs, zip, len, ERR_ZIP, "'..'");
        free(zip);
    }
    char p[128];
    snprintf(p, sizeof p, "%s/evil", root);
    cr_assert_neq(access(p, F_OK), 0);
    codestore_close(cs);
}

Test(codestore, absolute_path_refused)
{
    codestore_t *cs = open_cs(0, 0, 0);
    char name[128];
    snprintf(name, sizeof name, "%s/abs-evil", root);
    ent_t ents[] = {{.name = name, .data = "pwned"}};
    size_t len;
    unsigned char *zip = make_zip(ents, 1, 0, NULL, &len);
    expect_refused(cs, zip, len, ERR_ZIP, "absolute");
    cr_assert_neq(access(name, F_OK), 0);
    free(zip);
    codestore_close(cs);
}

Test(codestore, escaping_symlinks_refused)
{
    codestore_t *cs = open_cs(0, 0, 0);
    const char *targets[] = {"../../etc/passwd", "/etc/passwd", "..", "a/../../x"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        ent_t ents[] = {{.name = "link", .type = AE_IFLNK, .target = targets[i]}};
        size_t len;
        unsigned char *zip = make_zip(ents, 1, 0, NULL, &len);
        expect_refused(cs, zip, len, ERR_ZIP, "link");
        free(zip);
    }
    /* Inside a subdirectory, one ".." is fine but two leave. */
    ent_t deep[] = {{.name = "d/link", .type = AE_IFLNK, .target = "../../x"}};
    size_t len;
    unsigned char *zip = make_zip(deep, 1, 0, NULL, &len);
    expect_refused(cs, zip, len, ERR_ZIP, "outside");
    free(zip);
    codestore_close(cs);
}

Test(codestore, symlink_chain_escape_refused)
{
    /* Each link looks inside by name; followed together they leave. */
    codestore_t *cs = open_cs(0, 0, 0);
    ent_t ents[] = {
        {.name = "d/up", .type = AE_IFLNK, .target = ".."},
        {.name = "x", .type = AE_IFLNK, .target = "d/up/.."},
    };
    size_t len;
    unsigned char *zip = make_zip(ents, 2, 0, NULL, &len);
    expect_refused(cs, zip, len, ERR_ZIP, "resolves outside");
    free(zip);
    codestore_close(cs);
}

Test(codestore, symlink_inside_allowed)
{
    codestore_t *cs = open_cs(0, 0, 0);
    ent_t ents[] = {
        {.name = "lib/real.txt", .data = "real"},
        {.name = "lib/link", .type = AE_IFLNK, .target = "real.txt"},
        {.name = "top", .type = AE_IFLNK, .target = "lib/./real.txt"},
        {.name = "lib/up", .type = AE_IFLNK, .target = ".."},
        {.name = "dangling", .type = AE_IFLNK, .target = "nowhere/file"},
    };
    size_t len;
    unsigned char *zip = make_zip(ents, sizeof ents / sizeof *ents, 0, NULL, &len);
    codestore_entry_t ent;
    err_t err = {0};
    cr_assert_eq(codestore_put(cs, zip, len, &ent, &err), 0, "%s", err.msg);
    char p[600], t[64];
    struct stat st;
    cr_assert_eq(lstat(tree_file(cs, ent.hex, "lib/link", p, sizeof p), &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    ssize_t n = readlink(p, t, sizeof t - 1);
    cr_assert_eq(n, 8);
    t[n] = '\0';
    cr_assert_str_eq(t, "real.txt");
    /* Following it reaches the file. */
    cr_assert_eq(stat(tree_file(cs, ent.hex, "top", p, sizeof p), &st), 0);
    cr_assert_eq(st.st_size, 4);
    cr_assert_eq(stat(tree_file(cs, ent.hex, "lib/up/lib/real.txt", p, sizeof p), &st), 0);
    free(zip);
    codestore_close(cs);
}

Test(codestore, entry_through_symlink_refused)
{
    /* "sub" is a link to a directory; writing "sub/x" would go through it. */
    codestore_t *cs = open_cs(0, 0, 0);
    ent_t ents[] = {
        {.name = "lib/", .type = AE_IFDIR},
        {.name = "sub", .type = AE_IFLNK, .target = "lib"},
        {.name = "sub/x", .data = "through"},
    };
    size_t len;
    unsigned char *zip = make_zip(ents, 3, 0, NULL, &len);
    expect_refused(cs, zip, len, ERR_ZIP, "sub/x");
    free(zip);
    codestore_close(cs);
}

Test(codestore, device_fifo_socket_refused)
{
    codestore_t *cs = open_cs(0, 0, 0);
    unsigned modes[] = {S_IFCHR | 0644, S_IFBLK | 0644, S_IFSOCK | 0644};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        ent_t ents[] = {{.name = "ok.txt", .data = "ok"}, {.name = "dev", .data = NULL}};
        size_t len;
        unsigned char *zip = make_zip(ents, 2, 0, "store", &len);
        patch_mode(zip, len, "dev", modes[i]);
        expect_refused(cs, zip, len, ERR_ZIP, "'dev'");
        free(zip);
    }
    /* libarchive's ZIP reader reports a FIFO claim as a regular file; either
     * way no FIFO (which would block a reader) may appear in the tree. */
    ent_t ents[] = {{.name = "fifo", .data = NULL}};
    size_t len;
    unsigned char *zip = make_zip(ents, 1, 0, "store", &len);
    patch_mode(zip, len, "fifo", S_IFIFO | 0644);
    codestore_entry_t ent;
    err_t err = {0};
    if (codestore_put(cs, zip, len, &ent, &err) == 0) {
        char p[600];
        struct stat st;
        cr_assert_eq(lstat(tree_file(cs, ent.hex, "fifo", p, sizeof p), &st), 0);
        cr_assert(S_ISREG(st.st_mode), "mode %o", st.st_mode);
    } else {
        cr_assert_eq(err.code, ERR_ZIP, "%s", err.msg);
    }
    free(zip);
    codestore_close(cs);
}

Test(codestore, hard_link_never_created)
{
    /* The ZIP format has no hard links; libarchive's writer turns one into
     * a plain entry. Whatever it wrote, extraction must either refuse it
     * or produce an independent file, never a second name for another. */
    codestore_t *cs = open_cs(0, 0, 0);
    size_t cap = 1 << 20, used = 0;
    unsigned char *buf = malloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_zip(a);
    archive_write_open_memory(a, buf, cap, &used);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "target.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 3);
    archive_write_header(a, e);
    archive_write_data(a, "abc", 3);
    archive_entry_clear(e);
    archive_entry_set_pathname(e, "hard");
    archive_entry_set_hardlink(e, "target.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 0);
    archive_write_header(a, e); /* may fail: fine, the entry is then absent */
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);

    codestore_entry_t ent;
    err_t err = {0};
    if (codestore_put(cs, buf, used, &ent, &err) == 0) {
        char p[600];
        struct stat st;
        cr_assert_eq(stat(tree_file(cs, ent.hex, "target.txt", p, sizeof p), &st), 0);
        cr_assert_eq(st.st_nlink, 1, "a hard link was created");
    } else {
        cr_assert_eq(err.code, ERR_ZIP, "%s", err.msg);
    }
    free(buf);
    codestore_close(cs);
}

Test(codestore, zip_bomb_stops_at_cap)
{
    codestore_t *cs = open_cs(0, 1 << 20, 0);
    size_t len;
    unsigned char *zip = make_zip(NULL, 0, 5u << 20, NULL, &len);
    cr_assert_lt(len, 100000, "zeros should compress: %zu", len);
    expect_refused(cs, zip, len, ERR_TOO_LARGE, "Unzipped size must be smaller than 1048576 bytes");
    free(zip);
    codestore_close(cs);
}

Test(codestore, oversized_zip_refused)
{
    codestore_t *cs = open_cs(1000, 0, 0);
    char data[2000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)('a' + (i * 7919) % 26);
    ent_t ents[] = {{.name = "big", .data = data, .len = sizeof data}};
    size_t len;
    unsigned char *zip = make_zip(ents, 1, 0, "store", &len);
    cr_assert_gt(len, 1000);
    expect_refused(cs, zip, len, ERR_TOO_LARGE, "Zipped size must be smaller than 1000 bytes");
    free(zip);
    codestore_close(cs);
}

Test(codestore, too_many_entries_refused)
{
    codestore_t *cs = open_cs(0, 0, 3);
    ent_t ents[] = {{.name = "a", .data = "1"}, {.name = "b", .data = "2"},
                    {.name = "c", .data = "3"}, {.name = "d", .data = "4"}};
    size_t len;
    unsigned char *zip = make_zip(ents, 4, 0, NULL, &len);
    expect_refused(cs, zip, len, ERR_TOO_LARGE, "entries");
    free(zip);
    zip = make_zip(ents, 3, 0, NULL, &len);
    codestore_entry_t ent;
    err_t err = {0};
    cr_assert_eq(codestore_put(cs, zip, len, &ent, &err), 0, "%s", err.msg);
    free(zip);
    codestore_close(cs);
}

Test(codestore, not_a_zip_refused)
{
    codestore_t *cs = open_cs(0, 0, 0);
    const char *junk = "this is not a zip file at all, just some text";
    expect_refused(cs, junk, strlen(junk), ERR_ZIP, "Could not unzip");
    expect_refused(cs, "", 0, ERR_ZIP, NULL);

    /* A valid archive of another format is refused too. */
    size_t cap = 1 << 16, used = 0;
    unsigned char *buf = malloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_memory(a, buf, cap, &used);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "f");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 1);
    archive_write_header(a, e);
    archive_write_data(a, "x", 1);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    expect_refused(cs, buf, used, ERR_ZIP, NULL);

    /* A ZIP cut short. */
    ent_t ents[] = {{.name = "a.txt", .data = "some content that gets compressed"}};
    size_t len;
    unsigned char *zip = make_zip(ents, 1, 0, NULL, &len);
    expect_refused(cs, zip, len / 2, ERR_ZIP, NULL);
    free(zip);
    free(buf);
    codestore_close(cs);
}

Test(codestore, remove)
{
    codestore_t *cs = open_cs(0, 0, 0);
    ent_t ents[] = {{.name = "d/e/f.txt", .data = "gone soon"},
                    {.name = "d/l", .type = AE_IFLNK, .target = "e/f.txt"}};
    size_t len;
    unsigned char *zip = make_zip(ents, 2, 0, NULL, &len);
    codestore_entry_t ent;
    err_t err = {0};
    cr_assert_eq(codestore_put(cs, zip, len, &ent, &err), 0, "%s", err.msg);
    cr_assert_eq(count_store_entries(), 1);
    cr_assert_eq(codestore_remove(cs, ent.hex, &err), 0, "%s", err.msg);
    cr_assert_eq(count_store_entries(), 0);
    char p[600];
    codestore_zip_path(cs, ent.hex, p, sizeof p);
    cr_assert_neq(access(p, F_OK), 0);
    /* Absent is fine. */
    cr_assert_eq(codestore_remove(cs, ent.hex, &err), 0);
    /* Keys are validated: no path games. */
    cr_assert_eq(codestore_remove(cs, "../code", &err), -1);
    cr_assert_eq(err.code, ERR_INVALID);
    /* And it can be stored again. */
    cr_assert_eq(codestore_put(cs, zip, len, &ent, &err), 0, "%s", err.msg);
    cr_assert_eq(count_store_entries(), 1);
    free(zip);
    codestore_close(cs);
}

Test(codestore, open_cleans_leftovers)
{
    codestore_t *cs = open_cs(0, 0, 0);
    codestore_close(cs);
    char p[200];
    snprintf(p, sizeof p, "%s/code/.tmp-abc123", root);
    cr_assert_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/code/.tmp-abc123/tree", root);
    cr_assert_eq(mkdir(p, 0700), 0);
    cs = open_cs(0, 0, 0);
    cr_assert_eq(count_store_entries(), 0);
    codestore_close(cs);
}

Test(codestore, usage_counts_each_stored_zip_once_and_limits_have_defaults)
{
    codestore_t *cs = open_cs(0, 0, 0);
    cr_assert_eq(codestore_limits(cs)->max_zip_bytes, 52428800);
    cr_assert_eq(codestore_limits(cs)->max_unzipped_bytes, 262144000);
    int64_t used, avail;
    err_t err = {0};
    cr_assert_eq(codestore_usage(cs, &used, &avail, &err), 0, "%s", err.msg);
    cr_assert_eq(used, 0);
    cr_assert_gt(avail, 0);
    ent_t a[] = {{.name = "a.txt", .data = "one"}}, b[] = {{.name = "b.txt", .data = "two two"}};
    size_t la, lb;
    unsigned char *za = make_zip(a, 1, 0, NULL, &la), *zb = make_zip(b, 1, 0, NULL, &lb);
    codestore_entry_t e;
    cr_assert_eq(codestore_put(cs, za, la, &e, &err), 0, "%s", err.msg);
    cr_assert_eq(codestore_put(cs, za, la, &e, &err), 0, "%s", err.msg);
    cr_assert_eq(codestore_put(cs, zb, lb, &e, &err), 0, "%s", err.msg);
    cr_assert_eq(codestore_usage(cs, &used, &avail, &err), 0, "%s", err.msg);
    cr_assert_eq(used, (int64_t)(la + lb), "the same ZIP twice is stored once");
    cr_assert_eq(codestore_remove(cs, e.hex, &err), 0);
    cr_assert_eq(codestore_usage(cs, &used, &avail, &err), 0, "%s", err.msg);
    cr_assert_eq(used, (int64_t)la);
    free(za);
    free(zb);
    codestore_close(cs);
}

/* ---- a function's layers merged into one tree ---- */

static void read_tree_file(codestore_t *cs, const char *hex, const char *rel, char *out, size_t n)
{
    char p[600];
    FILE *f = fopen(tree_file(cs, hex, rel, p, sizeof p), "r");
    cr_assert_not_null(f, "%s: %s", p, strerror(errno));
    size_t k = fread(out, 1, n - 1, f);
    out[k] = '\0';
    fclose(f);
}

Test(codestore, layers_merged_in_order_later_ones_win)
{
    codestore_t *cs = open_cs(0, 0, 0);
    ent_t ea[] = {{.name = "a/x.txt", .data = "A"}, {.name = "shared", .data = "from A"},
                  {.name = "both/inner.txt", .data = "dir in A"},
                  {.name = "link", .type = AE_IFLNK, .target = "a/x.txt"}};
    ent_t eb[] = {{.name = "shared", .data = "from B"}, {.name = "both", .data = "file in B"},
                  {.name = "b.txt", .data = "B"}};
    size_t la, lb;
    unsigned char *za = make_zip(ea, 4, 0, NULL, &la), *zb = make_zip(eb, 3, 0, NULL, &lb);
    codestore_entry_t a, b;
    err_t err = {0};
    cr_assert_eq(codestore_put(cs, za, la, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(codestore_put(cs, zb, lb, &b, &err), 0, "%s", err.msg);
    cr_assert_eq(codestore_tree_size(cs, a.hex), a.unzipped_size);

    char hexes[2][65], ab[65], ba[65], again[65], buf[64];
    memcpy(hexes[0], a.hex, 65);
    memcpy(hexes[1], b.hex, 65);
    cr_assert_eq(codestore_merge(cs, (const char(*)[65])hexes, 2, ab, &err), 0, "%s", err.msg);
    read_tree_file(cs, ab, "shared", buf, sizeof buf);
    cr_assert_str_eq(buf, "from B");
    read_tree_file(cs, ab, "both", buf, sizeof buf);    /* B's file replaced A's directory */
    cr_assert_str_eq(buf, "file in B");
    read_tree_file(cs, ab, "a/x.txt", buf, sizeof buf);
    cr_assert_str_eq(buf, "A");
    read_tree_file(cs, ab, "b.txt", buf, sizeof buf);
    cr_assert_str_eq(buf, "B");
    char p[600], t[64];
    ssize_t k = readlink(tree_file(cs, ab, "link", p, sizeof p), t, sizeof t - 1);
    cr_assert_eq(k, 7);
    t[k] = '\0';
    cr_assert_str_eq(t, "a/x.txt");
    /* Files are the layers' own, linked: nothing extracted or copied twice. */
    struct stat s1, s2;
    cr_assert_eq(stat(tree_file(cs, a.hex, "a/x.txt", p, sizeof p), &s1), 0);
    cr_assert_eq(stat(tree_file(cs, ab, "a/x.txt", p, sizeof p), &s2), 0);
    cr_assert_eq(s1.st_ino, s2.st_ino);

    /* The same list again: the same tree. The other order: another. */
    int n = count_store_entries();
    cr_assert_eq(codestore_merge(cs, (const char(*)[65])hexes, 2, again, &err), 0, "%s", err.msg);
    cr_assert_str_eq(again, ab);
    cr_assert_eq(count_store_entries(), n);
    memcpy(hexes[0], b.hex, 65);
    memcpy(hexes[1], a.hex, 65);
    cr_assert_eq(codestore_merge(cs, (const char(*)[65])hexes, 2, ba, &err), 0, "%s", err.msg);
    cr_assert_str_neq(ba, ab);
    read_tree_file(cs, ba, "shared", buf, sizeof buf);
    cr_assert_str_eq(buf, "from A");
    read_tree_file(cs, ba, "both/inner.txt", buf, sizeof buf);
    cr_assert_str_eq(buf, "dir in A");

    /* A layer's own package removed: the merged tree keeps its files. */
    cr_assert_eq(codestore_remove(cs, a.hex, &err), 0, "%s", err.msg);
    read_tree_file(cs, ab, "a/x.txt", buf, sizeof buf);
    cr_assert_str_eq(buf, "A");
    /* ...and a merge that needs it fails, leaving nothing behind. */
    n = count_store_entries();
    memcpy(hexes[0], a.hex, 65);
    memcpy(hexes[1], b.hex, 65);
    hexes[1][0] = hexes[1][0] == '0' ? '1' : '0';   /* a list never merged */
    cr_assert_eq(codestore_merge(cs, (const char(*)[65])hexes, 2, again, &err), -1);
    cr_assert_eq(count_store_entries(), n);
    cr_assert_eq(codestore_remove(cs, ab, &err), 0, "%s", err.msg);
    cr_assert_eq(codestore_tree_size(cs, ab), -1);
    free(za);
    free(zb);
    codestore_close(cs);
}
