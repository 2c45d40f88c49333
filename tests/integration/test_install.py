"""Nimbus installed like a real daemon: `make install`, `make deb`, the systemd
unit, the man page and completions, `serve --config`, the data-dir lock and
systemd's readiness notification (sd_notify(3): NOTIFY_SOCKET, READY=1).

The layout is the one systemd, man-db and bash-completion look in; the unit
is checked with `systemd-analyze verify` and its ExecStart command is run as
systemd would run it, with NOTIFY_SOCKET set."""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from nimbus_testlib import (REPO, LISTEN_RE, Server, ServerTestCase, free_port, nimbus_bin, run_cli, tail,
                            uniq)

PY_EVENT = b'{"name":"Ada"}'


def make(*args, timeout=300):
    p = subprocess.run(['make', '-s', '-C', REPO] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if p.returncode != 0:
        raise AssertionError('make %s failed (%d):\n%s\n%s' % (' '.join(args), p.returncode, tail(p.stdout),
                                                               tail(p.stderr)))
    return p.stdout.decode()


class Notify:
    """A unix datagram socket standing in for systemd's: NOTIFY_SOCKET's value
    (an abstract name, '@...', or a path) and the datagrams read from it."""

    def __init__(self, abstract=True, base=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = 'nimbus-it-notify-%d-%s' % (os.getpid(), uniq('n'))
            self.sock.bind('\0' + name)
            self.value = '@' + name
        else:
            self.value = os.path.join(base, 'notify.sock')
            self.sock.bind(self.value)
            os.chmod(self.value, 0o777)

    def recv(self, timeout=20):
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode()

    def wait_for(self, var, timeout=20):
        end = time.monotonic() + timeout
        seen = []
        while time.monotonic() < end:
            try:
                msg = self.recv(max(0.1, end - time.monotonic()))
            except socket.timeout:
                break
            seen.append(msg)
            if var in msg.split('\n'):
                return msg
        raise AssertionError('no %s on NOTIFY_SOCKET within %d s; got %r' % (var, timeout, seen))

    def close(self):
        self.sock.close()


class Daemon:
    """`nimbus serve` from a given binary and arguments (not the binary under test)."""

    def __init__(self, cmd, env=None):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, start_new_session=True)
        self.url = None
        self.err = []
        t = threading.Thread(target=lambda: self.err.append(self.proc.stderr.read()), daemon=True)
        t.start()
        end = time.monotonic() + 20
        while time.monotonic() < end:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            m = LISTEN_RE.match(line)
            if m:
                self.url = 'http://%s:%s' % m.groups()
                break
        if not self.url:
            self.kill()
            raise AssertionError('%s did not start: %s' % (' '.join(cmd), tail(b''.join(self.err))))
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def deploy_python(test, nimbus, url, parent):
    """`nimbus init` (the templates the binary finds itself), then the deploy
    command it prints, then an invoke: the function answers."""
    env = dict(os.environ, NIMBUS_ENDPOINT=url)
    name = uniq('py')
    p = subprocess.run([nimbus, 'init', name, '--template', 'python', '--dir', os.path.join(parent, name)],
                       capture_output=True, env=env, timeout=30)
    test.assertEqual(p.returncode, 0, p.stderr)
    cmd = p.stdout.decode().split(': ', 1)[1].strip()
    argv = shlex.split(cmd)
    test.assertEqual(argv[0], 'nimbus', cmd)
    p = subprocess.run([nimbus] + argv[1:], capture_output=True, env=env, timeout=60)
    test.assertEqual(p.returncode, 0, p.stderr)
    p = subprocess.run([nimbus, 'invoke', name, '--payload', PY_EVENT.decode()], capture_output=True, env=env,
                       timeout=60)
    test.assertEqual(p.returncode, 0, p.stderr)
    test.assertIn('Ada', json.loads(p.stdout)['message'])


def help_commands(nimbus):
    return run_cli(['help', '--commands']).stdout.decode().split() if nimbus is None else \
        subprocess.run([nimbus, 'help', '--commands'], capture_output=True).stdout.decode().split()


FLAG_RE = re.compile(r'(?<![\w-])(--[a-z][a-z0-9-]*)')


def own_flags(cmd, helptext):
    """The flags a command's help gives as its own: in its usage lines
    ("nimbus CMD ... [--x]") and its option lines ("  --x V   what it does");
    not those its prose mentions of other commands."""
    flags = set()
    for line in helptext.splitlines():
        if re.match(r'^\s*(usage:)?\s*nimbus %s\b' % re.escape(cmd), line, re.I) or \
                re.match(r'^\s+(-\w, )?--', line):
            flags |= set(FLAG_RE.findall(line.split('   ')[0] if not line.lstrip().startswith('-')
                                         else line.strip().split('  ')[0]))
    return flags


class InstallTest(unittest.TestCase):
    """`make install DESTDIR=D` (PREFIX /usr/local): the files, and the installed
    binary serving with the installed runtimes, found from its own path."""

    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix='nimbus-it-destdir-')
        os.chmod(cls.dest, 0o755)
        make('install', 'DESTDIR=' + cls.dest)
        cls.prefix = os.path.join(cls.dest, 'usr/local')
        cls.nimbus = os.path.join(cls.prefix, 'bin/nimbus')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.prefix, rel)

    def test_layout(self):
        for rel in ('bin/nimbus', 'share/nimbus/runtimes/python/bootstrap.py',
                    'share/nimbus/runtimes/node/bootstrap.js', 'share/nimbus/runtimes/bash/bootstrap.sh',
                    'share/nimbus/templates/python/app.py', 'share/man/man1/nimbus.1',
                    'share/bash-completion/completions/nimbus', 'share/zsh/site-functions/_nimbus',
                    'lib/systemd/system/nimbus.service', 'etc/nimbus/nimbus.conf', 'lib/libnimbus-runtime.a',
                    'include/nimbus_runtime.h'):
            self.assertTrue(os.path.isfile(self.path(rel)), rel)
        self.assertTrue(os.access(self.nimbus, os.X_OK))
        unit = open(self.path('lib/systemd/system/nimbus.service')).read()
        self.assertIn('\nExecStart=/usr/local/bin/nimbus serve --config /usr/local/etc/nimbus/nimbus.conf\n', unit)
        # The settings file is one the installed binary takes.
        conf = open(self.path('etc/nimbus/nimbus.conf')).read()
        self.assertRegex(conf, r'(?m)^data-dir = /var/lib/nimbus$')
        self.assertIn('\nStateDirectory=nimbus\n', unit)

    def test_installed_binary_serves_with_installed_runtimes(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-inst-')
        try:
            d = Daemon([self.nimbus, 'serve', '--listen', '127.0.0.1:0', '--data-dir', os.path.join(base, 'data')])
            try:
                deploy_python(self, self.nimbus, d.url, base)
            finally:
                self.assertEqual(d.stop(), 0, tail(b''.join(d.err)))
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def test_systemd_analyze_verify_accepts_the_unit(self):
        # verify checks that ExecStart's binary exists: the unit as it would be
        # with DESTDIR as its root.
        unit = open(self.path('lib/systemd/system/nimbus.service')).read()
        d = tempfile.mkdtemp(prefix='nimbus-it-unit-')
        try:
            f = os.path.join(d, 'nimbus.service')
            with open(f, 'w') as out:
                out.write(unit.replace('ExecStart=/usr/local/bin/nimbus', 'ExecStart=' + self.nimbus))
            p = subprocess.run(['systemd-analyze', 'verify', '--man=no', f], capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr.strip(), b'', p.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def man_text(self):
        p = subprocess.run(['man', '-l', '--no-hyphenation', '--no-justification', self.path('share/man/man1/nimbus.1')],
                           capture_output=True, env=dict(os.environ, MANWIDTH='200', MAN_KEEP_FORMATTING=''),
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return re.sub(r'.\x08', '', p.stdout.decode())

    def test_man_page_and_help_agree(self):
        text = self.man_text()
        commands_part = text.split('\nCOMMANDS\n', 1)[1].split('\nENVIRONMENT\n', 1)[0]
        sections = re.split(r'(?m)^   nimbus (\S+)\s*$', commands_part)
        man = {sections[i]: sections[i + 1] for i in range(1, len(sections) - 1, 2)}
        commands = help_commands(self.nimbus)
        self.assertIn('serve', commands)
        self.assertIn('deploy', commands)
        self.assertEqual(sorted(man), sorted(commands))
        top = subprocess.run([self.nimbus, '--help'], capture_output=True).stdout.decode()
        for flag in FLAG_RE.findall(top):
            self.assertIn(flag, text.split('\nCOMMANDS\n', 1)[0], flag)
        for cmd in commands:
            helptext = subprocess.run([self.nimbus, 'help', cmd], capture_output=True).stdout.decode()
            flags = set(FLAG_RE.findall(helptext))
            self.assertTrue(flags, cmd)
            self.assertEqual(set(FLAG_RE.findall(man[cmd])), flags, cmd)
            # The text itself, line by line (the page indents it).
            for line in helptext.splitlines():
                if line.strip():
                    self.assertIn(line.strip(), man[cmd], cmd)

    def complete(self, *words):
        """What the installed bash completion offers for `nimbus WORDS...` (the last one being typed)."""
        script = ('source %s\nCOMP_WORDS=(nimbus %s)\nCOMP_CWORD=%d\n_nimbus\nprintf "%%s\\n" "${COMPREPLY[@]}"\n'
                  % (shlex.quote(self.path('share/bash-completion/completions/nimbus')),
                     ' '.join(shlex.quote(w) for w in words), len(words)))
        p = subprocess.run(['bash', '--norc', '--noprofile', '-c', script], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.decode().split()

    def test_bash_completion_has_every_command_and_flag(self):
        commands = help_commands(self.nimbus)
        self.assertEqual(set(self.complete('')) - {'help', '--help', '--version'}, set(commands))
        self.assertEqual(self.complete('dep'), ['deploy'])
        for cmd in commands:
            helptext = subprocess.run([self.nimbus, 'help', cmd], capture_output=True).stdout.decode()
            offered = set(self.complete(cmd, '--'))
            self.assertTrue(own_flags(cmd, helptext), cmd)
            self.assertLessEqual(own_flags(cmd, helptext), offered, cmd)
        self.assertEqual(self.complete('serve', '--conf'), ['--config'])
        self.assertEqual(set(self.complete('trigger', '')), {'add', 'list', 'enable', 'disable', 'rm'})
        self.assertEqual(set(self.complete('init', 'x', '--template', '')),
                         {'python', 'node', 'c', 'bash', 'scf', 'fc'})
        self.assertEqual(set(self.complete('list', '--output', '')), {'json', 'table'})

    def zsh_run(self, *words):
        """The installed zsh completion run for `nimbus WORDS...` with zsh's
        completion helpers replaced by ones that print what they are given."""
        script = ('_describe() { print -rl -- "${(@P)${@[-1]}}" }\n'
                  '_arguments() { print -rl -- "$@" }\n'
                  '_files() { }\n'
                  'words=(nimbus %s); CURRENT=%d\n'
                  'source %s\n' % (' '.join(shlex.quote(w) for w in words), len(words) + 1,
                                    shlex.quote(self.path('share/zsh/site-functions/_nimbus'))))
        p = subprocess.run(['zsh', '-f', '-c', script], capture_output=True, timeout=30)
        self.assertEqual((p.returncode, p.stderr), (0, b''))
        return p.stdout.decode().splitlines()

    @unittest.skipUnless(shutil.which('zsh'), 'zsh is not installed')
    def test_zsh_completion_has_every_command_and_flag(self):
        p = subprocess.run(['zsh', '-n', self.path('share/zsh/site-functions/_nimbus')], capture_output=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        commands = help_commands(self.nimbus)
        self.assertEqual({line.split(':')[0] for line in self.zsh_run('')} - {'help'}, set(commands))
        for cmd in commands:
            helptext = subprocess.run([self.nimbus, 'help', cmd], capture_output=True).stdout.decode()
            specs = self.zsh_run(cmd, '')
            offered = {re.match(r'\*?(-[-\w]+)\[', sp).group(1) for sp in specs if re.match(r'\*?-[-\w]+\[', sp)}
            self.assertLessEqual(own_flags(cmd, helptext), offered, cmd)
        self.assertIn('1:subcommand:(add list enable disable rm)', self.zsh_run('trigger', ''))


@unittest.skipUnless(os.geteuid() == 0 and shutil.which('dpkg'), 'installing a package needs root and dpkg')
class DebTest(unittest.TestCase):
    """`make deb`, `dpkg -i`, the unit's ExecStart as systemd runs it, then
    `dpkg --purge` (and the nimbus user removed if the package made it)."""

    @classmethod
    def setUpClass(cls):
        cls.installed = False
        cls.had_user = True
        # A machine's own Nimbus is never replaced or removed by a test run.
        status = subprocess.run(['dpkg-query', '-W', '-f=${Status}', 'nimbus'], capture_output=True).stdout
        if b'installed' in status or os.path.exists('/usr/bin/nimbus'):
            raise unittest.SkipTest('a nimbus package (or /usr/bin/nimbus) is already on this machine')
        cls.had_user = subprocess.run(['getent', 'passwd', 'nimbus'], capture_output=True).returncode == 0
        t0 = time.monotonic()
        cls.deb = make('deb').strip().splitlines()[-1]
        cls.deb_seconds = time.monotonic() - t0
        cls.installed = False

    @classmethod
    def tearDownClass(cls):
        if cls.installed:
            subprocess.run(['dpkg', '--purge', 'nimbus'], capture_output=True, timeout=120)
        if not cls.had_user and subprocess.run(['getent', 'passwd', 'nimbus'], capture_output=True).returncode == 0:
            subprocess.run(['userdel', 'nimbus'], capture_output=True, timeout=30)

    def dpkg(self, *args):
        for _ in range(30):   # another dpkg or apt may hold its lock a moment
            p = subprocess.run(['dpkg'] + list(args), capture_output=True, timeout=300)
            if p.returncode == 0 or b'lock' not in p.stderr:
                return p
            time.sleep(2)
        return p

    def test_deb_installs_runs_and_removes(self):
        self.assertTrue(self.deb.endswith('.deb') and os.path.isfile(self.deb), self.deb)
        info = subprocess.run(['dpkg-deb', '-f', self.deb, 'Depends'], capture_output=True).stdout.decode()
        for dep in ('libcjson1', 'libsqlite3-0', 'libarchive13', 'libseccomp2', 'libcurl4', 'libssl3', 'zlib1g',
                    'e2fsprogs'):
            self.assertIn(dep, info)
        p = self.dpkg('-i', self.deb)
        type(self).installed = p.returncode == 0
        self.assertEqual(p.returncode, 0, p.stderr)
        for f in ('/usr/bin/nimbus', '/usr/share/nimbus/runtimes/python/bootstrap.py',
                  '/usr/lib/systemd/system/nimbus.service', '/etc/nimbus/nimbus.conf',
                  '/usr/share/bash-completion/completions/nimbus', '/usr/share/zsh/vendor-completions/_nimbus'):
            self.assertTrue(os.path.isfile(f), f)
        self.assertEqual(subprocess.run(['getent', 'passwd', 'nimbus'], capture_output=True).returncode, 0)
        self.assertEqual(subprocess.run(['man', '-w', 'nimbus'], capture_output=True).stdout.decode().strip(),
                         '/usr/share/man/man1/nimbus.1')
        # As installed, man:nimbus(1) included.
        p = subprocess.run(['systemd-analyze', 'verify', '/usr/lib/systemd/system/nimbus.service'],
                           capture_output=True, timeout=60)
        self.assertEqual((p.returncode, p.stderr.strip()), (0, b''))

        # ExecStart as systemd runs it (with NOTIFY_SOCKET), on a port and a data
        # dir of the test's own: flags win over /etc/nimbus/nimbus.conf.
        unit = open('/usr/lib/systemd/system/nimbus.service').read()
        exec_start = shlex.split(re.search(r'(?m)^ExecStart=(.*)$', unit).group(1))
        self.assertEqual(exec_start[:2], ['/usr/bin/nimbus', 'serve'])
        base = tempfile.mkdtemp(prefix='nimbus-it-deb-')
        os.chmod(base, 0o755)
        notify = Notify()
        try:
            env = dict(os.environ, NOTIFY_SOCKET=notify.value)
            d = Daemon(exec_start + ['--listen', '127.0.0.1:0', '--data-dir', os.path.join(base, 'data')], env=env)
            try:
                self.assertIn('READY=1', notify.wait_for('READY=1').split('\n'))
                # user = nimbus in the settings file: the daemon dropped to it.
                status = open('/proc/%d/status' % d.proc.pid).read()
                uid = int(re.search(r'(?m)^Uid:\s+(\d+)', status).group(1))
                self.assertEqual(uid, int(subprocess.run(['id', '-u', 'nimbus'], capture_output=True).stdout))
                deploy_python(self, '/usr/bin/nimbus', d.url, base)
            finally:
                self.assertEqual(d.stop(), 0, tail(b''.join(d.err)))
            notify.wait_for('STOPPING=1')
        finally:
            notify.close()
            shutil.rmtree(base, ignore_errors=True)

        p = self.dpkg('--purge', 'nimbus')
        self.assertEqual(p.returncode, 0, p.stderr)
        type(self).installed = False
        for f in ('/usr/bin/nimbus', '/usr/lib/systemd/system/nimbus.service', '/etc/nimbus/nimbus.conf'):
            self.assertFalse(os.path.exists(f), f)

    def test_deb_builds_quickly(self):
        self.assertLess(self.deb_seconds, 60)


class ServeConfigTest(unittest.TestCase):
    """`nimbus serve --config FILE`: the option names without --, flags win."""

    def setUp(self):
        self.base = tempfile.mkdtemp(prefix='nimbus-it-conf-')
        self.conf = os.path.join(self.base, 'nimbus.conf')

    def tearDown(self):
        shutil.rmtree(self.base, ignore_errors=True)

    def write(self, text):
        with open(self.conf, 'w') as f:
            f.write(text)

    def arn_of_new_function(self, url):
        name = uniq('cf')
        src = os.path.join(self.base, name)
        os.mkdir(src)
        with open(os.path.join(src, 'bootstrap'), 'w') as f:
            f.write('#!/bin/sh\nsleep 60\n')
        os.chmod(os.path.join(src, 'bootstrap'), 0o755)
        p = run_cli(['deploy', name, src, '--runtime', 'provided', '--handler', 'x', '--endpoint', url])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run_cli(['get', name, '--endpoint', url, '--output', 'json'])
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)['Configuration']['FunctionArn']

    def test_settings_from_the_file(self):
        port = free_port()
        self.write('# settings\nlisten = 127.0.0.1:%d\ndata-dir = %s\n'
                   'region = "eu-west-3"   # Paris\naccount-id = 123456789012\n'
                   % (port, os.path.join(self.base, 'data')))
        d = Daemon([nimbus_bin(), 'serve', '--config', self.conf])
        try:
            self.assertEqual(d.url, 'http://127.0.0.1:%d' % port)
            self.assertTrue(os.path.isfile(os.path.join(self.base, 'data', 'nimbus.db')))
            self.assertTrue(self.arn_of_new_function(d.url).startswith('arn:aws:lambda:eu-west-3:123456789012:'))
        finally:
            self.assertEqual(d.stop(), 0, tail(b''.join(d.err)))

    def test_flags_win_over_the_file(self):
        busy = socket.socket()
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        try:
            self.write('listen = 127.0.0.1:%d\nregion = eu-west-3\naccount-id = 123456789012\n'
                       % busy.getsockname()[1])
            s = Server(['--config', self.conf, '--region', 'eu-central-1']).start()
            try:
                self.assertTrue(self.arn_of_new_function(s.url).startswith(
                    'arn:aws:lambda:eu-central-1:123456789012:'))
            finally:
                s.stop()
        finally:
            busy.close()

    def test_a_bad_file_is_one_line_naming_file_and_line(self):
        self.write('keep-alive = 60\nbogus = 1\n')
        p = subprocess.run([nimbus_bin(), 'serve', '--config', self.conf, '--data-dir',
                            os.path.join(self.base, 'data')], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, b'')
        self.assertEqual(p.stderr.decode(), "nimbus serve: %s:2: unknown setting 'bogus' (the names are nimbus "
                                            "serve's options without --)\n" % self.conf)
        p = subprocess.run([nimbus_bin(), 'serve', '--config', os.path.join(self.base, 'none.conf')],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn('none.conf', p.stderr.decode())
        self.assertEqual(p.stderr.count(b'\n'), 1)

    def test_help_documents_the_file(self):
        p = run_cli(['help', 'serve'])
        self.assertIn(b'--config FILE', p.stdout)


class DataDirLockTest(ServerTestCase):
    """One daemon per data dir: a second one exits 1 naming the holder."""

    def test_second_daemon_on_the_same_data_dir_refuses(self):
        s = type(self).server
        p = subprocess.run([nimbus_bin(), 'serve', '--listen', '127.0.0.1:0', '--data-dir', s.data_dir],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, b'')
        self.assertEqual(p.stderr.decode(), 'nimbus serve: data dir %s is in use by nimbus serve (pid %d)\n'
                         % (os.path.realpath(s.data_dir), s.proc.pid))
        with open(os.path.join(s.data_dir, 'nimbus.lock')) as f:
            self.assertEqual(f.read().strip(), str(s.proc.pid))
        # The first one is untouched.
        st, _, _ = self.c.request('GET', '/2015-03-31/functions')
        self.assertEqual(st, 200)

    def test_the_lock_goes_with_its_daemon(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-lock-')
        data = os.path.join(base, 'data')
        try:
            first = Server(data_dir=data, base_dir=base).start()
            first.kill()     # SIGKILL: the kernel drops the lock
            second = Server(data_dir=data, base_dir=base).start()
            second.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


class NotifyTest(unittest.TestCase):
    """sd_notify(3): READY=1 once the API listens, STOPPING=1 at SIGTERM, on an
    abstract socket ('@name') and on a path; without NOTIFY_SOCKET, nothing."""

    def serve_with(self, notify):
        old = os.environ.get('NOTIFY_SOCKET')
        os.environ['NOTIFY_SOCKET'] = notify.value
        try:
            return Server().start()
        finally:
            if old is None:
                del os.environ['NOTIFY_SOCKET']
            else:
                os.environ['NOTIFY_SOCKET'] = old

    def check(self, notify):
        s = self.serve_with(notify)
        try:
            ready = notify.wait_for('READY=1')
            self.assertIn('STATUS=listening on %s' % s.url, ready.split('\n'))
            # Ready means the API answers.
            st, _, _ = s.client().request('GET', '/2015-03-31/functions')
            self.assertEqual(st, 200)
        finally:
            s.stop()
        self.assertEqual(notify.wait_for('STOPPING=1'), 'STOPPING=1')

    def test_abstract_socket(self):
        n = Notify(abstract=True)
        try:
            self.check(n)
        finally:
            n.close()

    def test_path_socket(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-notify-')
        n = Notify(abstract=False, base=base)
        try:
            self.check(n)
        finally:
            n.close()
            shutil.rmtree(base, ignore_errors=True)
