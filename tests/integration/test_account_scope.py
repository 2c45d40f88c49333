"""Accounts apart beyond functions (docs/security.md, "Accounts"), with real keys of two
accounts and the real AWS CLI: a layer is the account's that published it (its ARNs name
that account, one name may be two accounts' layers, ListLayers / ListLayerVersions /
GetLayerVersion / GetLayerVersionByArn / DeleteLayerVersion see and touch only the
caller's, another account's layer ARN is Lambda's 403 AccessDeniedException for
lambda:GetLayerVersion, in CreateFunction's Layers too, until the publisher shares that version
with AddLayerVersionPermission); `nimbus exec` sessions, the
instances, code download, the metrics summary, the events and dead-letter API and
/nimbus/v1/async answer another account as if its resources did not exist (404, or
zeros for a count); a signed caller of an account an AWS_IAM function URL does not allow
gets the URL's 403 {"Message":"Forbidden"}."""
import base64
import json
import os
import shutil
import time
import unittest
import urllib.parse

from nimbus_testlib import ServerTestCase, bootstrap, echo_files, make_zip, uniq, wait_for
from sigv4_lib import (ACCOUNT_A, ACCOUNT_B, ADMIN_A, ADMIN_B, REGION, aws, credentials_dir, error_of, send,
                       signed)

from botocore.auth import SigV4Auth  # noqa: E402  (after sigv4_lib: see there)
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

FN = '/2015-03-31/functions'
FAIL = 'def handler(event, context):\n    raise RuntimeError("boom")\n'
CAT = 'cat'


def layer_arn(account, name, version=None):
    arn = 'arn:aws:lambda:%s:%s:layer:%s' % (REGION, account, name)
    return arn if version is None else '%s:%d' % (arn, version)


def denied_message(key, action, resource):
    return ('User: arn:aws:iam::%s:user/%s is not authorized to perform: lambda:%s on resource: %s because no '
            'resource-based policy allows the lambda:%s action' % (key[2], key[0], action, resource, action))


