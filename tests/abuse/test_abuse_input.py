"""Input the API accepted but should not (issue 17, items 7 and 8).

Item 7: JSON bodies with trailing data, duplicate keys or a NUL in a string; Role, Layers and
TracingConfig.Mode outside Lambda's patterns and enums. Each is refused as Lambda refuses it,
and nothing is stored. Item 8: Transfer-Encoding with a coding other than chunked (501, RFC 9112
6.1) and absolute-form request targets (the target's host, never the Host header's; RFC 9112
3.2.2). Raw HTTP so the bytes are exactly the case's, and the AWS CLI where a real client can
send the value. Every case ends with the daemon's health (abuse_lib.assert_healthy)."""

import base64
import json
import unittest

import abuse_lib
from abuse_lib import raw_exchange, status_of
import nimbus_testlib as lib


def create_body(name, **over):
    req = {'FunctionName': name, 'Role': lib.ROLE, 'Runtime': 'provided', 'Handler': 'x.handler',
           'Code': {'ZipFile': base64.b64encode(lib.make_zip(lib.echo_files())).decode()}}
    req.update(over)
    return req


def http_request(method, path, body, extra_headers=b'', host=b'127.0.0.1'):
    return (b'%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n'
            b'Connection: close\r\n%s\r\n' % (method, path, host, len(body), extra_headers)) + body


def answer(raw):
    """(status, x-amzn-ErrorType, parsed body) of one raw response."""
    head, _, body = raw.partition(b'\r\n\r\n')
    etype = None
    for line in head.split(b'\r\n')[1:]:
        k, _, v = line.partition(b':')
        if k.strip().lower() == b'x-amzn-errortype':
            etype = v.strip().decode()
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    return status_of(raw), etype, doc


