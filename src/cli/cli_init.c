/* cli_init.c — `nimbus init NAME --template T [--dir DIR]`: scaffold a
 * function from templates/T/ and say how to deploy it. The templates sit
 * beside the runtime files, not among them (runtimes/ is mounted into every
 * sandbox; templates are for the CLI): <repo>/templates in a checkout,
 * <prefix>/share/nimbus/templates when installed.
 *
 * Owns the template table (runtime and handler of each template) and the
 * copy: file contents and names get {{NAME}} (and {{PREFIX}}, where Nimbus
 * is installed) replaced, permission bits are kept, symlinks stay symlinks.
 *
 * Must never: write into a directory that already has something in it, or
 * leave a half-made function behind when a copy fails. No network: it is
 * the one subcommand that does not talk to the daemon.
 */
#define _GNU_SOURCE   /* nftw's FTW_DEPTH / FTW_PHYS */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/function.h"
#include "core/runtime.h"

typedef struct {
    const char *name;      /* --template value, and the directory under templates/ */
    const char *runtime;   /* Runtime to deploy with: a name in core/runtime.c's table */
    const char *handler;   /* the handler when its file is there */
    const char *exts;      /* file endings that may hold the handler, or NULL: fixed */
    bool needs_make;       /* the bootstrap is built from the sources first */
    const char *files;     /* what it holds, for the usage */
} init_template_t;

static const init_template_t INIT_TEMPLATES[] = {
    {"python", "python3.11", "app.handler", ".py", false, "app.py"},
    {"node", "nodejs20.x", "index.handler", ".mjs .js .cjs", false, "index.mjs"},
    {"c", "provided", "bootstrap", NULL, true, "main.c + Makefile (libnimbus-runtime)"},
    {"bash", "bash", "function.handler", ".sh", false, "function.sh"},
    {"scf", "provided.scf", "index.main_handler", NULL, false, "bootstrap + index.sh (shell and curl)"},
    {"fc", "provided.fc", "index.handler", NULL, false, "bootstrap + server.py (an HTTP server)"},
};
#define N_TEMPLATES (sizeof INIT_TEMPLATES / sizeof INIT_TEMPLATES[0])

#define INIT_INSTALLED_SUFFIX "/share/nimbus/runtimes"

typedef struct {
    const char *key;       /* "{{NAME}}" */
    const char *value;
} init_subst_t;

/* "python, node, ..." (sep ", ") or "python|node|..." (sep "|"). */
void cli_init_template_names(FILE *out, const char *sep)
{
    for (size_t i = 0; i < N_TEMPLATES; i++) fprintf(out, "%s%s", i ? sep : "", INIT_TEMPLATES[i].name);
}

static void init_template_list(buf_t *b)
{
    for (size_t i = 0; i < N_TEMPLATES; i++) buf_appendf(b, "%s%s", i ? ", " : "", INIT_TEMPLATES[i].name);
}

void cli_usage_init(FILE *out)
{
    fputs("Usage: nimbus init NAME --template T [--dir DIR]\n"
          "\n"
          "Create a function NAME from a template, in DIR (default ./NAME, which\n"
          "must not exist or be empty), then print the command that deploys it.\n"
          "Templates: ",
          out);
    cli_init_template_names(out, ", ");
    fputs(".\n", out);
    for (size_t i = 0; i < N_TEMPLATES; i++)
        fprintf(out, "  %-7s %s, runtime %s\n", INIT_TEMPLATES[i].name, INIT_TEMPLATES[i].files,
                INIT_TEMPLATES[i].runtime);
    fputs("\n"
          "Options:\n"
          "  --template T       which template (required)\n"
          "  --dir DIR          where to create the function\n"
          "  --runtime-dir DIR  Nimbus' runtime files (default: beside the binary,\n"
          "                     else the installed share/nimbus/runtimes)\n"
          "  -h, --help         show this help\n",
          out);
}

/* ---- the copy ------------------------------------------------------------ */

