"""Lambda conformance through the real AWS SDK for JavaScript v3
(@aws-sdk/client-lambda, installed into tests/integration/js by
scripts/deps.sh): every operation Nimbus serves, sent and parsed by the SDK
itself (js/conformance.mjs) — its serializers and deserializers, its
paginators (ListFunctions, ListVersionsByFunction, ListAliases, ...), its
waiters (FunctionActiveV2, FunctionUpdatedV2) and its typed exceptions. A
path, date, status or member Lambda does not have fails here as it would for
a user of the SDK. The expectations are the Lambda API reference's.

Plus, with the AWS CLI: tags and resource policies survive a restart of the
daemon."""
import base64
import json
import os
import shutil
import subprocess
import unittest

from nimbus_testlib import HERE, ROLE, Server, ServerTestCase, function_arn, make_zip, uniq

JS = os.path.join(HERE, 'js')
SCRIPT = os.path.join(JS, 'conformance.mjs')
SDK = os.path.join(JS, 'node_modules', '@aws-sdk', 'client-lambda')
NODE = '/usr/bin/node'
ACCOUNT_CONCURRENCY = 321
UUID_RE = r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'


class SdkConformanceTest(ServerTestCase):
    """One run of the SDK script against a fresh daemon (in setUpClass); each
    test checks one case of it, so what fails is named case by case."""

    server_args = ('--account-concurrency', str(ACCOUNT_CONCURRENCY))
    cases = None
    run_error = None

    @classmethod
    def class_setup(cls):
        cls.prefix = uniq('sdk')
        if not os.path.exists(NODE) or not os.path.isdir(SDK):
            cls.run_error = ('the AWS SDK for JavaScript is not installed in %s (scripts/deps.sh installs it '
                             'from tests/integration/js/package.json)' % JS)
            return
        p = subprocess.run([NODE, SCRIPT, cls.c.url, cls.prefix], cwd=JS, capture_output=True, text=True,
                           timeout=300)
        if p.returncode != 0:
            cls.run_error = 'conformance.mjs exited %d: %s' % (p.returncode, p.stderr[-3000:])
            return
        cls.cases = json.loads(p.stdout.strip().splitlines()[-1])['cases']

    def setUp(self):
        super().setUp()
        if self.run_error:
            self.fail(self.run_error)

    @property
    def fn(self):
        return self.prefix + '-main'

    def value(self, name):
        """The value of a case that must have succeeded."""
        self.assertIn(name, self.cases, 'the script did not run case %s' % name)
        r = self.cases[name]
        self.assertTrue(r['ok'], '%s failed: %s' % (name, json.dumps(r)))
        return r['value']

    def assertRefused(self, err, name, status, message=None):
        """An error the SDK raised as the exception `name`, of its own class when Lambda models it."""
        self.assertFalse(err['ok'])
        self.assertEqual((err['error'], err['status']), (name, status), json.dumps(err))
        if name != 'ValidationException':       # Lambda's model has no class for it
            self.assertTrue(err['typed'], 'not the SDK\'s %s class: %s' % (name, json.dumps(err)))
        if message is not None:
            self.assertIn(message, err['message'])

    def refused(self, case, name, status, message=None):
        self.assertRefused(self.value(case), name, status, message)

    # ---- the function life cycle

    def test_create_function(self):
        v = self.value('create')
        self.assertEqual(v['FunctionName'], self.fn)
        self.assertEqual(v['FunctionArn'], function_arn(self.fn))
        # Pending while its runtime (the first Python one of this daemon) is started, as
        # Lambda's CreateFunction answers; the waiter below waits for Active.
        self.assertEqual((v['Runtime'], v['State'], v['Version']), ('python3.11', 'Pending', '$LATEST'))
        self.assertEqual((v['StateReason'], v['StateReasonCode']), ('The function is being created.', 'Creating'))
        self.assertEqual(v['CodeSha256'], v['expectedSha'])
        self.assertEqual(v['CodeSize'], v['zipSize'])
        self.assertRegex(v['RevisionId'], UUID_RE)
        self.refused('create_duplicate', 'ResourceConflictException', 409)

    def test_waiters(self):
        self.assertEqual(self.value('waiter_active'), 'SUCCESS')
        self.assertEqual(self.value('waiter_updated_after_code'), 'SUCCESS')
        self.assertEqual(self.value('waiter_updated_after_configuration'), 'SUCCESS')

    def test_get_function_and_configuration(self):
        g = self.value('get_function')
        self.assertEqual(g['FunctionName'], self.fn)
        self.assertEqual(g['Tags'], {'team': 'core', 'stage': 'test'})
        self.assertEqual(g['RepositoryType'], 'S3')
        self.assertTrue(g['Location'].startswith('http'))
        c = self.value('get_function_configuration')
        self.assertEqual((c['Handler'], c['MemorySize'], c['Timeout'], c['Description']),
                         ('app.handler', 128, 10, 'sdk'))
        self.assertEqual(c['LastUpdateStatus'], 'Successful')
        # After the FunctionActiveV2 waiter: Active, with no reason left.
        self.assertEqual((c['State'], c['StateReasonCode']), ('Active', None))
        self.refused('get_missing', 'ResourceNotFoundException', 404, 'Function not found')

    def test_list_functions_paginator(self):
        v = self.value('list_functions_paginator')
        names = [n for n in v['names'] if n.startswith(self.prefix + '-')]
        self.assertEqual(sorted(names), sorted([self.fn] + ['%s-p%d' % (self.prefix, i) for i in (1, 2, 3)]))
        self.assertGreaterEqual(v['pages'], 2, 'pageSize 2 over 4 functions')

    def test_update_code_and_configuration(self):
        v = self.value('update_code')
        self.assertEqual(v['CodeSha256'], v['expectedSha'])
        u = self.value('update_configuration')
        self.assertEqual((u['Description'], u['MemorySize']), ('updated', 256))
        self.assertEqual(u['Environment'], {'Variables': {'KEY': 'v'}})

    def test_update_code_dry_run_changes_nothing(self):
        v = self.value('update_code_dry_run')
        self.assertEqual(v['answered'], v['wouldBe'], 'DryRun answers the configuration as it would be')
        self.assertEqual(v['after'], v['before'], 'DryRun deployed the code')

    def test_publish_on_create_and_update_code(self):
        v = self.value('publish_on_create_and_update')
        self.assertEqual((v['created'], v['updated']), ('1', '2'), 'Publish: true answers the version it made')
        self.assertEqual(v['versions'], ['$LATEST', '1', '2'])

    def test_successful_answers_carry_a_request_id(self):
        for rid in self.value('request_ids'):
            self.assertRegex(rid or '', UUID_RE)

    def test_stale_revision_id_is_412(self):
        self.refused('update_stale_revision', 'PreconditionFailedException', 412)

    # ---- Invoke

    def test_invoke_request_response(self):
        v = self.value('invoke_sync')
        self.assertEqual((v['StatusCode'], v['ExecutedVersion']), (200, '$LATEST'))
        self.assertIsNone(v.get('FunctionError'))
        # The event back, under the key of whichever code is deployed (the DryRun case checks which).
        self.assertEqual(list(json.loads(v['Payload']).values()), [{'a': 1}])
        self.assertIn('START RequestId:', v['log'])
        self.assertIn('REPORT RequestId:', v['log'])

    def test_invoke_event_and_dry_run(self):
        self.assertEqual(self.value('invoke_event'), {'StatusCode': 202, 'Payload': ''})
        self.assertEqual(self.value('invoke_dry_run'), {'StatusCode': 204, 'Payload': ''})
        self.refused('invoke_missing', 'ResourceNotFoundException', 404)

    # ---- versions and aliases

    def test_versions(self):
        v = self.value('publish_version')
        self.assertEqual(v['Version'], '1')
        self.assertEqual(v['FunctionArn'], function_arn(self.fn) + ':1')
        self.assertEqual(self.value('list_versions_paginator'), ['$LATEST', '1', '2'])

    def test_aliases(self):
        v = self.value('aliases')
        self.assertEqual(v['got'], {'Name': 'a1', 'FunctionVersion': '1', 'AliasArn': function_arn(self.fn) + ':a1'})
        self.assertEqual(v['updated'], '2')
        i = self.value('invoke_alias')
        self.assertEqual((i['StatusCode'], i['ExecutedVersion']), (200, '1'))

    def test_list_functions_every_version(self):
        self.assertEqual(self.value('list_functions_all_versions'), ['$LATEST', '1', '2'])

    def test_aliases_paginator(self):
        v = self.value('aliases_paginator')
        self.assertEqual(v['names'], ['a1', 'a2'])
        self.assertEqual(v['pages'], 2, 'pageSize 1 over 2 aliases: ListAliases must honour MaxItems')

    # ---- concurrency

    def test_reserved_concurrency(self):
        self.assertEqual(self.value('reserved_concurrency'), {'put': 7, 'get': 7, 'inGetFunction': 7})

    def test_provisioned_concurrency_at_its_documented_date(self):
        v = self.value('provisioned_concurrency')
        self.assertEqual((v['requested'], v['got']), (1, 1))
        self.assertEqual(v['listed'], [function_arn(self.fn) + ':1'])

    # ---- EventInvokeConfig and function URLs

    def test_event_invoke_config(self):
        v = self.value('event_invoke_config')
        self.assertEqual((v['put'], v['updated'], v['age']), (1, 2, 120))
        self.assertTrue(v['lastModifiedIsDate'], 'LastModified parsed as a timestamp')
        self.assertEqual(v['listed'], [function_arn(self.fn) + ':$LATEST', function_arn(self.fn) + ':a1'])
        self.assertRefused(v['gone'], 'ResourceNotFoundException', 404)

    def test_function_urls(self):
        v = self.value('function_urls')
        self.assertRegex(v['url'], r'^http://[a-z0-9]{32}\.lambda-url\.')
        self.assertEqual(v['AuthType'], 'NONE')
        self.assertTrue(v['sameUrl'])
        self.assertEqual(v['cors'], ['https://example.com'])
        self.assertEqual(sorted(v['listed']), [function_arn(self.fn), function_arn(self.fn) + ':a1'])
        self.assertEqual(v['called']['status'], 200)
        event = json.loads(v['called']['body'])['got']
        self.assertEqual((event['rawPath'], event['rawQueryString']), ('/hello', 'x=1'))
        self.assertRefused(v['gone'], 'ResourceNotFoundException', 404)

    # ---- tags

    def test_tags(self):
        v = self.value('tags')
        self.assertEqual(v['first'], {'team': 'core', 'stage': 'test'}, 'CreateFunction\'s Tags')
        self.assertEqual(v['tagged'], {'team': 'platform', 'stage': 'test', 'owner': 'me'})
        self.assertEqual(v['untagged'], {'team': 'platform', 'owner': 'me'}, 'an absent key is ignored')
        self.assertEqual(v['inGetFunction'], v['untagged'], 'a version\'s GetFunction shows the function\'s tags')

    def test_tags_refused_as_lambda_refuses_them(self):
        self.refused('tags_qualified_arn', 'InvalidParameterValueException', 400,
                     'Tags on function aliases and versions are not supported')
        self.refused('tags_missing_function', 'ResourceNotFoundException', 404)
        self.refused('tags_bad_arn', 'ValidationException', 400, 'Member must satisfy regular expression pattern')
        self.refused('tags_aws_prefix', 'InvalidParameterValueException', 400, 'aws:')
        self.refused('tags_too_many', 'InvalidParameterValueException', 400, 'tag limit')
        self.assertEqual(self.value('tags_fifty'), 50)
        self.refused('tags_long_key', 'InvalidParameterValueException', 400)
        self.refused('tags_long_value', 'InvalidParameterValueException', 400)
        v = self.value('create_with_bad_tags')
        self.assertRefused(v['bad'], 'InvalidParameterValueException', 400)
        self.assertRefused(v['exists'], 'ResourceNotFoundException', 404)

    # ---- resource policies

    def test_policies(self):
        v = self.value('policies')
        st = v['statement']
        self.assertEqual(st, {
            'Sid': 's3-invoke', 'Effect': 'Allow', 'Principal': {'Service': 's3.amazonaws.com'},
            'Action': 'lambda:InvokeFunction', 'Resource': function_arn(self.fn),
            'Condition': {'StringEquals': {'AWS:SourceAccount': '123456789012'},
                          'ArnLike': {'AWS:SourceArn': 'arn:aws:s3:::my-bucket'}}})
        pol = v['policy']
        self.assertEqual((pol['Version'], pol['Id']), ('2012-10-17', 'default'))
        self.assertEqual([s['Sid'] for s in pol['Statement']], ['s3-invoke', 'account'])
        self.assertEqual(pol['Statement'][1]['Principal'], {'AWS': 'arn:aws:iam::123456789012:root'})
        self.assertRegex(v['RevisionId'], UUID_RE)
        alias = v['aliasPolicy']['Statement']
        self.assertEqual([(s['Sid'], s['Resource']) for s in alias], [('s3-invoke', function_arn(self.fn) + ':a1')],
                         'each qualifier has its own policy; a Sid is unique within one')

    def test_policy_refusals(self):
        self.refused('policy_duplicate_sid', 'ResourceConflictException', 409, 'already exists')
        self.refused('policy_stale_revision', 'PreconditionFailedException', 412)
        self.refused('policy_latest', 'InvalidParameterValueException', 400, '$LATEST')
        self.refused('policy_bad_principal', 'InvalidParameterValueException', 400, 'principal')
        err = self.value('policy_validation')
        self.assertRefused(err, 'ValidationException', 400, '2 validation errors detected')
        self.assertIn("Value 'bad id' at 'statementId' failed to satisfy constraint", err['message'])
        self.assertIn("Value 'invoke' at 'action' failed to satisfy constraint", err['message'])
        big = self.value('policy_too_long')
        self.assertIn('error', big, 'a policy grew past 20 KB: %r' % big)
        self.assertRefused(big['error'], 'PolicyLengthExceededException', 400, 'bigger than the limit (20480)')
        self.assertLessEqual(big['kept'], 20480 + 200, 'the refused statement was not kept')
        self.assertGreater(big['added'], 10)
        self.refused('policy_missing_qualifier', 'ResourceNotFoundException', 404, 'Function not found')
        self.refused('policy_version_none', 'ResourceNotFoundException', 404)

    def test_remove_permission(self):
        v = self.value('policy_remove')
        self.assertRefused(v['stale'], 'PreconditionFailedException', 412)
        self.assertRefused(v['unknown'], 'ResourceNotFoundException', 404, 'is not found in resource policy')
        self.assertEqual(v['left'], ['s3-invoke'])
        self.assertTrue(v['revisionChanged'])
        self.assertRefused(v['empty'], 'ResourceNotFoundException', 404, 'does not exist')
        self.assertRefused(v['none'], 'ResourceNotFoundException', 404, 'No policy is associated')

    # ---- layers

    def test_layers(self):
        v = self.value('layers')
        self.assertEqual(v['published'], [1, 2])
        self.assertRegex(v['arn'], r'^arn:aws:lambda:us-east-1:\d{12}:layer:%s-lib:1$' % self.prefix)
        self.assertEqual(v['CodeSha256'], v['expectedSha'])
        self.assertEqual(v['versions'], [2, 1], 'ListLayerVersions, newest first, one per page')
        self.assertTrue(v['listed'])
        self.assertEqual(v['invoked'], '"layer"', 'the layer\'s python/ is on the function\'s path')
        self.assertEqual(v['functionLayers'], [v['arn']])
        self.assertRefused(v['gone'], 'ResourceNotFoundException', 404)

    # ---- account settings

    def test_account_settings_are_the_daemons(self):
        v = self.value('account_settings')
        lim, use = v['AccountLimit'], v['AccountUsage']
        self.assertEqual(lim['ConcurrentExecutions'], ACCOUNT_CONCURRENCY)
        self.assertEqual(lim['UnreservedConcurrentExecutions'], ACCOUNT_CONCURRENCY - 7, 'less the 7 reserved')
        self.assertEqual((lim['CodeSizeZipped'], lim['CodeSizeUnzipped']), (52428800, 262144000))
        self.assertEqual(use['FunctionCount'], v['functions'])
        self.assertEqual(use['TotalCodeSize'], v['stored'], 'the distinct packages of every function and version')
        self.assertGreater(lim['TotalCodeSize'], use['TotalCodeSize'])

    # ---- delete

    def test_delete_takes_tags_and_policies(self):
        v = self.value('delete')
        self.assertRefused(v['gone'], 'ResourceNotFoundException', 404)
        self.assertRefused(v['tagsGone'], 'ResourceNotFoundException', 404)
        self.assertEqual(v['tagsAfter'], {}, 'a new function of the same name has no tags')
        self.assertRefused(v['policyAfter'], 'ResourceNotFoundException', 404)


