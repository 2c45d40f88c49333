"""TLS on the API listener (--tls-cert/--tls-key), with a certificate the
test makes itself with `openssl req -x509`: the AWS SDK for JavaScript
(trusting it through NODE_EXTRA_CA_CERTS), the AWS CLI (--ca-bundle), curl
(--cacert) and the nimbus CLI (--ca-cert, NIMBUS_CA_CERT) work over it; a
plain HTTP request on that port gets nginx's 400; TLS below 1.2 is refused
and ALPN picks http/1.1; SIGHUP swaps the certificate for new connections
(the served certificate's SHA-256 changes) and a bad new file keeps the old
one; a function URL is served by its host name over TLS."""
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest
import http.client

from nimbus_testlib import (ROLE, Client, Server, aws_cli, echo_files, lower_headers, make_zip,
                            nimbus_bin, run_aws, uniq)

JS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'js')
SDK = os.path.join(JS, 'node_modules', '@aws-sdk', 'client-lambda')
SAN = 'subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:*.lambda-url.us-east-1.localhost'


def make_cert(d, name, cn):
    cert, key = os.path.join(d, name + '.crt'), os.path.join(d, name + '.key')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
                    '-out', cert, '-days', '2', '-subj', '/CN=' + cn, '-addext', SAN],
                   check=True, capture_output=True)
    return cert, key