static void init_substitute(buf_t *out, const char *in, size_t len, const init_subst_t *subs)
{
    size_t i = 0, start = 0;
    while (i < len) {
        const init_subst_t *hit = NULL;
        if (in[i] == '{' && i + 1 < len && in[i + 1] == '{') {
            for (const init_subst_t *s = subs; s->key && !hit; s++) {
                size_t k = strlen(s->key);
                if (k <= len - i && memcmp(in + i, s->key, k) == 0) hit = s;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        buf_append(out, in + start, i - start);
        buf_append(out, hit->value, strlen(hit->value));
        i += strlen(hit->key);
        start = i;
    }
    buf_append(out, in + start, len - start);
}

static int init_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int init_copy_file(const char *src, const char *dst, mode_t mode, const init_subst_t *subs,
                          err_t *err)
{
    buf_t in = {0}, out = {0};
    if (cli_read_file(src, &in, err) < 0) {
        buf_free(&in);
        return -1;
    }
    init_substitute(&out, in.data, in.len, subs);
    buf_free(&in);
    int rc = 0;
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
    if (fd < 0) {
        rc = err_sys(err, "create %s", dst);
    } else {
        if (init_write_all(fd, out.data, out.len) < 0) rc = err_sys(err, "write %s", dst);
        /* The umask must not take away an exec bit the template has. */
        if (rc == 0 && fchmod(fd, mode & 0777) < 0) rc = err_sys(err, "chmod %s", dst);
        if (close(fd) < 0 && rc == 0) rc = err_sys(err, "write %s", dst);
    }
    buf_free(&out);
    return rc;
}

static bool init_skip_name(const char *name)
{
    size_t n = strlen(name);
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "__pycache__") == 0 ||
           (n > 4 && strcmp(name + n - 4, ".pyc") == 0);
}

static int init_copy_tree(const char *src, const char *dst, const init_subst_t *subs, int depth,
                          err_t *err)
{
    if (depth > 32) return err_set(err, ERR_INVALID, "%s: template nested too deeply", src);
    DIR *d = opendir(src);
    if (!d) return err_sys(err, "template %s", src);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (init_skip_name(e->d_name)) continue;
        buf_t name = {0};
        init_substitute(&name, e->d_name, strlen(e->d_name), subs);
        char from[PATH_MAX], to[PATH_MAX];
        int n1 = snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        int n2 = snprintf(to, sizeof to, "%s/%s", dst, name.data);
        buf_free(&name);
        if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof from || (size_t)n2 >= sizeof to) {
            rc = err_set(err, ERR_INVALID, "%s/%s: path too long", dst, e->d_name);
            break;
        }
        struct stat st;
        if (lstat(from, &st) < 0) {
            rc = err_sys(err, "template %s", from);
        } else if (S_ISDIR(st.st_mode)) {
            if (mkdir(to, (st.st_mode & 0777) | 0700) < 0) rc = err_sys(err, "mkdir %s", to);
            else rc = init_copy_tree(from, to, subs, depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
            rc = init_copy_file(from, to, st.st_mode, subs, err);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlink(from, target, sizeof target - 1);
            if (n < 0) {
                rc = err_sys(err, "readlink %s", from);
            } else {
                target[n] = '\0';
                if (symlink(target, to) < 0) rc = err_sys(err, "symlink %s", to);
            }
        }
        /* FIFOs, sockets and devices have no place in a template: skipped. */
    }
    closedir(d);
    return rc;
}

/* nftw has no user pointer: whether the top directory goes too is global. */
static bool init_rm_self;

static int init_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (ftw->level == 0 && !init_rm_self) return 0;
    if (type == FTW_DP) rmdir(path);
    else unlink(path);
    return 0;
}

static void init_remove(const char *dir, bool self)
{
    init_rm_self = self;
    nftw(dir, init_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* 1 = empty directory, 0 = has entries, -1 = error. */
static int init_dir_empty(const char *dir, err_t *err)
{
    DIR *d = opendir(dir);
    if (!d) return err_sys(err, "%s", dir);
    int empty = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

static int init_mkdir_p(const char *dir, err_t *err)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof path) return err_set(err, ERR_INVALID, "%s: path too long", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0777) < 0 && errno != EEXIST) return err_sys(err, "mkdir %s", path);
        *p = '/';
    }
    if (mkdir(path, 0777) < 0) return err_sys(err, "mkdir %s", path);
    return 0;
}

/* ---- what to print --------------------------------------------------------- */

/* The handler, from the file the template actually holds: the default
 * ("app.handler") when app.py is there, else "<stem>.handler" of the first
 * top-level file with a matching ending. */
