"""`nimbus deploy` keeping a function's settings, the client-side checks before an upload,
the upload progress line, and the subcommands for versions, aliases, reserved and
provisioned concurrency -- each run as the real binary against a real server and checked
through the Lambda API (GetFunctionConfiguration, GetAlias, GetFunctionConcurrency, ...)."""

import base64
import io
import json
import os
import pty
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import zipfile

from nimbus_testlib import ServerTestCase, bootstrap, make_zip, nimbus_bin, run_cli, uniq

# A function as a user keeps it in a folder: bootstrap + function.sh (as in test_cli.py).
HELLO_BOOTSTRAP = bootstrap('''
. "$LAMBDA_TASK_ROOT/function.sh"
while next; do
  respond "$(handler "$EVENT")"
done''')

HELLO_FUNCTION = r'''handler() {
  printf '{"k":"%s","other":"%s","v":"%s"}' "$HELLO_KEY" "$OTHER" "$CODE_V"
}
'''


def one_line(b):
    s = b.decode('utf-8', 'replace').rstrip('\n')
    return bool(s.strip()) and '\n' not in s


def write_tree(root, files):
    """files: {relpath: (text, mode)}"""
    os.makedirs(root, exist_ok=True)
    for rel, (text, mode) in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            f.write(text)
        os.chmod(p, mode)
    return root


def hello_tree(root, version='1'):
    return write_tree(root, {'bootstrap': (HELLO_BOOTSTRAP, 0o755),
                             'function.sh': (HELLO_FUNCTION.replace('$CODE_V', version), 0o644)})


