"""CLI for the life-cycle features: deploy's Nimbus settings and
`nimbus instances`."""
import json
import subprocess

from nimbus_testlib import ServerTestCase, COUNTER, fn_files, nimbus_bin, uniq
import os
import tempfile


class CliLifecycleTest(ServerTestCase):
    def nimbus(self, *args):
        return subprocess.run([nimbus_bin()] + list(args) + ['--endpoint', 'http://127.0.0.1:%d' % self.server.port],
                              capture_output=True, timeout=60)

    def test_deploy_settings_and_instances_listing(self):
        name = uniq('clil')
        d = tempfile.mkdtemp()
        with open(os.path.join(d, 'bootstrap'), 'w') as f:
            f.write(fn_files(COUNTER)['bootstrap'][0])
        os.chmod(os.path.join(d, 'bootstrap'), 0o755)
        p = self.nimbus('deploy', name, d, '--runtime', 'provided', '--handler', 'x.y',
                        '--instance-concurrency', '2', '--keep-alive', '45')
        self.assertEqual(p.returncode, 0, p.stderr)
        st, h, raw = self.c.request('GET', '/2015-03-31/functions/%s/configuration' % name)
        cfg = json.loads(raw)
        self.assertEqual((cfg['InstanceConcurrency'], cfg['KeepAliveSeconds']), (2, 45))
        p = self.nimbus('invoke', name)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.nimbus('instances', name)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().strip().splitlines()
        self.assertTrue(lines[0].startswith('ID'), lines)
        self.assertEqual(len(lines), 2, lines)
        self.assertIn('Ready', lines[1])
        p = self.nimbus('instances', name, '--json')
        doc = json.loads(p.stdout)
        self.assertEqual(doc['Instances'][0]['CallsServed'], 1)
        self.assertEqual(doc['Instances'][0]['Capacity'], 2)
        p = self.nimbus('instances', 'no-such-' + name)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(len(p.stderr.decode().strip().splitlines()), 1, p.stderr)
        p = self.nimbus('deploy', name, d, '--runtime', 'provided', '--handler', 'x.y', '--instance-concurrency', '0')
        self.assertEqual(p.returncode, 2)
