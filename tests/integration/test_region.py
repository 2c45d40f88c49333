"""Region and account as settings of `nimbus serve` (--region, --account-id), and
the runtime table a user extends (--runtime-map), against a real daemon:

- the AWS CLI, in the daemon's region (not the default one), sees that region and
  account in every ARN; a function named by an ARN of another account or region is
  refused as Lambda refuses it (403 AccessDeniedException; 404 "Functions from 'X'
  are not reachable in this region ('Y')"), never answered by a local function;
- the functions' environment says where they run (AWS_REGION, AWS_DEFAULT_REGION,
  the invoked ARN; FC's FC_REGION and x-fc-region / x-fc-account-id; SCF's
  TENCENTCLOUD_*), and so do destinations' invocation records;
- a runtime added through the configuration runs (an alias of a runtime this host
  has, and a runtime of the user's own in the runtime directory), and one the daemon
  lacks gets Lambda's answer listing what it has."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from nimbus_testlib import (PRELUDE, Server, ServerTestCase, aws_cli, error_type, fn_files, make_zip, nimbus_bin,
                            run_aws, uniq, wait_for)

REGION = 'eu-west-3'
ACCOUNT = '123456789012'
OTHER_ACCOUNT = '000000000000'      # the default: not this daemon's once --account-id is given
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

ENV_PY = '''import json, os
def handler(event, context):
    names = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV")
    return {"env": {k: os.environ.get(k) for k in names}, "arn": context.invoked_function_arn,
            "event": event}
'''

# A runtime of the user's own: Lambda's Runtime API in bash + curl, in the runtime dir.
SHELL_RUNTIME = '#!/bin/bash\n%s\n' % PRELUDE + r'''
while next; do
  respond "{\"runtime\":\"shellrt\",\"exec_env\":\"$AWS_EXECUTION_ENV\",\"handler\":\"$_HANDLER\",\"cwd\":\"$PWD\",\"event\":$EVENT}"
done
'''

SCF_ENV = r'''#!/bin/bash
API="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT/runtime"
T=$(mktemp -d)
curl -sS -o /dev/null -X POST -d ' ' "$API/init/ready"
while curl -sS -o "$T/ev" "$API/invocation/next"; do
  printf '{"region":"%s","appid":"%s","uin":"%s"}' "$TENCENTCLOUD_REGION" "$TENCENTCLOUD_APPID" \
    "$TENCENTCLOUD_UIN" > "$T/out"
  curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' --data-binary @"$T/out" \
    "$API/invocation/response"
done
'''

FC_SERVER = '''import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        doc = json.dumps({'FC_REGION': os.environ.get('FC_REGION'),
                          'headers': {k.lower(): v for k, v in self.headers.items()
                                      if k.lower() in ('x-fc-region', 'x-fc-account-id')}}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(doc)))
        self.send_header('x-fc-status', '200')
        self.end_headers()
        self.wfile.write(doc)
    def log_message(self, *a):
        pass
HTTPServer(('0.0.0.0', int(os.environ['FC_SERVER_PORT'])), H).serve_forever()
'''


def arn(name, region=REGION, account=ACCOUNT):
    return 'arn:aws:lambda:%s:%s:function:%s' % (region, account, name)


def make_runtime_dir():
    """Nimbus' runtimes plus one of the user's own, readable by the sandbox."""
    base = tempfile.mkdtemp(prefix='nimbus-it-rtdir-')
    os.chmod(base, 0o755)
    d = os.path.join(base, 'runtimes')
    shutil.copytree(os.path.join(REPO, 'runtimes'), d, ignore=shutil.ignore_patterns('__pycache__'))
    os.mkdir(os.path.join(d, 'shellrt'))
    with open(os.path.join(d, 'shellrt', 'bootstrap.sh'), 'w') as f:
        f.write(SHELL_RUNTIME)
    return base, d


class RegionBase(ServerTestCase):
    RUNTIME_BASE, RUNTIME_DIR = make_runtime_dir()
    server_args = ('--region', REGION, '--account-id', ACCOUNT, '--async-retry-scale', '0.001',
                   '--runtime-dir', RUNTIME_DIR,
                   '--runtime-map', 'python3.99=python3.11',
                   '--runtime-map', 'shellrt1.0=/bin/bash shellrt/bootstrap.sh')

    def aws(self, *args, ok=True, region=REGION):
        return run_aws(self, self.c.url, *args, ok=ok, region=region)

    def py(self, runtime='python3.11', name=None, **kw):
        return self.new_function(name or uniq('reg'), {'app.py': ENV_PY}, runtime=runtime, handler='app.handler',
                                 **kw)[0]

    def invoke_json(self, name, payload=b'{}'):
        h, body = self.invoke_ok(name, payload)
        return json.loads(body)

    def assert_refused(self, got, status, etype, contains):
        st, h, raw = got[0], got[1], got[-1]
        self.assertEqual(st, status, raw)
        self.assertEqual(error_type(h), etype, raw)
        self.assertIn(contains, json.loads(raw).get('Message') or json.loads(raw).get('message'), raw)


@unittest.skipUnless(aws_cli(), "Debian's awscli is not installed (scripts/deps.sh installs it)")
class AwsCliRegionTest(RegionBase):
    """The AWS CLI with --region eu-west-3 against a daemon of that region."""

    def test_every_arn_names_the_region_and_account(self):
        name = uniq('cli')
        out_dir = tempfile.mkdtemp(prefix='nimbus-it-aws-')
        try:
            zpath = os.path.join(out_dir, 'f.zip')
            with open(zpath, 'wb') as f:
                f.write(make_zip({'app.py': ENV_PY}))
            cfg = self.aws('create-function', '--function-name', name, '--runtime', 'python3.11',
                           '--handler', 'app.handler', '--role', 'arn:aws:iam::%s:role/r' % ACCOUNT,
                           '--zip-file', 'fileb://' + zpath)
            self.assertEqual(cfg['FunctionArn'], arn(name))
            got = self.aws('get-function', '--function-name', arn(name))
            self.assertEqual(got['Configuration']['FunctionArn'], arn(name))
            v = self.aws('publish-version', '--function-name', name)
            self.assertEqual(v['FunctionArn'], arn(name) + ':1')
            al = self.aws('create-alias', '--function-name', name, '--name', 'live', '--function-version', '1')
            self.assertEqual(al['AliasArn'], arn(name) + ':live')
            listed = [f['FunctionArn'] for f in self.aws('list-functions')['Functions']]
            self.assertIn(arn(name), listed)
            self.assertTrue(all(a.startswith('arn:aws:lambda:%s:%s:function:' % (REGION, ACCOUNT)) for a in listed),
                            listed)
            # Invoked by its ARN and alias: the function sees where it runs.
            out = os.path.join(out_dir, 'out.json')
            doc = self.aws('invoke', '--function-name', arn(name) + ':live', '--cli-binary-format',
                           'raw-in-base64-out', '--payload', '{"k":1}', out)
            self.assertEqual(doc['StatusCode'], 200)
            with open(out) as f:
                res = json.load(f)
            self.assertEqual(res['env']['AWS_REGION'], REGION)
            self.assertEqual(res['env']['AWS_DEFAULT_REGION'], REGION)
            self.assertEqual(res['arn'], arn(name) + ':live')
            self.assertEqual(res['event'], {'k': 1})
            # A function URL names the region in its domain, its function by ARN.
            u = self.aws('create-function-url-config', '--function-name', name, '--auth-type', 'NONE')
            self.assertEqual(u['FunctionArn'], arn(name))
            self.assertIn('.lambda-url.%s.' % REGION, u['FunctionUrl'])
            # A missing function's message names this region and account too.
            err = self.aws('get-function', '--function-name', 'ghost-' + name, ok=False)
            self.assertIn('ResourceNotFoundException', err)
            self.assertIn(arn('ghost-' + name), err)
        finally:
            shutil.rmtree(out_dir, True)

    def test_arn_of_another_account_is_refused(self):
        name = self.py()
        err = self.aws('get-function', '--function-name', arn(name, account=OTHER_ACCOUNT), ok=False)
        self.assertIn('AccessDeniedException', err)
        self.assertIn(ACCOUNT, err)
        err = self.aws('delete-function', '--function-name', arn(name, account=OTHER_ACCOUNT), ok=False)
        self.assertIn('AccessDeniedException', err)
        # Still there, untouched.
        self.assertEqual(self.aws('get-function', '--function-name', name)['Configuration']['FunctionArn'], arn(name))

    def test_arn_of_another_region_is_refused(self):
        name = self.py()
        err = self.aws('get-function-configuration', '--function-name', arn(name, region='us-east-1'), ok=False)
        self.assertIn('ResourceNotFoundException', err)
        self.assertIn("Functions from 'us-east-1' are not reachable in this region ('%s')" % REGION, err)

    def test_unknown_runtime_gets_the_list_of_this_daemons(self):
        d = tempfile.mkdtemp(prefix='nimbus-it-aws-')
        try:
            zpath = os.path.join(d, 'f.zip')
            with open(zpath, 'wb') as f:
                f.write(make_zip({'app.py': ENV_PY}))
            err = self.aws('create-function', '--function-name', uniq('rt'), '--runtime', 'java21', '--handler', 'h',
                           '--role', 'arn:aws:iam::%s:role/r' % ACCOUNT, '--zip-file', 'fileb://' + zpath, ok=False)
        finally:
            shutil.rmtree(d, True)
        self.assertIn('InvalidParameterValueException', err)
        self.assertIn("Value java21 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [",
                      err)
        for rt in ('provided.al2023', 'python3.11', 'python3.99', 'shellrt1.0'):
            self.assertIn(rt, err)


SDK_SCRIPT = r'''
import { LambdaClient, GetFunctionCommand, InvokeCommand } from '@aws-sdk/client-lambda';
const [endpoint, region, name, foreignAccount, foreignRegion] = process.argv.slice(1);
const c = new LambdaClient({ endpoint, region, maxAttempts: 1,
                             credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const out = {};
const fn = await c.send(new GetFunctionCommand({ FunctionName: name }));
out.arn = fn.Configuration.FunctionArn;
const inv = await c.send(new InvokeCommand({ FunctionName: fn.Configuration.FunctionArn, Payload: '{}' }));
out.result = JSON.parse(Buffer.from(inv.Payload).toString());
for (const [k, arn] of [['account', foreignAccount], ['region', foreignRegion]]) {
  try {
    await c.send(new GetFunctionCommand({ FunctionName: arn }));
    out[k] = 'answered';
  } catch (e) {
    out[k] = { name: e.name, status: e.$metadata.httpStatusCode, message: e.message };
  }
}
console.log(JSON.stringify(out));
'''
SDK_DIR = os.path.join(HERE, 'js')


@unittest.skipUnless(os.path.isdir(os.path.join(SDK_DIR, 'node_modules', '@aws-sdk', 'client-lambda')),
                     'the AWS SDK for JavaScript is not installed (scripts/deps.sh installs it)')
class SdkRegionTest(RegionBase):
    """The AWS SDK for JavaScript v3, configured for the daemon's region."""

    def test_sdk_sees_the_region_and_gets_lambdas_refusals(self):
        name = self.py()
        p = subprocess.run(['/usr/bin/node', '--input-type=module', '-e', SDK_SCRIPT, self.c.url, REGION, name,
                            arn(name, account=OTHER_ACCOUNT), arn(name, region='ap-south-1')],
                           cwd=SDK_DIR, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        out = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(out['arn'], arn(name))
        self.assertEqual(out['result']['env']['AWS_REGION'], REGION)
        self.assertEqual((out['account']['name'], out['account']['status']), ('AccessDeniedException', 403), out)
        self.assertEqual((out['region']['name'], out['region']['status']), ('ResourceNotFoundException', 404), out)
        self.assertEqual(out['region']['message'],
                         "Functions from 'ap-south-1' are not reachable in this region ('%s')" % REGION)


class RegionApiTest(RegionBase):
    """The same refusals on every path that names a function, over plain HTTP."""

    def test_invoke_by_arn_of_another_region_or_account_never_runs_a_local_function(self):
        name = self.py()
        path = '/2015-03-31/functions/%s/invocations'
        self.assert_refused(self.c.request('POST', path % arn(name, region='us-west-2'), b'{}'), 404,
                            'ResourceNotFoundException',
                            "Functions from 'us-west-2' are not reachable in this region ('%s')" % REGION)
        self.assert_refused(self.c.request('POST', path % arn(name, account=OTHER_ACCOUNT), b'{}'), 403,
                            'AccessDeniedException', OTHER_ACCOUNT)
        # The partial form "<account>:function:<name>" too.
        self.assert_refused(self.c.request('POST', path % ('%s:function:%s' % (OTHER_ACCOUNT, name)), b'{}'), 403,
                            'AccessDeniedException', OTHER_ACCOUNT)
        self.assert_refused(self.c.request('POST', '/2014-11-13/functions/%s/invoke-async' % arn(name, region='us-east-1'),
                                           b'{}'), 404, 'ResourceNotFoundException', 'not reachable in this region')
        # Nothing ran: no instance was ever started for it.
        st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/instances' % name)
        self.assertEqual(st, 200, raw)
        self.assertEqual(doc.get('Instances', []), [], raw)
        # This daemon's own ARN, and the partial form of its account, run it.
        self.assertEqual(self.invoke_json(arn(name))['arn'], arn(name))
        self.assertEqual(self.invoke_json('%s:function:%s' % (ACCOUNT, name))['env']['AWS_REGION'], REGION)

    def test_other_operations_refuse_too(self):
        name = self.py()
        foreign = arn(name, account=OTHER_ACCOUNT)
        for method, path, body in (('GET', '/2015-03-31/functions/%s/configuration', None),
                                   ('PUT', '/2015-03-31/functions/%s/configuration', {'Timeout': 9}),
                                   ('POST', '/2015-03-31/functions/%s/versions', {}),
                                   ('GET', '/2015-03-31/functions/%s/aliases', None),
                                   ('PUT', '/2017-10-31/functions/%s/concurrency', {'ReservedConcurrentExecutions': 1}),
                                   ('GET', '/2019-09-25/functions/%s/event-invoke-config', None)):
            st, h, doc, raw = self.c.api(method, path % foreign, body)
            self.assertEqual((st, error_type(h)), (403, 'AccessDeniedException'), '%s %s: %s' % (method, path, raw))
        st, h, doc, raw = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual((st, doc['Timeout']), (200, 3), raw)

    def test_destinations_of_another_region_or_account_are_refused(self):
        name, sink = self.py(), self.py()
        eic = '/2019-09-25/functions/%s/event-invoke-config' % name
        for bad in (arn(sink, region='us-east-1'), arn(sink, account=OTHER_ACCOUNT)):
            st, h, doc, raw = self.c.api('PUT', eic, {'DestinationConfig': {'OnSuccess': {'Destination': bad}}})
            self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), raw)
            st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                         {'DeadLetterConfig': {'TargetArn': bad}})
            self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), raw)
        st, h, doc, raw = self.c.api('PUT', eic, {'DestinationConfig': {'OnSuccess': {'Destination': arn(sink)}}})
        self.assertEqual(st, 200, raw)
        self.assertEqual(doc['FunctionArn'], arn(name) + ':$LATEST')

    def test_invocation_record_names_the_region_and_account(self):
        name, sink = self.py(), self.py()
        st, h, doc, raw = self.c.api('PUT', '/2019-09-25/functions/%s/event-invoke-config' % name,
                                     {'DestinationConfig': {'OnSuccess': {'Destination': arn(sink)}}})
        self.assertEqual(st, 200, raw)
        st, h, raw = self.c.request('POST', '/2015-03-31/functions/%s/invocations' % name, b'{"n":1}',
                                    {'X-Amz-Invocation-Type': 'Event'})
        self.assertEqual(st, 202, raw)

        def sink_events():
            st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events' % sink)
            return doc['Events'] if st == 200 and doc['Events'] else None
        self.assertTrue(wait_for(sink_events, timeout=30), 'the record never reached %s' % sink)
        rid = sink_events()[0]['RequestId']
        st, h, ev, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events/%s' % (sink, rid))
        record = json.loads(ev['Payload'])
        self.assertEqual(record['requestContext']['functionArn'], arn(name) + ':$LATEST')
        self.assertEqual(record['requestContext']['condition'], 'Success')
        self.assertEqual(ev['Origin'], 'destination:' + arn(name) + ':$LATEST')

    def test_eventbridge_timer_event_names_the_region_and_account(self):
        name = self.py()
        tpath = '/nimbus/v1/functions/%s/triggers' % name
        st, h, doc, raw = self.c.api('POST', tpath, {'Name': 'rule1', 'ScheduleExpression': '@every 1s',
                                                     'Format': 'eventbridge', 'Payload': '{"k":1}'})
        self.assertEqual(st, 201, raw)

        def fired():
            st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events' % name)
            return doc['Events'] if st == 200 and doc['Events'] else None
        self.assertTrue(wait_for(fired, timeout=20), 'the timer never fired')
        st, h, doc, raw = self.c.api('DELETE', tpath + '/rule1')
        self.assertEqual(st, 204, raw)
        st, h, ev, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events/%s' % (name, fired()[0]['RequestId']))
        event = json.loads(ev['Payload'])
        self.assertEqual((event['account'], event['region']), (ACCOUNT, REGION))
        self.assertEqual(event['resources'], ['arn:aws:events:%s:%s:rule/rule1' % (REGION, ACCOUNT)])

    def test_default_role_is_of_this_account(self):
        name = uniq('role')
        st, h, doc, raw = self.c.api('POST', '/2015-03-31/functions', {
            'FunctionName': name, 'Runtime': 'python3.11', 'Handler': 'app.handler',
            'Code': {'ZipFile': base64.b64encode(make_zip({'app.py': ENV_PY})).decode()}})
        self.assertEqual(st, 201, raw)
        self.assertEqual(doc['Role'], 'arn:aws:iam::%s:role/nimbus' % ACCOUNT)

    def test_fc_function_sees_region_and_account(self):
        boot = '#!/bin/sh\nexec /usr/bin/python3 server.py\n'
        name, _ = self.new_function(uniq('fcreg'), {'bootstrap': (boot, 0o755), 'server.py': FC_SERVER},
                                    runtime='provided.fc', handler='index.handler', extra={'HttpPort': 9000})
        doc = self.invoke_json(name)
        self.assertEqual(doc['FC_REGION'], REGION)
        self.assertEqual(doc['headers'], {'x-fc-region': REGION, 'x-fc-account-id': ACCOUNT})

    def test_scf_function_sees_region_and_account(self):
        name, _ = self.new_function(uniq('scfreg'), fn_files(SCF_ENV), runtime='provided.scf',
                                    handler='index.main_handler')
        self.assertEqual(self.invoke_json(name), {'region': REGION, 'appid': ACCOUNT, 'uin': ACCOUNT})


