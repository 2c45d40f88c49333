/* tenancy.c — which account may touch which function: ownership, and the
 * resource policies that let another account invoke (api/tenancy.h).
 *
 * Owns the grant cache: (function, owner, caller account, action) →
 * allowed or not, filled from the stored policies on a worker, emptied
 * for a function whenever one of its policies is written. Must never:
 * read the store on the loop thread, or resume a request whose client has
 * gone.
 */
#define _GNU_SOURCE
#include "api/tenancy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/util.h"
#include "core/function.h"

typedef struct grant {
    char function[65];
    char owner[13];
    char caller[13];
    char action[32];             /* "lambda:InvokeFunction" */
    bool allowed;
    struct grant *next;
} grant_t;

struct grant_cache {
    grant_t *head;
    size_t n;
};

#define MAX_GRANTS 4096

static struct grant_cache *cache(api_t *d)
{
    if (!d->grants && !(d->grants = calloc(1, sizeof *d->grants))) abort();
    return d->grants;
}

static grant_t *grant_find(api_t *d, const char *fn, const char *owner, const char *caller, const char *action)
{
    for (grant_t *g = cache(d)->head; g; g = g->next)
        if (!strcmp(g->function, fn) && !strcmp(g->owner, owner) && !strcmp(g->caller, caller) &&
            !strcmp(g->action, action))
            return g;
    return NULL;
}

void tenancy_policy_changed(api_t *d, const char *function)
{
    struct grant_cache *c = cache(d);
    for (grant_t **p = &c->head; *p;) {
        if (strcmp((*p)->function, function) == 0) {
            grant_t *g = *p;
            *p = g->next;
            free(g);
            c->n--;
        } else {
            p = &(*p)->next;
        }
    }
}

void tenancy_free(api_t *d)
{
    if (!d->grants) return;
    for (grant_t *g = d->grants->head, *n; g; g = n) {
        n = g->next;
        free(g);
    }
    free(d->grants);
    d->grants = NULL;
}

/* The account a caller's name states ("arn:aws:lambda:R:ACCOUNT:function:..."
 * or "ACCOUNT:function:..."), or "". */
static void stated_account(const char *s, char out[13])
{
    out[0] = '\0';
    const char *a = NULL;
    if (strncmp(s, "arn:", 4) == 0) {
        a = s;
        for (int i = 0; i < 4 && a; i++) {
            a = strchr(a, ':');
            if (a) a++;
        }
    } else if (strspn(s, "0123456789") == 12 && s[12] == ':') {
        a = s;
    }
    if (a && strspn(a, "0123456789") == 12 && a[12] == ':') {
        memcpy(out, a, 12);
        out[12] = '\0';
    }
}

/* ---- the policy, read on a worker ---- */

static bool matches_string_or_list(const cJSON *v, bool (*ok)(const char *, const void *), const void *arg)
{
    if (cJSON_IsString(v)) return ok(v->valuestring, arg);
    if (!cJSON_IsArray(v)) return false;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
        if (cJSON_IsString(e) && ok(e->valuestring, arg)) return true;
    return false;
}

static bool action_ok(const char *a, const void *want)
{
    return !strcmp(a, want) || !strcmp(a, "lambda:*") || !strcmp(a, "*");
}

static bool principal_ok(const char *p, const void *account)
{
    char root[64];
    snprintf(root, sizeof root, "arn:aws:iam::%s:root", (const char *)account);
    return !strcmp(p, "*") || !strcmp(p, account) || !strcmp(p, root);
}

