"""A function's State while the sandbox starts the first runtime of its kind.

Lambda's documented life cycle (the developer guide's "Lambda function states"): a function is
`Pending` after CreateFunction, with `StateReason` "The function is being created." and
`StateReasonCode` "Creating", until its resources are ready; then `Active`, without a reason.
An update runs under `LastUpdateStatus` "InProgress" (same reason, in `LastUpdateStatusReason`
and `LastUpdateStatusReasonCode`) until it is `Successful`. The SDK's and the CLI's waiters
(`function-active-v2`, `function-updated-v2`) poll GetFunction for those fields.

Nimbus's resource is the runtime started ahead for the function's runtime command: a Node
runtime that said it is warm, a Python zygote. Until the first one is there, the function is
Pending (docs/zygote.md). The Pending answers asserted here are deterministic: CreateFunction
is answered in the same turn of the daemon's loop that sends the spawner its order, so no
runtime of a kind new to the daemon can be ready by then. Each test has a daemon of its own, so
no kind is ready before it starts."""
import json
import os
import subprocess
import tempfile
import time
import unittest

from nimbus_testlib import Server, aws_cli, instances_of, make_zip, run_aws, uniq, wait_for

NODE = {'index.js': 'exports.handler = async (event) => ({ node: event });\n'}
PY = {'app.py': 'def handler(event, context):\n    return {"python": event}\n'}
REASON = 'The function is being created.'


class FunctionStateTest(unittest.TestCase):
    def setUp(self):
        self.server = Server().start()
        self.addCleanup(self.server.stop)
        self.c = self.server.client()

    def create(self, name, files, runtime, handler):
        st, _, cfg, raw = self.c.create_function(name, files, runtime=runtime, handler=handler)
        self.assertEqual(st, 201, raw[:300])
        return cfg

    def config(self, name):
        st, _, cfg, raw = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual(st, 200, raw[:300])
        return cfg

    def wait_active(self, name):
        self.assertTrue(wait_for(lambda: self.config(name)['State'] == 'Active', timeout=15),
                        self.config(name))
        return self.config(name)

    def test_a_node_function_is_pending_until_its_runtime_is_warm(self):
        name = uniq('pend')
        cfg = self.create(name, NODE, 'nodejs20.x', 'index.handler')
        self.assertEqual((cfg['State'], cfg.get('StateReason'), cfg.get('StateReasonCode')),
                         ('Pending', REASON, 'Creating'), cfg)
        self.assertEqual(cfg['LastUpdateStatus'], 'Successful', cfg)
        cfg = self.wait_active(name)
        self.assertNotIn('StateReason', cfg)
        self.assertNotIn('StateReasonCode', cfg)
        # GetFunction and ListFunctions say the same.
        st, _, doc, _ = self.c.api('GET', '/2015-03-31/functions/%s' % name)
        self.assertEqual(doc['Configuration']['State'], 'Active', doc)
        st, _, doc, _ = self.c.api('GET', '/2015-03-31/functions')
        self.assertEqual([f['State'] for f in doc['Functions'] if f['FunctionName'] == name], ['Active'], doc)
        # Its first call is a cold start from the runtime started ahead.
        st, _, out, raw = self.c.api('POST', '/2015-03-31/functions/%s/invocations' % name, {'k': 1})
        self.assertEqual((st, out), (200, {'node': {'k': 1}}), raw[:300])
        self.assertEqual([i.get('StartedFrom') for i in instances_of(self.c, name)], ['prestart'])
        # Once the kind is ready, a new function of it is Active from its creation.
        other = self.create(uniq('pend'), NODE, 'nodejs20.x', 'index.handler')
        self.assertEqual(other['State'], 'Active', other)
        self.assertNotIn('StateReason', other)

    def test_a_function_with_nothing_to_start_ahead_is_active_at_once(self):
        boot = {'bootstrap': '#!/bin/sh\nexit 1\n'}
        cfg = self.create(uniq('prov'), boot, 'provided.al2023', 'x.handler')
        self.assertEqual(cfg['State'], 'Active', cfg)
        self.assertNotIn('StateReason', cfg)

    def test_calls_made_while_pending_are_served(self):
        # Lambda refuses them; Nimbus lets them wait for the runtime being started.
        name = uniq('pend')
        cfg = self.create(name, PY, 'python3.11', 'app.handler')
        self.assertEqual(cfg['State'], 'Pending', cfg)
        st, _, out, raw = self.c.api('POST', '/2015-03-31/functions/%s/invocations' % name, {'k': 2})
        self.assertEqual((st, out), (200, {'python': {'k': 2}}), raw[:300])
        self.wait_active(name)

    def test_a_published_version_made_while_pending_is_pending_too(self):
        name = uniq('pend')
        st, _, cfg, raw = self.c.create_function(name, NODE, runtime='nodejs20.x', handler='index.handler',
                                                 extra={'Publish': True})
        self.assertEqual(st, 201, raw[:300])
        self.assertEqual((cfg['Version'], cfg['State'], cfg.get('StateReasonCode')), ('1', 'Pending', 'Creating'), cfg)
        self.wait_active(name)
        st, _, v, _ = self.c.api('GET', '/2015-03-31/functions/%s/configuration?Qualifier=1' % name)
        self.assertEqual((st, v['State']), (200, 'Active'), v)