static void init_find_handler(const init_template_t *t, const char *dir, char *out, size_t out_len)
{
    snprintf(out, out_len, "%s", t->handler);
    if (!t->exts) return;
    const char *dot = strrchr(t->handler, '.');
    size_t mlen = dot ? (size_t)(dot - t->handler) : strlen(t->handler);
    char best[NAME_MAX + 1] = "";
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *ext = strrchr(e->d_name, '.');
        if (!ext || ext == e->d_name) continue;
        size_t elen = strlen(ext);
        bool match = false;
        for (const char *p = t->exts; *p;) {
            size_t k = strcspn(p, " ");
            if (k == elen && memcmp(p, ext, k) == 0) match = true;
            p += k;
            while (*p == ' ') p++;
        }
        if (!match) continue;
        size_t stem = (size_t)(ext - e->d_name);
        if (stem == mlen && memcmp(e->d_name, t->handler, mlen) == 0) {
            closedir(d);
            return;   /* the default's file is there */
        }
        if (!best[0] || strcmp(e->d_name, best) < 0) snprintf(best, sizeof best, "%s", e->d_name);
    }
    closedir(d);
    if (best[0]) snprintf(out, out_len, "%.*s.handler", (int)(strrchr(best, '.') - best), best);
}

/* A word as the shell reads it back: quoted only when it has to be. */
static void init_shell_word(buf_t *b, const char *s)
{
    if (s[0] && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./=+:,@%") ==
                    strlen(s)) {
        buf_append(b, s, strlen(s));
        return;
    }
    buf_append(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'') buf_append(b, "'\\''", 4);
        else buf_append(b, s, 1);
    }
    buf_append(b, "'", 1);
}

/* Where `cmake --install` put Nimbus, from the runtime dir
 * (<prefix>/share/nimbus/runtimes); /usr/local when running from a build. */
static void init_prefix(const char *rt_dir, char *out, size_t out_len)
{
    size_t n = strlen(rt_dir), k = strlen(INIT_INSTALLED_SUFFIX);
    if (n > k && strcmp(rt_dir + n - k, INIT_INSTALLED_SUFFIX) == 0)
        snprintf(out, out_len, "%.*s", (int)(n - k), rt_dir);
    else
        snprintf(out, out_len, "/usr/local");
}

/* Running from a build tree (build/nimbus): that tree, whose sdk/c has the
 * library, so the printed `make` can use it. "" when installed. */
static void init_build_tree(const char *rt_dir, char *out, size_t out_len)
{
    out[0] = '\0';
    size_t n = strlen(rt_dir), k = strlen(INIT_INSTALLED_SUFFIX);
    if (n > k && strcmp(rt_dir + n - k, INIT_INSTALLED_SUFFIX) == 0) return;
    char exe[PATH_MAX], lib[PATH_MAX + 64];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0';
    snprintf(lib, sizeof lib, "%s/sdk/c/libnimbus-runtime.a", exe);
    if (access(lib, R_OK) == 0) snprintf(out, out_len, "%s", exe);
}

/* Template T's directory: beside the runtime dir first (so --runtime-dir
 * picks a matching set), then beside the binary (a build tree's ../templates,
 * an installed ../share/nimbus/templates). The first candidate when none has
 * it, for the error message. */
static bool init_template_dir(const char *rt_dir, const char *t, char *out, size_t out_len)
{
    char exe[PATH_MAX] = "";
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
    }
    const char *base[] = {rt_dir, exe, exe};
    const char *rel[] = {"../templates", "../templates", "../share/nimbus/templates"};
    for (size_t i = 0; i < 3; i++) {
        if (!base[i][0]) continue;
        char cand[PATH_MAX + NAME_MAX + 64];
        snprintf(cand, sizeof cand, "%s/%s/%s", base[i], rel[i], t);
        struct stat st;
        char real[PATH_MAX];
        if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode) && realpath(cand, real)) {
            snprintf(out, out_len, "%s", real);
            return true;
        }
    }
    snprintf(out, out_len, "%s/../templates/%s", rt_dir, t);
    return false;
}

/* ---- the command ------------------------------------------------------------ */

enum { OPT_TEMPLATE, OPT_DIR, OPT_RUNTIME_DIR };
static const cli_opt_t init_opts[] = {
    [OPT_TEMPLATE] = {"template", true},
    [OPT_DIR] = {"dir", true},
    [OPT_RUNTIME_DIR] = {"runtime-dir", true},
    {NULL, false},
};

