/* {{NAME}} — a Nimbus function in C, for runtime `provided`.
 *
 * Build: make   (a static `bootstrap`; see the Makefile)
 * Deploy: nimbus deploy {{NAME}} . --runtime provided --handler bootstrap
 * Call:   nimbus invoke {{NAME}} --payload '{"name":"Ada"}'
 *
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
    const char *name;
    size_t len = event_name(req, &name);
    calls++;
    printf("{{NAME}}: call %d, request %s\n", calls, req->request_id);   /* goes to the log */

    nimbus_response_printf(res, "{\"message\":\"Hello, %.*s!\",\"function\":\"%s\",\"calls\":%d,"
                                "\"remaining_ms\":%lld}",
                           (int)len, name, req->function_name, calls, nimbus_remaining_ms(req));
    return 0;   /* or: return nimbus_response_error(res, "MyError", "what went wrong"), 1; */
}

int main(void)
{
    /* One-time initialisation goes here. If it fails:
     *     return nimbus_runtime_init_error("MyInit.Error", "what went wrong"); */
    return nimbus_runtime_run(handler);
}
