"""Function URLs with AuthType AWS_IAM (docs/security.md, "Function URLs"): a request
must be SigV4-signed (service "lambda") by a key of the function's account, or of an
account the function's resource policy allows lambda:InvokeFunctionUrl with
FunctionUrlAuthType AWS_IAM. Lambda answers anything else 403 {"Message":"Forbidden"}.
Signed with botocore (as the AWS CLI and SDKs sign), configured with the AWS CLI."""
import json
import os
import unittest

from nimbus_testlib import echo_files, make_zip, uniq
from sigv4_lib import (ACCOUNT_A, ADMIN_A, ADMIN_B, REGION,  # before botocore: see there
                       CredentialsServerTestCase, aws, send)

from botocore.auth import SigV4Auth, SigV4QueryAuth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402


class UrlIam(CredentialsServerTestCase):
    def function(self, key):
        name = uniq('iamurl')
        z = os.path.join(self.dir, 'fn.zip')
        with open(z, 'wb') as f:
            f.write(make_zip(echo_files()))
        aws(self, self.server.url, key, 'create-function', '--function-name', name, '--runtime', 'provided',
            '--handler', 'x', '--role', 'arn:aws:iam::%s:role/r' % key[2], '--zip-file', 'fileb://' + z)
        return name

    def call(self, url_id, key=None, by_host=False, secret=None):
        """GET the URL (path form, or by its host name), signed with `key` when given."""
        if by_host:
            host = '%s.lambda-url.%s.localhost:%d' % (url_id, REGION, self.server.port)
            path = '/hello'
        else:
            host = '127.0.0.1:%d' % self.server.port
            path = '/nimbus/url/%s/hello' % url_id
        headers = {'Host': host}
        if key:
            req = AWSRequest(method='GET', url='http://%s%s' % (host, path), data=b'', headers={})
            SigV4Auth(Credentials(key[0], secret or key[1]), 'lambda', REGION).add_auth(req)
            headers.update(dict(req.headers.items()))
        return send(self.server, 'GET', path, b'', headers)

    def test_iam_url_answers_only_signed_callers_of_the_owner_or_a_permitted_account(self):
        url = self.server.url
        name = self.function(ADMIN_B)
        cfg = aws(self, url, ADMIN_B, 'create-function-url-config', '--function-name', name, '--auth-type', 'AWS_IAM')
        self.assertEqual(cfg['AuthType'], 'AWS_IAM')
        self.assertEqual(aws(self, url, ADMIN_B, 'get-function-url-config', '--function-name', name)['AuthType'],
                         'AWS_IAM')
        url_id = cfg['FunctionUrl'].split('//')[1].split('.')[0]

        for by_host in (False, True):
            st, _, body = self.call(url_id, by_host=by_host)
            self.assertEqual((st, json.loads(body)), (403, {'Message': 'Forbidden'}))
            st, _, body = self.call(url_id, ADMIN_B, by_host=by_host)
            self.assertEqual(st, 200, body)
            st, _, body = self.call(url_id, ADMIN_B, by_host=by_host, secret='not-the-secret-0123456789abcdef')
            self.assertEqual(st, 403, body)

        # Presigned in the query, as SigV4QueryAuth does.
        host = '127.0.0.1:%d' % self.server.port
        req = AWSRequest(method='GET', url='http://%s/nimbus/url/%s/hello' % (host, url_id))
        SigV4QueryAuth(Credentials(ADMIN_B[0], ADMIN_B[1]), 'lambda', REGION, expires=60).add_auth(req)
        st, _, body = send(self.server, 'GET', req.url[len('http://' + host):], b'', {'Host': host})
        self.assertEqual(st, 200, body)

        # Another account's signature: refused until the owner's policy allows it.
        st, _, body = self.call(url_id, ADMIN_A)
        self.assertEqual((st, json.loads(body)), (403, {'Message': 'Forbidden'}))
        aws(self, url, ADMIN_B, 'add-permission', '--function-name', name, '--statement-id', 'a-url',
            '--action', 'lambda:InvokeFunctionUrl', '--principal', ACCOUNT_A, '--function-url-auth-type', 'AWS_IAM')
        st, _, body = self.call(url_id, ADMIN_A)
        self.assertEqual(st, 200, body)
        st, _, body = self.call(url_id, ADMIN_A, by_host=True)
        self.assertEqual(st, 200, body)
        aws(self, url, ADMIN_B, 'remove-permission', '--function-name', name, '--statement-id', 'a-url')
        st, _, body = self.call(url_id, ADMIN_A)
        self.assertEqual(st, 403, body)

        # Back to NONE: public again.
        aws(self, url, ADMIN_B, 'update-function-url-config', '--function-name', name, '--auth-type', 'NONE')
        st, _, body = self.call(url_id)
        self.assertEqual(st, 200, body)


if __name__ == '__main__':
    unittest.main()