@unittest.skipUnless(aws_cli(), "Debian's awscli is not installed (scripts/deps.sh installs it)")
class FunctionStateCliTest(unittest.TestCase):
    """The AWS CLI's own waiters against the transitions."""

    def setUp(self):
        self.server = Server().start()
        self.addCleanup(self.server.stop)
        self.endpoint = self.server.url

    def aws(self, *args, ok=True):
        return run_aws(self, self.endpoint, *args, ok=ok)

    def zip_file(self, files):
        f = tempfile.NamedTemporaryFile(suffix='.zip', delete=False)
        f.write(make_zip(files))
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_waiters_wait_for_the_runtime_of_a_creation_and_of_an_update(self):
        name = uniq('cliw')
        both = dict(NODE, **PY)
        cfg = self.aws('create-function', '--function-name', name, '--runtime', 'nodejs20.x',
                       '--handler', 'index.handler', '--role', 'arn:aws:iam::000000000000:role/r',
                       '--zip-file', 'fileb://' + self.zip_file(both))
        self.assertEqual((cfg['State'], cfg['StateReasonCode']), ('Pending', 'Creating'), cfg)
        self.assertIsNone(self.aws('wait', 'function-active-v2', '--function-name', name))
        got = self.aws('get-function-configuration', '--function-name', name)
        self.assertEqual((got['State'], got['LastUpdateStatus']), ('Active', 'Successful'), got)
        # An update to a runtime the daemon has not started yet.
        up = self.aws('update-function-configuration', '--function-name', name, '--runtime', 'python3.11',
                      '--handler', 'app.handler')
        self.assertEqual((up['State'], up['LastUpdateStatus'], up.get('LastUpdateStatusReason'),
                          up.get('LastUpdateStatusReasonCode')),
                         ('Active', 'InProgress', REASON, 'Creating'), up)
        self.assertIsNone(self.aws('wait', 'function-updated-v2', '--function-name', name))
        got = self.aws('get-function', '--function-name', name)['Configuration']
        self.assertEqual((got['State'], got['LastUpdateStatus'], got['Runtime']),
                         ('Active', 'Successful', 'python3.11'), got)
        self.assertNotIn('LastUpdateStatusReason', got)
        out = os.path.join(tempfile.mkdtemp(), 'out.json')
        r = self.aws('invoke', '--function-name', name, '--cli-binary-format', 'raw-in-base64-out',
                     '--payload', '{"n": 3}', out)
        self.assertEqual(r['StatusCode'], 200, r)
        with open(out) as f:
            self.assertEqual(json.load(f), {'python': {'n': 3}})


if __name__ == '__main__':
    unittest.main()