class RawRequestsTest(ServerTestCase):
    """What no SDK sends but a hand-made request may: Lambda's answers to a
    missing member, a body that is not JSON, a method the path lacks."""

    @classmethod
    def class_setup(cls):
        cls.name = uniq('raw')
        st, h, doc, raw = cls.c.create_function(cls.name, {'app.py': 'def handler(e, c):\n    return e\n'},
                                                runtime='python3.11', handler='app.handler')
        assert st == 201, raw

    def tags_path(self):
        return '/2017-03-31/tags/' + function_arn(self.name).replace(':', '%3A')

    def test_tag_requests_missing_their_members(self):
        st, h, doc, raw = self.c.api('POST', self.tags_path(), {})
        self.assertEqual((st, h.get('x-amzn-errortype')), (400, 'ValidationException'), raw)
        self.assertIn("Value null at 'tags'", doc['message'] if 'message' in doc else doc['Message'])
        st, h, raw = self.c.request('POST', self.tags_path(), b'{not json', {'Content-Type': 'application/json'})
        self.assertEqual((st, h.get('x-amzn-errortype')), (400, 'InvalidRequestContentException'), raw)
        st, h, raw = self.c.request('DELETE', self.tags_path())
        self.assertEqual((st, h.get('x-amzn-errortype')), (400, 'ValidationException'), raw)
        st, h, raw = self.c.request('PUT', self.tags_path(), b'{}')
        self.assertEqual(st, 405, raw)
        # A raw colon in the path is the same ARN.
        st, h, doc, raw = self.c.api('GET', '/2017-03-31/tags/' + function_arn(self.name))
        self.assertEqual((st, doc), (200, {'Tags': {}}), raw)

    def test_account_settings_paths_and_methods(self):
        for path in ('/2016-08-19/account-settings', '/2016-08-19/account-settings/'):
            st, h, doc, raw = self.c.api('GET', path)
            self.assertEqual(st, 200, raw)
            self.assertEqual(set(doc), {'AccountLimit', 'AccountUsage'})
            self.assertEqual(set(doc['AccountLimit']), {'TotalCodeSize', 'CodeSizeUnzipped', 'CodeSizeZipped',
                                                        'ConcurrentExecutions', 'UnreservedConcurrentExecutions'})
            self.assertEqual(set(doc['AccountUsage']), {'TotalCodeSize', 'FunctionCount'})
        st, h, raw = self.c.request('POST', '/2016-08-19/account-settings', b'{}')
        self.assertEqual(st, 405, raw)

    def test_policy_requests(self):
        path = '/2015-03-31/functions/%s/policy' % self.name
        st, h, raw = self.c.request('POST', path, b'[1]', {'Content-Type': 'application/json'})
        self.assertEqual((st, h.get('x-amzn-errortype')), (400, 'InvalidRequestContentException'), raw)
        st, h, doc, raw = self.c.api('POST', path, {})
        self.assertEqual((st, h.get('x-amzn-errortype')), (400, 'ValidationException'), raw)
        self.assertIn('3 validation errors detected', raw.decode())
        st, h, raw = self.c.request('PUT', path, b'{}')
        self.assertEqual(st, 405, raw)
        st, h, raw = self.c.request('DELETE', path + '/bad%20sid')
        self.assertEqual((st, h.get('x-amzn-errortype')), (400, 'ValidationException'), raw)
        st, h, raw = self.c.request('GET', '/2015-03-31/functions/%s-nope/policy' % self.name)
        self.assertEqual((st, h.get('x-amzn-errortype')), (404, 'ResourceNotFoundException'), raw)


