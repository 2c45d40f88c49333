"""What the tests of a daemon with credentials share (test_sigv4.py, test_accounts.py,
test_url_iam.py, test_account_limits.py): a credentials file with real keys, a test
case whose daemon is started with one,
the real clients that sign with them (Debian's AWS CLI; botocore, which that CLI
bundles, for requests a test tampers with; the AWS SDK for JavaScript v3), and raw
HTTP to send exactly what was signed."""
import contextlib
import datetime
import http.client
import json
import os
import shutil
import subprocess
import tempfile

import awscli  # noqa: F401  (Debian's AWS CLI bundles botocore; importing it first makes it importable)
import botocore.auth
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nimbus_testlib import ServerTestCase, aws_cli

REGION = 'us-east-1'
ACCOUNT_A = '111111111111'
ACCOUNT_B = '222222222222'
ADMIN_A = ('AKIANIMBUSADMINAAAA1', 'admin-a-secret-0123456789abcdef', ACCOUNT_A, 'admin')
DEPLOY_A = ('AKIANIMBUSDEPLOYAAA1', 'deploy-a-secret-0123456789abcde', ACCOUNT_A, 'deploy')
INVOKE_A = ('AKIANIMBUSINVOKEAAA1', 'invoke-a-secret-0123456789abcde', ACCOUNT_A, 'invoke')
ADMIN_B = ('AKIANIMBUSADMINBBBB1', 'admin-b-secret-0123456789abcdef', ACCOUNT_B, 'admin')
KEYS = (ADMIN_A, DEPLOY_A, INVOKE_A, ADMIN_B)

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, 'js')
NODE = '/usr/bin/node'

MSG_BAD_SIGNATURE = ('The request signature we calculated does not match the signature you provided. Check your '
                     'AWS Secret Access Key and signing method. Consult the service documentation for details.')
MSG_BAD_TOKEN = 'The security token included in the request is invalid.'


def write_credentials(dirname, keys=KEYS, mode=0o600, extra=''):
    path = os.path.join(dirname, 'credentials')
    with open(path, 'w') as f:
        for k in keys:
            f.write('[%s]\nsecret_access_key = %s\naccount_id = %s\nrole = %s\n\n' % k)
        f.write(extra)
    os.chmod(path, mode)
    return path


def credentials_dir():
    d = tempfile.mkdtemp(prefix='nimbus-creds-')
    return d, write_credentials(d)


class CredentialsServerTestCase(ServerTestCase):
    """One daemon per class, started with a credentials file of `credentials_keys` (and
    `credentials_extra` text after them) in its own temporary directory, `cls.dir`
    (removed with the daemon); `more_server_args` go after --credentials."""

    credentials_keys = KEYS
    credentials_extra = ''
    more_server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='nimbus-creds-')
        creds = write_credentials(cls.dir, cls.credentials_keys, extra=cls.credentials_extra)
        cls.server_args = ('--credentials', creds) + tuple(cls.more_server_args)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.dir, ignore_errors=True)


def aws(test, endpoint, key, *args, ok=True):
    """`aws lambda ARGS` signed with `key`; the parsed output, or the stderr of a failure."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key[0], AWS_SECRET_ACCESS_KEY=key[1], AWS_DEFAULT_REGION=REGION,
               AWS_PAGER='', AWS_CONFIG_FILE='/dev/null', AWS_SHARED_CREDENTIALS_FILE='/dev/null',
               AWS_MAX_ATTEMPTS='1')
    env.pop('AWS_SESSION_TOKEN', None)
    p = subprocess.run([aws_cli(), '--endpoint-url', endpoint, '--output', 'json', 'lambda'] + list(args),
                       env=env, capture_output=True, text=True, timeout=120)
    if ok:
        test.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else None
    test.assertNotEqual(p.returncode, 0, p.stdout)
    return p.stderr


@contextlib.contextmanager
def clock_shifted(seconds):
    """botocore's signing clock `seconds` away from the real one."""
    real = botocore.auth.datetime

    class _dt(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() + datetime.timedelta(seconds=seconds)

    td = datetime.timedelta

    class _mod:
        datetime = _dt
        timedelta = td

    botocore.auth.datetime = _mod
    try:
        yield
    finally:
        botocore.auth.datetime = real


def sign(server, method, path, body=b'', key=ADMIN_A, headers=None, token=None):
    """The headers botocore's SigV4 gives a request to `server` (path as sent)."""
    req = AWSRequest(method=method, url='%s%s' % (server.url, path), data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(key[0], key[1], token), 'lambda', REGION).add_auth(req)
    return dict(req.headers.items())


def presign(server, method, path, key=ADMIN_A, expires=60):
    req = AWSRequest(method=method, url='%s%s' % (server.url, path))
    SigV4QueryAuth(Credentials(key[0], key[1]), 'lambda', REGION, expires=expires).add_auth(req)
    return req.url[len(server.url):]


def send(server, method, path, body=b'', headers=None):
    """(status, {lowercase header: value}, body bytes) of one raw request."""
    c = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def signed(server, method, path, body=b'', key=ADMIN_A, headers=None):
    return send(server, method, path, body, sign(server, method, path, body, key, headers))


def error_of(status_headers_body):
    status, h, body = status_headers_body
    doc = json.loads(body) if body else {}
    return status, h.get('x-amzn-errortype'), doc.get('message') or doc.get('Message')


def node(script, endpoint, key):
    """Run a CommonJS script with the AWS SDK for JavaScript v3 (cwd tests/integration/js);
    it gets ENDPOINT, KEY_ID and SECRET in its environment and prints JSON."""
    env = dict(os.environ, ENDPOINT=endpoint, KEY_ID=key[0], SECRET=key[1], AWS_REGION=REGION)
    p = subprocess.run([NODE, '-e', script], cwd=JS, env=env, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError('node failed: %s\n%s' % (p.stdout, p.stderr))
    return json.loads(p.stdout)


def have_sdk():
    return os.path.exists(NODE) and os.path.isdir(os.path.join(JS, 'node_modules', '@aws-sdk', 'client-lambda'))
