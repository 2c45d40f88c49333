"""Per-account concurrency limits (docs/security.md, "Accounts"; docs/account-tags-policies.md,
"Account settings"), with real keys of three accounts whose credentials file gives each
its own limit of calls in flight: A 2, B 5, C 150 (`[account ID]` sections).

- A's third call while two of A's run is throttled as Lambda throttles: 429
  TooManyRequestsException, "Rate Exceeded.", Reason ConcurrentInvocationLimitExceeded;
  B's five calls at the same time all run (A's calls are not B's).
- GetAccountSettings, through the AWS CLI and the AWS SDK for JavaScript v3, answers
  each account with its own limit, its own unreserved figure, its own functions and
  their code.
- PutFunctionConcurrency is checked against the owner's account: Lambda keeps
  min(100, limit) of an account unreserved ("... below its minimum value of [100]."),
  so A and B (limits under 100) may reserve nothing above 0, and C's reservations
  leave A's and B's figures alone.
"""
import json
import os
import threading
import time
import unittest

from nimbus_testlib import fn_files, make_zip, uniq, SLEEPY, parallel
from sigv4_lib import (ADMIN_A, ADMIN_B, KEYS, CredentialsServerTestCase, aws, error_of, have_sdk, node,
                       signed)

ACCOUNT_C = '333333333333'
ADMIN_C = ('AKIANIMBUSADMINCCCC1', 'admin-c-secret-0123456789abcdef', ACCOUNT_C, 'admin')
LIMITS = {ADMIN_A[2]: 2, ADMIN_B[2]: 5, ACCOUNT_C: 150}
FN = '/2015-03-31/functions'




