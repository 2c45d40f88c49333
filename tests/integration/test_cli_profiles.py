"""The client's profiles, --version, --output json, logs --tail/--follow/timestamps, help texts
that list every flag, and what it says to an endpoint that is not Nimbus: the real `nimbus`
binary against a real `nimbus serve`."""

import http.server
import json
import os
import pty
import re
import shutil
import subprocess
import tempfile
import threading
import time

from nimbus_testlib import ServerTestCase, ECHO, bootstrap, fn_files, nimbus_bin, run_cli, uniq, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ISO = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|\+0000) ')


def run_env(args, env, timeout=30):
    return subprocess.run([nimbus_bin()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, timeout=timeout)


class CliProfilesTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.home = tempfile.mkdtemp(prefix='nimbus-it-home-')
        self.addCleanup(shutil.rmtree, self.home, True)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ('NIMBUS_ENDPOINT', 'NIMBUS_PROFILE', 'NIMBUS_CONFIG', 'XDG_CONFIG_HOME')}
        self.env['HOME'] = self.home

    def write_config(self, text, path=None):
        path = path or os.path.join(self.home, '.config', 'nimbus', 'config')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def cli(self, *args):
        return run_cli(list(args) + ['--endpoint', self.c.url])

    # -- profiles and precedence

    def test_default_profile_names_the_endpoint(self):
        self.write_config('[default]\nendpoint = %s\n' % self.c.url)
        p = run_env(['list', '-o', 'json'], self.env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIsInstance(json.loads(p.stdout), list)

    def test_precedence_flag_env_profile_default(self):
        dead = 'http://127.0.0.1:9'
        self.write_config('[default]\nendpoint = %s\n[profile good]\nendpoint = %s\n'
                          '[profile bad]\nendpoint = %s\naccess_key_id = AK\nsecret_access_key = SK\n'
                          % (dead, self.c.url, dead))
        # the default profile points nowhere
        p = run_env(['list'], self.env)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'cannot reach Nimbus at http://127.0.0.1:9', p.stderr)
        # --profile picks another; NIMBUS_PROFILE too; the flag beats the environment
        self.assertEqual(run_env(['list', '--profile', 'good'], self.env).returncode, 0)
        env = dict(self.env, NIMBUS_PROFILE='good')
        self.assertEqual(run_env(['list'], env).returncode, 0)
        p = run_env(['list', '--profile', 'bad'], env)
        self.assertIn(b'http://127.0.0.1:9', p.stderr)
        # NIMBUS_ENDPOINT beats the profile, --endpoint beats both
        env = dict(self.env, NIMBUS_ENDPOINT=self.c.url)
        self.assertEqual(run_env(['list', '--profile', 'bad'], env).returncode, 0)
        env = dict(self.env, NIMBUS_ENDPOINT=dead)
        self.assertEqual(run_env(['list', '--profile', 'bad', '--endpoint', self.c.url], env).returncode, 0)

    def test_unknown_profile_is_an_error(self):
        path = self.write_config('[default]\nendpoint = %s\n' % self.c.url)
        p = run_env(['list', '--profile', 'nope'], self.env)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.decode(), "nimbus list: no profile 'nope' in %s\n" % path)
        self.assertEqual(p.stdout, b'')

    def test_xdg_config_home_and_nimbus_config(self):
        xdg = os.path.join(self.home, 'xdg')
        self.write_config('[profile x]\nendpoint = %s\n' % self.c.url, os.path.join(xdg, 'nimbus', 'config'))
        env = dict(self.env, XDG_CONFIG_HOME=xdg)
        self.assertEqual(run_env(['list', '--profile', 'x'], env).returncode, 0)
        other = self.write_config('[profile y]\nendpoint = %s\n' % self.c.url, os.path.join(self.home, 'o.ini'))
        env = dict(self.env, NIMBUS_CONFIG=other)
        self.assertEqual(run_env(['list', '--profile', 'y'], env).returncode, 0)

    # -- --version

    def test_version_is_the_cmake_project_version(self):
        with open(os.path.join(REPO, 'CMakeLists.txt')) as f:
            want = re.search(r'project\(nimbus VERSION ([0-9.]+)', f.read()).group(1)
        for flag in ('--version', '-V'):
            p = run_cli([flag])
            self.assertEqual((p.returncode, p.stdout.decode()), (0, 'nimbus %s\n' % want))

    # -- --output json

    def test_output_json_parses_for_every_data_command(self):
        name = uniq('oj')
        src = tempfile.mkdtemp(prefix='nimbus-it-oj-')
        self.addCleanup(shutil.rmtree, src, True)
        with open(os.path.join(src, 'bootstrap'), 'w') as f:
            f.write(ECHO)
        os.chmod(os.path.join(src, 'bootstrap'), 0o755)
        runs = [
            ('deploy', name, src, '--runtime', 'provided', '--handler', 'x.h'),
            ('list',), ('get', name), ('invoke', name, '--payload', '{"a":1}'),
            ('invoke', name, '--async'), ('logs', name), ('instances', name), ('events', name),
            ('dlq', 'list', name), ('url', 'create', name), ('url', 'get', name),
            ('trigger', 'add', name, '--schedule', 'rate(1 day)', '--name', 't1'),
            ('trigger', 'list', name), ('layer', 'list'),
        ]
        for args in runs:
            p = self.cli(*(list(args) + ['-o', 'json']))
            self.assertEqual(p.returncode, 0, '%s: %r' % (args, p.stderr))
            out = p.stdout.decode()
            if args[0] == 'logs':
                for line in out.splitlines():
                    ev = json.loads(line)      # one object per line
                    self.assertIn('message', ev)
                    self.assertIn('time', ev)
            else:
                json.loads(out)
                # two blanks per level, never tabs
                self.assertNotIn('\t', out, args)
                if '\n  ' not in out:
                    self.assertIn(out.strip()[:1] + out.strip()[-1:], ('[]', '{}'), (args, out))
        inv = json.loads(self.cli('invoke', name, '--payload', '{"a":1}', '-o', 'json').stdout)
        self.assertEqual((inv['StatusCode'], inv['Payload'], inv['ExecutedVersion']), (200, {'a': 1}, '$LATEST'))
        # --json stays an alias
        self.assertEqual(json.loads(self.cli('trigger', 'list', name, '--json').stdout)[0]['Name'], 't1')

    def test_invoke_newline_only_on_a_terminal(self):
        name = uniq('tty')
        self.new_function(name, fn_files(ECHO))
        p = self.cli('invoke', name, '--payload', '{"a":1}')
        self.assertEqual(p.stdout, b'{"a":1}', 'piped: the exact bytes')
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(nimbus_bin(), [nimbus_bin(), 'invoke', name, '--payload', '{"a":1}', '--endpoint', self.c.url])
        out = b''
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.waitpid(pid, 0)
        self.assertEqual(out.replace(b'\r\n', b'\n'), b'{"a":1}\n')

    # -- logs

    def logged_function(self, calls):
        name = uniq('lg')
        self.new_function(name, fn_files(bootstrap('while next; do echo "line-$(cat "$T/ev")"; respond_file "$T/ev"; done')))
        for i in range(calls):
            st, h, body = self.c.invoke(name, b'%d' % i)
            self.assertEqual(st, 200, body)
        self.assertTrue(wait_for(lambda: b'line-%d' % (calls - 1) in self.cli('logs', name).stdout, 10))
        return name

    def test_logs_lines_have_utc_timestamps_and_tail(self):
        name = self.logged_function(3)
        out = self.cli('logs', name).stdout.decode().splitlines()
        self.assertTrue(out)
        for line in out:
            self.assertRegex(line, ISO)
        tail = self.cli('logs', name, '--tail', '2').stdout.decode().splitlines()
        self.assertEqual(tail, out[-2:])
        js = [json.loads(x) for x in self.cli('logs', name, '--tail', '3', '--json').stdout.decode().splitlines()]
        self.assertEqual([e['message'] for e in js], [ln.split(' ', 1)[1] for ln in out[-3:]])

    def test_logs_follow_starts_at_the_newest_line(self):
        name = self.logged_function(2)
        proc = subprocess.Popen([nimbus_bin(), 'logs', name, '--follow', '--endpoint', self.c.url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = []
        t = threading.Thread(target=lambda: [lines.append(x.decode()) for x in iter(proc.stdout.readline, b'')],
                             daemon=True)
        t.start()
        try:
            time.sleep(1.0)
            self.c.invoke(name, b'77')
            self.assertTrue(wait_for(lambda: any('line-77' in x for x in lines), 10), lines)
            self.assertFalse(any('line-0' in x or 'line-1' in x for x in lines), 'old lines printed: %r' % lines)
        finally:
            proc.terminate()
            proc.wait(5)

    def test_init_failure_shows_report_for_its_call(self):
        name = uniq('initfail')
        self.new_function(name, fn_files('#!/bin/sh\necho init-went-wrong >&2\nexit 3\n'))
        st, h, body = self.c.invoke(name, b'{}')
        rid = json.loads(body)['errorMessage'].split()[1]
        want = 'REPORT RequestId: %s' % rid
        self.assertTrue(wait_for(lambda: want.encode() in self.cli('logs', name, '--request-id', rid).stdout, 10))
        out = self.cli('logs', name, '--request-id', rid).stdout.decode()
        self.assertIn('START RequestId: %s' % rid, out)
        self.assertIn('END RequestId: %s' % rid, out)
        self.assertIn('Status: error', out)

    # -- help

    def test_help_lists_every_command_and_every_flag(self):
        top = run_cli(['--help']).stdout.decode()
        with open(os.path.join(REPO, 'src', 'cli', 'cli.c')) as f:
            cli_c = f.read()
        table = re.findall(r'\{"([a-z-]+)", (cli_cmd_\w+), cli_usage_\w+\}', cli_c)
        self.assertTrue(table)
        by_run = {}
        for cmd, run in table:
            self.assertRegex(top, r'(?m)^  %s\b' % re.escape(cmd), 'nimbus --help misses %s' % cmd)
            by_run[run] = cmd
        # Each cli_opt_t table, in the file that defines the command(s) using it.
        srcdir = os.path.join(REPO, 'src', 'cli')
        for fname in sorted(os.listdir(srcdir)):
            if not fname.endswith('.c'):
                continue
            with open(os.path.join(srcdir, fname)) as f:
                text = f.read()
            cmds = [by_run[r] for r in re.findall(r'^int (cli_cmd_\w+)\(', text, re.M) if r in by_run]
            opts = set()
            for body in re.findall(r'cli_opt_t\s+\w+\[\]\s*=\s*\{(.*?)\};', text, re.S):
                opts.update(re.findall(r'\{\s*"([a-z0-9-]+)"\s*,\s*(?:true|false)\s*\}', body))
            if not opts:
                continue
            self.assertTrue(cmds, '%s has option tables but no command' % fname)
            helps = ''.join(run_cli([c, '--help']).stdout.decode() for c in cmds)
            for o in sorted(opts):
                self.assertIn('--' + o, helps, '%s (%s): --%s is missing from --help' % (fname, cmds, o))
        for cmd, _ in table:
            h = run_cli([cmd, '--help'])
            self.assertEqual(h.returncode, 0)
            for g in ('--endpoint', '--profile', '--output'):
                self.assertIn(g, h.stdout.decode(), '%s --help misses %s' % (cmd, g))

    def test_help_examples_use_runtimes_the_server_accepts(self):
        text = ''.join(run_cli([c, '--help']).stdout.decode() for c in ('deploy', 'init', 'layer')) + \
            run_cli(['--help']).stdout.decode()
        self.assertNotIn('python3.12', text)

    def test_unknown_flag_says_unknown_option(self):
        p = run_cli(['list', '--nope'])
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.decode(), "nimbus list: unknown option --nope (see 'nimbus list --help')\n")

    def test_deploy_ranges_match_the_server(self):
        for flag, bad, good in (('--memory', '127', '10240'), ('--timeout', '901', '900')):
            p = run_cli(['deploy', 'x', '/nonexistent', '--runtime', 'provided', '--handler', 'h', flag, bad])
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(flag, p.stderr.decode())
        p = run_cli(['deploy', 'x', '/nonexistent', '--runtime', 'provided', '--handler', 'h', '--memory', '10241'])
        self.assertIn(b'from 128 to 10240', p.stderr)

    # -- an endpoint that is not Nimbus

    def test_not_a_nimbus_endpoint(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b'<html>hello</html>' if self.path.startswith('/2015') else b'not here'
                self.send_response(200 if self.path.startswith('/2015') else 404)
                self.send_header('Content-Type', 'text/html')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        srv = http.server.HTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.shutdown)
        url = 'http://127.0.0.1:%d' % srv.server_address[1]
        for args in (['list'], ['logs', 'f']):
            p = run_cli(args + ['--endpoint', url])
            self.assertEqual(p.returncode, 1)
            self.assertEqual(p.stdout, b'')
            err = p.stderr.decode()
            self.assertTrue(err.startswith('nimbus %s: %s is not a Nimbus endpoint' % (args[0], url)), err)
            self.assertEqual(err.count('\n'), 1, err)

    def test_listen_error_is_said_once(self):
        import socket
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        s.listen()
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        d = tempfile.mkdtemp(prefix='nimbus-it-dd-')
        self.addCleanup(shutil.rmtree, d, True)
        p = subprocess.run([nimbus_bin(), 'serve', '--listen', '127.0.0.1:%d' % port, '--data-dir', d],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        err = p.stderr.decode()
        self.assertEqual(err.count('listen 127.0.0.1:%d' % port), 1, err)