class RuntimeMapTest(RegionBase):
    """--runtime-map: runtimes added through the daemon's configuration."""

    def test_a_lambda_identifier_mapped_to_this_hosts_python_runs(self):
        name = self.py(runtime='python3.99')
        st, h, doc, raw = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual(doc['Runtime'], 'python3.99')
        res = self.invoke_json(name, b'{"x":"y"}')
        self.assertEqual(res['env']['AWS_EXECUTION_ENV'], 'AWS_Lambda_python3.99')
        self.assertEqual(res['event'], {'x': 'y'})
        # An existing function moves to it by UpdateFunctionConfiguration.
        other = self.py()
        st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % other, {'Runtime': 'python3.99'})
        self.assertEqual((st, doc['Runtime']), (200, 'python3.99'), raw)
        self.assertEqual(self.invoke_json(other)['env']['AWS_EXECUTION_ENV'], 'AWS_Lambda_python3.99')

    def test_a_runtime_of_the_users_own_runs(self):
        name, _ = self.new_function(uniq('own'), {'handler.txt': 'unused'}, runtime='shellrt1.0',
                                    handler='handler.txt')
        res = self.invoke_json(name, b'{"hello":"shell"}')
        self.assertEqual(res['runtime'], 'shellrt')
        self.assertEqual(res['exec_env'], 'AWS_Lambda_shellrt1.0')
        self.assertEqual(res['handler'], 'handler.txt')
        self.assertEqual(res['event'], {'hello': 'shell'})

    def test_retired_runtime_gets_lambdas_message_naming_the_newest_python(self):
        st, h, body, raw = self.c.create_function(uniq('old'), {'app.py': ENV_PY}, runtime='python3.8',
                                                  handler='app.handler')
        self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), raw)
        self.assertEqual(body.get('Message') or body.get('message'),
                         'The runtime parameter of python3.8 is no longer supported for creating or updating AWS '
                         'Lambda functions. We recommend you use the new runtime (python3.99) while creating or '
                         'updating functions.')

    def test_unknown_runtime_lists_the_table(self):
        st, h, body, raw = self.c.create_function(uniq('bad'), {'app.py': ENV_PY}, runtime='cobol85',
                                                  handler='app.handler')
        self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), raw)
        msg = body.get('Message') or body.get('message')
        self.assertTrue(msg.startswith("Value cobol85 at 'runtime' failed to satisfy constraint: Member must satisfy "
                                       "enum value set: [provided, "), msg)
        self.assertTrue(msg.endswith(', python3.99, shellrt1.0] or be a valid ARN'), msg)