int cli_cmd_init(cli_ctx_t *ctx, int argc, char **argv, err_t *err)
{
    const char *name = NULL, *tname = NULL, *dir = NULL, *rt_dir_opt = NULL, *val;
    cli_args_t a;
    cli_args_init(&a, argc, argv);
    for (bool more = true; more;) {
        switch (cli_args_next(ctx, &a, init_opts, &val, err)) {
        case CLI_ARG_END: more = false; break;
        case CLI_ARG_ERROR: return -1;
        case CLI_ARG_HELP: cli_usage_init(stdout); return 0;
        case CLI_ARG_POSITIONAL:
            if (name) return cli_usage_fail(ctx, err, "unexpected argument '%s'", val);
            name = val;
            break;
        case OPT_TEMPLATE: tname = val; break;
        case OPT_DIR: dir = val; break;
        case OPT_RUNTIME_DIR: rt_dir_opt = val; break;
        default: return cli_usage_fail(ctx, err, "internal: unhandled option");
        }
    }
    if (!name) return cli_usage_fail(ctx, err, "missing NAME");
    if (!function_name_valid(name)) {
        const function_field_t *f = function_field("FunctionName");
        return cli_usage_fail(ctx, err, "NAME '%s' must be %d to %d letters, digits, '-' or '_'",
                              name, f->min, f->max);
    }
    const init_template_t *t = NULL;
    for (size_t i = 0; tname && i < N_TEMPLATES; i++)
        if (strcmp(INIT_TEMPLATES[i].name, tname) == 0) t = &INIT_TEMPLATES[i];
    if (!t) {
        buf_t list = {0};
        init_template_list(&list);
        if (tname) cli_usage_fail(ctx, err, "unknown template '%s' (%s)", tname, list.data);
        else cli_usage_fail(ctx, err, "missing --template (%s)", list.data);
        buf_free(&list);
        return -1;
    }
    if (!runtime_find(t->runtime))
        return err_set(err, ERR_INTERNAL, "template %s names runtime %s, which Nimbus lacks",
                       t->name, t->runtime);
    if (!dir) dir = name;
    if (!dir[0]) return cli_usage_fail(ctx, err, "--dir needs a directory");

    if (runtime_set_dir(rt_dir_opt, err) < 0) return -1;
    char src[PATH_MAX];
    if (!init_template_dir(runtime_dir(), t->name, src, sizeof src))
        return err_set(err, ERR_SYS, "template '%s' not found: %s is missing (is Nimbus installed?)",
                       t->name, src);
    struct stat st;

    bool created;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return err_set(err, ERR_INVALID, "%s exists and is not a directory", dir);
        int empty = init_dir_empty(dir, err);
        if (empty < 0) return -1;
        if (!empty) return err_set(err, ERR_CONFLICT, "%s exists and is not empty", dir);
        created = false;
    } else if (errno == ENOENT) {
        if (init_mkdir_p(dir, err) < 0) return -1;
        created = true;
    } else {
        return err_sys(err, "%s", dir);
    }

    char prefix[PATH_MAX], tree[PATH_MAX];
    init_prefix(runtime_dir(), prefix, sizeof prefix);
    init_build_tree(runtime_dir(), tree, sizeof tree);
    const init_subst_t subs[] = {{"{{NAME}}", name}, {"{{PREFIX}}", prefix}, {NULL, NULL}};
    if (init_copy_tree(src, dir, subs, 0, err) < 0) {
        init_remove(dir, created);
        return -1;
    }

    char handler[NAME_MAX + 16];
    init_find_handler(t, dir, handler, sizeof handler);
    buf_t next = {0};
    if (t->needs_make) {
        buf_append(&next, "make -C ", 8);
        init_shell_word(&next, dir);
        if (tree[0]) {
            buf_append(&next, " NIMBUS_RUNTIME_DIR=", 20);
            init_shell_word(&next, tree);
        }
        buf_append(&next, " && ", 4);
    }
    buf_append(&next, "nimbus deploy ", 14);
    init_shell_word(&next, name);
    buf_append(&next, " ", 1);
    init_shell_word(&next, dir);
    buf_appendf(&next, " --runtime %s --handler ", t->runtime);
    init_shell_word(&next, handler);
    printf("created %s (%s, handler %s): %s\n", name, t->runtime, handler, next.data);
    buf_free(&next);
    return 0;
}