/* Whether a policy document allows `caller` the `action`. */
static bool policy_allows(const char *doc, const char *caller, const char *action)
{
    cJSON *j = cJSON_Parse(doc);
    /* The store keeps the IAM document under "Policy", beside its RevisionId. */
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(j, "Policy");
    if (!cJSON_IsObject(pol)) pol = j;
    bool ok = false;
    const cJSON *st;
    cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(pol, "Statement"))
    {
        const cJSON *eff = cJSON_GetObjectItemCaseSensitive(st, "Effect");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(st, "Principal");
        if (!cJSON_IsString(eff) || strcmp(eff->valuestring, "Allow") != 0) continue;
        if (!matches_string_or_list(cJSON_GetObjectItemCaseSensitive(st, "Action"), action_ok, action)) continue;
        bool who = cJSON_IsString(pr) ? principal_ok(pr->valuestring, caller)
                                      : matches_string_or_list(cJSON_GetObjectItemCaseSensitive(pr, "AWS"),
                                                               principal_ok, caller);
        if (who) { ok = true; break; }
    }
    cJSON_Delete(j);
    return ok;
}

typedef struct {
    api_t *d;
    http_exchange_t *ex;         /* NULL once the client has gone */
    http_request_t *req;
    tenancy_resume_fn resume;
    tenancy_resume_fn deny;      /* answers a refusal its own way (a URL's), or NULL */
    char function[65], owner[13], caller[13], action[32], qualifier[130];
    bool allowed;
    int rc;
    err_t err;
} read_t;

static void read_gone(http_exchange_t *ex, void *arg)
{
    (void)ex;
    ((read_t *)arg)->ex = NULL;
}

/* The function's own policy, and its qualifier's when one is named. */
static void read_work(void *arg)
{
    read_t *r = arg;
    const char *keys[2] = { "$LATEST", r->qualifier[0] && strcmp(r->qualifier, "$LATEST") ? r->qualifier : NULL };
    for (int i = 0; i < 2 && !r->allowed && keys[i]; i++) {
        char *doc = NULL;
        if ((r->rc = store_policy_get(r->d->store, r->function, keys[i], &doc, &r->err)) < 0) return;
        if (doc) r->allowed = policy_allows(doc, r->caller, r->action);
        free(doc);
    }
}

static void read_done(loop_t *l, void *arg)
{
    (void)l;
    read_t *r = arg;
    if (r->rc == 0 && !r->qualifier[0]) {
        /* Only the unqualified answer is kept: a qualifier's policy may differ. */
        struct grant_cache *c = cache(r->d);
        grant_t *g = calloc(1, sizeof *g);
        if (g && c->n < MAX_GRANTS) {
            snprintf(g->function, sizeof g->function, "%s", r->function);
            memcpy(g->owner, r->owner, sizeof g->owner);
            memcpy(g->caller, r->caller, sizeof g->caller);
            snprintf(g->action, sizeof g->action, "%s", r->action);
            g->allowed = r->allowed;
            g->next = c->head;
            c->head = g;
            c->n++;
        } else {
            free(g);
        }
    }
    if (r->ex) {
        http_exchange_on_abort(r->ex, NULL, NULL);
        if (r->rc < 0) api_respond_err(r->ex, &r->err);
        else if (!r->allowed && r->deny) {
            r->deny(r->d, r->ex, r->req);
        } else if (!r->allowed) {
            char arn[300];
            function_arn(r->function, r->qualifier[0] ? r->qualifier : NULL, arn, sizeof arn);
            const auth_key_t *k = auth_principal(r->req);
            api_respond_error(r->ex, 403, "AccessDeniedException",
                              "User: arn:aws:iam::%s:user/%s is not authorized to perform: %s on resource: %s "
                              "because no resource-based policy allows the %s action", r->caller, k ? k->id : "",
                              r->action, arn, r->action);
        } else {
            r->resume(r->d, r->ex, r->req);
        }
    }
    free(r);
}

static bool refuse(http_exchange_t *ex, const auth_key_t *who, const char *action, const char *fn, const char *qual)
{
    char arn[300];
    function_arn(fn, qual && *qual ? qual : NULL, arn, sizeof arn);
    api_respond_error(ex, 403, "AccessDeniedException",
                      "User: arn:aws:iam::%s:user/%s is not authorized to perform: %s on resource: %s because no "
                      "resource-based policy allows the %s action", who->account, who->id, action, arn, action);
    return false;
}

