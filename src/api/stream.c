/* stream.c — InvokeWithResponseStream (POST /2021-11-15/functions/{name}/
 * response-streaming-invocations): the request checked as Invoke's, a call
 * made with a stream sink, and the answer written as Lambda's event stream
 * (Content-Type application/vnd.amazon.eventstream): one PayloadChunk
 * message per piece the function streams, sent as it arrives, then one
 * InvokeComplete {ErrorCode, ErrorDetails, LogResult}, last. Errors before
 * the call runs (404, 400, 413, 429) are Invoke's, as plain answers.
 *
 * Owns the caller's exchange for as long as the call runs. A client that
 * reads slowly holds the function's stream back (the HTTP server says
 * "pause", the call's source is paused until it drains). Must never:
 * answer twice, write to a caller that went away, or send InvokeComplete
 * before the last PayloadChunk.
 */
#include "api/stream.h"

#include "api/invoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/evstream.h"
#include "base/util.h"
#include "core/call.h"

#define LOG_TAIL_BYTES 4096u
#define CHUNK_MAX (1024u * 1024u)   /* one PayloadChunk at most; decoders take 16 MiB */

typedef struct {
    http_exchange_t *ex;       /* NULL once the caller went away */
    call_t *c;                 /* NULL once the call ended */
    bool head_sent;
    buf_t msg;                 /* scratch: the message being framed */
} sstream_t;

static void send_head(sstream_t *s, call_t *c)
{
    if (s->head_sent) return;
    s->head_sent = true;
    http_header_t h[] = {
        { "Content-Type", "application/vnd.amazon.eventstream" },
        { "X-Amz-Executed-Version", c->fn->cfg.version },
        { "x-amzn-RequestId", c->request_id },
    };
    http_respond_stream_begin(s->ex, 200, h, 3);
}

/* PayloadChunk messages for `len` bytes; the last write's answer. */
static int send_payload(sstream_t *s, const char *p, size_t len)
{
    int r = 0;
    while (len && r >= 0) {
        size_t n = len > CHUNK_MAX ? CHUNK_MAX : len;
        buf_reset(&s->msg);
        evstream_append_event(&s->msg, "PayloadChunk", "application/octet-stream", p, n);
        r = http_respond_stream_write(s->ex, s->msg.data, s->msg.len);
        p += n;
        len -= n;
    }
    return r;
}

static void drained(http_exchange_t *ex, void *arg)
{
    (void)ex;
    sstream_t *s = arg;
    if (s->c) call_stream_resume(s->c);
}

static void sink_begin(call_t *c, const char *content_type)
{
    (void)content_type;   /* the stream's own type is the event stream's */
    sstream_t *s = c->owner;
    send_head(s, c);
}

static int sink_data(call_t *c, const char *bytes, size_t len)
{
    sstream_t *s = c->owner;
    send_head(s, c);
    /* Refused (-1): the client is being dropped; its abort follows. */
    return send_payload(s, bytes, len) == 1 ? 1 : 0;
}

static const call_stream_t SINK = { sink_begin, sink_data };

/* ErrorCode and ErrorDetails from a function error document. */
static void add_error(cJSON *o, const call_result_t *res)
{
    cJSON *doc = res->body ? cJSON_ParseWithLength(res->body, res->len) : NULL;
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "errorType"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "errorMessage"));
    cJSON_AddStringToObject(o, "ErrorCode", type ? type : "Unhandled");
    if (msg) {
        cJSON_AddStringToObject(o, "ErrorDetails", msg);
    } else {
        char *raw = strndup(res->body ? res->body : "", res->len);
        cJSON_AddStringToObject(o, "ErrorDetails", raw ? raw : "");
        free(raw);
    }
    cJSON_Delete(doc);
}

static void stream_done(call_t *c, const call_result_t *res)
{
    sstream_t *s = c->owner;
    c->owner = NULL;
    s->c = NULL;
    http_exchange_t *ex = s->ex;
    if (res->outcome == CALL_REJECTED) {
        api_respond_error(ex, res->status, res->error_type, "%s", res->message);
    } else if (res->outcome == CALL_THROTTLED) {
        api_respond_throttled(ex, res->reason);
    } else {
        send_head(s, c);
        /* A runtime that answered buffered: its whole body, as chunks. */
        if (res->outcome == CALL_OK && !res->streamed && res->len) send_payload(s, res->body, res->len);
        cJSON *o = cJSON_CreateObject();
        if (res->outcome == CALL_FUNCTION_ERROR) add_error(o, res);
        if (c->log_tail) {
            size_t len;
            const char *t = call_log_tail(c, LOG_TAIL_BYTES, &len);
            char *tail = util_base64_encode(t, len, NULL);
            cJSON_AddStringToObject(o, "LogResult", tail);
            free(tail);
        }
        char *json = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        buf_reset(&s->msg);
        evstream_append_event(&s->msg, "InvokeComplete", "application/json", json, strlen(json));
        free(json);
        http_respond_stream_write(ex, s->msg.data, s->msg.len);
        http_respond_stream_end(ex);
    }
    buf_free(&s->msg);
    free(s);
}

static void caller_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    sstream_t *s = arg;
    call_t *c = s->c;
    buf_free(&s->msg);
    free(s);
    /* Its outcome goes nowhere now, and so do its bytes. */
    if (c) {
        c->owner = NULL;
        call_abandon(c);
    }
}

void stream_invoke_handle(api_t *d, http_exchange_t *ex, const char *path_name, const char *qualifier)
{
    invoke_req_t r;
    if (invoke_parse(d, ex, path_name, qualifier, INVOKE_STREAM, &r) < 0) return;
    sstream_t *s = calloc(1, sizeof *s);
    if (!s) {
        invoke_req_free(&r);
        api_respond_error(ex, 500, "ServiceException", "out of memory");
        return;
    }
    call_t *c = invoke_call(d, ex, &r);
    if (!c) {
        free(s);
        return;
    }
    s->ex = ex;
    s->c = c;
    c->stream = &SINK;
    c->done = stream_done;
    c->owner = s;
    http_exchange_on_abort(ex, caller_gone, s);
    http_exchange_on_drain(ex, drained, s);
    call_submit(c);
}