AWS = '/usr/bin/aws'


@unittest.skipUnless(os.path.exists(AWS), "Debian's awscli is not installed (scripts/deps.sh installs it)")
class TagsPoliciesRestartTest(unittest.TestCase):
    """With the AWS CLI: tags, policies and account usage as stored, after a
    restart on the same data directory."""

    def aws(self, server, *args, ok=True):
        env = dict(os.environ, AWS_ACCESS_KEY_ID='test', AWS_SECRET_ACCESS_KEY='test', AWS_DEFAULT_REGION='us-east-1',
                   AWS_PAGER='', AWS_CONFIG_FILE='/dev/null', AWS_SHARED_CREDENTIALS_FILE='/dev/null',
                   AWS_MAX_ATTEMPTS='1')
        p = subprocess.run([AWS, '--endpoint-url', server.client().url, '--output', 'json', 'lambda'] + list(args),
                           env=env, capture_output=True, text=True, timeout=120)
        if ok:
            self.assertEqual(p.returncode, 0, p.stderr)
            return json.loads(p.stdout) if p.stdout.strip() else None
        self.assertNotEqual(p.returncode, 0, p.stdout)
        return p.stderr

    def test_tags_and_policies_survive_restart(self):
        s1 = Server().start()
        base, s2 = s1.base, None
        try:
            name = uniq('keep')
            zbytes = make_zip({'app.py': 'def handler(e, c):\n    return e\n'})
            zpath = os.path.join(base, 'c.zip')
            with open(zpath, 'wb') as f:
                f.write(zbytes)
            self.aws(s1, 'create-function', '--function-name', name, '--runtime', 'python3.11', '--handler',
                     'app.handler', '--role', ROLE, '--zip-file', 'fileb://' + zpath, '--tags', 'a=1,b=2')
            self.aws(s1, 'publish-version', '--function-name', name)
            self.aws(s1, 'create-alias', '--function-name', name, '--name', 'live', '--function-version', '1')
            self.aws(s1, 'add-permission', '--function-name', name, '--statement-id', 'fn',
                     '--action', 'lambda:InvokeFunction', '--principal', 'events.amazonaws.com')
            self.aws(s1, 'add-permission', '--function-name', name, '--qualifier', 'live', '--statement-id', 'al',
                     '--action', 'lambda:InvokeFunction', '--principal', '*')
            self.aws(s1, 'add-permission', '--function-name', name, '--qualifier', '1', '--statement-id', 'v1',
                     '--action', 'lambda:InvokeFunction', '--principal', '*')
            self.aws(s1, 'untag-resource', '--resource', function_arn(name), '--tag-keys', 'a')
            before = self.aws(s1, 'get-policy', '--function-name', name)
            # Deleting the alias takes its policy (in the store, in one transaction).
            self.aws(s1, 'delete-alias', '--function-name', name, '--name', 'live')
            s1.own_base = False
            s1.stop()
            s2 = Server(data_dir=s1.data_dir, base_dir=base).start()
            self.assertEqual(self.aws(s2, 'list-tags', '--resource', function_arn(name))['Tags'], {'b': '2'})
            self.assertEqual(self.aws(s2, 'get-function', '--function-name', name)['Tags'], {'b': '2'})
            after = self.aws(s2, 'get-policy', '--function-name', name)
            self.assertEqual(after, before)
            self.assertEqual([s['Sid'] for s in json.loads(after['Policy'])['Statement']], ['fn'])
            v1 = json.loads(self.aws(s2, 'get-policy', '--function-name', name, '--qualifier', '1')['Policy'])
            self.assertEqual(v1['Statement'][0]['Resource'], function_arn(name) + ':1')
            self.aws(s2, 'create-alias', '--function-name', name, '--name', 'live', '--function-version', '1')
            err = self.aws(s2, 'get-policy', '--function-name', name, '--qualifier', 'live', ok=False)
            self.assertIn('ResourceNotFoundException', err)
            acct = self.aws(s2, 'get-account-settings')
            self.assertEqual(acct['AccountUsage'], {'FunctionCount': 1, 'TotalCodeSize': len(zbytes)})
            s2.stop()
            s2 = None
        finally:
            if s1.alive():
                s1.kill()
            if s2 is not None:
                s2.kill()
            shutil.rmtree(base, ignore_errors=True)