class StrictJsonTest(abuse_lib.AbuseTestCase):

    def tearDown(self):
        if type(self).server is not None and type(self).server.alive():
            self.assertHealthy()
        super().tearDown()

    # CreateFunction and UpdateFunctionConfiguration read their body on a worker and have
    # always answered an unparsable one as Lambda's InvalidParameterValueException; the
    # loop-thread bodies (tags, aliases, ...) and Invoke answer InvalidRequestContentException.
    WRITE_ERR = (400, 'InvalidParameterValueException')

    def create_raw(self, text):
        return answer(raw_exchange(self.server, http_request(b'POST', b'/2015-03-31/functions', text)))

    def assertNotStored(self, name):
        st, _h, _d, _r = self.c.api('GET', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 404, '%s was stored' % name)

    def test_trailing_data_after_the_document(self):
        name = lib.uniq('trail')
        text = json.dumps(create_body(name)).encode()
        for tail in (b'x', b' {"FunctionName":"other"}', b'\x00', b']'):
            st, etype, doc = self.create_raw(text + tail)
            self.assertEqual((st, etype), self.WRITE_ERR, (tail, doc))
            self.assertIn('after the JSON document', doc['Message'] if 'Message' in doc else doc['message'])
        self.assertNotStored(name)
        st, etype, doc = self.create_raw(text + b' \r\n')     # whitespace is no data
        self.assertEqual(st, 201, doc)

    def test_duplicate_keys(self):
        name = lib.uniq('dup')
        text = json.dumps(create_body(name))
        twice = text[:-1] + ', "Runtime": "python3.11"}'
        st, etype, doc = self.create_raw(twice.encode())
        self.assertEqual((st, etype), self.WRITE_ERR, doc)
        self.assertIn('duplicate key "Runtime"', doc['message'])
        nested = json.dumps(create_body(name, Environment={'Variables': {'A1': 'x'}})).replace(
            '"A1": "x"', '"A1": "x", "A1": "y"')
        st, etype, doc = self.create_raw(nested.encode())
        self.assertEqual((st, etype), self.WRITE_ERR, doc)
        self.assertNotStored(name)
        # A body read on the loop thread: TagResource's.
        fn = abuse_lib.echo_function(self.c)
        body = b'{"Tags": {"a": "1", "a": "2"}}'
        st, etype, doc = answer(raw_exchange(self.server, http_request(
            b'POST', b'/2017-03-31/tags/%s' % lib.function_arn(fn).encode(), body)))
        self.assertEqual((st, etype), (400, 'InvalidRequestContentException'), doc)
        self.assertIn('duplicate key', json.dumps(doc))

    def test_nul_inside_a_string(self):
        name = lib.uniq('nul')
        text = json.dumps(create_body(name)).replace('"provided"', '"provided\\u0000x"')
        self.assertIn('\\u0000', text)
        st, etype, doc = self.create_raw(text.encode())
        self.assertEqual((st, etype), self.WRITE_ERR, doc)
        self.assertIn('\\u0000', json.dumps(doc))
        self.assertNotStored(name)
        # The same on another body: UpdateFunctionConfiguration's.
        fn = abuse_lib.echo_function(self.c)
        body = b'{"Description": "a\\u0000b"}'
        st, etype, doc = answer(raw_exchange(self.server, http_request(
            b'PUT', b'/2015-03-31/functions/%s/configuration' % fn.encode(), body)))
        self.assertEqual((st, etype), self.WRITE_ERR, doc)
        st, _h, cfg, _r = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % fn)
        self.assertEqual(cfg.get('Description', ''), '')

    def test_invoke_payload_with_trailing_data(self):
        for payload in (b'{"a":1}x', b'{"a":1} {"b":2}', b'[1]]'):
            st, etype, doc = answer(raw_exchange(self.server, http_request(
                b'POST', b'/2015-03-31/functions/%s/invocations' % self.echo.encode(), payload)))
            self.assertEqual((st, etype), (400, 'InvalidRequestContentException'), (payload, doc))
        # A payload is the function's: a duplicate key or an escaped NUL passes through as sent.
        st, h, body = self.c.invoke(self.echo, b'{"a":1,"a":2,"s":"\\u0000"}')
        self.assertEqual(st, 200, body)
        self.assertEqual(body, b'{"a":1,"a":2,"s":"\\u0000"}')

    def test_role_layers_and_tracing_mode_are_checked(self):
        cases = [
            ({'Role': 'not-a-role'}, 'ValidationException', "at 'role' failed to satisfy constraint: "
             "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?"),
            ({'Role': 'arn:aws:iam::12345:role/x'}, 'ValidationException', "at 'role'"),
            ({'Role': 'arn:aws:s3:::bucket'}, 'ValidationException', "at 'role'"),
            ({'Layers': ['arn:aws:lambda:us-east-1:000000000000:layer:x']}, 'ValidationException',
             "at 'layers' failed to satisfy constraint"),
            ({'Layers': ['arn:x:layer:y:1']}, 'ValidationException', "at 'layers'"),
            ({'TracingConfig': {'Mode': 'Sometimes'}}, 'ValidationException',
             "Value 'Sometimes' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy "
             "enum value set: [Active, PassThrough]"),
        ]
        for over, want_type, want_msg in cases:
            name = lib.uniq('chk')
            st, h, doc, raw = self.c.api('POST', '/2015-03-31/functions', create_body(name, **over))
            self.assertEqual((st, lib.error_type(h)), (400, want_type), (over, raw[:300]))
            self.assertIn(want_msg, (doc or {}).get('message', (doc or {}).get('Message', '')), over)
            self.assertNotStored(name)
        # Lambda's accepted values are stored and shown.
        name = lib.uniq('ok')
        st, _h, doc, raw = self.c.api('POST', '/2015-03-31/functions', create_body(
            name, Role='arn:aws-us-gov:iam::123456789012:role/service-role/x+y=z,a.b@c-d_e',
            TracingConfig={'Mode': 'Active'}))
        self.assertEqual(st, 201, raw[:300])
        self.assertEqual(doc['TracingConfig'], {'Mode': 'Active'})
        self.assertEqual(doc['Role'], 'arn:aws-us-gov:iam::123456789012:role/service-role/x+y=z,a.b@c-d_e')

    @unittest.skipUnless(lib.aws_cli(), 'the AWS CLI is not installed')
    def test_aws_cli_sees_lambdas_answers(self):
        name = lib.uniq('cli')
        zf = lib.make_zip(lib.echo_files())
        import os
        import tempfile
        fd, path = tempfile.mkstemp(suffix='.zip')
        os.write(fd, zf)
        os.close(fd)
        try:
            err = lib.run_aws(self, self.server.url, 'create-function', '--function-name', name,
                              '--runtime', 'provided', '--handler', 'x.handler', '--role', 'bogus-role',
                              '--zip-file', 'fileb://' + path, ok=False)
            self.assertIn('ValidationException', err)
            self.assertIn("at 'role'", err)
            err = lib.run_aws(self, self.server.url, 'create-function', '--function-name', name,
                              '--runtime', 'provided', '--handler', 'x.handler', '--role', lib.ROLE,
                              '--tracing-config', 'Mode=Sometimes', '--zip-file', 'fileb://' + path, ok=False)
            self.assertIn('tracingConfig.mode', err)
            out = lib.run_aws(self, self.server.url, 'create-function', '--function-name', name,
                              '--runtime', 'provided', '--handler', 'x.handler', '--role', lib.ROLE,
                              '--tracing-config', 'Mode=Active', '--zip-file', 'fileb://' + path)
            # (Debian's CLI, 2.9, predates LoggingConfig: that is tested over raw HTTP below.)
            self.assertEqual(out['TracingConfig'], {'Mode': 'Active'})
        finally:
            os.unlink(path)

    def test_logging_config_as_lambda_returns_it(self):
        name = lib.uniq('lc')
        st, _h, doc, raw = self.c.api('POST', '/2015-03-31/functions', create_body(name))
        self.assertEqual(st, 201, raw[:300])
        self.assertEqual(doc['LoggingConfig'], {'LogFormat': 'Text', 'LogGroup': '/aws/lambda/' + name})
        st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                     {'LoggingConfig': {'ApplicationLogLevel': 'WARN'}})
        self.assertEqual((st, lib.error_type(h)), (400, 'InvalidParameterValueException'), raw[:300])
        st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                     {'LoggingConfig': {'LogFormat': 'Yaml'}})
        self.assertEqual((st, lib.error_type(h)), (400, 'ValidationException'), raw[:300])
        st, _h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                      {'LoggingConfig': {'LogFormat': 'JSON', 'SystemLogLevel': 'WARN',
                                                         'LogGroup': '/custom/group'}})
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(doc['LoggingConfig'], {'LogFormat': 'JSON', 'ApplicationLogLevel': 'INFO',
                                                'SystemLogLevel': 'WARN', 'LogGroup': '/custom/group'})
        st, _h, doc, _r = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual(doc['LoggingConfig']['LogGroup'], '/custom/group')