class CliTestBase(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='nimbus-it-cmds-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def cli(self, *args, timeout=60):
        return run_cli(list(args) + ['--endpoint', self.c.url], timeout=timeout)

    def ok(self, *args, timeout=60):
        p = self.cli(*args, timeout=timeout)
        self.assertEqual(p.returncode, 0, 'nimbus %s: %r %r' % (' '.join(args), p.stdout, p.stderr))
        return p

    def fails(self, code, *args):
        p = self.cli(*args)
        self.assertEqual(p.returncode, code, 'nimbus %s: %r %r' % (' '.join(args), p.stdout, p.stderr))
        self.assertTrue(one_line(p.stderr), p.stderr)
        self.assertTrue(p.stderr.decode().startswith('nimbus %s: ' % args[0]), p.stderr)
        self.assertEqual(p.stdout, b'', 'a failure printed a result')
        return p.stderr.decode()

    def config(self, name):
        st, h, cfg, raw = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual(st, 200, raw[:300])
        return cfg

    def new_hello(self, name, *extra):
        src = hello_tree(os.path.join(self.tmp, name))
        self.ok('deploy', name, src, '--runtime', 'provided', '--handler', 'function.handler', *extra)
        return src

    def invoke_json(self, name, qualifier=None):
        path = '/2015-03-31/functions/%s/invocations' % name + ('?Qualifier=%s' % qualifier if qualifier else '')
        st, h, body = self.c.request('POST', path, b'{}', {'Content-Type': 'application/json'}, 60)
        self.assertEqual(st, 200, body[:300])
        self.assertNotIn('x-amz-function-error', h, body[:300])
        return json.loads(body)


SETTINGS = ('Runtime', 'Handler', 'MemorySize', 'Timeout', 'Description', 'Environment', 'Layers',
            'Network', 'EphemeralStorage')


class DeployKeepsSettingsTest(CliTestBase):

    def test_redeploy_without_runtime_or_handler_changes_only_the_code(self):
        name = uniq('keep')
        src = self.new_hello(name, '--memory', '256', '--timeout', '7', '--env', 'HELLO_KEY=V',
                             '--env', 'OTHER=o', '--description', 'kept')
        before = self.config(name)
        hello_tree(src, version='2')
        p = self.ok('deploy', name, src)
        self.assertIn('deployed %s' % name, p.stdout.decode())
        after = self.config(name)
        for k in SETTINGS:
            self.assertEqual(after.get(k), before.get(k), k)
        self.assertNotEqual(after['CodeSha256'], before['CodeSha256'])
        self.assertEqual(self.invoke_json(name), {'k': 'V', 'other': 'o', 'v': '2'})

    def test_only_the_flags_given_change(self):
        name = uniq('flags')
        src = self.new_hello(name, '--memory', '256', '--env', 'HELLO_KEY=V', '--description', 'd1')
        before = self.config(name)
        self.ok('deploy', name, src, '--memory', '512')
        after = self.config(name)
        self.assertEqual(after['MemorySize'], 512)
        for k in SETTINGS:
            if k != 'MemorySize':
                self.assertEqual(after.get(k), before.get(k), k)

    def test_env_adds_on_top_and_env_unset_removes(self):
        name = uniq('env')
        src = self.new_hello(name, '--env', 'HELLO_KEY=V', '--env', 'OTHER=o')
        self.ok('deploy', name, src, '--env', 'HELLO_KEY=W', '--env', 'NEWVAR=n')
        self.assertEqual(self.config(name)['Environment']['Variables'],
                         {'HELLO_KEY': 'W', 'OTHER': 'o', 'NEWVAR': 'n'})
        self.ok('deploy', name, src, '--env-unset', 'OTHER', '--env-unset', 'NEWVAR')
        self.assertEqual(self.config(name)['Environment']['Variables'], {'HELLO_KEY': 'W'})
        self.assertEqual(self.invoke_json(name), {'k': 'W', 'other': '', 'v': '1'})
        # Unsetting a variable the function does not have is no error.
        self.ok('deploy', name, src, '--env-unset', 'NOPE')
        self.assertEqual(self.config(name)['Environment']['Variables'], {'HELLO_KEY': 'W'})
        msg = self.fails(2, 'deploy', name, src, '--env', 'OTHER=1', '--env-unset', 'OTHER')
        self.assertIn('contradict', msg)

    def test_a_new_function_needs_runtime_and_handler(self):
        name = uniq('new')
        src = hello_tree(os.path.join(self.tmp, name))
        for extra in ([], ['--runtime', 'provided'], ['--handler', 'function.handler']):
            msg = self.fails(2, 'deploy', name, src, *extra)
            self.assertIn('--runtime and --handler are required', msg)
        st, h, body, raw = self.c.api('GET', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 404, raw[:200])

    def test_network_none_and_egress(self):
        name = uniq('net')
        src = self.new_hello(name, '--network', 'none')
        self.assertEqual(self.config(name)['Network'], 'none')
        self.new_hello(name, '--network', 'egress')
        self.assertEqual(self.config(name)['Network'], 'egress')
        before = self.config(name)
        msg = self.fails(2, 'deploy', name, src, '--network', 'host')
        self.assertEqual(self.config(name)['RevisionId'], before['RevisionId'])
        msg = self.fails(2, 'deploy', name, src, '--network', 'wifi')
        self.assertIn('none or egress', msg)

    def test_output_json_is_the_configuration(self):
        name = uniq('json')
        src = self.new_hello(name)
        p = self.ok('deploy', name, src, '--description', 'j', '-o', 'json')
        doc = json.loads(p.stdout)
        self.assertEqual(doc['FunctionName'], name)
        self.assertEqual(doc['Description'], 'j')
        self.assertEqual(doc['CodeSha256'], self.config(name)['CodeSha256'])


class ClientChecksTest(CliTestBase):

    def test_a_package_over_50_mb_is_refused_before_the_upload(self):
        name = uniq('big')
        self.new_hello(name)
        before = self.config(name)
        big = os.path.join(self.tmp, 'big.zip')
        with zipfile.ZipFile(big, 'w', zipfile.ZIP_STORED) as z:
            z.writestr('bootstrap', HELLO_BOOTSTRAP)
            z.writestr('blob', os.urandom(51 * 1024 * 1024))   # incompressible
        self.assertGreater(os.path.getsize(big), 50 * 1024 * 1024)
        msg = self.fails(1, 'deploy', name, big)
        self.assertIn('50.0 MB', msg)
        self.assertIn('nothing was uploaded', msg)
        after = self.config(name)
        self.assertEqual((after['CodeSha256'], after['RevisionId']), (before['CodeSha256'], before['RevisionId']))

    def test_provided_without_bootstrap_is_refused(self):
        name = uniq('noboot')
        d = write_tree(os.path.join(self.tmp, 'noboot'), {'function.sh': (HELLO_FUNCTION, 0o644)})
        msg = self.fails(1, 'deploy', name, d, '--runtime', 'provided.al2023', '--handler', 'function.handler')
        self.assertIn('no bootstrap', msg)
        z = os.path.join(self.tmp, 'noboot.zip')
        with open(z, 'wb') as f:
            f.write(make_zip({'function.sh': HELLO_FUNCTION, 'sub/bootstrap': (HELLO_BOOTSTRAP, 0o755)}))
        msg = self.fails(1, 'deploy', name, z, '--runtime', 'provided', '--handler', 'function.handler')
        self.assertIn('no bootstrap', msg)
        write_tree(d, {'bootstrap': (HELLO_BOOTSTRAP, 0o644)})
        msg = self.fails(1, 'deploy', name, d, '--runtime', 'provided', '--handler', 'function.handler')
        self.assertIn('not executable', msg)
        st, h, body, raw = self.c.api('GET', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 404, raw[:200])
        # An existing provided function is checked too (its runtime comes from the server).
        other = uniq('noboot2')
        self.new_hello(other)
        before = self.config(other)
        os.chmod(os.path.join(d, 'bootstrap'), 0o755)
        os.remove(os.path.join(d, 'bootstrap'))
        msg = self.fails(1, 'deploy', other, d)
        self.assertIn('no bootstrap', msg)
        self.assertEqual(self.config(other)['CodeSha256'], before['CodeSha256'])
        # A runtime with its own bootstrap needs none.
        py = write_tree(os.path.join(self.tmp, 'py'), {'app.py': ('def handler(e, c):\n    return 7\n', 0o644)})
        self.ok('deploy', uniq('py'), py, '--runtime', 'python3.11', '--handler', 'app.handler')

    def test_a_layer_may_bring_the_bootstrap(self):
        layer = uniq('bootlayer')
        st, h, lv, raw = self.c.api('POST', '/2018-10-31/layers/%s/versions' % layer, {
            'Content': {'ZipFile': base64.b64encode(make_zip({'bootstrap': (HELLO_BOOTSTRAP, 0o755)})).decode()}})
        self.assertEqual(st, 201, raw[:300])
        name = uniq('layered')
        d = write_tree(os.path.join(self.tmp, 'layered'), {'function.sh': (HELLO_FUNCTION, 0o644)})
        self.ok('deploy', name, d, '--runtime', 'provided', '--handler', 'function.handler',
                '--layer', lv['LayerVersionArn'], '--env', 'HELLO_KEY=L')
        self.assertEqual(self.invoke_json(name), {'k': 'L', 'other': '', 'v': ''})
        # Redeployed without --layer: the function's own layers count.
        self.ok('deploy', name, d)


class ThrottlingProxy:
    """A TCP proxy in front of the server that forwards what the client sends at `rate`
    bytes per second: a slow network, so an upload takes seconds."""

    def __init__(self, upstream_port, rate):
        self.upstream_port = upstream_port
        self.rate = rate
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(('127.0.0.1', self.upstream_port))
            threading.Thread(target=self._pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, False), daemon=True).start()

    def _pump(self, src, dst, slow):
        chunk = 64 * 1024
        try:
            while True:
                data = src.recv(chunk)
                if not data:
                    break
                dst.sendall(data)
                if slow:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.sock.close()