class SettingsAtStartTest(unittest.TestCase):
    """Bad settings stop `nimbus serve` at once, naming the flag."""

    def serve_fails(self, *args):
        d = tempfile.mkdtemp(prefix='nimbus-it-')
        try:
            p = subprocess.run([nimbus_bin(), 'serve', '--data-dir', os.path.join(d, 'data'), '--listen',
                                '127.0.0.1:0', '--insecure-no-sandbox'] + list(args),
                               capture_output=True, text=True, timeout=30)
        finally:
            shutil.rmtree(d, True)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        return p.stderr

    def test_refused(self):
        self.assertIn("--region wants a region like us-east-1 or us-gov-west-1, got 'mars-1'",
                      self.serve_fails('--region', 'mars-1'))
        self.assertIn("--account-id wants an account id of 12 digits, got '42'",
                      self.serve_fails('--account-id', '42'))
        self.assertIn("--runtime-map ruby3.3=/no/ruby ruby.rb: ruby3.3: interpreter /no/ruby is not an executable",
                      self.serve_fails('--runtime-map', 'ruby3.3=/no/ruby ruby.rb'))
        self.assertIn('runtime python3 is in the table already', self.serve_fails('--runtime-map', 'python3=bash'))


class RegionChangeTest(unittest.TestCase):
    """A destination configured in one region is not delivered to once the daemon
    runs in another: the event is kept as a dead letter saying why."""

    def test_destination_kept_from_another_region(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-')
        data = os.path.join(base, 'data')
        os.mkdir(data)
        s = Server(('--region', 'us-west-2', '--async-retry-scale', '0.001'), data_dir=data, base_dir=base).start()
        try:
            c = s.client()
            code = {'app.py': ENV_PY}
            for n in ('src', 'dst'):
                st, h, b, raw = c.create_function(n, code, runtime='python3.11', handler='app.handler')
                self.assertEqual(st, 201, raw)
            st, h, doc, raw = c.api('PUT', '/2019-09-25/functions/src/event-invoke-config', {
                'DestinationConfig': {'OnSuccess': {'Destination': arn('dst', region='us-west-2',
                                                                       account=OTHER_ACCOUNT)}}})
            self.assertEqual(st, 200, raw)
            s.stop()
            s = Server(('--region', REGION, '--async-retry-scale', '0.001'), data_dir=data, base_dir=base).start()
            c = s.client()
            st, h, doc, raw = c.api('GET', '/2015-03-31/functions/src/configuration')
            self.assertEqual(st, 200, raw)
            self.assertEqual(doc['FunctionArn'], arn('src', account=OTHER_ACCOUNT))
            st, h, raw = c.request('POST', '/2015-03-31/functions/src/invocations', b'{}',
                                   {'X-Amz-Invocation-Type': 'Event'})
            self.assertEqual(st, 202, raw)
            rid = h['x-amzn-requestid']

            def done():
                st, h, ev, raw = c.api('GET', '/nimbus/v1/functions/src/events/%s' % rid)
                return ev if ev.get('State') in ('dead', 'succeeded') else None
            self.assertTrue(wait_for(done, timeout=30))
            ev = done()
            self.assertEqual(ev['State'], 'dead', ev)
            self.assertIn("Functions from 'us-west-2' are not reachable in this region ('%s')" % REGION,
                          json.dumps(ev))
        finally:
            s.stop()
            shutil.rmtree(base, True)


class RuntimeDroppedTest(unittest.TestCase):
    """A function whose runtime came from a --runtime-map entry the daemon no
    longer has fails its calls clearly; the daemon lives on."""

    def test_dropped_entry(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-')
        data = os.path.join(base, 'data')
        os.mkdir(data)
        s = Server(('--runtime-map', 'python3.99=python3.11'), data_dir=data, base_dir=base).start()
        try:
            c = s.client()
            st, h, b, raw = c.create_function('gone', {'app.py': ENV_PY}, runtime='python3.99', handler='app.handler')
            self.assertEqual(st, 201, raw)
            st, h, u, raw = c.api('POST', '/2021-10-31/functions/gone/url', {'AuthType': 'NONE'})
            self.assertEqual(st, 201, raw)
            url_path = '/nimbus/url/%s/' % u['FunctionUrl'].split('//')[1].split('.')[0]
            s.stop()
            s = Server((), data_dir=data, base_dir=base).start()
            c = s.client()
            st, h, raw = c.invoke('gone')
            # A function error, as Lambda reports a runtime that cannot start.
            self.assertEqual((st, h.get('x-amz-function-error')), (200, 'Unhandled'), raw)
            self.assertEqual(json.loads(raw)['errorType'], 'Runtime.InvalidEntrypoint', raw)
            self.assertIn(b'Runtime python3.99 is not supported', raw)
            st, h, raw = c.request('GET', url_path)
            self.assertGreaterEqual(st, 500, raw)
            self.assertTrue(s.alive(), s.describe_death() if not s.alive() else '')
            # Put back, it runs again.
            s.stop()
            s = Server(('--runtime-map', 'python3.99=python3.11'), data_dir=data, base_dir=base).start()
            h, body = s.client().invoke('gone')[1:]
            self.assertEqual(json.loads(body)['env']['AWS_EXECUTION_ENV'], 'AWS_Lambda_python3.99')
        finally:
            s.stop()
            shutil.rmtree(base, True)


def tearDownModule():
    shutil.rmtree(RegionBase.RUNTIME_BASE, True)


if __name__ == '__main__':
    unittest.main()
