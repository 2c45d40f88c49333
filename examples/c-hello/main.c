/* c-hello — a Nimbus function in C (runtime `provided`), built with this
 * repository's libnimbus-runtime: `make build` at the top, then `make` here.
 *
 *   nimbus deploy c-hello examples/c-hello --runtime provided --handler bootstrap
 *   nimbus invoke c-hello --payload '{"name":"Ada"}' --log
 *
 * Answers {"message":"Hello, <name>!", ...} with what the runtime knows
 * about the call; an event {"fail":true} shows how an error is returned.
 */
#include <stdio.h>
#include <string.h>

#include "nimbus_runtime.h"

static int calls;   /* kept while the instance is warm */

static int handler(const nimbus_request *req, nimbus_response *res)
{
    calls++;
    fprintf(stderr, "c-hello: request %s, %zu bytes\n", req->request_id, req->body_len);
    if (strstr(req->body, "\"fail\":true"))
        return nimbus_response_error(res, "HelloError", "asked to fail"), 1;

    /* The "name" field, found naively: this example parses no JSON. */
    const char *name = "world";
    int len = 5;
    const char *key = strstr(req->body, "\"name\"");
    const char *q1 = key ? strchr(key + 6, '"') : NULL;
    const char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
    if (q2) {
        name = q1 + 1;
        len = (int)(q2 - q1 - 1);
    }
    nimbus_response_printf(res, "{\"message\":\"Hello, %.*s!\",\"request_id\":", len, name);
    nimbus_response_json_string(res, req->request_id, strlen(req->request_id));
    nimbus_response_printf(res, ",\"function\":\"%s\",\"memory_mb\":%d,\"calls\":%d,\"remaining_ms\":%lld}",
                           req->function_name, req->memory_mb, calls, nimbus_remaining_ms(req));
    return 0;
}

int main(void)
{
    return nimbus_runtime_run(handler);
}
