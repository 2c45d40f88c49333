"""The control plane as Lambda's API reference gives it, driven with the real
AWS CLI (and the AWS SDK for JavaScript v3 where it is installed): the
provisioned-concurrency path and its list, UpdateFunctionCode's DryRun,
Publish on create and update, RevisionId preconditions, unknown and
unsupported operations, paging of aliases and of every version, a request
id on every answer, Invoke's Content-Type, and an init failure's log tail."""
import base64
import json
import os
import re
import subprocess
import tempfile
import unittest
import urllib.parse

from nimbus_testlib import (ServerTestCase, aws_cli, bootstrap, error_type, fn_files, function_arn, make_zip, run_aws,
                            sha256_b64, uniq)

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, 'js')
UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
PC = '/2019-09-30/functions/%s/provisioned-concurrency'
ANSWER = 'def handler(event, context):\n    return {"v": %r}\n'
STALE = ('The Revision Id provided does not match the latest Revision Id. '
         'Call the GetFunction/GetAlias API to retrieve the latest Revision Id')
INIT_FAIL = ('import sys\nprint("loading the module")\n'
             'def setup():\n    raise RuntimeError("init failed here")\nsetup()\n'
             'def handler(event, context):\n    return 1\n')
TEXT_BOOTSTRAP = bootstrap('''
while next; do
  printf 'plain words' > "$T/out"
  respond_file "$T/out" text/plain
done''')


def sdk():
    return os.path.isdir(os.path.join(JS, 'node_modules', '@aws-sdk', 'client-lambda'))


class ConformanceBase(ServerTestCase):
    server_args = ('--max-instances', '8')

    def py(self, text=ANSWER % 'one', name=None, **kw):
        return self.new_function(name or uniq('conf'), {'app.py': text}, runtime='python3.11',
                                 handler='app.handler', **kw)[0]

    def api(self, method, path, body=None):
        st, h, doc, raw = self.c.api(method, path, body)
        return st, h, doc

    def zip_file(self, text):
        d = tempfile.mkdtemp(prefix='nimbus-it-conf-')
        p = os.path.join(d, 'code.zip')
        data = make_zip({'app.py': text})
        with open(p, 'wb') as f:
            f.write(data)
        return p, data

    def aws(self, *args, ok=True):
        return run_aws(self, self.c.url, *args, ok=ok)

    def publish(self, name):
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/versions' % name, {})
        self.assertEqual(st, 201, doc)
        return doc['Version']


