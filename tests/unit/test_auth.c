/* test_auth.c — api/auth: the credentials file's format and its refusals, and
 * the constant-time check of a login's secret. */
#include <criterion/criterion.h>
#include <string.h>

#include "api/auth.h"

#define GOOD "# keys\n[AKIAEXAMPLEBBBBBBBB1]\nsecret_access_key = bbbbbbbbbbbbbbbbbbbb\naccount_id = 222222222222\n" \
             "role = invoke\n\n[AKIAEXAMPLEAAAAAAAA1]\naws_secret_access_key = aaaaaaaaaaaaaaaaaaaa\n"        \
             "account_id = 111111111111\nrole = admin\n"

Test(auth, parses_keys_accounts_and_roles)
{
    auth_table_t *t;
    err_t err;
    cr_assert_eq(auth_table_parse(GOOD, "creds", &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t->nkeys, 2);
    cr_assert_eq(t->naccounts, 2);
    auth_key_t *a = auth_find_key(t, "AKIAEXAMPLEAAAAAAAA1");
    cr_assert(a);
    cr_assert_str_eq(a->account, "111111111111");
    cr_assert_eq(a->role, AUTH_ROLE_ADMIN);
    cr_assert_eq(auth_find_key(t, "AKIAEXAMPLEBBBBBBBB1")->role, AUTH_ROLE_INVOKE);
    cr_assert_null(auth_find_key(t, "AKIAEXAMPLECCCCCCCC1"));
    cr_assert_eq(auth_check_secret(t, "AKIAEXAMPLEAAAAAAAA1", "aaaaaaaaaaaaaaaaaaaa"), a);
    cr_assert_null(auth_check_secret(t, "AKIAEXAMPLEAAAAAAAA1", "bbbbbbbbbbbbbbbbbbbb"));
    cr_assert_null(auth_check_secret(t, "AKIAEXAMPLECCCCCCCC1", "aaaaaaaaaaaaaaaaaaaa"));
    auth_table_free(t);
}

Test(auth, an_account_section_sets_that_accounts_concurrency)
{
    auth_table_t *t;
    err_t err;
    const char *text = "[account 222222222222]\nconcurrency = 5\n\n" GOOD "\n[account 111111111111]\nconcurrency=2\n";
    cr_assert_eq(auth_table_parse(text, "creds", &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t->nkeys, 2, "an account section is not a key");
    cr_assert_eq(t->naccounts, 2, "nor another account");
    for (size_t i = 0; i < t->naccounts; i++)
        cr_assert_eq(t->accounts[i].concurrency, strcmp(t->accounts[i].id, "111111111111") ? 5u : 2u);
    cr_assert_eq(auth_find_key(t, "AKIAEXAMPLEAAAAAAAA1")->role, AUTH_ROLE_ADMIN, "the key before it ended well");
    auth_table_free(t);
    cr_assert_eq(auth_table_parse(GOOD, "creds", &t, &err), 0, "%s", err.msg);
    cr_assert_eq(t->accounts[0].concurrency, 0, "no section: the daemon's --account-concurrency");
    auth_table_free(t);
}

static void refused(const char *text, const char *words)
{
    auth_table_t *t = NULL;
    err_t err;
    cr_assert_eq(auth_table_parse(text, "creds", &t, &err), -1, "accepted: %s", text);
    cr_assert(strstr(err.msg, words), "'%s' does not say '%s'", err.msg, words);
}

Test(auth, refuses_malformed_files_with_the_line)
{
    refused("", "no access key");
    refused("role = admin\n", "creds:1: 'role' before any");
    refused("[short]\n", "creds:1: 'short' is not an access key id");
    refused("[AKIAEXAMPLEAAAAAAAA1]\nsecret_access_key = aaaaaaaaaaaaaaaaaaaa\naccount_id = 1\nrole = admin\n",
            "creds:3: account_id wants 12 digits");
    refused("[AKIAEXAMPLEAAAAAAAA1]\nsecret_access_key = aaaaaaaaaaaaaaaaaaaa\naccount_id = 111111111111\nrole = root\n",
            "creds:4: role wants admin, deploy or invoke");
    refused("[AKIAEXAMPLEAAAAAAAA1]\nsecret_access_key = short\n", "creds:2: a secret access key has at least 16");
    refused("[AKIAEXAMPLEAAAAAAAA1]\nrole = admin\n", "creds:1: key AKIAEXAMPLEAAAAAAAA1 needs");
    refused(GOOD "[AKIAEXAMPLEAAAAAAAA1]\n", "appears twice");
    refused("[AKIAEXAMPLEAAAAAAAA1]\ncolour = blue\n", "unknown setting 'colour'");
    refused("[AKIAEXAMPLEAAAAAAAA1\n", "malformed section header");
    refused(GOOD "[account 1111]\nconcurrency = 2\n", "creds:11: [account ID] wants 12 digits");
    refused(GOOD "[account 111111111111]\nconcurrency = 0\n", "creds:12: concurrency wants a whole number from 1");
    refused(GOOD "[account 111111111111]\nconcurrency = 2x\n", "creds:12: concurrency wants a whole number");
    refused(GOOD "[account 111111111111]\nconcurrency = -3\n", "creds:12: concurrency wants a whole number");
    refused(GOOD "[account 111111111111]\nrole = admin\n", "creds:12: unknown setting 'role' of an account");
    refused(GOOD "[account 333333333333]\nconcurrency = 2\n", "[account 333333333333] names an account no key");
    refused(GOOD "[account 111111111111]\n", "[account 111111111111] sets no concurrency");
    refused(GOOD "[account 111111111111]\nconcurrency = 2\n[account 111111111111]\nconcurrency = 3\n",
            "creds:13: account 111111111111 has a section twice");
}
