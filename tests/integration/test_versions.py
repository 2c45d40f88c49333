"""Versions, aliases, qualifiers, provisioned instances, and a restart that
keeps all of it."""
import json
import time
import unittest

from nimbus_testlib import ServerTestCase, Server, uniq

ANSWER = 'def handler(event, context):\n    return {"v": %r, "ver": context.function_version, "arn": context.invoked_function_arn}\n'
# seed 004: a clock read at module load and again per call.
CLOCK = ('import time\nLOADED = time.time()\n'
         'def handler(event, context):\n    return {"loaded": LOADED, "now": time.time()}\n')


class VersionsTest(ServerTestCase):
    def py(self, name, text, **kw):
        return self.new_function(name, {'app.py': text}, runtime='python3.11', handler='app.handler', **kw)[0]

    def api(self, method, path, body=None):
        st, h, raw = self.c.request(method, path, json.dumps(body).encode() if body is not None else None)
        return st, h, (json.loads(raw) if raw else None)

    def update_code(self, name, text):
        st, h, cfg, raw = self.c.update_code(name, {'app.py': text})
        self.assertEqual(st, 200, raw[:200])

    def publish(self, name, **body):
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/versions' % name, body)
        self.assertEqual(st, 201, doc)
        return doc

    def call(self, name, qualifier=None):
        path = '/2015-03-31/functions/%s/invocations' % name
        if qualifier:
            path += '?Qualifier=' + qualifier
        st, h, raw = self.c.request('POST', path, b'{}')
        self.assertEqual(st, 200, raw)
        self.assertNotIn('x-amz-function-error', h, raw)
        return json.loads(raw), h

    def test_publish_versions_are_immutable_and_numbered(self):
        name = self.py(uniq('ver'), ANSWER % 'one')
        v1 = self.publish(name, Description='first')
        self.assertEqual(v1['Version'], '1')
        self.assertTrue(v1['FunctionArn'].endswith(':%s:1' % name))
        self.assertEqual(v1['Description'], 'first')
        again = self.publish(name)           # nothing changed: the same version
        self.assertEqual(again['Version'], '1')
        self.update_code(name, ANSWER % 'two')
        self.assertEqual(self.publish(name)['Version'], '2')
        out, h = self.call(name, '1')
        self.assertEqual((out['v'], out['ver'], h['x-amz-executed-version']), ('one', '1', '1'))
        self.assertTrue(out['arn'].endswith(':%s:1' % name))
        out, h = self.call(name + ':2')      # name:qualifier form
        self.assertEqual((out['v'], h['x-amz-executed-version']), ('two', '2'))
        out, h = self.call(name)
        self.assertEqual((out['v'], h['x-amz-executed-version']), ('two', '$LATEST'))
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s/versions' % name)
        self.assertEqual([v['Version'] for v in doc['Versions']], ['$LATEST', '1', '2'])
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s/configuration?Qualifier=1' % name)
        self.assertEqual((st, doc['Version'], doc['Description']), (200, '1', 'first'))
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/versions' % name, {'CodeSha256': 'nope'})
        self.assertEqual(st, 412)

    def test_version_and_alias_errors(self):
        name = self.py(uniq('verr'), ANSWER % 'x')
        self.publish(name)
        st, h, raw = self.c.request('POST', '/2015-03-31/functions/%s/invocations?Qualifier=9' % name, b'{}')
        self.assertEqual(st, 404)
        self.assertEqual(h['x-amzn-errortype'], 'ResourceNotFoundException')
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/aliases' % name, {'Name': 'a', 'FunctionVersion': '9'})
        self.assertEqual(st, 404)
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/aliases' % name, {'Name': '123', 'FunctionVersion': '1'})
        self.assertEqual(st, 400)
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/aliases' % name, {'Name': 'live', 'FunctionVersion': '1'})
        self.assertEqual(st, 201, doc)
        self.assertTrue(doc['AliasArn'].endswith(':%s:live' % name))
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/aliases' % name, {'Name': 'live', 'FunctionVersion': '1'})
        self.assertEqual(st, 409)
        # deleting a version an alias points at -> 409
        st, h, doc = self.api('DELETE', '/2015-03-31/functions/%s?Qualifier=1' % name)
        self.assertEqual(st, 409)
        self.assertEqual(h['x-amzn-errortype'], 'ResourceConflictException')
        st, h, doc = self.api('DELETE', '/2015-03-31/functions/%s/aliases/live' % name)
        self.assertEqual(st, 204)
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s/aliases/live' % name)
        self.assertEqual(st, 404)
        st, h, doc = self.api('DELETE', '/2015-03-31/functions/%s?Qualifier=1' % name)
        self.assertEqual(st, 204)
        st, h, raw = self.c.request('POST', '/2015-03-31/functions/%s/invocations?Qualifier=1' % name, b'{}')
        self.assertEqual(st, 404)

    def test_alias_update_list_and_70_30_split_over_1000_calls(self):
        name = self.py(uniq('split'), ANSWER % 'a')
        self.publish(name)
        self.update_code(name, ANSWER % 'b')
        self.publish(name)
        st, h, doc = self.api('POST', '/2015-03-31/functions/%s/aliases' % name,
                              {'Name': 'live', 'FunctionVersion': '1', 'Description': 'd',
                               'RoutingConfig': {'AdditionalVersionWeights': {'2': 0.3}}})
        self.assertEqual(st, 201, doc)
        counts = {'1': 0, '2': 0}
        for _ in range(1000):
            out, h = self.call(name, 'live')
            counts[h['x-amz-executed-version']] += 1
            self.assertEqual(out['ver'], h['x-amz-executed-version'])
            self.assertTrue(out['arn'].endswith(':%s:live' % name))
        self.assertTrue(650 <= counts['1'] <= 750, counts)
        st, h, doc = self.api('PUT', '/2015-03-31/functions/%s/aliases/live' % name,
                              {'FunctionVersion': '2', 'RoutingConfig': {'AdditionalVersionWeights': {}}})
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc['FunctionVersion'], doc['Description']), ('2', 'd'))
        out, h = self.call(name, 'live')
        self.assertEqual(h['x-amz-executed-version'], '2')
        st, h, doc = self.api('GET', '/2015-03-31/functions/%s/aliases' % name)
        self.assertEqual([a['Name'] for a in doc['Aliases']], ['live'])
        bad = {'FunctionVersion': '1', 'RoutingConfig': {'AdditionalVersionWeights': {'2': 1.5}}}
        st, h, doc = self.api('PUT', '/2015-03-31/functions/%s/aliases/live' % name, bad)
        self.assertEqual(st, 400)

    def test_provisioned_instances_exist_before_the_first_call(self):
        name = self.py(uniq('prov'), ANSWER % 'p')
        self.publish(name)
        path = '/2019-09-30/functions/%s/provisioned-concurrency' % name
        st, h, doc = self.api('PUT', path + '?Qualifier=$LATEST', {'ProvisionedConcurrentExecutions': 2})
        self.assertEqual(st, 400)
        st, h, doc = self.api('PUT', path + '?Qualifier=1', {'ProvisionedConcurrentExecutions': 2})
        self.assertEqual(st, 202, doc)
        deadline = time.time() + 10
        while time.time() < deadline:
            st, h, doc = self.api('GET', path + '?Qualifier=1')
            if doc['Status'] == 'READY':
                break
            time.sleep(0.1)
        self.assertEqual((doc['Status'], doc['AllocatedProvisionedConcurrentExecutions']), ('READY', 2))
        st, h, doc = self.api('GET', '/nimbus/v1/functions/%s/instances' % name)
        prov = [i for i in doc['Instances'] if i['Provisioned']]
        self.assertEqual(len(prov), 2)
        self.assertTrue(all(i['CallsServed'] == 0 for i in prov), 'started before any call')
        st, h, raw = self.c.request('POST', '/2015-03-31/functions/%s/invocations?Qualifier=1' % name, b'{}',
                                    {'X-Amz-Log-Type': 'Tail'})
        self.assertEqual(st, 200)
        import base64
        log = base64.b64decode(h['x-amz-log-result']).decode()
        self.assertIn('REPORT RequestId', log)
        self.assertNotIn('Init Duration', log, 'a provisioned instance served it: no cold start')
        # a crashed provisioned instance is replaced
        import os, signal
        os.kill(prov[0]['Pid'], signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline:
            st, h, doc = self.api('GET', '/nimbus/v1/functions/%s/instances' % name)
            live = [i for i in doc['Instances'] if i['Provisioned'] and i['State'] == 'Ready' and i['Pid'] != prov[0]['Pid']]
            if len(live) == 2:
                break
            time.sleep(0.1)
        self.assertEqual(len(live), 2)
        st, h, doc = self.api('DELETE', path + '?Qualifier=1')
        self.assertEqual(st, 204)
        st, h, doc = self.api('GET', path + '?Qualifier=1')
        self.assertEqual(st, 404)

    def test_warm_calls_reuse_the_execution_context(self):
        name = self.py(uniq('clock'), CLOCK)
        first, _ = self.call(name)
        second, _ = self.call(name)
        self.assertEqual(first['loaded'], second['loaded'], 'module loaded once: the context was reused')
        self.assertGreater(second['now'], first['now'])


class RestartKeepsEverythingTest(unittest.TestCase):
    def test_restart_keeps_functions_versions_aliases_and_settings(self):
        s1 = Server().start()
        data_dir, base = s1.data_dir, s1.base
        c = s1.client()
        name = uniq('keep')
        st, h, cfg, raw = c.create_function(name, {'app.py': ANSWER % 'k1'}, runtime='python3.11',
                                            handler='app.handler', memory=256, timeout=9,
                                            extra={'KeepAliveSeconds': 30})
        self.assertEqual(st, 201, raw)
        c.request('POST', '/2015-03-31/functions/%s/versions' % name, b'{}')
        c.update_code(name, {'app.py': ANSWER % 'k2'})
        c.request('POST', '/2015-03-31/functions/%s/versions' % name, b'{}')
        c.request('POST', '/2015-03-31/functions/%s/aliases' % name,
                  json.dumps({'Name': 'live', 'FunctionVersion': '1'}).encode())
        c.request('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                  json.dumps({'ReservedConcurrentExecutions': 5}).encode())
        s1.own_base = False          # keep the data dir for the second server
        s1.stop()
        s2 = Server(data_dir=data_dir, base_dir=base).start()
        try:
            c2 = s2.client()
            st, h, raw = c2.request('GET', '/2015-03-31/functions/%s/versions' % name)
            self.assertEqual([v['Version'] for v in json.loads(raw)['Versions']], ['$LATEST', '1', '2'])
            st, h, raw = c2.request('GET', '/2015-03-31/functions/%s/aliases/live' % name)
            self.assertEqual(json.loads(raw)['FunctionVersion'], '1')
            st, h, raw = c2.request('GET', '/2015-03-31/functions/%s' % name)
            doc = json.loads(raw)
            self.assertEqual(doc['Concurrency'], {'ReservedConcurrentExecutions': 5})
            self.assertEqual((doc['Configuration']['MemorySize'], doc['Configuration']['Timeout'],
                              doc['Configuration']['KeepAliveSeconds']), (256, 9, 30))
            for q, want in (('live', 'k1'), ('2', 'k2'), (None, 'k2')):
                path = '/2015-03-31/functions/%s/invocations' % name + ('?Qualifier=' + q if q else '')
                st, h, raw = c2.request('POST', path, b'{}')
                self.assertEqual((st, json.loads(raw)['v']), (200, want))
            # numbers are never reused after a restart either
            c2.update_code(name, {'app.py': ANSWER % 'k3'})
            st, h, raw = c2.request('POST', '/2015-03-31/functions/%s/versions' % name, b'{}')
            self.assertEqual(json.loads(raw)['Version'], '3')
        finally:
            s2.own_base = True
            s2.stop()