def served_fingerprint(port):
    """SHA-256 of the DER certificate a fresh handshake is given."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(('127.0.0.1', port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname='localhost') as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(cert):
    pem = open(cert).read()
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


class TlsClient(Client):
    def __init__(self, host, port, cafile):
        super().__init__(host, port)
        self.ctx = ssl.create_default_context(cafile=cafile)

    @property
    def url(self):
        return 'https://localhost:%d' % self.port

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPSConnection('localhost', self.port, timeout=timeout, context=self.ctx)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, lower_headers(r.getheaders()), r.read()
        finally:
            conn.close()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='nimbus-tls-')
        cls.cert, cls.key = make_cert(cls.dir, 'served', 'nimbus-one')
        cls.cert2, cls.key2 = make_cert(cls.dir, 'second', 'nimbus-two')
        cls.ca = os.path.join(cls.dir, 'trust.pem')   # both, so either one verifies
        with open(cls.ca, 'w') as f:
            f.write(open(cls.cert).read() + open(cls.cert2).read())
        cls.server = Server(['--tls-cert', cls.cert, '--tls-key', cls.key]).start()
        cls.port = cls.server.port
        cls.c = TlsClient('127.0.0.1', cls.port, cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_announces_https(self):
        self.assertIn('listening on https://127.0.0.1:%d' % self.port, self.server.stdout_text())

    def test_curl_with_cacert(self):
        p = subprocess.run(['curl', '-sS', '--cacert', self.ca, '-w', '\\n%{http_code} %{http_version}',
                            'https://localhost:%d/2015-03-31/functions/' % self.port],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        body, status = p.stdout.rsplit('\n', 1)
        self.assertEqual(status, '200 1.1')
        self.assertIn('Functions', json.loads(body))
        # Without the CA, curl refuses the certificate: it is really checked.
        p = subprocess.run(['curl', '-sS', 'https://localhost:%d/2015-03-31/functions/' % self.port],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 60, p.stderr)

    def test_plain_http_refused(self):
        with socket.create_connection(('127.0.0.1', self.port), timeout=10) as s:
            s.sendall(b'GET /2015-03-31/functions/ HTTP/1.1\r\nHost: localhost\r\n\r\n')
            data = b''
            while True:
                k = s.recv(65536)
                if not k:
                    break
                data += k
        head, _, body = data.partition(b'\r\n\r\n')
        self.assertTrue(head.startswith(b'HTTP/1.1 400 '), data)
        self.assertIn(b'The plain HTTP request was sent to HTTPS port', body)

    def test_old_tls_refused_and_alpn(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(self.ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(['h2', 'http/1.1'])
        with socket.create_connection(('127.0.0.1', self.port), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname='localhost') as t:
                self.assertEqual(t.version(), 'TLSv1.2')
                self.assertEqual(t.selected_alpn_protocol(), 'http/1.1')
        # TLS 1.1 offered alone: the server refuses it whatever the client allows.
        old = subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % self.port,
                              '-tls1_1', '-cipher', 'DEFAULT:@SECLEVEL=0'],
                             input='', capture_output=True, text=True, timeout=30)
        self.assertIn('Cipher is (NONE)', old.stdout)   # no session: an alert was all it got
        self.assertNotEqual(old.returncode, 0, old.stdout)

    def test_sdk_js_over_tls(self):
        if not os.path.isdir(SDK):
            self.skipTest('the AWS SDK is not installed (scripts/deps.sh runs npm ci)')
        name = uniq('tls-sdk')
        zpath = os.path.join(self.dir, name + '.zip')
        with open(zpath, 'wb') as f:
            f.write(make_zip(echo_files()))
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=self.ca)
        p = subprocess.run(['/usr/bin/node', os.path.join(JS, 'tls_client.js'),
                            'https://localhost:%d' % self.port, name, zpath, ROLE],
                           capture_output=True, text=True, timeout=120, env=env, cwd=JS)
        out = json.loads(p.stdout)
        self.assertEqual(out['create'].get('FunctionName'), name, out)
        self.assertEqual(out['invoke'], {'StatusCode': 200, 'same': True})
        self.assertIn(name, out['list'])
        # Without the extra CA the SDK refuses the certificate.
        env.pop('NODE_EXTRA_CA_CERTS')
        p = subprocess.run(['/usr/bin/node', os.path.join(JS, 'tls_client.js'),
                            'https://localhost:%d' % self.port, uniq('tls-no'), zpath, ROLE],
                           capture_output=True, text=True, timeout=120, env=env, cwd=JS)
        out = json.loads(p.stdout)
        self.assertIn('certificate', out['create'].get('message', ''), out)

    def test_aws_cli_over_tls(self):
        if not aws_cli():
            self.skipTest('the AWS CLI is not installed')
        os.environ['AWS_CA_BUNDLE'] = self.ca   # the CLI's --ca-bundle, through run_aws's environment
        try:
            out = run_aws(self, 'https://localhost:%d' % self.port, 'list-functions')
        finally:
            os.environ.pop('AWS_CA_BUNDLE')
        self.assertIn('Functions', out)

    def test_nimbus_cli_ca_cert(self):
        endpoint = 'https://localhost:%d' % self.port
        env = dict(os.environ, NIMBUS_CONFIG=os.path.join(self.dir, 'none'))
        env.pop('NIMBUS_ENDPOINT', None)
        env.pop('NIMBUS_CA_CERT', None)
        p = subprocess.run([nimbus_bin(), 'list', '--endpoint', endpoint], capture_output=True, text=True,
                           env=env, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('certificate', p.stderr)
        p = subprocess.run([nimbus_bin(), 'list', '--endpoint', endpoint, '--ca-cert', self.ca],
                           capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([nimbus_bin(), 'list', '--endpoint', endpoint], capture_output=True, text=True,
                           env=dict(env, NIMBUS_CA_CERT=self.ca), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        cfg = os.path.join(self.dir, 'config')
        with open(cfg, 'w') as f:
            f.write('[default]\nendpoint = %s\nca_cert = %s\n' % (endpoint, self.ca))
        p = subprocess.run([nimbus_bin(), 'list'], capture_output=True, text=True,
                           env=dict(env, NIMBUS_CONFIG=cfg), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_function_url_by_host_name(self):
        name = uniq('tls-url')
        st, _, doc, raw = self.c.create_function(name, echo_files())
        self.assertEqual(st, 201, raw)
        st, _, doc, raw = self.c.api('POST', '/2021-10-31/functions/%s/url' % name, {'AuthType': 'NONE'})
        self.assertEqual(st, 201, raw)
        url = doc['FunctionUrl']
        self.assertTrue(url.startswith('https://') and '.lambda-url.us-east-1.localhost:%d/' % self.port in url, url)
        host = url.split('//', 1)[1].split(':', 1)[0]
        p = subprocess.run(['curl', '-sS', '--cacert', self.ca, '--resolve', '%s:%d:127.0.0.1' % (host, self.port),
                            '-w', '\\n%{http_code}', url + 'hello?x=1'], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        body, status = p.stdout.rsplit('\n', 1)
        self.assertEqual(status, '200', body)
        event = json.loads(body)
        self.assertEqual(event['rawPath'], '/hello')
        self.assertEqual(event['requestContext']['domainName'], host)

    def test_sighup_swaps_certificate(self):
        """Last in name order: it changes the certificate the others use
        (trust.pem holds both)."""
        self.assertEqual(served_fingerprint(self.port), file_fingerprint(self.cert))
        keep = TlsClient('127.0.0.1', self.port, self.ca)
        # A connection opened before the reload keeps working after it.
        conn = http.client.HTTPSConnection('localhost', self.port, timeout=30, context=keep.ctx)
        conn.request('GET', '/2015-03-31/functions/')
        self.assertEqual(conn.getresponse().read()[:1], b'{')
        shutil.copy(self.cert2, self.cert)
        shutil.copy(self.key2, self.key)
        self.server.proc.send_signal(signal.SIGHUP)
        want = file_fingerprint(self.cert2)
        deadline = time.time() + 20
        while served_fingerprint(self.port) != want and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(served_fingerprint(self.port), want)
        conn.request('GET', '/2015-03-31/functions/')
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        # A broken new file: one line in the log, and the pair in force stays.
        with open(self.cert, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n')
        self.server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 20
        while 'keeping the TLS certificate in force' not in self.server.stderr_text() and time.time() < deadline:
            time.sleep(0.05)
        self.assertIn('keeping the TLS certificate in force', self.server.stderr_text())
        self.assertEqual(served_fingerprint(self.port), want)
        st, _, _ = self.c.request('GET', '/2015-03-31/functions/')
        self.assertEqual(st, 200)
        self.assertTrue(self.server.alive())


class TlsConfigTest(unittest.TestCase):
    def test_settings_file_and_errors(self):
        d = tempfile.mkdtemp(prefix='nimbus-tls-cfg-')
        try:
            cert, key = make_cert(d, 'c', 'cfg')
            conf = os.path.join(d, 'nimbus.conf')
            with open(conf, 'w') as f:
                f.write('tls-cert = %s\ntls-key = %s\n' % (cert, key))
            s = Server(['--config', conf]).start()
            try:
                self.assertEqual(served_fingerprint(s.port), file_fingerprint(cert))
            finally:
                s.stop()
                s.cleanup()
            for args, words in ((['--tls-cert', cert], '--tls-cert and --tls-key go together'),
                                (['--tls-cert', cert, '--tls-key', cert], 'TLS key')):
                s = Server(args)
                with self.assertRaises(Exception):
                    s.start()
                self.assertIn(words, s.stderr_text())
                s.cleanup()
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    unittest.main()


class TlsSessionCookieTest(unittest.TestCase):
    """Over TLS the console's session cookie is also `Secure`, so a browser never
    sends it back over plain HTTP (docs/security.md, "Console sessions")."""

    KEY, SECRET = 'AKIATLSCOOKIETEST001', 'tls-cookie-secret-0123456789'

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='nimbus-tls-cookie-')
        cls.cert, cls.key = make_cert(cls.dir, 'served', 'nimbus-cookie')
        creds = os.path.join(cls.dir, 'credentials')
        with open(creds, 'w') as f:
            f.write('[%s]\nsecret_access_key = %s\naccount_id = 111111111111\nrole = admin\n'
                    % (cls.KEY, cls.SECRET))
        os.chmod(creds, 0o600)
        cls.server = Server(['--tls-cert', cls.cert, '--tls-key', cls.key, '--credentials', creds]).start()
        cls.c = TlsClient('127.0.0.1', cls.server.port, cls.cert)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_session_cookie_is_secure_over_tls(self):
        body = json.dumps({'AccessKeyId': self.KEY, 'SecretAccessKey': self.SECRET}).encode()
        status, h, raw = self.c.request('POST', '/nimbus/v1/session', body, {'Content-Type': 'application/json'})
        self.assertEqual(status, 200, raw)
        attrs = [a.strip() for a in h['set-cookie'].split(';')]
        for want in ('HttpOnly', 'SameSite=Strict', 'Secure'):
            self.assertIn(want, attrs)
        jar = {'Cookie': h['set-cookie'].split(';')[0], 'X-Nimbus-Csrf': json.loads(raw)['Csrf']}
        status, h, _ = self.c.request('DELETE', '/nimbus/v1/session', None, jar)
        self.assertEqual(status, 204)
        self.assertIn('Secure', [a.strip() for a in h['set-cookie'].split(';')])