def run_with_tty_stderr(args, timeout=120):
    """Run nimbus with stderr on a pseudo-terminal (stdout a pipe): (rc, stdout, terminal bytes)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([nimbus_bin()] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    term = b''
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                data = os.read(master, 4096)
            except OSError:   # EIO: the child closed the terminal
                break
            if not data:
                break
            term += data
        elif p.poll() is not None:
            break
    out = p.stdout.read()
    rc = p.wait(timeout=10)
    os.close(master)
    return rc, out, term


class UploadProgressTest(CliTestBase):

    def big_tree(self, name):
        src = hello_tree(os.path.join(self.tmp, name))
        with open(os.path.join(src, 'blob'), 'wb') as f:
            f.write(os.urandom(12 * 1024 * 1024))
        return src

    def test_a_slow_upload_shows_progress_on_a_terminal(self):
        proxy = ThrottlingProxy(self.c.port, rate=6 * 1024 * 1024)
        self.addCleanup(proxy.close)
        name = uniq('slow')
        src = self.big_tree(name)
        rc, out, term = run_with_tty_stderr(['deploy', name, src, '--runtime', 'provided',
                                             '--handler', 'function.handler',
                                             '--endpoint', 'http://127.0.0.1:%d' % proxy.port])
        self.assertEqual(rc, 0, (out, term))
        self.assertIn(b'deployed ' + name.encode(), out)
        text = term.decode('utf-8', 'replace')
        self.assertRegex(text, r'uploading \d+\.\d MB\u2026 \d{1,3}%')
        self.assertNotIn('uploading', out.decode())
        self.assertTrue(self.config(name)['CodeSize'] > 12 * 1024 * 1024)
        # The same upload with stderr not a terminal: not a byte on stderr.
        p = run_cli(['deploy', name, src, '--endpoint', 'http://127.0.0.1:%d' % proxy.port], timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b'')

    def test_a_quick_upload_shows_none(self):
        name = uniq('quick')
        src = hello_tree(os.path.join(self.tmp, name))
        rc, out, term = run_with_tty_stderr(['deploy', name, src, '--runtime', 'provided',
                                             '--handler', 'function.handler', '--endpoint', self.c.url])
        self.assertEqual(rc, 0, (out, term))
        self.assertNotIn(b'uploading', term)


class VersionAliasTest(CliTestBase):

    def published(self, name, n):
        """Publish n versions, each after a code change; returns their numbers."""
        src = self.new_hello(name)
        out = []
        for i in range(n):
            hello_tree(src, version=str(i + 1))
            self.ok('deploy', name, src)
            p = self.ok('version', 'publish', name, '--description', 'v%d' % (i + 1), '-o', 'json')
            out.append(json.loads(p.stdout)['Version'])
        return out

    def test_version_publish_and_list(self):
        name = uniq('ver')
        src = self.new_hello(name)
        p = self.ok('version', 'publish', name, '--description', 'first')
        self.assertRegex(p.stdout.decode(), r'^published %s version 1 sha256 \S+\n$' % name)
        st, h, doc, raw = self.c.api('GET', '/2015-03-31/functions/%s/versions' % name)
        self.assertEqual(st, 200, raw[:300])
        v1 = [v for v in doc['Versions'] if v['Version'] == '1']
        self.assertEqual(len(v1), 1, doc)
        self.assertEqual(v1[0]['Description'], 'first')
        hello_tree(src, version='2')
        self.ok('deploy', name, src)
        self.ok('version', 'publish', name)
        p = self.ok('version', 'list', name, '-o', 'json')
        self.assertEqual([v['Version'] for v in json.loads(p.stdout)['Versions']], ['$LATEST', '1', '2'])
        p = self.ok('version', 'list', name)
        lines = p.stdout.decode().splitlines()
        self.assertTrue(lines[0].startswith('VERSION'), lines)
        self.assertEqual([l.split()[0] for l in lines[1:]], ['$LATEST', '1', '2'])
        self.assertIn('first', lines[2])
        self.assertIn('ResourceNotFoundException', self.fails(1, 'version', 'list', uniq('nosuch')))
        self.fails(2, 'version', 'publish')
        self.fails(2, 'version', 'remove', name)

    def test_alias_create_update_list_rm(self):
        name = uniq('alias')
        v1, v2 = self.published(name, 2)
        p = self.ok('alias', 'create', name, 'live', '--version', v1, '--weight', '%s=0.1' % v2,
                    '--description', 'prod')
        self.assertIn('live', p.stdout.decode())
        path = '/2015-03-31/functions/%s/aliases/live' % name
        st, h, a, raw = self.c.api('GET', path)
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(a['FunctionVersion'], v1)
        self.assertEqual(a['Description'], 'prod')
        self.assertEqual(a['RoutingConfig']['AdditionalVersionWeights'], {v2: 0.1})
        # update changes what it is given only
        self.ok('alias', 'update', name, 'live', '--weight', '%s=0.5' % v2)
        st, h, a, raw = self.c.api('GET', path)
        self.assertEqual((a['FunctionVersion'], a['Description']), (v1, 'prod'))
        self.assertEqual(a['RoutingConfig']['AdditionalVersionWeights'], {v2: 0.5})
        self.ok('alias', 'update', name, 'live', '--description', 'still')
        st, h, a, raw = self.c.api('GET', path)
        self.assertEqual(a['RoutingConfig']['AdditionalVersionWeights'], {v2: 0.5})
        self.assertEqual(a['Description'], 'still')
        p = self.ok('alias', 'update', name, 'live', '--version', v2, '--no-weights', '-o', 'json')
        self.assertEqual(json.loads(p.stdout)['FunctionVersion'], v2)
        st, h, a, raw = self.c.api('GET', path)
        self.assertEqual(a['FunctionVersion'], v2)
        self.assertNotIn('RoutingConfig', a)
        self.assertEqual(self.invoke_json(name, 'live')['v'], '2')
        # list
        self.ok('alias', 'create', name, 'beta', '--version', '$LATEST')
        p = self.ok('alias', 'list', name, '-o', 'json')
        self.assertEqual(sorted(x['Name'] for x in json.loads(p.stdout)['Aliases']), ['beta', 'live'])
        p = self.ok('alias', 'list', name)
        lines = p.stdout.decode().splitlines()
        self.assertTrue(lines[0].startswith('ALIAS'), lines)
        self.assertEqual(sorted(l.split()[0] for l in lines[1:]), ['beta', 'live'])
        # rm
        self.ok('alias', 'rm', name, 'beta')
        st, h, a, raw = self.c.api('GET', '/2015-03-31/functions/%s/aliases/beta' % name)
        self.assertEqual(st, 404, raw[:200])
        self.assertIn('ResourceNotFoundException', self.fails(1, 'alias', 'rm', name, 'beta'))

    def test_alias_errors_are_the_apis_in_one_line(self):
        name = uniq('aliaserr')
        v1, v2 = self.published(name, 2)
        msg = self.fails(1, 'alias', 'create', name, 'x', '--version', v1, '--weight', '%s=1.5' % v2)
        self.assertIn('InvalidParameterValueException: Weights must be between 0.0 and 1.0', msg)
        msg = self.fails(1, 'alias', 'create', name, 'x', '--version', '99')
        self.assertIn('ResourceNotFoundException', msg)
        self.ok('alias', 'create', name, 'x', '--version', v1)
        self.assertIn('ResourceConflictException', self.fails(1, 'alias', 'create', name, 'x', '--version', v1))
        self.assertIn('missing --version', self.fails(2, 'alias', 'create', name, 'y'))
        self.assertIn('VERSION=WEIGHT', self.fails(2, 'alias', 'create', name, 'y', '--version', v1,
                                                    '--weight', '2'))
        self.assertIn('contradict', self.fails(2, 'alias', 'update', name, 'x', '--weight', '2=0.1',
                                                '--no-weights'))


class ConcurrencyTest(CliTestBase):

    def test_reserved_concurrency_set_and_rm(self):
        name = uniq('conc')
        self.new_hello(name)
        p = self.ok('concurrency', 'set', name, '3')
        self.assertEqual(p.stdout.decode(), '%s: reserved concurrency 3\n' % name)
        path = '/2019-09-30/functions/%s/concurrency' % name
        st, h, doc, raw = self.c.api('GET', path)
        self.assertEqual((st, doc), (200, {'ReservedConcurrentExecutions': 3}))
        p = self.ok('concurrency', 'set', name, '0', '-o', 'json')
        self.assertEqual(json.loads(p.stdout), {'ReservedConcurrentExecutions': 0})
        self.ok('concurrency', 'rm', name)
        st, h, doc, raw = self.c.api('GET', path)
        self.assertEqual(st, 200, raw)
        self.assertNotIn('ReservedConcurrentExecutions', doc or {})
        msg = self.fails(1, 'concurrency', 'set', name, '100000000')
        self.assertIn("above the account's concurrency limit", msg)
        self.fails(2, 'concurrency', 'set', name)
        self.fails(2, 'concurrency', 'set', name, 'many')
        self.assertIn('ResourceNotFoundException', self.fails(1, 'concurrency', 'set', uniq('nosuch'), '1'))

    def test_provisioned_set_list_rm(self):
        name = uniq('prov')
        src = self.new_hello(name)
        p = self.ok('version', 'publish', name, '-o', 'json')
        v = json.loads(p.stdout)['Version']
        p = self.ok('provisioned', 'set', name, '--qualifier', v, '1')
        self.assertIn('%s:%s: provisioned concurrency 1' % (name, v), p.stdout.decode())
        path = '/2019-09-30/functions/%s/provisioned-concurrency?Qualifier=%s' % (name, v)
        st, h, doc, raw = self.c.api('GET', path)
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(doc['RequestedProvisionedConcurrentExecutions'], 1)
        p = self.ok('provisioned', 'list', name, '-o', 'json')
        cfgs = json.loads(p.stdout)['ProvisionedConcurrencyConfigs']
        self.assertEqual([(c['FunctionArn'].rsplit(':', 1)[1], c['RequestedProvisionedConcurrentExecutions'])
                          for c in cfgs], [(v, 1)])
        p = self.ok('provisioned', 'list', name)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(lines[0].split(), ['QUALIFIER', 'REQUESTED', 'ALLOCATED', 'STATUS'])
        self.assertEqual(lines[1].split()[:2], [v, '1'])
        self.ok('provisioned', 'rm', name, '--qualifier', v)
        st, h, doc, raw = self.c.api('GET', path)
        self.assertEqual(st, 404, raw[:300])
        self.assertIn('ProvisionedConcurrencyConfigNotFoundException',
                      self.fails(1, 'provisioned', 'rm', name, '--qualifier', v))
        self.assertIn('unpublished function versions',
                      self.fails(1, 'provisioned', 'set', name, '--qualifier', '$LATEST', '1'))
        self.assertIn('missing --qualifier', self.fails(2, 'provisioned', 'set', name, '1'))
        self.fails(2, 'provisioned', 'set', name, '--qualifier', v, '0')


class HelpTest(CliTestBase):

    def test_every_new_command_has_help_with_every_flag(self):
        want = {
            'version': ['publish', 'list', '--description', '--output'],
            'alias': ['create', 'update', 'list', 'rm', '--version', '--weight', '--no-weights',
                      '--description', '--output'],
            'concurrency': ['set', 'rm', '--output'],
            'provisioned': ['set', 'rm', 'list', '--qualifier', '--output'],
            'deploy': ['--env-unset', '--network', '--runtime', '--handler', '--output'],
        }
        for cmd, words in want.items():
            p = run_cli([cmd, '--help'])
            self.assertEqual(p.returncode, 0, p.stderr)
            for w in words:
                self.assertIn(w, p.stdout.decode(), '%s --help lacks %s' % (cmd, w))
        top = run_cli(['--help']).stdout.decode() + run_cli(['help']).stdout.decode()
        for cmd in ('version publish', 'alias create', 'concurrency set', 'provisioned set'):
            self.assertIn(cmd, top)