class RawConformanceTest(ConformanceBase):
    """What any client sees on the wire."""

    def test_provisioned_concurrency_is_served_under_the_documented_date_only(self):
        name = self.py()
        self.publish(name)
        st, h, doc = self.api('PUT', PC % name + '?Qualifier=1', {'ProvisionedConcurrentExecutions': 1})
        self.assertEqual(st, 202, doc)
        self.assertEqual(doc['RequestedProvisionedConcurrentExecutions'], 1)
        st, h, doc = self.api('GET', '/2019-12-02/functions/%s/provisioned-concurrency?Qualifier=1' % name)
        self.assertEqual((st, error_type(h)), (404, 'UnknownOperationException'))

    def test_list_provisioned_concurrency_configs_pages(self):
        name = self.py()
        for v in ('1', '2', '3'):
            if v != '1':
                self.c.update_code(name, {'app.py': ANSWER % v})
            self.assertEqual(self.publish(name), v)
            st, h, doc = self.api('PUT', PC % name + '?Qualifier=' + v, {'ProvisionedConcurrentExecutions': 1})
            self.assertEqual(st, 202, doc)
        st, h, doc = self.api('GET', PC % name + '?List=ALL&MaxItems=2')
        self.assertEqual(st, 200, doc)
        arns = [c['FunctionArn'] for c in doc['ProvisionedConcurrencyConfigs']]
        self.assertEqual([a.rsplit(':', 1)[1] for a in arns], ['1', '2'])
        self.assertIn('NextMarker', doc)
        for c in doc['ProvisionedConcurrencyConfigs']:
            self.assertEqual(c['RequestedProvisionedConcurrentExecutions'], 1)
            self.assertIn(c['Status'], ('IN_PROGRESS', 'READY'))
        st, h, doc2 = self.api('GET', PC % name + '?List=ALL&MaxItems=2&Marker=' + doc['NextMarker'])
        self.assertEqual([c['FunctionArn'].rsplit(':', 1)[1] for c in doc2['ProvisionedConcurrencyConfigs']], ['3'])
        self.assertNotIn('NextMarker', doc2)
        arn = urllib.parse.quote(function_arn(name), safe='')
        st, h, doc = self.api('GET', PC % arn + '?List=ALL')
        self.assertEqual(len(doc['ProvisionedConcurrencyConfigs']), 3, doc)
        st, h, doc = self.api('GET', PC % name + '?List=ALL&MaxItems=51')
        self.assertEqual(st, 400, doc)

    def test_update_code_dry_run_validates_and_changes_nothing(self):
        name = self.py(ANSWER % 'old')
        st, h, before = self.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        new = make_zip({'app.py': ANSWER % 'new'})
        st, h, doc = self.api('PUT', '/2015-03-31/functions/%s/code' % name,
                              {'ZipFile': base64.b64encode(new).decode(), 'DryRun': True})
        self.assertEqual(st, 200, doc)
        self.assertEqual(doc['CodeSha256'], sha256_b64(new), 'the code it would run')
        self.assertEqual(doc['RevisionId'], before['RevisionId'], 'nothing changed')
        st, h, after = self.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual((after['CodeSha256'], after['RevisionId']), (before['CodeSha256'], before['RevisionId']))
        st, h, raw = self.c.invoke(name)
        self.assertEqual(json.loads(raw), {'v': 'old'})
        st, h, doc = self.api('PUT', '/2015-03-31/functions/%s/code' % name,
                              {'ZipFile': base64.b64encode(b'not a zip').decode(), 'DryRun': True})
        self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), doc)

    def test_publish_on_create_and_update_code(self):
        name = uniq('conf-pub')
        st, h, doc, raw = self.c.create_function(name, {'app.py': ANSWER % 'one'}, runtime='python3.11',
                                                 handler='app.handler', extra={'Publish': True})
        self.assertEqual(st, 201, raw)
        self.assertEqual(doc['Version'], '1')
        self.assertTrue(doc['FunctionArn'].endswith(':%s:1' % name), doc['FunctionArn'])
        st, h, doc = self.api('PUT', '/2015-03-31/functions/%s/code' % name,
                              {'ZipFile': base64.b64encode(make_zip({'app.py': ANSWER % 'two'})).decode(),
                               'Publish': True})
        self.assertEqual((st, doc['Version']), (200, '2'), doc)
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s/versions' % name)
        self.assertEqual([v['Version'] for v in doc['Versions']], ['$LATEST', '1', '2'])
        st, h, raw = self.c.request('POST', '/2015-03-31/functions/%s/invocations?Qualifier=1' % name, b'{}')
        self.assertEqual(json.loads(raw), {'v': 'one'})
        st, h, raw = self.c.request('POST', '/2015-03-31/functions/%s/invocations?Qualifier=2' % name, b'{}')
        self.assertEqual(json.loads(raw), {'v': 'two'})

    def test_stale_revision_id_is_a_precondition_failure(self):
        name = self.py()
        st, h, cfg = self.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        stale = cfg['RevisionId']
        st, h, cfg = self.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                              {'Description': 'a', 'RevisionId': stale})
        self.assertEqual(st, 200, cfg)
        checks = [
            ('PUT', '/2015-03-31/functions/%s/configuration' % name, {'Description': 'b', 'RevisionId': stale}),
            ('PUT', '/2015-03-31/functions/%s/code' % name,
             {'ZipFile': base64.b64encode(make_zip({'app.py': ANSWER % 'x'})).decode(), 'RevisionId': stale}),
            ('POST', '/2015-03-31/functions/%s/versions' % name, {'RevisionId': stale}),
        ]
        for method, path, body in checks:
            with self.subTest(path=path):
                st, h, doc = self.api(method, path, body)
                self.assertEqual((st, error_type(h)), (412, 'PreconditionFailedException'), doc)
                self.assertEqual(doc['message'], STALE)
        st, h, now = self.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual((now['Description'], now['RevisionId']), ('a', cfg['RevisionId']), 'nothing changed')
        st, h, v = self.api('POST', '/2015-03-31/functions/%s/versions' % name, {'RevisionId': now['RevisionId']})
        self.assertEqual(st, 201, v)
        st, h, alias = self.api('POST', '/2015-03-31/functions/%s/aliases' % name, {'Name': 'live', 'FunctionVersion': '1'})
        self.assertEqual(st, 201, alias)
        st, h, doc = self.api('PUT', '/2015-03-31/functions/%s/aliases/live' % name,
                              {'Description': 'x', 'RevisionId': '00000000-0000-0000-0000-000000000000'})
        self.assertEqual((st, error_type(h)), (412, 'PreconditionFailedException'), doc)
        st, h, doc = self.api('PUT', '/2015-03-31/functions/%s/aliases/live' % name,
                              {'Description': 'x', 'RevisionId': alias['RevisionId']})
        self.assertEqual((st, doc['Description']), (200, 'x'), doc)

    def test_unknown_operation_is_told_apart_from_a_missing_function(self):
        name = self.py()
        for fn in (name, uniq('missing')):
            for method, path in (('GET', '/2015-03-31/functions/%s/nonsense' % fn),
                                 ('PATCH', '/2015-03-31/functions/%s' % fn),
                                 ('POST', '/2015-03-31/functions/%s/code' % fn),
                                 ('GET', '/2019-09-30/functions/%s/nothing-here' % fn)):
                with self.subTest(method=method, path=path):
                    st, h, raw = self.c.request(method, path)
                    self.assertEqual((st, error_type(h)), (404, 'UnknownOperationException'), raw)
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s' % uniq('missing'))
        self.assertEqual((st, error_type(h)), (404, 'ResourceNotFoundException'))

    def test_list_aliases_pages_and_filters(self):
        name = self.py()
        self.publish(name)
        for a, v in (('a1', '1'), ('a2', '$LATEST'), ('a3', '1')):
            st, h, doc = self.api('POST', '/2015-03-31/functions/%s/aliases' % name, {'Name': a, 'FunctionVersion': v})
            self.assertEqual(st, 201, doc)
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s/aliases?MaxItems=2' % name)
        self.assertEqual([a['Name'] for a in doc['Aliases']], ['a1', 'a2'])
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s/aliases?MaxItems=2&Marker=%s' % (name, doc['NextMarker']))
        self.assertEqual([a['Name'] for a in doc['Aliases']], ['a3'])
        self.assertNotIn('NextMarker', doc)
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s/aliases?FunctionVersion=1' % name)
        self.assertEqual([a['Name'] for a in doc['Aliases']], ['a1', 'a3'])

    def test_list_functions_every_version_pages(self):
        names = sorted(self.py(name=uniq('conf-all')) for _ in range(2))
        for n in names:
            self.publish(n)
        seen, marker = [], None
        while True:
            q = '?FunctionVersion=ALL&MaxItems=1' + ('&Marker=' + marker if marker else '')
            st, h, doc = self.api('GET', '/2015-03-31/functions' + q)
            self.assertEqual(st, 200, doc)
            self.assertLessEqual(len(doc['Functions']), 1)
            seen += [(f['FunctionName'], f['Version']) for f in doc['Functions']]
            marker = doc.get('NextMarker')
            if not marker:
                break
        for n in names:
            self.assertEqual([v for f, v in seen if f == n], ['$LATEST', '1'])
        st, h, doc = self.api('GET', '/2015-03-31/functions')
        self.assertTrue(all(f['Version'] == '$LATEST' for f in doc['Functions']))
        st, h, doc = self.api('GET', '/2015-03-31/functions?FunctionVersion=SOME')
        self.assertEqual(st, 400, doc)

    def test_every_answer_carries_a_request_id(self):
        name = self.py()
        self.publish(name)
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/aliases' % name, {'Name': 'gone', 'FunctionVersion': '1'})
        for method, path, want in (('GET', '/2015-03-31/functions/%s' % name, 200),
                                   ('GET', '/2015-03-31/functions', 200),
                                   ('GET', '/2015-03-31/functions/%s/versions' % name, 200),
                                   ('GET', '/2015-03-31/functions/%s/aliases/gone' % name, 200),
                                   ('DELETE', '/2015-03-31/functions/%s/aliases/gone' % name, 204),
                                   ('GET', '/2019-09-30/functions/%s/concurrency' % name, 200)):
            with self.subTest(path=path):
                st, h, raw = self.c.request(method, path)
                self.assertEqual(st, want, raw)
                self.assertRegex(h.get('x-amzn-requestid', ''), UUID)

    def test_invoke_answers_application_json_whatever_the_runtime_posted(self):
        name, _ = self.new_function(uniq('conf-ct'), fn_files(TEXT_BOOTSTRAP))
        st, h, raw = self.c.invoke(name)
        self.assertEqual((st, raw), (200, b'plain words'))
        self.assertEqual(h.get('content-type'), 'application/json')

    def test_init_failure_log_tail_has_the_traceback(self):
        name = self.py(INIT_FAIL)
        st, h, raw = self.c.invoke(name, headers={'X-Amz-Log-Type': 'Tail'})
        self.assertEqual((st, h.get('x-amz-function-error')), (200, 'Unhandled'), raw)
        log = base64.b64decode(h['x-amz-log-result']).decode()
        self.assertIn('init failed here', log)
        self.assertIn('Traceback', log)
        self.assertIn('loading the module', log)

    def test_unsupported_operations_are_named(self):
        name = self.py()
        for method, path, op in (('GET', '/2015-03-31/event-source-mappings/', 'ListEventSourceMappings'),
                                 ('POST', '/2015-03-31/event-source-mappings/', 'CreateEventSourceMapping'),
                                 ('GET', '/2020-06-30/functions/%s/code-signing-config' % name,
                                  'GetFunctionCodeSigningConfig'),
                                 ('GET', '/2020-04-22/code-signing-configs/', 'ListCodeSigningConfigs'),
                                 ('PUT', '/2021-07-20/functions/%s/runtime-management-config' % name,
                                  'PutRuntimeManagementConfig')):
            with self.subTest(op=op):
                st, h, doc = self.api(method, path, {})
                self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), doc)
                self.assertEqual(doc['message'], '%s is not supported by Nimbus' % op)


