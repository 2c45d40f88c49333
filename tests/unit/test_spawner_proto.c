/* test_spawner_proto.c — the spawner protocol's encoder and decoders
 * (spawner_proto.c): a request built as the daemon builds it decodes to
 * what was put in; anything else is refused (strings running past the
 * message, trailing bytes, counts out of range, an unterminated code_dir,
 * an unknown type); answers must have their size, terminated strings and
 * known fd bits, and their fds land where the mask says.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/spawner_proto.h"

static sp_req_view_t v;

static char *exec_request(size_t *len)
{
    char *argv[] = { "sh", "-c", "echo hi", NULL };
    char *env[] = { "A=1", "PATH=/usr/bin", NULL };
    sp_req_t h = { .type = SP_EXEC, .tag = 7, .handle = 0x10002, .flags = 0 };
    return sp_req_encode(&h, NULL, argv, env, len);
}

Test(spawner_proto, exec_request_round_trips)
{
    size_t len;
    char *m = exec_request(&len);
    cr_assert_not_null(m);
    cr_assert_eq(sp_req_decode(m, len, &v), 0);
    cr_assert_eq(v.hdr.type, SP_EXEC);
    cr_assert_eq(v.hdr.handle, 0x10002u);
    cr_assert_eq(v.hdr.nargv, 3u);
    cr_assert_eq(v.hdr.nenv, 2u);
    cr_assert_null(v.exe);
    cr_assert_str_eq(v.argv[0], "sh");
    cr_assert_str_eq(v.argv[2], "echo hi");
    cr_assert_null(v.argv[3]);
    cr_assert_str_eq(v.env[1], "PATH=/usr/bin");
    cr_assert_null(v.env[2]);
    free(m);
}

Test(spawner_proto, spawn_request_round_trips_with_its_exe)
{
    char *argv[] = { "bootstrap", NULL };
    char *env[] = { NULL };
    sp_req_t h = { .type = SP_SPAWN, .memory_mb = 128 };
    strcpy(h.code_dir, "/data/code/x/tree");
    size_t len;
    char *m = sp_req_encode(&h, "/var/task/bootstrap", argv, env, &len);
    cr_assert_eq(sp_req_decode(m, len, &v), 0);
    cr_assert_str_eq(v.exe, "/var/task/bootstrap");
    cr_assert_str_eq(v.argv[0], "bootstrap");
    cr_assert_null(v.env[0]);
    cr_assert_str_eq(v.hdr.code_dir, "/data/code/x/tree");
    free(m);
}

Test(spawner_proto, malformed_requests_are_refused)
{
    size_t len;
    char *m = exec_request(&len);
    cr_assert_eq(sp_req_decode(m, len - 1, &v), EINVAL, "last string unterminated");
    cr_assert_eq(sp_req_decode(m, sizeof(sp_req_t) - 1, &v), EINVAL, "short header");
    char *longer = malloc(len + 1);
    memcpy(longer, m, len);
    longer[len] = '\0';
    cr_assert_eq(sp_req_decode(longer, len + 1, &v), EINVAL, "trailing bytes");
    free(longer);
    sp_req_t *h = (sp_req_t *)m;
    h->nenv = 3;
    cr_assert_eq(sp_req_decode(m, len, &v), EINVAL, "more strings than the message holds");
    h->nenv = 2;
    h->nargv = 0;
    cr_assert_eq(sp_req_decode(m, len, &v), EINVAL, "no command");
    h->nargv = SP_EXEC_ARGV_MAX + 1;
    cr_assert_eq(sp_req_decode(m, len, &v), EINVAL, "too many words");
    h->nargv = 3;
    h->type = 99;
    cr_assert_eq(sp_req_decode(m, len, &v), EINVAL, "unknown type");
    h->type = SP_SPAWN;   /* as a spawn the first string is its exe: one too few */
    cr_assert_eq(sp_req_decode(m, len, &v), EINVAL);
    free(m);
    sp_req_t s = { .type = SP_SPAWN };
    char *argv[] = { "x", NULL };
    m = sp_req_encode(&s, "/x", argv, NULL, &len);
    memset(((sp_req_t *)m)->code_dir, 'a', sizeof s.code_dir);
    cr_assert_eq(sp_req_decode(m, len, &v), EINVAL, "code_dir without its NUL");
    free(m);
}

Test(spawner_proto, control_requests_are_their_fixed_part)
{
    sp_req_t h = { .type = SP_RELEASE, .handle = 3 };
    cr_assert_eq(sp_req_decode(&h, sizeof h, &v), 0);
    cr_assert_eq(v.hdr.handle, 3u);
    cr_assert_null(v.argv[0]);
}