/* Another account's function, named with its owner's ARN: an invocation
 * goes on when the owner's policy allows it. */
static bool grant_check(api_t *d, http_exchange_t *ex, http_request_t *req, const auth_key_t *who, const char *fn,
                        const char *owner, const char *qual, const char *action, tenancy_resume_fn resume,
                        tenancy_resume_fn deny)
{
    if (!qual[0]) {
        grant_t *g = grant_find(d, fn, owner, who->account, action);
        if (g && !g->allowed && deny) {
            deny(d, ex, req);
            return false;
        }
        if (g) return g->allowed ? true : refuse(ex, who, action, fn, qual);
    }
    read_t *r = calloc(1, sizeof *r);
    if (!r) {
        api_respond_error(ex, 500, "ServiceException", "out of memory");
        return false;
    }
    *r = (read_t){ .d = d, .ex = ex, .req = req, .resume = resume, .deny = deny };
    snprintf(r->function, sizeof r->function, "%s", fn);
    memcpy(r->owner, owner, sizeof r->owner);
    memcpy(r->caller, who->account, sizeof r->caller);
    snprintf(r->action, sizeof r->action, "%s", action);
    snprintf(r->qualifier, sizeof r->qualifier, "%s", qual);
    http_exchange_on_abort(ex, read_gone, r);
    loop_submit(d->loop, read_work, read_done, r);
    return false;
}

bool tenancy_check(api_t *d, http_exchange_t *ex, http_request_t *req, const char *name, bool invoke,
                   tenancy_resume_fn resume)
{
    const auth_key_t *who = auth_principal(req);
    if (!who || !name) return true;
    char fname[300], qual[140], stated[13];
    function_name_parse(name, fname, sizeof fname, qual, sizeof qual);
    char *qparam = util_query_param(req->query, "Qualifier");
    if (qparam) snprintf(qual, sizeof qual, "%s", qparam);
    free(qparam);
    router_fn_t *fn = function_name_valid(fname) ? router_find(d->router, fname) : NULL;
    if (!fn) return true;   /* the handler says it does not exist (or creates it) */
    stated_account(name, stated);
    const char *owner = fn->cfg.owner[0] ? fn->cfg.owner : util_account();
    if (strcmp(owner, who->account) == 0 && (!stated[0] || strcmp(stated, owner) == 0)) return true;
    if (strcmp(stated, owner) != 0) {
        /* Not the caller's, and not named as another's: as if absent. */
        api_respond_error(ex, 404, "ResourceNotFoundException", "Function not found: arn:aws:lambda:%s:%s:function:%s",
                          util_region(), stated[0] ? stated : who->account, fname);
        return false;
    }
    if (!invoke) {
        /* Policies grant invocations only: nothing else of another's. */
        char arn[300];
        function_arn(fname, NULL, arn, sizeof arn);
        api_respond_error(ex, 403, "AccessDeniedException",
                          "User: arn:aws:iam::%s:user/%s is not authorized to perform: %s %s on resource: %s",
                          who->account, who->id, req->method, req->path, arn);
        return false;
    }
    return grant_check(d, ex, req, who, fname, owner, qual, "lambda:InvokeFunction", resume, NULL);
}

bool tenancy_check_url(api_t *d, http_exchange_t *ex, http_request_t *req, const auth_key_t *who,
                       const function_config_t *fn, tenancy_resume_fn resume, tenancy_resume_fn deny)
{
    const char *owner = fn->owner[0] ? fn->owner : util_account();
    if (strcmp(owner, who->account) == 0) return true;
    return grant_check(d, ex, req, who, fn->name, owner, "", "lambda:InvokeFunctionUrl", resume, deny);
}
