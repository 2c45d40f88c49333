/* {{NAME}} — a Nimbus function in C, for runtime `provided`.
 *
 * Build: make   (a static `bootstrap`; see the Makefile)
 * Deploy: nimbus deploy {{NAME}} . --runtime provided --handler bootstrap
 * Call:   nimbus invoke {{NAME}} --payload '{"name":"Ada"}' --log
 *
 * Answers {"message":"Hello, <name>!", ...} with what the runtime knows
 * about the call; the event {"fail":true} shows how an error is returned.
 * The handler may be called from several threads at once when the function
 * has "InstanceConcurrency" > 1: keep shared state behind a lock then.
 */
#include <stdio.h>
#include <string.h>

#include <nimbus_runtime.h>

static int calls;   /* survives from call to call while the instance is warm */

/* The value of "name" in the event, naively: good enough for a greeting. */
static size_t event_name(const nimbus_request *req, const char **out)
{
    const char *key = strstr(req->body, "\"name\"");
    const char *start = key ? strchr(key + 6, '"') : NULL;
    const char *end = start ? strchr(start + 1, '"') : NULL;
    if (!end) {
        *out = "world";
        return 5;
    }
    *out = start + 1;
    return (size_t)(end - start - 1);
}

static int handler(const nimbus_request *req, nimbus_response *res)
{
    calls++;
    fprintf(stderr, "{{NAME}}: call %d, request %s, %zu bytes\n", calls, req->request_id,
            req->body_len);   /* goes to the call's log */
    if (strstr(req->body, "\"fail\":true"))
        return nimbus_response_error(res, "HelloError", "asked to fail"), 1;

    const char *name;
    size_t len = event_name(req, &name);
    nimbus_response_printf(res, "{\"message\":\"Hello, %.*s!\",\"request_id\":", (int)len, name);
    nimbus_response_json_string(res, req->request_id, strlen(req->request_id));
    nimbus_response_printf(res, ",\"function\":\"%s\",\"memory_mb\":%d,\"calls\":%d,\"remaining_ms\":%lld}",
                           req->function_name, req->memory_mb, calls, nimbus_remaining_ms(req));
    return 0;
}

int main(void)
{
    /* One-time initialisation goes here. If it fails:
     *     return nimbus_runtime_init_error("MyInit.Error", "what went wrong"); */
    return nimbus_runtime_run(handler);
}
