"""The `nimbus` client subcommands, run as subprocesses against a live server."""

import json
import os
import shutil
import tempfile

from nimbus_testlib import ServerTestCase, bootstrap, free_port, run_cli, uniq

# A handler directory as a user would have it: bootstrap + function.sh.
HELLO_BOOTSTRAP = bootstrap('''
. "$LAMBDA_TASK_ROOT/function.sh"
while next; do
  echo "handling $REQ_ID"
  respond "$(handler "$EVENT")"
done''')

HELLO_FUNCTION = r'''handler() {
  name=$(printf '%s' "$1" | sed -n 's/.*"name" *: *"\([^"]*\)".*/\1/p')
  printf '{"greeting":"Hello, %s!","k":"%s","handler":"%s"}' "$name" "$HELLO_KEY" "$_HANDLER"
}
'''


def one_line(b):
    """True if `b` is exactly one non-empty line (a trailing newline allowed)."""
    s = b.decode('utf-8', 'replace')
    if s.endswith('\n'):
        s = s[:-1]
    return bool(s.strip()) and '\n' not in s


class CliTest(ServerTestCase):

    @classmethod
    def class_setup(cls):
        cls.src = tempfile.mkdtemp(prefix='nimbus-it-src-')
        with open(os.path.join(cls.src, 'bootstrap'), 'w') as f:
            f.write(HELLO_BOOTSTRAP)
        os.chmod(os.path.join(cls.src, 'bootstrap'), 0o755)
        with open(os.path.join(cls.src, 'function.sh'), 'w') as f:
            f.write(HELLO_FUNCTION)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(getattr(cls, 'src', '') or '/nonexistent', ignore_errors=True)
        super().tearDownClass()

    def cli(self, *args, timeout=30):
        return run_cli(list(args) + ['--endpoint', self.c.url], timeout=timeout)

    def deploy(self, name):
        p = self.cli('deploy', name, self.src, '--runtime', 'provided', '--handler', 'function.handler',
                     '--env', 'HELLO_KEY=V')
        self.assertEqual(p.returncode, 0, 'deploy failed: %r %r' % (p.stdout, p.stderr))
        return p

    def api_deploy(self, name):
        """Create the same function through the HTTP API (tests that are not about deploy)."""
        files = {'bootstrap': (HELLO_BOOTSTRAP, 0o755), 'function.sh': (HELLO_FUNCTION, 0o644)}
        self.new_function(name, files, handler='function.handler', env={'HELLO_KEY': 'V'})

    def test_deploy_creates_function(self):
        self.deploy('hello')
        st, h, cfg, raw = self.c.api('GET', '/2015-03-31/functions/hello/configuration')
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(cfg['Runtime'], 'provided')
        self.assertEqual(cfg['Handler'], 'function.handler')
        self.assertEqual(cfg['Environment']['Variables'], {'HELLO_KEY': 'V'})
        st, h, body = self.c.invoke('hello', b'{"name":"Ada"}')
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(json.loads(body), {'greeting': 'Hello, Ada!', 'k': 'V', 'handler': 'function.handler'})

    def test_deploy_again_updates_code(self):
        name = uniq('redeploy')
        self.deploy(name)
        src2 = tempfile.mkdtemp(prefix='nimbus-it-src2-')
        self.addCleanup(shutil.rmtree, src2, True)
        with open(os.path.join(src2, 'bootstrap'), 'w') as f:
            f.write(bootstrap('while next; do respond \'"v2"\'; done'))
        os.chmod(os.path.join(src2, 'bootstrap'), 0o755)
        p = self.cli('deploy', name, src2, '--runtime', 'provided', '--handler', 'function.handler')
        self.assertEqual(p.returncode, 0, p.stderr)
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual((st, body), (200, b'"v2"'))

    def test_invoke_prints_response(self):
        name = uniq('cli-inv')
        self.api_deploy(name)
        p = self.cli('invoke', name, '--payload', '{"name":"Ada"}')
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode().strip()
        self.assertEqual(json.loads(out), {'greeting': 'Hello, Ada!', 'k': 'V', 'handler': 'function.handler'})

    def test_invoke_log_prints_start_end_report_on_stderr(self):
        name = uniq('cli-log')
        self.api_deploy(name)
        p = self.cli('invoke', name, '--payload', '{"name":"Ada"}', '--log')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b'Hello, Ada!', p.stdout)
        err = p.stderr.decode('utf-8', 'replace')
        self.assertIn('START RequestId: ', err)
        self.assertIn('END RequestId: ', err)
        self.assertIn('REPORT RequestId: ', err)
        self.assertIn('handling ', err)
        self.assertNotIn('START RequestId', p.stdout.decode('utf-8', 'replace'))

    def test_invoke_function_error_is_shown(self):
        name = uniq('cli-ferr')
        files = {'bootstrap': (bootstrap('''
while next; do
  curl -sS -o /dev/null -X POST --data-binary '{"errorMessage":"boom","errorType":"MyError"}' "$API/invocation/$REQ_ID/error"
done'''), 0o755)}
        self.new_function(name, files)
        p = self.cli('invoke', name, '--payload', '{}')
        self.assertIn(b'boom', p.stdout + p.stderr)

    def test_list_shows_function(self):
        name = uniq('cli-list')
        self.api_deploy(name)
        p = self.cli('list')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(name, p.stdout.decode())

    def test_list_follows_every_page(self):
        # ListFunctions answers at most 50 per page: `nimbus list` follows NextMarker.
        prefix = uniq('page')
        names = ['%s-%02d' % (prefix, i) for i in range(53)]
        for n in names:
            self.api_deploy(n)
        p = self.cli('list')
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        for n in names:
            self.assertIn(n, out)

    def test_get_prints_json(self):
        name = uniq('cli-get')
        self.api_deploy(name)
        p = self.cli('get', name)
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        cfg = doc.get('Configuration', doc)
        self.assertEqual(cfg['FunctionName'], name)
        self.assertEqual(cfg['Handler'], 'function.handler')

    def test_delete_removes_function(self):
        name = uniq('cli-del')
        self.api_deploy(name)
        p = self.cli('delete', name)
        self.assertEqual(p.returncode, 0, p.stderr)
        st, h, body, raw = self.c.api('GET', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 404)

    def test_invoke_unknown_function_exits_nonzero_one_line_stderr(self):
        p = self.cli('invoke', uniq('cli-nosuch'), '--payload', '{}')
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(one_line(p.stderr), 'stderr is not exactly one line: %r' % p.stderr)

    def test_delete_unknown_function_exits_nonzero_one_line_stderr(self):
        p = self.cli('delete', uniq('cli-nosuch'))
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(one_line(p.stderr), 'stderr is not exactly one line: %r' % p.stderr)

    def test_help_exits_0(self):
        p = run_cli(['--help'])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue((p.stdout + p.stderr).strip())
        self.assertIn(b'invoke', p.stdout + p.stderr)

    def test_invoke_help_exits_0(self):
        p = run_cli(['invoke', '--help'])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b'--payload', p.stdout + p.stderr)

    def test_deploy_missing_args_exits_nonzero_one_line(self):
        p = self.cli('deploy')
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(one_line(p.stderr), 'stderr is not exactly one line: %r' % p.stderr)

    def test_unknown_subcommand_exits_nonzero(self):
        p = run_cli(['frobnicate'])
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip())

    def test_unreachable_endpoint_exits_nonzero_one_line(self):
        port = free_port()
        p = run_cli(['invoke', 'hello', '--payload', '{}', '--endpoint', 'http://127.0.0.1:%d' % port], timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(one_line(p.stderr), 'stderr is not exactly one line: %r' % p.stderr)