class HttpFramingTest(abuse_lib.AbuseTestCase):

    def tearDown(self):
        if type(self).server is not None and type(self).server.alive():
            self.assertHealthy()
        super().tearDown()

    def test_gzip_chunked_is_501(self):
        name = lib.uniq('te')
        body = json.dumps(create_body(name)).encode()
        chunked = b'%x\r\n%s\r\n0\r\n\r\n' % (len(body), body)
        for te in (b'gzip, chunked', b'deflate,chunked', b'x-unknown, chunked'):
            raw = raw_exchange(self.server, b'POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n'
                               b'Content-Type: application/json\r\nTransfer-Encoding: ' + te + b'\r\n\r\n' + chunked)
            self.assertEqual(status_of(raw), 501, (te, raw[:200]))
        st, _h, _d, _r = self.c.api('GET', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 404, 'a body of an unknown coding was used')
        # Plain chunked still works.
        raw = raw_exchange(self.server, b'POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n'
                           b'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' + chunked)
        self.assertEqual(status_of(raw), 201, raw[:300])

    def test_absolute_form_takes_the_targets_host(self):
        # A function URL found by the target's host, whatever the Host header says.
        st, _h, url, raw = self.c.api('POST', '/2021-10-31/functions/%s/url' % self.echo, {'AuthType': 'NONE'})
        self.assertEqual(st, 201, raw[:300])
        host = url['FunctionUrl'].split('//', 1)[1].split('/', 1)[0]
        raw = raw_exchange(self.server, b'GET http://%s/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                           b'Connection: close\r\n\r\n' % host.encode())
        self.assertEqual(status_of(raw), 200, raw[:300])
        # The API by absolute form: the same answer as by origin form.
        raw = raw_exchange(self.server, b'GET http://127.0.0.1/2015-03-31/functions/%s HTTP/1.1\r\n'
                           b'Host: %s\r\nConnection: close\r\n\r\n' % (self.echo.encode(), host.encode()))
        self.assertEqual(status_of(raw), 200, raw[:300])
        # Other schemes, userinfo, an authority form: 400, never routed.
        for target in (b'ftp://127.0.0.1/2015-03-31/functions', b'http://u@127.0.0.1/2015-03-31/functions',
                       b'127.0.0.1:80', b'http:///2015-03-31/functions'):
            raw = raw_exchange(self.server, b'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % target)
            self.assertEqual(status_of(raw), 400, (target, raw[:200]))
