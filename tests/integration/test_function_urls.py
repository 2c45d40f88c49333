"""Function URLs end to end, from Lambda's documentation: the control plane
(CreateFunctionUrlConfig, Get, Update, Delete, ListFunctionUrlConfigs) driven
by the real AWS CLI, and the URLs themselves called with curl (the FunctionUrl
returned, as it is, and the path form /nimbus/url/<url-id>/...) and
http.client: payload 2.0 in and out, Lambda's inference, cookies, binary
bodies, CORS, aliases, and the platform's own 502/429/404 answers."""
import base64
import http.client
import json
import os
import re
import subprocess
import tempfile
import unittest
import urllib.parse

from nimbus_testlib import aws_cli, run_aws, ServerTestCase, error_type, function_arn, uniq

URL_RE = re.compile(r'^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/$')
UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
CLF_TIME = re.compile(r'^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$')

# One handler, its behaviour chosen by the path (rawPath), so one warm
# instance serves most tests.
APP = r'''
import base64, json, time

def handler(event, context):
    path = event.get("rawPath", "")
    if path.endswith("/echo") or path == "/":
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps(event)}
    if path.endswith("/binary"):
        raw = base64.b64decode(event["body"]) if event.get("isBase64Encoded") else event.get("body", "").encode()
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(raw[::-1]).decode(), "isBase64Encoded": True}
    if path.endswith("/missing"):
        return {"statusCode": 404, "headers": {"X-Reason": "nothing here"}, "body": "no such page"}
    if path.endswith("/custom"):
        return {"statusCode": 201,
                "headers": {"Content-Type": "text/plain", "My-Custom-Header": "Custom Value"},
                "body": "made it",
                "cookies": ["Cookie_1=Value1; Max-Age=78000", "Cookie_2=Value2; Path=/"]}
    if path.endswith("/object"):
        return {"message": "Hello, world!"}
    if path.endswith("/string"):
        return "Hello, world!"
    if path.endswith("/fail"):
        raise RuntimeError("the function failed")
    if path.endswith("/cors"):
        return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "https://wrong.example"},
                "body": "cors"}
    if path.endswith("/sleep"):
        time.sleep(3)
        return "late"
    return {"statusCode": 200, "body": "path " + path}
'''


def version_app(marker):
    return 'def handler(event, context):\n    return {"statusCode": 200, "body": %r}\n' % marker