@unittest.skipUnless(aws_cli(), "Debian's awscli is not installed (scripts/deps.sh installs it)")
class AwsCliConformanceTest(ConformanceBase):
    """The same through the AWS CLI: its paths, its parsing, its paginators."""

    def test_provisioned_concurrency_round_trip(self):
        name = self.py()
        self.publish(name)
        self.publish_alias = self.aws('create-alias', '--function-name', name, '--name', 'live',
                                      '--function-version', '1')
        doc = self.aws('put-provisioned-concurrency-config', '--function-name', name, '--qualifier', '1',
                       '--provisioned-concurrent-executions', '1')
        self.assertEqual(doc['RequestedProvisionedConcurrentExecutions'], 1)
        doc = self.aws('get-provisioned-concurrency-config', '--function-name', name, '--qualifier', '1')
        self.assertIn(doc['Status'], ('IN_PROGRESS', 'READY'))
        doc = self.aws('list-provisioned-concurrency-configs', '--function-name', name, '--page-size', '1')
        self.assertEqual([c['FunctionArn'].rsplit(':', 1)[1] for c in doc['ProvisionedConcurrencyConfigs']], ['1'])
        self.aws('delete-provisioned-concurrency-config', '--function-name', name, '--qualifier', '1')
        err = self.aws('get-provisioned-concurrency-config', '--function-name', name, '--qualifier', '1', ok=False)
        self.assertIn('ProvisionedConcurrencyConfigNotFoundException', err)

    def test_dry_run_publish_and_revision_id(self):
        path, data = self.zip_file(ANSWER % 'one')
        name = uniq('conf-cli')
        doc = self.aws('create-function', '--function-name', name, '--runtime', 'python3.11', '--handler',
                       'app.handler', '--role', 'arn:aws:iam::123456789012:role/x', '--zip-file', 'fileb://' + path,
                       '--publish')
        self.assertEqual(doc['Version'], '1')
        path2, data2 = self.zip_file(ANSWER % 'two')
        doc = self.aws('update-function-code', '--function-name', name, '--zip-file', 'fileb://' + path2, '--dry-run')
        self.assertEqual(doc['CodeSha256'], sha256_b64(data2))
        cfg = self.aws('get-function-configuration', '--function-name', name)
        self.assertEqual(cfg['CodeSha256'], sha256_b64(data))
        err = self.aws('update-function-code', '--function-name', name, '--zip-file', 'fileb://' + path2,
                       '--revision-id', '00000000-0000-0000-0000-000000000000', ok=False)
        self.assertIn('PreconditionFailedException', err)
        doc = self.aws('update-function-code', '--function-name', name, '--zip-file', 'fileb://' + path2,
                       '--revision-id', cfg['RevisionId'], '--publish')
        self.assertEqual(doc['Version'], '2')
        versions = self.aws('list-versions-by-function', '--function-name', name)
        self.assertEqual([v['Version'] for v in versions['Versions']], ['$LATEST', '1', '2'])
        everything = self.aws('list-functions', '--function-version', 'ALL', '--page-size', '1')
        self.assertEqual(sorted(f['Version'] for f in everything['Functions'] if f['FunctionName'] == name),
                         ['$LATEST', '1', '2'])

    def test_aliases_paginate(self):
        name = self.py()
        for a in ('x1', 'x2', 'x3'):
            self.aws('create-alias', '--function-name', name, '--name', a, '--function-version', '$LATEST')
        doc = self.aws('list-aliases', '--function-name', name, '--page-size', '1')
        self.assertEqual([a['Name'] for a in doc['Aliases']], ['x1', 'x2', 'x3'])
        doc = self.aws('list-aliases', '--function-name', name, '--max-items', '2')
        self.assertEqual([a['Name'] for a in doc['Aliases']], ['x1', 'x2'])

    def test_unsupported_operation_error(self):
        err = self.aws('list-event-source-mappings', ok=False)
        self.assertIn('InvalidParameterValueException', err)
        self.assertIn('ListEventSourceMappings is not supported by Nimbus', err)

    def test_invoke_log_tail_of_an_init_failure(self):
        name = self.py(INIT_FAIL)
        out = os.path.join(tempfile.mkdtemp(prefix='nimbus-it-conf-'), 'out.json')
        doc = self.aws('invoke', '--function-name', name, '--log-type', 'Tail', out)
        self.assertEqual(doc['FunctionError'], 'Unhandled')
        self.assertIn('init failed here', base64.b64decode(doc['LogResult']).decode())


