/* function_owner.c — which account owns each function, and which accounts
 * this daemon serves (core/function.h, "accounts").
 *
 * Owns a sorted table of (name, account) for the functions not owned by
 * the daemon's own --account-id (none at all without credentials), under a
 * mutex: function_arn reads it from workers too. Must never: hold the lock
 * while calling out.
 */
#include "core/function_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    char name[65];
    char account[13];
} owner_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static owner_t *g_owners;
static size_t g_n, g_cap;
static char (*g_served)[13];
static size_t g_nserved;

void function_account_serve(const char *account)
{
    if (function_account_served(account)) return;
    char (*n)[13] = realloc(g_served, (g_nserved + 1) * sizeof *n);
    if (!n) abort();
    g_served = n;
    snprintf(g_served[g_nserved++], 13, "%s", account);
}

bool function_account_served(const char *account)
{
    if (strcmp(account, util_account()) == 0) return true;
    for (size_t i = 0; i < g_nserved; i++)
        if (strcmp(g_served[i], account) == 0) return true;
    return false;
}

/* Where `name` is or would go. */
static size_t lower(const char *name, bool *found)
{
    size_t lo = 0, hi = g_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(g_owners[mid].name, name);
        if (c == 0) { *found = true; return mid; }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

void function_owner_set(const char *name, const char *account)
{
    bool own = !account || !*account || strcmp(account, util_account()) == 0;
    pthread_mutex_lock(&g_mu);
    bool found;
    size_t i = lower(name, &found);
    if (own && found) {
        memmove(g_owners + i, g_owners + i + 1, (g_n - i - 1) * sizeof *g_owners);
        g_n--;
    } else if (!own) {
        if (!found) {
            if (g_n == g_cap) {
                size_t c = g_cap ? g_cap * 2 : 16;
                owner_t *p = realloc(g_owners, c * sizeof *p);
                if (!p) abort();
                g_owners = p;
                g_cap = c;
            }
            memmove(g_owners + i + 1, g_owners + i, (g_n - i) * sizeof *g_owners);
            g_n++;
            snprintf(g_owners[i].name, sizeof g_owners[i].name, "%s", name);
        }
        snprintf(g_owners[i].account, sizeof g_owners[i].account, "%s", account);
    }
    pthread_mutex_unlock(&g_mu);
}

void function_owner(const char *name, char out[13])
{
    pthread_mutex_lock(&g_mu);
    bool found = false;
    size_t i = g_n ? lower(name, &found) : 0;
    util_copy(out, 13, found ? g_owners[i].account : util_account());
    pthread_mutex_unlock(&g_mu);
}