class AccountLimits(CredentialsServerTestCase):
    credentials_keys = KEYS + (ADMIN_C,)
    credentials_extra = ''.join('[account %s]\nconcurrency = %d\n\n' % kv for kv in LIMITS.items())
    more_server_args = ('--throttle-wait-ms', '300')

    def create(self, key, files=None):
        name = uniq('lim')
        z = os.path.join(self.dir, name + '.zip')
        with open(z, 'wb') as f:
            f.write(make_zip(files or fn_files(SLEEPY)))
        aws(self, self.server.url, key, 'create-function', '--function-name', name, '--runtime', 'provided',
            '--handler', 'x', '--role', 'arn:aws:iam::%s:role/r' % key[2], '--zip-file', 'fileb://' + z,
            '--timeout', '60')
        return name

    def invoke(self, key, name, sleep=0):
        return signed(self.server, 'POST', '%s/%s/invocations' % (FN, name), json.dumps({'sleep': sleep}).encode(),
                      key=key)

    def inflight(self):
        st, h, body = signed(self.server, 'GET', '/nimbus/v1/health')
        self.assertEqual(st, 200, body)
        return json.loads(body)['inflight']

    def test_a_full_account_throttles_its_own_calls_only(self):
        a, b = self.create(ADMIN_A), self.create(ADMIN_B)
        # B busy first (its instances then warm): its calls are its own.
        self.assertEqual([r[0] for r in parallel(lambda i: self.invoke(ADMIN_B, b), 5)], [200] * 5)
        first = []
        ts = [threading.Thread(target=lambda: first.append(self.invoke(ADMIN_A, a, 6))) for _ in range(2)]
        for t in ts:
            t.start()
        # A's two calls running (nothing else is): A is at its limit.
        for _ in range(600):
            if self.inflight() == 2:
                break
            time.sleep(0.05)
        self.assertEqual(self.inflight(), 2)

        def call(i):
            return self.invoke(ADMIN_A, a) if i == 0 else self.invoke(ADMIN_B, b, 1)
        res = parallel(call, 6)
        for t in ts:
            t.join()
        status, h, body = res[0]
        self.assertEqual(status, 429, body)
        self.assertEqual(h.get('x-amzn-errortype'), 'TooManyRequestsException')
        doc = json.loads(body)
        self.assertEqual(doc['Reason'], 'ConcurrentInvocationLimitExceeded')
        self.assertEqual(error_of(res[0])[2], 'Rate Exceeded.')
        self.assertEqual([r[0] for r in res[1:]], [200] * 5, "B's five calls run beside A's two")
        self.assertEqual(sorted(r[0] for r in first), [200, 200])
        # The throttle is the account's, in the metrics too.
        st, h, body = signed(self.server, 'GET', '/metrics')
        self.assertEqual(st, 200)
        lines = [ln for ln in body.decode().splitlines()
                 if ln.startswith('nimbus_throttles_total{') and '"%s"' % a in ln]
        self.assertTrue(any('reason="account_concurrency"' in ln and not ln.endswith(' 0') for ln in lines), lines)
        # Room again: A's calls run.
        self.assertEqual(self.invoke(ADMIN_A, a)[0], 200)

    def expected(self, key):
        fns = aws(self, self.server.url, key, 'list-functions')['Functions']
        code = {f['CodeSha256']: f['CodeSize'] for f in fns}
        reserved = 0
        for f in fns:
            got = aws(self, self.server.url, key, 'get-function-concurrency', '--function-name', f['FunctionName'])
            reserved += (got or {}).get('ReservedConcurrentExecutions', 0)
        limit = LIMITS[key[2]]
        return {'ConcurrentExecutions': limit, 'UnreservedConcurrentExecutions': limit - reserved,
                'FunctionCount': len(fns), 'TotalCodeSize': sum(code.values())}

    def settings_cli(self, key):
        doc = aws(self, self.server.url, key, 'get-account-settings')
        lim, use = doc['AccountLimit'], doc['AccountUsage']
        return {'ConcurrentExecutions': lim['ConcurrentExecutions'],
                'UnreservedConcurrentExecutions': lim['UnreservedConcurrentExecutions'],
                'FunctionCount': use['FunctionCount'], 'TotalCodeSize': use['TotalCodeSize']}

    def test_account_settings_are_each_accounts_own(self):
        self.create(ADMIN_A)
        self.create(ADMIN_A, fn_files(SLEEPY, {'pad.txt': ('x' * 5000, 0o644)}))
        self.create(ADMIN_B)
        c1 = self.create(ADMIN_C)
        aws(self, self.server.url, ADMIN_C, 'put-function-concurrency', '--function-name', c1,
            '--reserved-concurrent-executions', '7')
        seen = {}
        for key in (ADMIN_A, ADMIN_B, ADMIN_C):
            want = self.expected(key)
            seen[key[2]] = got = self.settings_cli(key)
            self.assertEqual(got, want, key[2])
        self.assertEqual(seen[ACCOUNT_C]['UnreservedConcurrentExecutions'], 150 - 7)
        self.assertNotEqual(seen[ADMIN_A[2]]['FunctionCount'], 0)
        self.assertNotEqual(seen[ADMIN_A[2]]['TotalCodeSize'], seen[ADMIN_B[2]]['TotalCodeSize'],
                            "A's code is not B's")
        aws(self, self.server.url, ADMIN_C, 'delete-function-concurrency', '--function-name', c1)

    @unittest.skipUnless(have_sdk(), 'the AWS SDK for JavaScript is not installed (scripts/deps.sh)')
    def test_the_js_sdk_reads_each_accounts_settings(self):
        self.create(ADMIN_B)
        script = r'''
const { LambdaClient, GetAccountSettingsCommand } = require("@aws-sdk/client-lambda");
const c = new LambdaClient({ endpoint: process.env.ENDPOINT, region: process.env.AWS_REGION, maxAttempts: 1,
  credentials: { accessKeyId: process.env.KEY_ID, secretAccessKey: process.env.SECRET } });
c.send(new GetAccountSettingsCommand({}))
  .then((r) => console.log(JSON.stringify({ limit: r.AccountLimit, usage: r.AccountUsage })))
  .catch((e) => { console.error(e); process.exit(1); });
'''
        for key in (ADMIN_A, ADMIN_B):
            out = node(script, self.server.url, key)
            want = self.expected(key)
            self.assertEqual(out['limit']['ConcurrentExecutions'], want['ConcurrentExecutions'], key[2])
            self.assertEqual(out['limit']['UnreservedConcurrentExecutions'], want['UnreservedConcurrentExecutions'])
            self.assertEqual(out['usage']['FunctionCount'], want['FunctionCount'], key[2])
            self.assertEqual(out['usage']['TotalCodeSize'], want['TotalCodeSize'], key[2])

    def test_reserving_below_the_accounts_unreserved_minimum_is_refused(self):
        url = self.server.url

        def put(key, name, n, ok=True):
            return aws(self, url, key, 'put-function-concurrency', '--function-name', name,
                       '--reserved-concurrent-executions', str(n), ok=ok)

        def refused(err, minimum):
            self.assertIn('(InvalidParameterValueException)', err)
            self.assertIn("Specified ReservedConcurrentExecutions for function decreases account's "
                          "UnreservedConcurrentExecution below its minimum value of [%d]." % minimum, err)

        # Limits under 100: the whole limit stays unreserved, as Lambda keeps an account
        # limited to 10 at [10].
        a, b = self.create(ADMIN_A), self.create(ADMIN_B)
        refused(put(ADMIN_A, a, 1, ok=False), 2)
        refused(put(ADMIN_B, b, 1, ok=False), 5)
        self.assertEqual(put(ADMIN_A, a, 0), {'ReservedConcurrentExecutions': 0}, '0 leaves the limit whole')
        aws(self, url, ADMIN_A, 'delete-function-concurrency', '--function-name', a)
        # C's 150: 50 may be reserved, over its functions together.
        c1, c2 = self.create(ADMIN_C), self.create(ADMIN_C)
        self.assertEqual(put(ADMIN_C, c1, 40), {'ReservedConcurrentExecutions': 40})
        refused(put(ADMIN_C, c2, 11, ok=False), 100)
        self.assertEqual(put(ADMIN_C, c2, 10), {'ReservedConcurrentExecutions': 10})
        self.assertEqual(put(ADMIN_C, c1, 40), {'ReservedConcurrentExecutions': 40}, "c1's own 40 is not counted twice")
        refused(put(ADMIN_C, c1, 41, ok=False), 100)
        err = put(ADMIN_C, c1, 151, ok=False)
        self.assertIn("is above the account's concurrency limit of [150]", err)
        self.assertEqual(self.settings_cli(ADMIN_C)['UnreservedConcurrentExecutions'], 100)
        # Another account's figures are its own.
        self.assertEqual(self.settings_cli(ADMIN_B)['UnreservedConcurrentExecutions'], 5)
        for name in (c1, c2):
            aws(self, url, ADMIN_C, 'delete-function-concurrency', '--function-name', name)


if __name__ == '__main__':
    unittest.main()
