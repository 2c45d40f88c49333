/* fuzz_spawner_proto.c — libFuzzer target for the spawner protocol's
 * decoders (src/sandbox/spawner_proto.c): what the spawner and an
 * instance's init accept from the daemon's side (sp_req_decode), and what
 * the daemon accepts back (sp_resp_decode, sp_resp_fds).
 *
 * Beyond "no crash, no out-of-bounds read" (ASan), it checks that a
 * decoded request means exactly its bytes: every string lies inside the
 * message, the counts are the header's, and encoding the view again
 * (sp_req_encode, as the daemon builds requests) gives back the same bytes.
 * The first input byte picks a request type to try, so each type's rules
 * are reached without the fuzzer having to find them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/spawner_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sp_req_view_t g_view;   /* 10 KB: not on the fuzzer's stack */

static void check_request(const uint8_t *msg, size_t len)
{
    if (sp_req_decode(msg, len, &g_view) != 0) return;
    const sp_req_t *h = &g_view.hdr;
    if (memcmp(h, msg, sizeof *h) != 0) abort();
    const char *lo = (const char *)msg, *hi = lo + len;
    if (h->type != SP_SPAWN && h->type != SP_EXEC && h->type != SP_WARM) {
        if (g_view.exe || g_view.argv[0] || g_view.env[0]) abort();
        return;
    }
    /* SP_WARM: a spawn's command, never an environment */
    if (h->type == SP_WARM && (h->nenv || g_view.env[0])) abort();
    if ((h->type == SP_SPAWN || h->type == SP_WARM) != (g_view.exe != NULL)) abort();
    if (h->type == SP_SPAWN && !memchr(h->code_dir, '\0', sizeof h->code_dir)) abort();
    uint32_t n = 0;
    for (; g_view.argv[n]; n++)
        if (g_view.argv[n] < lo || g_view.argv[n] + strlen(g_view.argv[n]) >= hi) abort();
    if (n != h->nargv || n == 0) abort();
    for (n = 0; g_view.env[n]; n++)
        if (g_view.env[n] < lo || g_view.env[n] + strlen(g_view.env[n]) >= hi) abort();
    if (n != h->nenv) abort();
    size_t len2 = 0;
    char *again = sp_req_encode(h, g_view.exe, (char *const *)g_view.argv, (char *const *)g_view.env, &len2);
    if (!again) abort();   /* it decoded, so it fits */
    if (len2 != len || memcmp(again, msg, len) != 0) abort();
    free(again);
}

static void check_answer(const uint8_t *msg, size_t len)
{
    sp_resp_t r;
    if (sp_resp_decode(msg, len, &r) != 0) return;
    if (!memchr(r.msg, '\0', sizeof r.msg) || r.fdmask >> FD_N) abort();
    /* Fake fd numbers: which one lands where must follow the mask, in order. */
    int fds[FD_N], got[FD_N];
    int nf = (int)(r.tag % (FD_N + 1));
    for (int i = 0; i < nf; i++) fds[i] = 100 + i;
    int placed = sp_resp_fds(r.fdmask, fds, nf, got), next = 0;
    for (int i = 0; i < FD_N; i++) {
        if (got[i] < 0) continue;
        if (!(r.fdmask & (1u << i)) || got[i] != 100 + next) abort();
        next++;
    }
    if (placed != next || placed > nf) abort();
}

/* Input: a mode byte, then bytes. Mode bit 7 set: a well-formed header
 * (type from bits 0-2, nargv and nenv from the next two bytes) followed by
 * the bytes as the string area, so the string rules are reached at once;
 * clear: the bytes are the whole message, its type forced by bits 0-2
 * (values past the known types leave it as it is). Every input is also
 * tried as an answer, padded or cut to an answer's size. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const uint32_t types[] = { SP_SPAWN, SP_EXEC, SP_SIGNAL, SP_RELEASE, SP_NETSOCK };
    unsigned mode = data[0], pick = mode & 7;
    data++, size--;
    size_t len = size;
    /* An aligned copy, as a message arrives in the receiver's buffer. */
    uint8_t *msg = malloc(size + sizeof(sp_req_t) + sizeof(sp_resp_t));
    if (!msg) return 0;
    if (mode & 0x80) {
        sp_req_t h;
        memset(&h, 0, sizeof h);
        h.type = pick < 5 ? types[pick] : pick;
        h.nargv = size > 0 ? data[0] % 8 : 1;
        h.nenv = size > 1 ? data[1] % 8 : 0;
        memcpy(msg, &h, sizeof h);
        memcpy(msg + sizeof h, data, size);
        len = sizeof h + size;
    } else {
        memcpy(msg, data, size);
        if (pick < 5 && len >= sizeof(uint32_t)) memcpy(msg, &types[pick], sizeof(uint32_t));
    }
    check_request(msg, len);
    check_answer(msg, len);
    uint8_t *ans = msg + len;
    memset(ans, 0, sizeof(sp_resp_t));
    memcpy(ans, data, size < sizeof(sp_resp_t) ? size : sizeof(sp_resp_t));
    check_answer(ans, sizeof(sp_resp_t));
    free(msg);
    return 0;
}