Test(spawner_proto, encode_refuses_too_much)
{
    char *big = malloc(MAX_MSG);
    memset(big, 'e', MAX_MSG - 1);
    big[MAX_MSG - 1] = '\0';
    char *argv[] = { "x", NULL }, *env[] = { big, NULL };
    sp_req_t h = { .type = SP_EXEC };
    size_t len;
    errno = 0;
    cr_assert_null(sp_req_encode(&h, NULL, argv, env, &len));
    cr_assert_eq(errno, E2BIG);
    free(big);
}

Test(spawner_proto, answers_are_checked_and_their_fds_placed_by_mask)
{
    sp_resp_t r = { .type = SP_EXEC, .tag = 1, .fdmask = (1u << FX_N) - 1 }, out;
    cr_assert_eq(sp_resp_decode(&r, sizeof r, &out), 0);
    cr_assert_eq(sp_resp_decode(&r, sizeof r - 1, &out), EINVAL, "wrong size");
    int fds[] = { 10, 11, 12 }, got[FD_N];
    cr_assert_eq(sp_resp_fds(out.fdmask, fds, 3, got), 3);
    cr_assert_eq(got[FX_OUT], 10);
    cr_assert_eq(got[FX_STATUS], 11);
    cr_assert_eq(got[FX_KILL], 12);
    cr_assert_eq(got[FD_API], -1);
    /* fewer fds than the mask says: the rest are missing, not invented */
    cr_assert_eq(sp_resp_fds(1u << FD_OUT | 1u << FD_API, fds, 1, got), 1);
    cr_assert_eq(got[FD_OUT], 10);
    cr_assert_eq(got[FD_API], -1);
    r.fdmask = 1u << FD_N;
    cr_assert_eq(sp_resp_decode(&r, sizeof r, &out), EINVAL, "unknown fd bit");
    r.fdmask = 0;
    memset(r.msg, 'm', sizeof r.msg);
    cr_assert_eq(sp_resp_decode(&r, sizeof r, &out), EINVAL, "message without its NUL");
}

/* What an exec may ask for its stdin: a pipe or a terminal (not both), a
 * terminal's size within 1..65535, and no flag a spawn request uses. */
Test(spawner_proto, exec_stdin_and_terminal_are_checked)
{
    char *argv[] = { "sh", NULL };
    struct { uint32_t flags, rows, cols; int want; } cases[] = {
        { SPF_EXEC_STDIN, 0, 0, 0 },
        { SPF_EXEC_TTY, 24, 80, 0 },
        { SPF_EXEC_TTY | SPF_OWN_ENV, 65535, 1, 0 },
        { SPF_EXEC_TTY, 0, 80, EINVAL },
        { SPF_EXEC_TTY, 24, 65536, EINVAL },
        { SPF_EXEC_TTY | SPF_EXEC_STDIN, 24, 80, EINVAL },
        { SPF_EXEC_STDIN, 24, 80, EINVAL },
        { 0, 1, 0, EINVAL },
        { SPF_NET_HOST, 0, 0, EINVAL },
        { SPF_TMP_DISK, 0, 0, EINVAL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sp_req_t h = { .type = SP_EXEC, .flags = cases[i].flags, .rows = cases[i].rows, .cols = cases[i].cols };
        size_t len;
        char *m = sp_req_encode(&h, NULL, argv, NULL, &len);
        cr_assert_not_null(m);
        cr_assert_eq(sp_req_decode(m, len, &v), cases[i].want, "case %zu", i);
        free(m);
    }
}

Test(spawner_proto, warm_order_is_a_command_without_environment)
{
    char *argv[] = { "/usr/bin/python3", "-S", "/var/runtime/python/bootstrap.py", NULL };
    char *env[] = { "A=1", NULL };
    sp_req_t h = { .type = SP_WARM, .flags = SPF_PRESTART | SPF_ZYGOTE };
    size_t len;
    char *m = sp_req_encode(&h, "/usr/bin/python3", argv, NULL, &len);
    cr_assert_eq(sp_req_decode(m, len, &v), 0);
    cr_assert_str_eq(v.exe, "/usr/bin/python3");
    cr_assert_str_eq(v.argv[2], "/var/runtime/python/bootstrap.py");
    cr_assert_null(v.argv[3]);
    cr_assert_eq(v.hdr.flags, SPF_PRESTART | SPF_ZYGOTE);
    free(m);
    /* a function's environment has no place in it */
    m = sp_req_encode(&h, "/usr/bin/python3", argv, env, &len);
    cr_assert_eq(sp_req_decode(m, len, &v), EINVAL);
    free(m);
}
