"""SigV4 on every request of a daemon given --credentials (docs/security.md), driven by
real clients with real keys: Debian's AWS CLI, botocore (which that CLI bundles) for
requests a test then tampers with, the AWS SDK for JavaScript v3 and `nimbus` itself.

- the right keys work for every operation; unsigned requests get AWS's
  MissingAuthenticationTokenException (health and the session login excepted);
- a wrong secret, an unknown key, a tampered body or path, a date 20 minutes off, a
  presigned URL past its expiry and a session token get AWS's errors and messages;
- an invoke-only key invokes and cannot deploy;
- console sessions: cookie HttpOnly + SameSite=Strict, the CSRF header required,
  logout revokes; a wrong secret at login answers as a bad signature;
- without credentials: a non-loopback --listen refuses to start, the session says
  AuthRequired false; a credentials file open to others is refused; the data dir is
  mended to 0700 with 0600 files, and one of another user is refused."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from nimbus_testlib import Server, aws_cli, echo_files, make_zip, nimbus_bin, uniq
from sigv4_lib import (ACCOUNT_A, ADMIN_A, DEPLOY_A, INVOKE_A, MSG_BAD_SIGNATURE, MSG_BAD_TOKEN, REGION,
                       CredentialsServerTestCase, aws, clock_shifted, error_of, have_sdk, node, presign, send, sign,
                       signed, write_credentials)

FN = '/2015-03-31/functions'


def zip_file(dirname):
    path = os.path.join(dirname, 'fn.zip')
    with open(path, 'wb') as f:
        f.write(make_zip(echo_files()))
    return path


class SignedRequests(CredentialsServerTestCase):
    def create(self, key=ADMIN_A):
        name = uniq('sig')
        out = aws(self, self.server.url, key, 'create-function', '--function-name', name, '--runtime', 'provided',
                  '--handler', 'x', '--role', 'arn:aws:iam::%s:role/r' % ACCOUNT_A,
                  '--zip-file', 'fileb://' + zip_file(self.dir))
        return name, out

    def test_unsigned_requests_get_missing_authentication_token(self):
        for method, path in (('GET', FN + '/'), ('POST', FN + '/x/invocations'), ('GET', '/nimbus/v1/async'),
                             ('GET', '/2016-08-19/account-settings')):
            status, kind, msg = error_of(send(self.server, method, path))
            self.assertEqual((status, kind, msg), (403, 'MissingAuthenticationTokenException',
                                                   'Missing Authentication Token'), path)
        status, _, body = send(self.server, 'GET', '/nimbus/v1/health')
        self.assertEqual(status, 200, body)

    def test_aws_cli_with_the_right_keys_does_every_operation(self):
        url = self.server.url
        name, created = self.create()
        self.assertEqual(created['FunctionArn'], 'arn:aws:lambda:%s:%s:function:%s' % (REGION, ACCOUNT_A, name))
        got = aws(self, url, ADMIN_A, 'get-function', '--function-name', created['FunctionArn'])
        self.assertEqual(got['Configuration']['FunctionName'], name)
        self.assertIn(name, [f['FunctionName'] for f in aws(self, url, ADMIN_A, 'list-functions')['Functions']])
        out = os.path.join(self.dir, 'out.json')
        inv = aws(self, url, ADMIN_A, 'invoke', '--function-name', name, '--cli-binary-format', 'raw-in-base64-out',
                  '--payload', '{"hello":"signed"}', out)
        self.assertEqual(inv['StatusCode'], 200)
        with open(out) as f:
            self.assertEqual(json.load(f), {'hello': 'signed'})
        upd = aws(self, url, DEPLOY_A, 'update-function-configuration', '--function-name', name, '--timeout', '7')
        self.assertEqual(upd['Timeout'], 7)
        aws(self, url, ADMIN_A, 'get-account-settings')
        aws(self, url, DEPLOY_A, 'delete-function', '--function-name', name)

    def test_wrong_secret_and_unknown_key(self):
        wrong = (ADMIN_A[0], 'not-the-secret-0123456789abcdef')
        err = aws(self, self.server.url, wrong, 'list-functions', ok=False)
        self.assertIn('(InvalidSignatureException)', err)
        self.assertIn(MSG_BAD_SIGNATURE, err)
        err = aws(self, self.server.url, ('AKIANOSUCHKEYXXXXXX1', ADMIN_A[1]), 'list-functions', ok=False)
        self.assertIn('(UnrecognizedClientException)', err)
        self.assertIn(MSG_BAD_TOKEN, err)

    def test_tampered_body_and_path_are_bad_signatures(self):
        name, _ = self.create()
        path = '%s/%s/invocations' % (FN, name)
        h = sign(self.server, 'POST', path, b'{"a":1}')
        status, _, body = send(self.server, 'POST', path, b'{"a":1}', h)
        self.assertEqual(status, 200, body)
        self.assertEqual(error_of(send(self.server, 'POST', path, b'{"a":2}', h)),
                         (403, 'InvalidSignatureException', MSG_BAD_SIGNATURE))
        other, _ = self.create()
        self.assertEqual(error_of(send(self.server, 'POST', '%s/%s/invocations' % (FN, other), b'{"a":1}', h)),
                         (403, 'InvalidSignatureException', MSG_BAD_SIGNATURE))
        # The query is signed too.
        h = sign(self.server, 'GET', FN + '/?MaxItems=5')
        self.assertEqual(send(self.server, 'GET', FN + '/?MaxItems=5', b'', h)[0], 200)
        self.assertEqual(error_of(send(self.server, 'GET', FN + '/?MaxItems=6', b'', h))[1],
                         'InvalidSignatureException')

    def test_a_date_20_minutes_off_has_expired(self):
        for shift, words in ((-1200, 'Signature expired: '), (1200, 'Signature not yet current: ')):
            with clock_shifted(shift):
                h = sign(self.server, 'GET', FN + '/')
            status, kind, msg = error_of(send(self.server, 'GET', FN + '/', b'', h))
            self.assertEqual((status, kind), (403, 'InvalidSignatureException'), msg)
            self.assertTrue(msg.startswith(words + h['X-Amz-Date']), msg)
            self.assertIn(' min.)', msg)
        with clock_shifted(-600):   # within the 15 minutes
            h = sign(self.server, 'GET', FN + '/')
        self.assertEqual(send(self.server, 'GET', FN + '/', b'', h)[0], 200)

    def test_presigned_urls_work_until_they_expire(self):
        status, _, body = send(self.server, 'GET', presign(self.server, 'GET', FN + '/'))
        self.assertEqual(status, 200, body)
        self.assertIn('Functions', json.loads(body))
        with clock_shifted(-120):
            late = presign(self.server, 'GET', FN + '/', expires=60)
        status, kind, msg = error_of(send(self.server, 'GET', late))
        self.assertEqual((status, kind), (403, 'InvalidSignatureException'), msg)
        self.assertIn('Signature expired', msg)
        self.assertIn('- 60 sec.)', msg)
        tampered = presign(self.server, 'GET', FN + '/?MaxItems=3').replace('MaxItems=3', 'MaxItems=4')
        self.assertEqual(error_of(send(self.server, 'GET', tampered))[1], 'InvalidSignatureException')

    def test_session_tokens_are_refused(self):
        h = sign(self.server, 'GET', FN + '/', token='FQoGZXIvYXdzEXAMPLE')
        self.assertEqual(error_of(send(self.server, 'GET', FN + '/', b'', h)),
                         (403, 'UnrecognizedClientException', MSG_BAD_TOKEN))

    def test_host_must_be_signed(self):
        h = sign(self.server, 'GET', FN + '/')
        h['Authorization'] = h['Authorization'].replace('SignedHeaders=host;x-amz-date', 'SignedHeaders=x-amz-date')
        status, kind, _ = error_of(send(self.server, 'GET', FN + '/', b'', h))
        self.assertEqual((status, kind), (400, 'IncompleteSignatureException'))

    def test_invoke_only_key_invokes_and_cannot_deploy(self):
        name, _ = self.create()
        status, _, body = signed(self.server, 'POST', '%s/%s/invocations' % (FN, name), b'{"x":1}', key=INVOKE_A)
        self.assertEqual((status, json.loads(body)), (200, {'x': 1}))
        err = aws(self, self.server.url, INVOKE_A, 'create-function', '--function-name', uniq('no'), '--runtime',
                  'provided', '--handler', 'x', '--role', 'arn:aws:iam::%s:role/r' % ACCOUNT_A,
                  '--zip-file', 'fileb://' + zip_file(self.dir), ok=False)
        self.assertIn('(AccessDeniedException)', err)
        err = aws(self, self.server.url, INVOKE_A, 'delete-function', '--function-name', name, ok=False)
        self.assertIn('(AccessDeniedException)', err)
        # A deploy key may not exec into instances (admin only).
        status, kind, _ = error_of(signed(self.server, 'GET', '/nimbus/v1/execs/abc', key=DEPLOY_A))
        self.assertEqual((status, kind), (403, 'AccessDeniedException'))

    def test_network_host_is_for_admin_keys_only(self):
        # The host's network reaches the daemon's API: a deploy key may not ask for it, on
        # CreateFunction or UpdateFunctionConfiguration (403, AWS's AccessDeniedException);
        # an admin key may. (Without credentials anyone may: test_sandbox's host network test.)
        import base64
        code = base64.b64encode(open(zip_file(self.dir), 'rb').read()).decode()
        def create(key, name, network):
            doc = {'FunctionName': name, 'Runtime': 'provided', 'Handler': 'x', 'Network': network,
                   'Role': 'arn:aws:iam::%s:role/r' % ACCOUNT_A, 'Code': {'ZipFile': code}}
            return signed(self.server, 'POST', FN, json.dumps(doc).encode(), key=key,
                          headers={'Content-Type': 'application/json'})
        name = uniq('net')
        status, kind, msg = error_of(create(DEPLOY_A, name, 'host'))
        self.assertEqual((status, kind), (403, 'AccessDeniedException'), msg)
        self.assertIn('arn:aws:iam::%s:user/%s' % (ACCOUNT_A, DEPLOY_A[0]), msg)
        status, _, _ = signed(self.server, 'GET', '%s/%s' % (FN, name), key=ADMIN_A)
        self.assertEqual(status, 404)                       # nothing was made
        status, _, body = create(DEPLOY_A, name, 'none')
        self.assertEqual(status, 201, body)
        cfg = '%s/%s/configuration' % (FN, name)
        status, kind, msg = error_of(signed(self.server, 'PUT', cfg, b'{"Network":"host"}', key=DEPLOY_A,
                                            headers={'Content-Type': 'application/json'}))
        self.assertEqual((status, kind), (403, 'AccessDeniedException'), msg)
        status, _, body = signed(self.server, 'GET', cfg, key=DEPLOY_A)
        self.assertEqual((status, json.loads(body).get('Network')), (200, 'none'))
        status, _, body = signed(self.server, 'PUT', cfg, b'{"Network":"host"}', key=ADMIN_A,
                                 headers={'Content-Type': 'application/json'})
        self.assertEqual((status, json.loads(body).get('Network')), (200, 'host'), body)
        status, _, body = create(ADMIN_A, uniq('net'), 'host')
        self.assertEqual(status, 201, body)
        # The deploy key still changes other settings of a function an admin gave the host's network.
        status, _, body = signed(self.server, 'PUT', cfg, b'{"Description":"d"}', key=DEPLOY_A,
                                 headers={'Content-Type': 'application/json'})
        self.assertEqual((status, json.loads(body).get('Network')), (200, 'host'), body)

    def test_the_cli_signs_with_its_profile_or_the_environment(self):
        cfg = os.path.join(self.dir, 'cli-config')
        with open(cfg, 'w') as f:
            f.write('[default]\nendpoint = %s\naws_access_key_id = %s\naws_secret_access_key = %s\n'
                    '[profile nokeys]\nendpoint = %s\n' % (self.server.url, ADMIN_A[0], ADMIN_A[1], self.server.url))
        base = {k: v for k, v in os.environ.items() if not k.startswith(('AWS_', 'NIMBUS_'))}
        p = subprocess.run([nimbus_bin(), 'list'], env=dict(base, NIMBUS_CONFIG=cfg), capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([nimbus_bin(), 'list', '--profile', 'nokeys'], env=dict(base, NIMBUS_CONFIG=cfg),
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('MissingAuthenticationTokenException', p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        env = dict(base, NIMBUS_CONFIG=cfg, AWS_ACCESS_KEY_ID=INVOKE_A[0], AWS_SECRET_ACCESS_KEY=INVOKE_A[1])
        p = subprocess.run([nimbus_bin(), 'list', '--profile', 'nokeys'], env=env, capture_output=True, text=True,
                           timeout=60)
        self.assertIn('AccessDeniedException', p.stderr)   # signed as the invoke-only key

    @unittest.skipUnless(have_sdk(), 'the AWS SDK for JavaScript is not installed (scripts/deps.sh)')
    def test_the_js_sdk_signs_and_fails_as_aws(self):
        name, _ = self.create()
        script = r'''
const { LambdaClient, ListFunctionsCommand, InvokeCommand, GetFunctionCommand } = require("@aws-sdk/client-lambda");
const mk = (secret) => new LambdaClient({ endpoint: process.env.ENDPOINT, region: process.env.AWS_REGION,
  maxAttempts: 1, credentials: { accessKeyId: process.env.KEY_ID, secretAccessKey: secret } });
(async () => {
  const c = mk(process.env.SECRET), out = {};
  out.names = (await c.send(new ListFunctionsCommand({}))).Functions.map((f) => f.FunctionName);
  const r = await c.send(new InvokeCommand({ FunctionName: process.argv[1] || "%s", Payload: Buffer.from('{"js":true}') }));
  out.payload = Buffer.from(r.Payload).toString();
  out.arn = (await c.send(new GetFunctionCommand({ FunctionName: "%s" }))).Configuration.FunctionArn;
  try { await mk("wrong-secret-0123456789abcdef").send(new ListFunctionsCommand({})); }
  catch (e) { out.wrong = [e.name, e.message, e.$metadata.httpStatusCode]; }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
''' % (name, 'arn:aws:lambda:%s:%s:function:%s' % (REGION, ACCOUNT_A, name))
        out = node(script, self.server.url, ADMIN_A)
        self.assertIn(name, out['names'])
        self.assertEqual(json.loads(out['payload']), {'js': True})
        self.assertEqual(out['wrong'], ['InvalidSignatureException', MSG_BAD_SIGNATURE, 403])

    def test_console_sessions(self):
        s = self.server
        login = lambda secret: send(s, 'POST', '/nimbus/v1/session', json.dumps(
            {'AccessKeyId': ADMIN_A[0], 'SecretAccessKey': secret}).encode())
        self.assertEqual(error_of(login('wrong')), (403, 'InvalidSignatureException', MSG_BAD_SIGNATURE))
        self.assertEqual(error_of(send(s, 'POST', '/nimbus/v1/session', json.dumps(
            {'AccessKeyId': 'AKIANOSUCHKEYXXXXXX1', 'SecretAccessKey': 'x'}).encode())),
            (403, 'InvalidSignatureException', MSG_BAD_SIGNATURE))
        self.assertEqual(send(s, 'GET', '/nimbus/v1/session')[0], 401)
        status, h, body = login(ADMIN_A[1])
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual((doc['AccountId'], doc['AccessKeyId']), (ACCOUNT_A, ADMIN_A[0]))
        cookie = h['set-cookie']
        self.assertIn('HttpOnly', cookie)
        self.assertIn('SameSite=Strict', cookie)
        self.assertIn('Path=/', cookie)
        # Plain HTTP: a Secure cookie would never come back (test_tls checks it is set there).
        self.assertNotIn('Secure', [a.strip() for a in cookie.split(';')])
        jar = {'Cookie': cookie.split(';')[0]}
        self.assertEqual(json.loads(send(s, 'GET', '/nimbus/v1/session', b'', jar)[2])['Csrf'], doc['Csrf'])
        # The cookie alone is not enough: a page of another site could send it.
        self.assertEqual(error_of(send(s, 'GET', FN + '/', b'', jar))[:2], (403, 'AccessDeniedException'))
        bad = dict(jar, **{'X-Nimbus-Csrf': 'x' * 32})
        self.assertEqual(error_of(send(s, 'GET', FN + '/', b'', bad))[:2], (403, 'AccessDeniedException'))
        both = dict(jar, **{'X-Nimbus-Csrf': doc['Csrf']})
        self.assertEqual(send(s, 'GET', FN + '/', b'', both)[0], 200)
        status, h, _ = send(s, 'DELETE', '/nimbus/v1/session', b'', both)
        self.assertEqual(status, 204)
        self.assertIn('Max-Age=0', h['set-cookie'])
        self.assertEqual(error_of(send(s, 'GET', FN + '/', b'', both))[:2], (403, 'AccessDeniedException'))
        self.assertEqual(send(s, 'GET', '/nimbus/v1/session', b'', jar)[0], 401)


class Defaults(unittest.TestCase):
    def serve(self, *args, data_dir=None):
        base = tempfile.mkdtemp(prefix='nimbus-it-')
        try:
            return subprocess.run([nimbus_bin(), 'serve', '--data-dir', data_dir or os.path.join(base, 'd'),
                                   '--insecure-no-sandbox'] + list(args), capture_output=True, text=True, timeout=30)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def test_a_non_loopback_listen_without_credentials_refuses_to_start(self):
        for addr in ('0.0.0.0:0', '10.1.2.3:0'):
            p = self.serve('--listen', addr)
            self.assertNotEqual(p.returncode, 0)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            self.assertIn('without --credentials', p.stderr)
            self.assertNotIn('listening', p.stdout)

    def test_a_credentials_file_open_to_others_or_malformed_is_refused(self):
        d = tempfile.mkdtemp(prefix='nimbus-creds-')
        try:
            p = self.serve('--listen', '127.0.0.1:0', '--credentials', write_credentials(d, mode=0o644))
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('chmod 600', p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            p = self.serve('--listen', '127.0.0.1:0', '--credentials',
                           write_credentials(d, extra='[AKIANIMBUSBROKENXXX1]\nrole = root\n'))
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(':', p.stderr)
            self.assertIn('role wants admin, deploy or invoke', p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_the_session_says_no_auth_is_required_without_credentials(self):
        s = Server().start()
        try:
            status, _, body = send(s, 'GET', '/nimbus/v1/session')
            self.assertEqual((status, json.loads(body)), (200, {'AuthRequired': False}))
            self.assertEqual(send(s, 'GET', FN + '/')[0], 200)   # unsigned on loopback
        finally:
            s.stop()

    def test_the_data_dir_is_the_daemons_alone(self):
        s = Server()
        os.chmod(s.data_dir, 0o755)
        with open(os.path.join(s.data_dir, 'nimbus.db'), 'wb'):
            pass
        os.chmod(os.path.join(s.data_dir, 'nimbus.db'), 0o644)
        s.start()
        try:
            self.assertEqual(stat.S_IMODE(os.stat(s.data_dir).st_mode), 0o700)
            for f in os.listdir(s.data_dir):
                st = os.lstat(os.path.join(s.data_dir, f))
                if stat.S_ISREG(st.st_mode):
                    self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0, f)
        finally:
            s.stop()

    @unittest.skipUnless(os.geteuid() == 0, 'needs root to make a directory of another user')
    def test_a_data_dir_of_another_user_is_refused(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-')
        try:
            d = os.path.join(base, 'd')
            os.mkdir(d)
            os.chown(d, 65534, 65534)
            p = self.serve('--listen', '127.0.0.1:0', data_dir=d)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn('belongs to uid 65534', p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == '__main__':
    unittest.main()