def curl(url, method=None, headers=(), data=None, cookies=None):
    """curl the URL as a user would; (status, [(name, value)...] lower-cased names, body bytes)."""
    d = tempfile.mkdtemp(prefix='nimbus-it-url-')
    try:
        hfile, bfile = os.path.join(d, 'h'), os.path.join(d, 'b')
        cmd = ['curl', '-sS', '--max-time', '30', '-D', hfile, '-o', bfile]
        if method:
            cmd += ['-X', method]
        for h in headers:
            cmd += ['-H', h]
        if cookies:
            cmd += ['-b', cookies]
        if data is not None:
            dfile = os.path.join(d, 'd')
            with open(dfile, 'wb') as f:
                f.write(data)
            cmd += ['--data-binary', '@' + dfile]
        cmd.append(url)
        p = subprocess.run(cmd, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError('curl %s failed: %s' % (url, p.stderr.decode(errors='replace')))
        lines = open(hfile, 'rb').read().decode('latin-1').split('\r\n')
        status = int(lines[0].split()[1])
        hs = []
        for line in lines[1:]:
            if ':' in line:
                n, v = line.split(':', 1)
                hs.append((n.strip().lower(), v.strip()))
        return status, hs, open(bfile, 'rb').read()
    finally:
        subprocess.run(['rm', '-rf', d])


def hget(hs, name):
    vals = [v for n, v in hs if n == name]
    return vals[0] if vals else None


@unittest.skipUnless(aws_cli(), "Debian's awscli is not installed (scripts/deps.sh installs it)")
class FunctionUrlTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.fn = uniq('url')
        st, h, body, raw = cls.c.create_function(cls.fn, {'app.py': APP}, runtime='python3.11',
                                                 handler='app.handler')
        assert st == 201, raw
        cls.shared_url = None

    # -- helpers
    def aws(self, *args, ok=True):
        return run_aws(self, self.c.url, *args, ok=ok)

    def py(self, code=APP, **kw):
        return self.new_function(uniq('url'), {'app.py': code}, runtime='python3.11', handler='app.handler',
                                 **kw)[0]

    def create_url(self, name, *extra):
        doc = self.aws('create-function-url-config', '--function-name', name, '--auth-type', 'NONE', *extra)
        m = URL_RE.match(doc['FunctionUrl'])
        self.assertIsNotNone(m, doc['FunctionUrl'])
        self.assertEqual(int(m.group(2)), self.server.port)
        return doc

    def url(self):
        """The shared function's $LATEST URL (made once)."""
        cls = type(self)
        if cls.shared_url is None:
            cls.shared_url = self.create_url(self.fn)['FunctionUrl']
        return cls.shared_url

    def path_url(self, function_url):
        url_id = URL_RE.match(function_url).group(1)
        return 'http://127.0.0.1:%d/nimbus/url/%s' % (self.server.port, url_id)

    def event(self, url, **kw):
        st, hs, body = curl(url, **kw)
        self.assertEqual(st, 200, body[:500])
        return json.loads(body)

    def raw_api(self, method, path, body):
        return self.c.api(method, path, body)

    # -- the control plane
    def test_create_get_list_update_delete(self):
        name = self.py()
        doc = self.create_url(name)
        self.assertEqual(doc['AuthType'], 'NONE')
        self.assertEqual(doc['FunctionArn'], function_arn(name))
        self.assertIn('CreationTime', doc)
        got = self.aws('get-function-url-config', '--function-name', name)
        self.assertEqual(got['FunctionUrl'], doc['FunctionUrl'])
        self.assertEqual(got['AuthType'], 'NONE')
        self.assertIn('LastModifiedTime', got)
        lst = self.aws('list-function-url-configs', '--function-name', name)
        self.assertEqual([c['FunctionUrl'] for c in lst['FunctionUrlConfigs']], [doc['FunctionUrl']])

        up = self.aws('update-function-url-config', '--function-name', name, '--cors',
                      json.dumps({'AllowOrigins': ['https://www.example.com'], 'MaxAge': 300}))
        self.assertEqual(up['FunctionUrl'], doc['FunctionUrl'], 'an update keeps the URL')
        self.assertEqual(up['Cors']['AllowOrigins'], ['https://www.example.com'])
        self.assertEqual(up['Cors']['MaxAge'], 300)
        got = self.aws('get-function-url-config', '--function-name', name)
        self.assertEqual(got['Cors']['AllowOrigins'], ['https://www.example.com'])

        st, hs, body = curl(doc['FunctionUrl'] + 'echo')
        self.assertEqual(st, 200, body)
        self.aws('delete-function-url-config', '--function-name', name)
        err = self.aws('get-function-url-config', '--function-name', name, ok=False)
        self.assertIn('ResourceNotFoundException', err)
        for u in (doc['FunctionUrl'] + 'echo', self.path_url(doc['FunctionUrl']) + '/echo'):
            st, hs, body = curl(u)
            self.assertEqual(st, 404, 'a deleted URL still answers: %s %r' % (u, body[:300]))
        lst = self.aws('list-function-url-configs', '--function-name', name)
        self.assertEqual(lst['FunctionUrlConfigs'], [])

    def test_update_auth_type_to_iam_is_refused_until_credentials_exist(self):
        name = self.py()
        self.create_url(name)
        err = self.aws('update-function-url-config', '--function-name', name, '--auth-type', 'AWS_IAM', ok=False)
        self.assertIn('AWS_IAM', err)
        self.assertEqual(self.aws('get-function-url-config', '--function-name', name)['AuthType'], 'NONE')

    def test_a_second_config_on_the_same_qualifier_is_a_conflict(self):
        name = self.py()
        self.create_url(name)
        err = self.aws('create-function-url-config', '--function-name', name, '--auth-type', 'NONE', ok=False)
        self.assertIn('ResourceConflictException', err)
        st, h, doc, raw = self.raw_api('POST', '/2021-10-31/functions/%s/url' % name, {'AuthType': 'NONE'})
        self.assertEqual((st, error_type(h)), (409, 'ResourceConflictException'), raw)

    def test_bad_input(self):
        name = self.py()
        path = '/2021-10-31/functions/%s/url' % name
        st, h, doc, raw = self.raw_api('POST', path, {})
        self.assertEqual(st, 400, 'AuthType missing: %r' % raw)
        st, h, doc, raw = self.raw_api('POST', path, {'AuthType': 'BASIC'})
        self.assertEqual(st, 400, 'AuthType invalid: %r' % raw)
        self.assertIn('authType', raw.decode(errors='replace'))
        st, h, doc, raw = self.raw_api('POST', path, {'AuthType': 'AWS_IAM'})
        self.assertEqual(st, 400, 'AWS_IAM must be refused until credentials exist: %r' % raw)
        self.assertIn('AWS_IAM', raw.decode(errors='replace'))
        st, h, doc, raw = self.raw_api('POST', path, {'AuthType': 'NONE', 'Cors': {'MaxAge': 86401}})
        self.assertEqual((st, error_type(h)), (400, 'ValidationException'), raw)
        self.assertIn("at 'cors.maxAge' failed to satisfy constraint", raw.decode())
        st, h, doc, raw = self.raw_api('POST', '/2021-10-31/functions/%s/url' % uniq('nope'), {'AuthType': 'NONE'})
        self.assertEqual((st, error_type(h)), (404, 'ResourceNotFoundException'), raw)
        err = self.aws('create-function-url-config', '--function-name', name, '--auth-type', 'NONE',
                       '--cors', json.dumps({'AllowMethods': ['GET', 'PUT', 'POST', 'HEAD', 'PATCH', 'DELETE', '*']}),
                       ok=False)
        self.assertIn("'cors.allowMethods'", err)

    def test_qualifier_on_a_version_number_is_refused(self):
        name = self.py()
        st, h, v, raw = self.c.api('POST', '/2015-03-31/functions/%s/versions' % name, {})
        self.assertEqual(st, 201, raw)
        err = self.aws('create-function-url-config', '--function-name', name, '--qualifier', v['Version'],
                       '--auth-type', 'NONE', ok=False)
        self.assertIn('ValidationException', err)
        st, h, doc, raw = self.raw_api('POST', '/2021-10-31/functions/%s/url?Qualifier=%s' % (name, v['Version']),
                                       {'AuthType': 'NONE'})
        self.assertEqual((st, error_type(h)), (400, 'ValidationException'), raw)
        self.assertIn("at 'qualifier' failed to satisfy constraint", raw.decode())

    # -- calling the URL: the event
    def test_get_with_query_duplicates_headers_and_cookies(self):
        url = self.url()
        ev = self.event(url + 'echo?a=1&a=2&b=x%20y', headers=['X-Dup: one'], cookies='c1=v1; c2=v2')
        self.assertEqual(ev['version'], '2.0')
        self.assertEqual(ev['routeKey'], '$default')
        self.assertEqual(ev['rawPath'], '/echo')
        self.assertEqual(ev['rawQueryString'], 'a=1&a=2&b=x%20y')
        self.assertEqual(ev['queryStringParameters'], {'a': '1,2', 'b': 'x y'})
        self.assertEqual(ev['cookies'], ['c1=v1', 'c2=v2'])
        self.assertNotIn('cookie', ev['headers'])
        self.assertEqual(ev['headers']['x-dup'], 'one')
        self.assertTrue(all(k == k.lower() for k in ev['headers']), ev['headers'])
        ctx = ev['requestContext']
        url_id = URL_RE.match(url).group(1)
        self.assertEqual(ctx['apiId'], url_id)
        self.assertEqual(ctx['domainPrefix'], url_id)
        self.assertEqual(ctx['domainName'], '%s.lambda-url.us-east-1.localhost' % url_id)
        self.assertEqual(ctx['http']['method'], 'GET')
        self.assertEqual(ctx['http']['path'], '/echo')
        self.assertEqual(ctx['http']['sourceIp'], '127.0.0.1')
        self.assertTrue(ctx['http']['userAgent'].startswith('curl/'), ctx['http'])
        self.assertRegex(ctx['requestId'], UUID)
        self.assertEqual((ctx['routeKey'], ctx['stage']), ('$default', '$default'))
        self.assertRegex(ctx['time'], CLF_TIME)
        self.assertIsInstance(ctx['timeEpoch'], int)
        self.assertNotIn('authorizer', ctx)
        self.assertNotIn('body', ev)
        self.assertFalse(ev['isBase64Encoded'])

        # Two headers of one name, sent as such (curl folds nothing; http.client sends both).
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection('127.0.0.1', u.port, timeout=30)
        conn.putrequest('GET', '/echo', skip_host=True)
        conn.putheader('Host', u.netloc)
        conn.putheader('X-Dup', 'one')
        conn.putheader('X-Dup', 'two')
        conn.endheaders()
        r = conn.getresponse()
        ev = json.loads(r.read())
        conn.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(ev['headers']['x-dup'], 'one,two')

    def test_post_json_body_is_text(self):
        ev = self.event(self.url() + 'echo?message=HelloWorld', method='POST',
                        headers=['content-type: application/json'], data=b'{ "example": "test" }')
        self.assertEqual(ev['requestContext']['http']['method'], 'POST')
        self.assertEqual(ev['body'], '{ "example": "test" }')
        self.assertFalse(ev['isBase64Encoded'])
        self.assertEqual(ev['queryStringParameters'], {'message': 'HelloWorld'})

    def test_binary_body_round_trip(self):
        data = bytes(range(256)) * 4
        ev = self.event(self.url() + 'echo', method='POST', headers=['content-type: application/octet-stream'],
                        data=data)
        self.assertTrue(ev['isBase64Encoded'])
        self.assertEqual(base64.b64decode(ev['body']), data)
        st, hs, body = curl(self.url() + 'binary', method='POST', headers=['content-type: image/png'], data=data)
        self.assertEqual(st, 200)
        self.assertEqual(hget(hs, 'content-type'), 'application/octet-stream')
        self.assertEqual(body, data[::-1], 'isBase64Encoded in the answer is decoded for the client')

    def test_path_form_reaches_the_same_function(self):
        base = self.path_url(self.url())
        ev = self.event(base + '/deep/echo?k=v')
        self.assertEqual(ev['rawPath'], '/deep/echo')
        self.assertEqual(ev['rawQueryString'], 'k=v')
        st, hs, body = curl(base + '/custom')
        self.assertEqual((st, body), (201, b'made it'))

    # -- calling the URL: the answer
    def test_function_chosen_404_status_and_headers(self):
        st, hs, body = curl(self.url() + 'missing')
        self.assertEqual(st, 404)
        self.assertEqual(hget(hs, 'x-reason'), 'nothing here')
        self.assertEqual(body, b'no such page')

    def test_custom_status_headers_and_cookies(self):
        st, hs, body = curl(self.url() + 'custom')
        self.assertEqual(st, 201)
        self.assertEqual(hget(hs, 'content-type'), 'text/plain')
        self.assertEqual(hget(hs, 'my-custom-header'), 'Custom Value')
        self.assertEqual([v for n, v in hs if n == 'set-cookie'],
                         ['Cookie_1=Value1; Max-Age=78000', 'Cookie_2=Value2; Path=/'])
        self.assertEqual(body, b'made it')

    def test_inference_without_status_code(self):
        st, hs, body = curl(self.url() + 'object')
        self.assertEqual(st, 200)
        self.assertEqual(hget(hs, 'content-type'), 'application/json')
        self.assertEqual(json.loads(body), {'message': 'Hello, world!'})
        st, hs, body = curl(self.url() + 'string')
        self.assertEqual(st, 200)
        self.assertEqual(hget(hs, 'content-type'), 'application/json')
        self.assertEqual(body, b'"Hello, world!"')

    def test_function_error_is_502(self):
        st, hs, body = curl(self.url() + 'fail')
        self.assertEqual(st, 502)
        self.assertEqual(body, b'Internal Server Error')
        self.assertNotIn(b'the function failed', body)

    def test_timeout_is_502(self):
        name = self.py(timeout=1)
        doc = self.create_url(name)
        st, hs, body = curl(doc['FunctionUrl'] + 'sleep')
        self.assertEqual(st, 502)
        self.assertEqual(body, b'Internal Server Error')

    def test_throttle_is_429(self):
        name = self.py()
        doc = self.create_url(name)
        st, h, c, raw = self.c.api('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                   {'ReservedConcurrentExecutions': 0})
        self.assertEqual(st, 200, raw)
        st, hs, body = curl(doc['FunctionUrl'] + 'echo')
        self.assertEqual(st, 429, body)
        st, h, c, raw = self.c.api('DELETE', '/2017-10-31/functions/%s/concurrency' % name)
        self.assertEqual(st, 204, raw)
        st, hs, body = curl(doc['FunctionUrl'] + 'echo')
        self.assertEqual(st, 200, 'reactivated: %r' % body[:300])

    # -- CORS
    def test_cors_preflight_and_headers(self):
        name = self.py()
        cors = {'AllowOrigins': ['https://www.example.com'], 'AllowMethods': ['GET', 'POST'],
                'AllowHeaders': ['x-custom-header'], 'ExposeHeaders': ['x-reason'], 'MaxAge': 300}
        doc = self.create_url(name, '--cors', json.dumps(cors))
        self.assertEqual(doc['Cors']['AllowOrigins'], ['https://www.example.com'])
        # The platform answers: a function call on this path would be its 404 with X-Reason.
        st, hs, body = curl(doc['FunctionUrl'] + 'missing', method='OPTIONS',
                            headers=['Origin: https://www.example.com', 'Access-Control-Request-Method: POST',
                                     'Access-Control-Request-Headers: x-custom-header'])
        self.assertEqual(st, 200, body)
        self.assertIsNone(hget(hs, 'x-reason'), 'the preflight reached the function')
        self.assertEqual(hget(hs, 'access-control-allow-origin'), 'https://www.example.com')
        self.assertEqual(hget(hs, 'access-control-allow-methods').replace(' ', ''), 'GET,POST')
        self.assertEqual(hget(hs, 'access-control-allow-headers').lower(), 'x-custom-header')
        self.assertEqual(hget(hs, 'access-control-max-age'), '300')
        # A normal answer gets the configured origin, replacing the function's own.
        st, hs, body = curl(doc['FunctionUrl'] + 'cors', headers=['Origin: https://www.example.com'])
        self.assertEqual((st, body), (200, b'cors'))
        self.assertEqual([v for n, v in hs if n == 'access-control-allow-origin'], ['https://www.example.com'])
        self.assertEqual(hget(hs, 'access-control-expose-headers').lower(), 'x-reason')
        # An origin not allowed gets no CORS header.
        st, hs, body = curl(doc['FunctionUrl'] + 'missing', method='OPTIONS',
                            headers=['Origin: https://evil.example', 'Access-Control-Request-Method: POST'])
        self.assertIsNone(hget(hs, 'access-control-allow-origin'))

    def test_no_cors_config_options_goes_to_the_function(self):
        st, hs, body = curl(self.url() + 'missing', method='OPTIONS',
                            headers=['Origin: https://www.example.com', 'Access-Control-Request-Method: POST'])
        self.assertEqual(st, 404, body)
        self.assertEqual(hget(hs, 'x-reason'), 'nothing here')

    # -- aliases
    def test_url_on_an_alias_follows_the_alias(self):
        name = self.py(version_app('one'))
        api = '/2015-03-31/functions/%s' % name
        st, h, v1, raw = self.c.api('POST', api + '/versions', {})
        self.assertEqual(st, 201, raw)
        st, h, doc, raw = self.c.update_code(name, {'app.py': version_app('two')})
        self.assertEqual(st, 200, raw)
        st, h, v2, raw = self.c.api('POST', api + '/versions', {})
        self.assertEqual(st, 201, raw)
        self.assertNotEqual(v1['Version'], v2['Version'])
        st, h, a, raw = self.c.api('POST', api + '/aliases', {'Name': 'live', 'FunctionVersion': v1['Version']})
        self.assertEqual(st, 201, raw)
        doc = self.create_url(name, '--qualifier', 'live')
        self.assertEqual(doc['FunctionArn'], function_arn(name) + ':live')
        st, hs, body = curl(doc['FunctionUrl'])
        self.assertEqual((st, body), (200, b'one'))
        self.aws('update-alias', '--function-name', name, '--name', 'live', '--function-version', v2['Version'])
        st, hs, body = curl(doc['FunctionUrl'])
        self.assertEqual((st, body), (200, b'two'))
        lst = self.aws('list-function-url-configs', '--function-name', name)
        self.assertEqual([c['FunctionArn'] for c in lst['FunctionUrlConfigs']], [function_arn(name) + ':live'])


if __name__ == '__main__':
    unittest.main()