class AccountScope(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir, creds = credentials_dir()
        cls.server_args = ('--credentials', creds, '--async-retry-scale', '0.001')
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.dir, ignore_errors=True)

    # -- helpers
    def zip_file(self, files):
        z = os.path.join(self.dir, uniq('z') + '.zip')
        with open(z, 'wb') as f:
            f.write(make_zip(files))
        return z

    def cli(self, key, *args, ok=True):
        return aws(self, self.server.url, key, *args, ok=ok)

    def create(self, key, files=None, runtime='provided', handler='x', layers=()):
        name = uniq('scope')
        args = ['create-function', '--function-name', name, '--runtime', runtime, '--handler', handler,
                '--role', 'arn:aws:iam::%s:role/r' % key[2],
                '--zip-file', 'fileb://' + self.zip_file(files or echo_files())]
        if layers:
            args += ['--layers'] + list(layers)
        self.cli(key, *args)
        return name

    def api(self, key, method, path, obj=None, headers=None):
        body = json.dumps(obj).encode() if obj is not None else b''
        h = dict(headers or {})
        if obj is not None:
            h['Content-Type'] = 'application/json'
        st, hd, raw = signed(self.server, method, path, body, key=key, headers=h)
        doc = json.loads(raw) if raw[:1] in (b'{', b'[') else raw
        return st, hd, doc

    def assert_not_found(self, key, method, path, obj=None):
        st, h, doc = self.api(key, method, path, obj)
        self.assertEqual((st, h.get('x-amzn-errortype')), (404, 'ResourceNotFoundException'), (method, path, doc))
        self.assertNotIn(ACCOUNT_B, json.dumps(doc) if isinstance(doc, dict) else str(doc))

    def publish(self, key, name, files):
        return self.cli(key, 'publish-layer-version', '--layer-name', name,
                        '--zip-file', 'fileb://' + self.zip_file(files))

    def invoke(self, key, name, headers=None):
        return signed(self.server, 'POST', '%s/%s/invocations' % (FN, name), b'{}', key=key, headers=headers)

    # -- layers
    def test_layers_are_their_publishers_and_one_name_is_two_accounts_layers(self):
        lname, only_b = uniq('lib'), uniq('bonly')
        a1 = self.publish(ADMIN_A, lname, {'a.txt': 'from A'})
        b1 = self.publish(ADMIN_B, lname, {'b.txt': 'from B one'})
        b2 = self.publish(ADMIN_B, lname, {'b.txt': 'from B two'})
        self.publish(ADMIN_B, only_b, {'o.txt': 'B only'})
        # The same name, two layers: each numbered from 1, each ARN naming its account.
        self.assertEqual((a1['Version'], a1['LayerArn'], a1['LayerVersionArn']),
                         (1, layer_arn(ACCOUNT_A, lname), layer_arn(ACCOUNT_A, lname, 1)))
        self.assertEqual((b1['Version'], b2['Version'], b2['LayerVersionArn']),
                         (1, 2, layer_arn(ACCOUNT_B, lname, 2)))

        mine = {l['LayerName']: l for l in self.cli(ADMIN_A, 'list-layers')['Layers']}
        self.assertNotIn(only_b, mine)
        self.assertEqual(mine[lname]['LayerArn'], layer_arn(ACCOUNT_A, lname))
        self.assertEqual(mine[lname]['LatestMatchingVersion']['LayerVersionArn'], layer_arn(ACCOUNT_A, lname, 1))
        theirs = {l['LayerName']: l for l in self.cli(ADMIN_B, 'list-layers')['Layers']}
        self.assertIn(only_b, theirs)
        self.assertEqual(theirs[lname]['LatestMatchingVersion']['Version'], 2)
        self.assertEqual([v['LayerVersionArn'] for v in
                          self.cli(ADMIN_A, 'list-layer-versions', '--layer-name', lname)['LayerVersions']],
                         [layer_arn(ACCOUNT_A, lname, 1)])
        self.assertEqual([v['Version'] for v in
                          self.cli(ADMIN_B, 'list-layer-versions', '--layer-name', lname)['LayerVersions']], [2, 1])
        got = self.cli(ADMIN_B, 'get-layer-version-by-arn', '--arn', layer_arn(ACCOUNT_B, lname, 2))
        self.assertEqual(got['LayerVersionArn'], layer_arn(ACCOUNT_B, lname, 2))

        # A's view of B's: by name it is A's (none), by B's ARN it is refused as Lambda refuses.
        err = self.cli(ADMIN_A, 'get-layer-version', '--layer-name', only_b, '--version-number', '1', ok=False)
        self.assertIn('(ResourceNotFoundException)', err)
        self.assertIn('(ResourceNotFoundException)',
                      self.cli(ADMIN_A, 'get-layer-version', '--layer-name', lname, '--version-number', '2', ok=False))
        err = self.cli(ADMIN_A, 'get-layer-version-by-arn', '--arn', layer_arn(ACCOUNT_B, lname, 2), ok=False)
        self.assertIn('(AccessDeniedException)', err)
        self.assertIn(denied_message(ADMIN_A, 'GetLayerVersion', layer_arn(ACCOUNT_B, lname, 2)), err)
        st, kind, msg = error_of(self.api_raw(ADMIN_A, 'GET', '/2018-10-31/layers?find=LayerVersion&Arn=%s'
                                              % urllib.parse.quote(layer_arn(ACCOUNT_B, lname, 1), safe='')))
        self.assertEqual((st, kind, msg), (403, 'AccessDeniedException',
                                           denied_message(ADMIN_A, 'GetLayerVersion', layer_arn(ACCOUNT_B, lname, 1))))
        for args, action, res in (
                (('get-layer-version', '--layer-name', layer_arn(ACCOUNT_B, lname), '--version-number', '1'),
                 'GetLayerVersion', layer_arn(ACCOUNT_B, lname, 1)),
                (('list-layer-versions', '--layer-name', layer_arn(ACCOUNT_B, lname)),
                 'ListLayerVersions', layer_arn(ACCOUNT_B, lname)),
                (('delete-layer-version', '--layer-name', layer_arn(ACCOUNT_B, lname), '--version-number', '1'),
                 'DeleteLayerVersion', layer_arn(ACCOUNT_B, lname, 1)),
                (('publish-layer-version', '--layer-name', layer_arn(ACCOUNT_B, lname),
                  '--zip-file', 'fileb://' + self.zip_file({'x.txt': 'A into B'})),
                 'PublishLayerVersion', layer_arn(ACCOUNT_B, lname))):
            err = self.cli(ADMIN_A, *args, ok=False)
            self.assertIn('(AccessDeniedException)', err, args)
            self.assertIn(denied_message(ADMIN_A, action, res), err, args)

        # Nothing of B's changed: still its two versions.
        self.assertEqual([v['Version'] for v in
                          self.cli(ADMIN_B, 'list-layer-versions', '--layer-name', lname)['LayerVersions']], [2, 1])
        # A's delete of its own version leaves B's of the same name alone.
        self.cli(ADMIN_A, 'delete-layer-version', '--layer-name', lname, '--version-number', '1')
        self.assertEqual(self.cli(ADMIN_A, 'list-layer-versions', '--layer-name', lname)['LayerVersions'], [])
        self.assertEqual(self.cli(ADMIN_B, 'get-layer-version', '--layer-name', lname,
                                  '--version-number', '1')['Version'], 1)

        # B's layer's code: B downloads it, A is told it does not exist.
        loc = self.cli(ADMIN_B, 'get-layer-version', '--layer-name', lname,
                       '--version-number', '2')['Content']['Location']
        path = loc.split('//', 1)[1].split('/', 1)[1]
        self.assertEqual(self.api_raw(ADMIN_B, 'GET', '/' + path)[0], 200)
        self.assert_not_found(ADMIN_A, 'GET', '/' + path)

    def api_raw(self, key, method, path, body=b''):
        return signed(self.server, method, path, body, key=key)

    def test_a_function_may_not_use_another_accounts_layer(self):
        lname = uniq('shared')
        mine = self.publish(ADMIN_A, lname, {'a.txt': 'A'})['LayerVersionArn']
        theirs = self.publish(ADMIN_B, lname, {'b.txt': 'B'})['LayerVersionArn']
        err = self.cli(ADMIN_A, 'create-function', '--function-name', uniq('nolayer'), '--runtime', 'provided',
                       '--handler', 'x', '--role', 'arn:aws:iam::%s:role/r' % ACCOUNT_A,
                       '--zip-file', 'fileb://' + self.zip_file(echo_files()), '--layers', theirs, ok=False)
        self.assertIn('(AccessDeniedException)', err)
        self.assertIn(denied_message(ADMIN_A, 'GetLayerVersion', theirs), err)
        # The status and shape Lambda gives, over raw signed HTTP.
        body = {'FunctionName': uniq('nolayer'), 'Runtime': 'provided', 'Handler': 'x',
                'Role': 'arn:aws:iam::%s:role/r' % ACCOUNT_A, 'Layers': [theirs],
                'Code': {'ZipFile': base64.b64encode(make_zip(echo_files())).decode()}}
        st, kind, msg = error_of(self.api_raw(ADMIN_A, 'POST', FN, json.dumps(body).encode()))
        self.assertEqual((st, kind, msg), (403, 'AccessDeniedException',
                                           denied_message(ADMIN_A, 'GetLayerVersion', theirs)))
        # Its own layer of the same name is fine; B's may not be added later either.
        name = self.create(ADMIN_A, layers=[mine])
        self.assertEqual([l['Arn'] for l in self.cli(ADMIN_A, 'get-function-configuration', '--function-name',
                                                     name)['Layers']], [mine])
        err = self.cli(ADMIN_A, 'update-function-configuration', '--function-name', name, '--layers', theirs, ok=False)
        self.assertIn('(AccessDeniedException)', err)
        self.assertEqual([l['Arn'] for l in self.cli(ADMIN_A, 'get-function-configuration', '--function-name',
                                                     name)['Layers']], [mine])
        # B's function uses B's layer.
        bname = self.create(ADMIN_B, layers=[theirs])
        self.assertEqual(self.invoke(ADMIN_B, bname)[0], 200)

    def test_a_layer_version_shared_by_its_permissions_policy(self):
        lname = uniq('lent')
        arn = self.publish(ADMIN_B, lname, {'shared.txt': 'lent by B'})['LayerVersionArn']
        out = self.cli(ADMIN_B, 'add-layer-version-permission', '--layer-name', lname, '--version-number', '1',
                       '--statement-id', 'for-a', '--action', 'lambda:GetLayerVersion', '--principal', ACCOUNT_A)
        self.assertEqual(json.loads(out['Statement']),
                         {'Sid': 'for-a', 'Effect': 'Allow', 'Principal': {'AWS': 'arn:aws:iam::%s:root' % ACCOUNT_A},
                          'Action': 'lambda:GetLayerVersion', 'Resource': arn})
        pol = self.cli(ADMIN_B, 'get-layer-version-policy', '--layer-name', lname, '--version-number', '1')
        self.assertEqual(pol['RevisionId'], out['RevisionId'])
        self.assertEqual([st['Sid'] for st in json.loads(pol['Policy'])['Statement']], ['for-a'])
        # Lambda's answers to a bad request.
        for args, kind in ((('--statement-id', 'for-a', '--principal', ACCOUNT_A), 'ResourceConflictException'),
                           (('--statement-id', 'x', '--principal', ACCOUNT_A, '--revision-id', 'stale'),
                            'PreconditionFailedException'),
                           (('--statement-id', 'bad id', '--principal', ACCOUNT_A), 'ValidationException'),
                           (('--statement-id', 'x', '--principal', 'someone'), 'ValidationException')):
            err = self.cli(ADMIN_B, 'add-layer-version-permission', '--layer-name', lname, '--version-number', '1',
                           '--action', 'lambda:GetLayerVersion', *args, ok=False)
            self.assertIn('(%s)' % kind, err, args)
        err = self.cli(ADMIN_B, 'add-layer-version-permission', '--layer-name', lname, '--version-number', '1',
                       '--statement-id', 'x', '--action', 'lambda:ListLayerVersions', '--principal', ACCOUNT_A, ok=False)
        self.assertIn('(ValidationException)', err)

        # Shared: A gets it by its ARN, downloads its code and runs a function on it.
        got = self.cli(ADMIN_A, 'get-layer-version-by-arn', '--arn', arn)
        self.assertEqual((got['LayerVersionArn'], got['Version']), (arn, 1))
        self.assertEqual(self.cli(ADMIN_A, 'get-layer-version', '--layer-name', layer_arn(ACCOUNT_B, lname),
                                  '--version-number', '1')['LayerVersionArn'], arn)
        path = '/' + got['Content']['Location'].split('//', 1)[1].split('/', 1)[1]
        self.assertEqual(self.api_raw(ADMIN_A, 'GET', path)[0], 200)
        show = {'bootstrap': (bootstrap('while next; do respond "$(cat /opt/shared.txt)"; done'), 0o755)}
        name = self.create(ADMIN_A, files=show, layers=[arn])
        st, _, body = self.invoke(ADMIN_A, name)
        self.assertEqual((st, body), (200, b'lent by B'))
        # Only the use was granted: not its other versions, its list, its policy or its deletion.
        for args, action, res in (
                (('list-layer-versions', '--layer-name', layer_arn(ACCOUNT_B, lname)), 'ListLayerVersions',
                 layer_arn(ACCOUNT_B, lname)),
                (('get-layer-version-policy', '--layer-name', layer_arn(ACCOUNT_B, lname), '--version-number', '1'),
                 'GetLayerVersionPolicy', arn),
                (('add-layer-version-permission', '--layer-name', layer_arn(ACCOUNT_B, lname), '--version-number',
                  '1', '--statement-id', 'me', '--action', 'lambda:GetLayerVersion', '--principal', ACCOUNT_A),
                 'AddLayerVersionPermission', arn),
                (('remove-layer-version-permission', '--layer-name', layer_arn(ACCOUNT_B, lname), '--version-number',
                  '1', '--statement-id', 'for-a'), 'RemoveLayerVersionPermission', arn),
                (('delete-layer-version', '--layer-name', layer_arn(ACCOUNT_B, lname), '--version-number', '1'),
                 'DeleteLayerVersion', arn)):
            err = self.cli(ADMIN_A, *args, ok=False)
            self.assertIn(denied_message(ADMIN_A, action, res), err, args)
        arn2 = self.publish(ADMIN_B, lname, {'shared.txt': 'two'})['LayerVersionArn']
        self.assertIn('(AccessDeniedException)', self.cli(ADMIN_A, 'get-layer-version-by-arn', '--arn', arn2, ok=False))

        # Withdrawn: refused again for what comes next; the function made meanwhile keeps its /opt.
        self.cli(ADMIN_B, 'remove-layer-version-permission', '--layer-name', lname, '--version-number', '1',
                 '--statement-id', 'for-a', '--revision-id', out['RevisionId'])
        err = self.cli(ADMIN_B, 'get-layer-version-policy', '--layer-name', lname, '--version-number', '1', ok=False)
        self.assertIn('(ResourceNotFoundException)', err)
        self.assertIn('(ResourceNotFoundException)',
                      self.cli(ADMIN_B, 'remove-layer-version-permission', '--layer-name', lname, '--version-number',
                               '1', '--statement-id', 'for-a', ok=False))
        self.assertIn(denied_message(ADMIN_A, 'GetLayerVersion', arn),
                      self.cli(ADMIN_A, 'get-layer-version-by-arn', '--arn', arn, ok=False))
        self.assert_not_found(ADMIN_A, 'GET', path)
        self.assertIn('(AccessDeniedException)', self.cli(ADMIN_A, 'update-function-configuration',
                                                          '--function-name', self.create(ADMIN_A), '--layers', arn,
                                                          ok=False))
        self.assertEqual(self.invoke(ADMIN_A, name)[:3:2], (200, b'lent by B'))

        # "*": every account.
        self.cli(ADMIN_B, 'add-layer-version-permission', '--layer-name', lname, '--version-number', '2',
                 '--statement-id', 'all', '--action', 'lambda:GetLayerVersion', '--principal', '*')
        self.assertEqual(self.cli(ADMIN_A, 'get-layer-version-by-arn', '--arn', arn2)['Version'], 2)

    # -- instances, exec, code, metrics
    def test_exec_sessions_instances_and_code_are_the_owners(self):
        name = self.create(ADMIN_B, files=dict(echo_files(), **{'mark.txt': uniq('b-code')}))
        self.assertEqual(self.invoke(ADMIN_B, name)[0], 200)
        st, _, doc = self.api(ADMIN_B, 'GET', '/nimbus/v1/functions/%s/instances' % name)
        self.assertEqual(st, 200, doc)
        inst = doc['Instances'][0]['Id']
        self.assert_not_found(ADMIN_A, 'GET', '/nimbus/v1/functions/%s/instances' % name)
        self.assert_not_found(ADMIN_A, 'POST', '/nimbus/v1/functions/%s/instances/%s/exec' % (name, inst),
                              {'Command': ['true']})

        st, _, doc = self.api(ADMIN_B, 'POST', '/nimbus/v1/functions/%s/instances/%s/exec' % (name, inst),
                              {'Command': [CAT], 'Stream': True, 'Stdin': True})
        self.assertEqual(st, 201, doc)
        xid = doc['ExecId']
        # Another account: the session is not there, whatever it asks of it.
        self.assert_not_found(ADMIN_A, 'GET', '/nimbus/v1/execs/%s?offset=0' % xid)
        st, h, _ = self.api_raw(ADMIN_A, 'POST', '/nimbus/v1/execs/%s/stdin' % xid, b'from A\n')
        self.assertEqual((st, h.get('x-amzn-errortype')), (404, 'ResourceNotFoundException'))
        self.assert_not_found(ADMIN_A, 'POST', '/nimbus/v1/execs/%s/resize' % xid, {'Rows': 10, 'Columns': 10})
        self.assertEqual(self.api_raw(ADMIN_A, 'POST', '/nimbus/v1/execs/%s/stdin?end=true' % xid)[0], 404)
        # Its owner's session went on untouched: what B writes, and only that, comes back.
        st, _, _ = self.api_raw(ADMIN_B, 'POST', '/nimbus/v1/execs/%s/stdin?end=true' % xid, b'from B\n')
        self.assertLess(st, 300)
        out, off, done = '', 0, False
        deadline = time.time() + 30
        while not done and time.time() < deadline:
            st, _, doc = self.api(ADMIN_B, 'GET', '/nimbus/v1/execs/%s?offset=%d' % (xid, off))
            self.assertEqual(st, 200, doc)
            out += doc['Output']
            off, done = doc['Offset'], doc['Done']
        self.assertEqual((out, doc.get('ExitCode')), ('from B\n', 0))

        # The code of B's function: B's to download.
        loc = self.cli(ADMIN_B, 'get-function', '--function-name', name)['Code']['Location']
        path = '/' + loc.split('//', 1)[1].split('/', 1)[1]
        self.assertEqual(self.api_raw(ADMIN_B, 'GET', path)[0], 200)
        self.assert_not_found(ADMIN_A, 'GET', path)
        # The console's summary lists an account's own functions.
        def listed(key):
            st, _, doc = self.api(key, 'GET', '/nimbus/v1/metrics/functions')
            self.assertEqual(st, 200, doc)
            return [f['FunctionName'] for f in doc['Functions']]
        self.assertIn(name, listed(ADMIN_B))
        self.assertNotIn(name, listed(ADMIN_A))

    # -- async events and dead letters
    def test_events_dead_letters_and_async_counts_are_the_owners(self):
        name = self.create(ADMIN_B, {'app.py': FAIL}, runtime='python3.11', handler='app.handler')
        mine = self.create(ADMIN_A)
        self.cli(ADMIN_B, 'put-function-event-invoke-config', '--function-name', name, '--maximum-retry-attempts', '0')
        a_before = self.api(ADMIN_A, 'GET', '/nimbus/v1/async')[2]
        st, h, body = self.invoke(ADMIN_B, name, {'X-Amz-Invocation-Type': 'Event'})
        self.assertEqual(st, 202, body)
        rid = h['x-amzn-requestid']
        ev = '/nimbus/v1/functions/%s/events/%s' % (name, rid)
        self.assertTrue(wait_for(lambda: self.api(ADMIN_B, 'GET', ev)[2].get('State') == 'dead', timeout=60),
                        self.api(ADMIN_B, 'GET', ev))
        dlq = '/nimbus/v1/functions/%s/dlq' % name
        self.assertEqual([e['RequestId'] for e in self.api(ADMIN_B, 'GET', dlq)[2]['DeadLetters']], [rid])
        self.assertIn(rid, [e['RequestId'] for e in
                            self.api(ADMIN_B, 'GET', '/nimbus/v1/functions/%s/events' % name)[2]['Events']])

        # A: B's function's events and dead letters do not exist, nor does B's event under A's function.
        for method, path, obj in (('GET', '/nimbus/v1/functions/%s/events' % name, None), ('GET', ev, None),
                                  ('DELETE', ev, None), ('GET', dlq, None), ('POST', dlq + '/redrive', {}),
                                  ('POST', dlq + '/redrive', {'RequestId': rid}), ('DELETE', dlq, None),
                                  ('GET', '/nimbus/v1/functions/%s/events/%s' % (mine, rid), None),
                                  ('DELETE', '/nimbus/v1/functions/%s/events/%s' % (mine, rid), None)):
            self.assert_not_found(ADMIN_A, method, path, obj)
        # ... and none of it was touched.
        self.assertEqual([e['RequestId'] for e in self.api(ADMIN_B, 'GET', dlq)[2]['DeadLetters']], [rid])

        # The counts: B's own, A's without B's event; a function of B's counts nothing for A.
        b_one = self.api(ADMIN_B, 'GET', '/nimbus/v1/async?function=' + name)[2]
        self.assertEqual((b_one['Accepted'], b_one['DeadLetters']), (1, 1))
        self.assertGreaterEqual(self.api(ADMIN_B, 'GET', '/nimbus/v1/async')[2]['Accepted'], 1)
        a_one = self.api(ADMIN_A, 'GET', '/nimbus/v1/async?function=' + name)[2]
        self.assertEqual((a_one['Accepted'], a_one['DeadLetters'], a_one['Failed']), (0, 0, 0))
        a_after = self.api(ADMIN_A, 'GET', '/nimbus/v1/async')[2]
        for k in ('Accepted', 'Failed', 'DeadLetters'):
            self.assertEqual(a_after[k], a_before[k], k)
        # The queue file's figures are every account's: the daemon's account's alone to see.
        self.assertNotIn('EventsWritten', a_after)

        # B's own work goes on: its redrive and purge.
        st, _, doc = self.api(ADMIN_B, 'DELETE', dlq)
        self.assertEqual((st, doc), (200, {'Purged': 1}))

    # -- AWS_IAM function URLs
    def test_iam_url_refuses_another_account_as_lambda_does(self):
        name = self.create(ADMIN_B)
        cfg = self.cli(ADMIN_B, 'create-function-url-config', '--function-name', name, '--auth-type', 'AWS_IAM')
        url_id = cfg['FunctionUrl'].split('//')[1].split('.')[0]
        host = '127.0.0.1:%d' % self.server.port
        path = '/nimbus/url/%s/hi' % url_id

        def call(key):
            req = AWSRequest(method='GET', url='http://%s%s' % (host, path), data=b'', headers={})
            SigV4Auth(Credentials(key[0], key[1]), 'lambda', REGION).add_auth(req)
            return send(self.server, 'GET', path, b'', dict(req.headers.items(), Host=host))

        self.assertEqual(call(ADMIN_B)[0], 200)
        # Twice: once the policy is read, once the refusal is remembered.
        for _ in range(2):
            st, h, body = call(ADMIN_A)
            self.assertEqual((st, json.loads(body)), (403, {'Message': 'Forbidden'}))
            self.assertNotIn('x-amzn-errortype', h)


if __name__ == '__main__':
    unittest.main()
