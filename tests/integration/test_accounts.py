"""Accounts on one daemon (docs/security.md, "Accounts"), with the AWS CLI and real
keys of two accounts: account A cannot list, get, invoke, update, delete or read the
logs of account B's function (a plain name is "not found", B's ARN is 403
AccessDeniedException) until B's resource policy allows A to invoke it; the
permission removed, the invoke is refused again. Names stay unique per daemon: A
creating a name B has is 409."""
import json
import os
import unittest

from nimbus_testlib import echo_files, make_zip, uniq
from sigv4_lib import (ACCOUNT_A, ACCOUNT_B, ADMIN_A, ADMIN_B, REGION, CredentialsServerTestCase, aws, error_of,
                       signed)

FN = '/2015-03-31/functions'


class Accounts(CredentialsServerTestCase):
    def create(self, key, name=None, ok=True):
        name = name or uniq('acct')
        z = os.path.join(self.dir, 'fn.zip')
        with open(z, 'wb') as f:
            f.write(make_zip(echo_files()))
        out = aws(self, self.server.url, key, 'create-function', '--function-name', name, '--runtime', 'provided',
                  '--handler', 'x', '--role', 'arn:aws:iam::%s:role/r' % key[2], '--zip-file', 'fileb://' + z, ok=ok)
        return name, out

    def invoke(self, key, name):
        return signed(self.server, 'POST', '%s/%s/invocations' % (FN, name.replace(':', '%3A')), b'{"n":1}', key=key)

    def test_another_accounts_function_is_out_of_reach_until_its_policy_allows_the_invoke(self):
        url = self.server.url
        name, out = self.create(ADMIN_B)
        arn = 'arn:aws:lambda:%s:%s:function:%s' % (REGION, ACCOUNT_B, name)
        self.assertEqual(out['FunctionArn'], arn)
        self.assertEqual(self.invoke(ADMIN_B, name)[0], 200)

        listed = [f['FunctionName'] for f in aws(self, url, ADMIN_A, 'list-functions')['Functions']]
        self.assertNotIn(name, listed)
        self.assertIn(name, [f['FunctionName'] for f in aws(self, url, ADMIN_B, 'list-functions')['Functions']])
        for args in (('get-function', '--function-name', name),
                     ('update-function-configuration', '--function-name', name, '--timeout', '9'),
                     ('delete-function', '--function-name', name)):
            err = aws(self, url, ADMIN_A, *args, ok=False)
            self.assertIn('(ResourceNotFoundException)', err, args)
            self.assertNotIn(ACCOUNT_B, err)   # nothing tells A whose it is
        err = aws(self, url, ADMIN_A, 'get-function', '--function-name', arn, ok=False)
        self.assertIn('(AccessDeniedException)', err)
        self.assertEqual(error_of(self.invoke(ADMIN_A, name))[:2], (404, 'ResourceNotFoundException'))
        self.assertEqual(error_of(self.invoke(ADMIN_A, arn))[:2], (403, 'AccessDeniedException'))
        status, kind, _ = error_of(signed(self.server, 'GET', '/nimbus/v1/functions/%s/logs' % name, key=ADMIN_A))
        self.assertEqual((status, kind), (404, 'ResourceNotFoundException'))
        self.assertEqual(signed(self.server, 'GET', '/nimbus/v1/functions/%s/logs' % name, key=ADMIN_B)[0], 200)

        aws(self, url, ADMIN_B, 'add-permission', '--function-name', name, '--statement-id', 'a-may-invoke',
            '--action', 'lambda:InvokeFunction', '--principal', ACCOUNT_A)
        status, _, body = self.invoke(ADMIN_A, arn)
        self.assertEqual((status, json.loads(body)), (200, {'n': 1}))
        # Only the invoke was granted, and only through B's ARN.
        self.assertIn('(AccessDeniedException)', aws(self, url, ADMIN_A, 'get-function', '--function-name', arn,
                                                     ok=False))
        self.assertEqual(error_of(self.invoke(ADMIN_A, name))[:2], (404, 'ResourceNotFoundException'))

        aws(self, url, ADMIN_B, 'remove-permission', '--function-name', name, '--statement-id', 'a-may-invoke')
        self.assertEqual(error_of(self.invoke(ADMIN_A, arn))[:2], (403, 'AccessDeniedException'))
        aws(self, url, ADMIN_B, 'delete-function', '--function-name', name)

    def test_a_policy_for_the_accounts_root_arn_allows_too(self):
        name, _ = self.create(ADMIN_B)
        arn = 'arn:aws:lambda:%s:%s:function:%s' % (REGION, ACCOUNT_B, name)
        aws(self, self.server.url, ADMIN_B, 'add-permission', '--function-name', name, '--statement-id', 'root',
            '--action', 'lambda:InvokeFunction', '--principal', 'arn:aws:iam::%s:root' % ACCOUNT_A)
        self.assertEqual(self.invoke(ADMIN_A, arn)[0], 200)

    def test_names_are_unique_per_daemon(self):
        name, _ = self.create(ADMIN_B)
        err = self.create(ADMIN_A, name, ok=False)[1]
        self.assertIn('(ResourceConflictException)', err)
        mine, out = self.create(ADMIN_A)
        self.assertEqual(out['FunctionArn'], 'arn:aws:lambda:%s:%s:function:%s' % (REGION, ACCOUNT_A, mine))


if __name__ == '__main__':
    unittest.main()
