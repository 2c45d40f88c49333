"""`nimbus deploy` with no NAME: a project file (AWS SAM's template.yaml, Serverless Devs'
s.yaml for FC) deployed as a user of `sam deploy` or `s deploy` would, then updated in only
what changed. Field names are those of the SAM template reference and FC 3.0's s.yaml."""

import json
import os
import shutil
import subprocess
import tempfile
import time

from nimbus_testlib import ServerTestCase, nimbus_bin, uniq

APP = 'def handler(event, context):\n    return {"v": "%s", "env": __import__("os").environ.get("KEY", "")}\n'

URL_APP = ('def handler(event, context):\n'
           '    return {"statusCode": 200, "body": "url " + event["rawPath"]}\n')

LAYER_MOD = 'WORD = "from-layer"\n'
LAYER_APP = ('import shared\n'
             'def handler(event, context):\n    return shared.WORD\n')

# Seed 001's server: FC's custom runtime, started by customRuntimeConfig's command and args.
SERVER = r'''
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer


class H(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def answer(self):
        n = int(self.headers.get('Content-Length') or 0)
        self.rfile.read(n) if n else b''
        data = json.dumps({'path': self.path, 'mode': os.environ.get('MODE', '')}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = answer

    def log_message(self, *a):
        pass


HTTPServer(('0.0.0.0', int(os.environ.get('FC_SERVER_PORT', '9000'))), H).serve_forever()
'''


def curl(url):
    p = subprocess.run(['curl', '-sS', '--max-time', '30', '-w', '\n%{http_code}', url], capture_output=True,
                       timeout=60)
    body, _, code = p.stdout.rpartition(b'\n')
    return int(code or 0), body


class ProjectTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix='nimbus-it-proj-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, rel, text, mode=0o644):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, mode)

    def deploy(self, *extra, ok=True):
        p = subprocess.run([nimbus_bin(), 'deploy'] + list(extra) +
                           ['--endpoint', self.c.url], cwd=self.dir, capture_output=True, timeout=120)
        if ok:
            self.assertEqual(p.returncode, 0, p.stderr.decode())
        return p

    def lines(self, p):
        return {l.split(' ')[2]: l for l in p.stdout.decode().splitlines() if l.split(' ')[1] == 'function'}

    def cfg(self, name):
        st, h, body, raw = self.c.api('GET', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 200, raw)
        return body

    def invoke(self, name, qualifier=None):
        st, h, body = self.c.invoke(name + (':' + qualifier if qualifier else ''), b'{}')
        self.assertEqual(st, 200, body)
        return json.loads(body)

    # ------------------------------------------------------------------ SAM

    def sam(self, a, b, mem_b=128, extra_b=''):
        return ('AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
                'Globals:\n  Function:\n    Runtime: python3.11\n    Handler: app.handler\n    Timeout: 7\n'
                '    Environment:\n      Variables: {KEY: global}\n'
                'Resources:\n'
                '  First:\n    Type: AWS::Serverless::Function\n    Properties:\n'
                '      FunctionName: %s\n      CodeUri: one/\n'
                '  Second:\n    Type: AWS::Serverless::Function\n    Properties:\n'
                '      FunctionName: %s\n      CodeUri: two/\n      MemorySize: %d\n%s') % (a, b, mem_b, extra_b)

    def test_sam_two_functions_deploy_then_only_what_changed(self):
        a, b = uniq('samA'), uniq('samB')
        self.write('one/app.py', APP % 'one-v1')
        self.write('two/app.py', APP % 'two-v1')
        self.write('template.yaml', self.sam(a, b))
        p = self.deploy()
        got = self.lines(p)
        self.assertTrue(got[a].startswith('created'), got)
        self.assertTrue(got[b].startswith('created'), got)
        self.assertEqual(self.invoke(a), {'v': 'one-v1', 'env': 'global'})
        self.assertEqual(self.cfg(b)['Configuration']['Timeout'], 7)      # from Globals
        # Again, nothing changed: both unchanged, same code.
        sha = self.cfg(a)['Configuration']['CodeSha256']
        got = self.lines(self.deploy())
        self.assertTrue(got[a].startswith('unchanged'), got)
        self.assertTrue(got[b].startswith('unchanged'), got)
        # One function's code: only it is redeployed.
        self.write('one/app.py', APP % 'one-v2')
        got = self.lines(self.deploy())
        self.assertEqual(got[a], 'updated function %s (code)' % a)
        self.assertTrue(got[b].startswith('unchanged'), got)
        self.assertNotEqual(self.cfg(a)['Configuration']['CodeSha256'], sha)
        self.assertEqual(self.invoke(a)['v'], 'one-v2')
        # One setting: only that.
        self.write('template.yaml', self.sam(a, b, mem_b=256))
        got = self.lines(self.deploy())
        self.assertEqual(got[b], 'updated function %s (MemorySize)' % b)
        self.assertTrue(got[a].startswith('unchanged'), got)
        self.assertEqual(self.cfg(b)['Configuration']['MemorySize'], 256)
        # --output json parses, one entry per function.
        p = self.deploy('-o', 'json')
        doc = json.loads(p.stdout)
        self.assertEqual(sorted(r['Action'] for r in doc if r['Resource'] == 'function'), ['unchanged', 'unchanged'])

    def test_sam_alias_provisioned_url_schedule_and_layer(self):
        fn, web, lname = uniq('samAl'), uniq('samUrl'), uniq('samLayer')
        self.write('src/app.py', LAYER_APP)
        self.write('web/app.py', URL_APP)
        self.write('layer/python/shared.py', LAYER_MOD)
        tmpl = ('Transform: AWS::Serverless-2016-10-31\nResources:\n'
                '  Shared:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n'
                '      LayerName: %s\n      ContentUri: layer/\n      CompatibleRuntimes: [python3.11]\n'
                '  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: %s\n'
                '      CodeUri: src/\n      Handler: app.handler\n      Runtime: python3.11\n'
                '      Layers: [!Ref Shared]\n      AutoPublishAlias: live\n'
                '      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}\n'
                '      ReservedConcurrentExecutions: 3\n'
                '      Events:\n        Tick:\n          Type: Schedule\n'
                '          Properties: {Schedule: rate(1 minute), Input: \'{"k": 1}\'}\n'
                '  Web:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: %s\n'
                '      CodeUri: web/\n      Handler: app.handler\n      Runtime: python3.11\n'
                '      FunctionUrlConfig: {AuthType: NONE}\n') % (lname, fn, web)
        self.write('template.yaml', tmpl)
        p = self.deploy()
        out = p.stdout.decode()
        self.assertIn('published layer arn:aws:lambda:', out)
        self.assertEqual(self.invoke(fn), 'from-layer')
        self.assertEqual(self.invoke(fn, 'live'), 'from-layer')
        st, h, alias, raw = self.c.api('GET', '/2015-03-31/functions/%s/aliases/live' % fn)
        self.assertEqual(st, 200, raw)
        self.assertEqual(alias['FunctionVersion'], '1')
        st, h, pc, raw = self.c.api('GET', '/2019-09-30/functions/%s/provisioned-concurrency?Qualifier=live' % fn)
        self.assertEqual((st, pc.get('RequestedProvisionedConcurrentExecutions')), (200, 1), raw)
        self.assertEqual(self.cfg(fn)['Concurrency']['ReservedConcurrentExecutions'], 3)
        st, h, tr, raw = self.c.api('GET', '/nimbus/v1/functions/%s/triggers' % fn)
        self.assertEqual(st, 200, raw)
        [t] = tr['Triggers']
        self.assertEqual((t['Name'], t['ScheduleExpression'], t['Format'], t['Qualifier']),
                         ('Tick', 'rate(1 minute)', 'eventbridge', 'live'))
        url = [l.split(' url ')[1] for l in out.splitlines() if ' url ' in l][0]
        self.assertEqual(curl(url + 'hello'), (200, b'url /hello'))
        # Again: the layer is not published twice, no new version, the trigger and URL stay.
        p = self.deploy()
        out = p.stdout.decode()
        self.assertIn('unchanged layer', out)
        self.assertIn('unchanged function %s' % fn, out)
        st, h, vers, raw = self.c.api('GET', '/2015-03-31/functions/%s/versions' % fn)
        self.assertEqual([v['Version'] for v in vers['Versions']], ['$LATEST', '1'])
        # A code change publishes version 2 and moves the alias; removing the event removes the trigger.
        self.write('src/app.py', LAYER_APP.replace('shared.WORD', 'shared.WORD + "-2"'))
        self.write('template.yaml', tmpl.replace('      Events:\n        Tick:\n          Type: Schedule\n'
                                                 '          Properties: {Schedule: rate(1 minute), '
                                                 'Input: \'{"k": 1}\'}\n', ''))
        got = self.lines(self.deploy())
        # Provisioned concurrency belongs to a version here: the alias's new version gets it again.
        self.assertEqual(got[fn], 'updated function %s (code, alias live -> 2, ProvisionedConcurrencyConfig, '
                                  'trigger Tick removed)' % fn)
        self.assertEqual(self.invoke(fn, 'live'), 'from-layer-2')
        st, h, pc, raw = self.c.api('GET', '/2019-09-30/functions/%s/provisioned-concurrency?Qualifier=live' % fn)
        self.assertEqual((st, pc.get('RequestedProvisionedConcurrentExecutions')), (200, 1), raw)
        st, h, tr, raw = self.c.api('GET', '/nimbus/v1/functions/%s/triggers' % fn)
        self.assertEqual(tr['Triggers'], [])

    def test_unsupported_properties_warn_one_line_each(self):
        fn = uniq('samWarn')
        self.write('src/app.py', APP % 'w')
        self.write('template.yaml',
                   'Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n'
                   '    Properties:\n      FunctionName: %s\n      CodeUri: src\n      Handler: app.handler\n'
                   '      Runtime: python3.11\n      Policies: [AWSLambdaBasicExecutionRole]\n'
                   '      VpcConfig: {SubnetIds: [a]}\n      Events:\n        Q:\n          Type: SQS\n'
                   '          Properties: {Queue: arn}\n'
                   '  Table:\n    Type: AWS::DynamoDB::Table\n' % fn)
        p = self.deploy()
        err = p.stderr.decode().splitlines()
        self.assertIn('nimbus deploy: warning: Fn.Policies: not supported by Nimbus, ignored', err)
        self.assertIn('nimbus deploy: warning: Fn.VpcConfig: not supported by Nimbus, ignored', err)
        self.assertTrue(any(l.startswith('nimbus deploy: warning: Fn.Events.Q: ') for l in err), err)
        self.assertTrue(any(l.startswith('nimbus deploy: warning: Table: ') for l in err), err)
        self.assertEqual(len(err), 4, err)
        self.assertEqual(self.invoke(fn)['v'], 'w')

    def test_bad_templates_fail_cleanly_before_deploying(self):
        fn = uniq('samBad')
        self.write('src/app.py', APP % 'x')
        self.write('template.yaml', 'Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n'
                                    '    Properties: {FunctionName: %s, CodeUri: src, Handler: a.b\n' % fn)
        p = self.deploy(ok=False)
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode()
        self.assertRegex(err, r'^nimbus deploy: template.yaml: line \d+: ')
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertEqual(p.stdout, b'')
        self.write('other.yaml', 'Transform: AWS::Serverless-2016-10-31\nResources:\n'
                                 '  Ok:\n    Type: AWS::Serverless::Function\n'
                                 '    Properties: {FunctionName: %s, CodeUri: src, Handler: a.b, Runtime: python3.11}\n'
                                 '  Fn:\n    Type: AWS::Serverless::Function\n'
                                 '    Properties: {Handler: a.b, Runtime: python3.11}\n' % fn)
        p = self.deploy('-t', 'other.yaml', ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.decode(), 'nimbus deploy: other.yaml: Fn.CodeUri: missing (a directory or a .zip)\n')
        st, h, body, raw = self.c.api('GET', '/2015-03-31/functions/%s' % fn)
        self.assertEqual(st, 404)          # nothing was deployed, not even the good one
        os.remove(os.path.join(self.dir, 'template.yaml'))
        p = self.deploy(ok=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn('no template.yaml', p.stderr.decode())

    # ------------------------------------------------------------------ s.yaml

    def s_yaml(self, a, b, mode='one', mem=128):
        return ('edition: 3.0.0\nname: demo\naccess: default\n'
                'vars:\n  region: cn-hangzhou\n  mode: %s\n'
                'resources:\n'
                '  web:\n    component: fc3\n    props:\n      region: ${vars.region}\n'
                '      functionName: %s\n      runtime: custom.debian10\n      code: ./web\n'
                '      memorySize: %d\n      timeout: 10\n      instanceConcurrency: 2\n'
                '      environmentVariables:\n        MODE: ${vars.mode}\n'
                '      customRuntimeConfig:\n        command: ["python3"]\n        args: ["server.py"]\n'
                '        port: 9000\n'
                '      triggers:\n        - triggerName: httpTrigger\n          triggerType: http\n'
                '          triggerConfig: {authType: anonymous}\n'
                '  tick:\n    component: fc3\n    props:\n      functionName: %s\n      runtime: python3.10\n'
                '      code: ./tick\n      handler: index.handler\n'
                '      triggers:\n        - triggerName: every2s\n          triggerType: timer\n'
                '          triggerConfig: {cronExpression: "*/2 * * * * *", payload: "hi", enable: true}\n'
                ) % (mode, a, mem, b)

    def test_s_yaml_custom_runtime_url_timer_and_updates(self):
        a, b = uniq('fcWeb'), uniq('fcTick')
        self.write('web/server.py', SERVER)
        self.write('tick/index.py', 'def handler(event, context):\n    print("tick", event)\n    return "ok"\n')
        self.write('s.yaml', self.s_yaml(a, b))
        p = self.deploy()
        self.assertIn('nimbus deploy: warning: web.region: not supported by Nimbus, ignored', p.stderr.decode())
        got = self.lines(p)
        self.assertTrue(got[a].startswith('created'), got)
        cfg = self.cfg(a)['Configuration']
        self.assertEqual((cfg['Runtime'], cfg['InstanceConcurrency'], cfg['MemorySize']), ('provided.fc', 2, 128))
        url = got[a].split(' url ')[1]
        st, body = curl(url + 'ping')
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {'path': '/ping', 'mode': 'one'})
        # The FC 6-field cron fires every two seconds.
        deadline = time.time() + 20
        fires = 0
        while time.time() < deadline and fires < 2:
            st, h, tr, raw = self.c.api('GET', '/nimbus/v1/functions/%s/triggers' % b)
            fires = tr['Triggers'][0]['Fires']
            time.sleep(1)
        self.assertGreaterEqual(fires, 2)
        self.assertEqual(tr['Triggers'][0]['Format'], 'fc')
        # Unchanged, then a setting of one function only, then its code only.
        got = self.lines(self.deploy())
        self.assertTrue(got[a].startswith('unchanged') and got[b].startswith('unchanged'), got)
        self.write('s.yaml', self.s_yaml(a, b, mode='two'))
        got = self.lines(self.deploy())
        self.assertTrue(got[a].startswith('updated function %s (Environment)' % a), got)
        self.assertTrue(got[b].startswith('unchanged'), got)
        st, body = curl(url + 'x')
        self.assertEqual(json.loads(body)['mode'], 'two')
        self.write('tick/index.py', 'def handler(event, context):\n    return "ok2"\n')
        got = self.lines(self.deploy())
        self.assertEqual(got[b], 'updated function %s (code)' % b)
        self.assertTrue(got[a].startswith('unchanged'), got)

    def test_schedule_v2_changes_in_place_or_by_replacing(self):
        fn = uniq('samV2')
        self.write('src/app.py', APP % 'v2')

        def tmpl(expr, state):
            return ('Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n    Type: AWS::Serverless::Function\n'
                    '    Properties:\n      FunctionName: %s\n      CodeUri: src\n      Handler: app.handler\n'
                    '      Runtime: python3.11\n      Events:\n        Nightly:\n          Type: ScheduleV2\n'
                    '          Properties:\n            ScheduleExpression: "%s"\n'
                    '            ScheduleExpressionTimezone: Europe/Berlin\n            State: %s\n'
                    % (fn, expr, state))

        def trigger():
            st, h, tr, raw = self.c.api('GET', '/nimbus/v1/functions/%s/triggers' % fn)
            self.assertEqual(st, 200, raw)
            [t] = tr['Triggers']
            return t

        self.write('template.yaml', tmpl('cron(0 3 * * ? *)', 'ENABLED'))
        self.deploy()
        t = trigger()
        self.assertEqual((t['Name'], t['ScheduleExpression'], t['Timezone'], t['Enabled'], t['Format']),
                         ('Nightly', 'cron(0 3 * * ? *)', 'Europe/Berlin', True, 'eventbridge'))
        created = t['CreationTime']
        self.write('template.yaml', tmpl('cron(0 3 * * ? *)', 'DISABLED'))
        got = self.lines(self.deploy())
        self.assertEqual(got[fn], 'updated function %s (trigger Nightly)' % fn)
        t = trigger()
        self.assertEqual((t['Enabled'], t['CreationTime']), (False, created))      # changed in place
        self.write('template.yaml', tmpl('cron(0 4 * * ? *)', 'DISABLED'))
        got = self.lines(self.deploy())
        self.assertEqual(got[fn], 'updated function %s (trigger Nightly)' % fn)
        self.assertEqual(trigger()['ScheduleExpression'], 'cron(0 4 * * ? *)')

    def test_s_yaml_of_the_older_devsapp_fc_component(self):
        fn = uniq('fcOld')
        self.write('code/index.py', 'def handler(event, context):\n    return "old-style"\n')
        self.write('s.yml', 'edition: 1.0.0\nname: legacy\nservices:\n  demo:\n    component: devsapp/fc\n'
                            '    props:\n      service:\n        name: svc\n'
                            '      function:\n        name: %s\n        runtime: python3.9\n'
                            '        codeUri: ./code\n        handler: index.handler\n        memorySize: 256\n'
                            '      triggers:\n        - name: t1\n          type: timer\n'
                            '          config: {cronExpression: "@every 1m", enable: false}\n' % fn)
        got = self.lines(self.deploy())
        self.assertTrue(got[fn].startswith('created'), got)
        self.assertEqual(self.cfg(fn)['Configuration']['MemorySize'], 256)
        self.assertEqual(self.c.invoke(fn, b'{}')[2], b'"old-style"')
        st, h, tr, raw = self.c.api('GET', '/nimbus/v1/functions/%s/triggers' % fn)
        self.assertEqual([(t['Name'], t['Enabled'], t['Format']) for t in tr['Triggers']], [('t1', False, 'fc')])

    def test_dash_t_as_a_value_is_not_a_template(self):
        # -t is --template only as an option of its own: another option's value stays a value.
        self.write('src/a.py', 'def b(event, context):\n    return 1\n')
        fn = uniq('dasht')
        self.deploy(fn, 'src', '--runtime', 'python3.11', '--handler', 'a.b', '--description', '-t')
        self.assertEqual(self.cfg(fn)['Configuration']['Description'], '-t')