@unittest.skipUnless(sdk(), 'the AWS SDK for JavaScript v3 is not installed in tests/integration/js')
class JsSdkConformanceTest(ConformanceBase):
    """The AWS SDK for JavaScript v3 parses every answer itself (js/conf_control.js)."""

    def test_sdk_round_trip(self):
        name = self.py()
        p = subprocess.run(['/usr/bin/node', os.path.join(JS, 'conf_control.js'), self.c.url, name],
                           capture_output=True, text=True, timeout=180, cwd=JS)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        got = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(got['publishedOnUpdate'], '2')
        self.assertEqual(got['dryRunSha'], got['wouldBeSha'])
        self.assertNotEqual(got['dryRunSha'], got['currentSha'])
        self.assertEqual(got['stale'], ['PreconditionFailedException', 412])
        self.assertEqual(got['aliases'], ['p1', 'p2', 'p3'])
        self.assertEqual(got['provisioned'], ['1'])
        self.assertEqual(got['allVersions'], ['$LATEST', '1', '2'])
        self.assertEqual(got['unsupported'][0], 'InvalidParameterValueException')
        self.assertIn('ListEventSourceMappings is not supported by Nimbus', got['unsupported'][1])
        self.assertTrue(all(UUID.match(r) for r in got['requestIds']), got['requestIds'])


if __name__ == '__main__':
    unittest.main()
