"""The instance sandbox (issue 3): every escape attempt is a function deployed and invoked for
real, and must fail while the platform stays healthy and the next call succeeds; abuse (fork bomb,
memory hog, full /tmp, CPU spinner, leftover processes) must stay inside the instance.

These run against `nimbus serve --sandbox` whatever the default is."""

import errno
import json
import os
import shutil
import socket
import tempfile
import threading
import unittest
import uuid

from nimbus_testlib import ServerTestCase, sha256_hex, make_zip, run_cli, uniq, wait_for, comm, parent_of


def src(text):
    lines = text.strip('\n').split('\n')
    pad = len(lines[0]) - len(lines[0].lstrip())
    return '\n'.join(line[pad:] for line in lines) + '\n'


# One handler, many probes: each returns what happened, never raises.
PROBE = src('''
    import ctypes, errno, os, socket, stat, subprocess

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def err(e):
        return {'errno': e.errno, 'name': errno.errorcode.get(e.errno, '?')}

    def try_call(f):
        try:
            return {'ok': f()}
        except OSError as e:
            return err(e)

    def rc(v):
        e = ctypes.get_errno()
        return {'ret': v, 'errno': e, 'name': errno.errorcode.get(e, '?')}

    def handler(event, context):
        op = event['op']
        if op == 'read':
            return try_call(lambda: open(event['path'], 'rb').read(64).hex())
        if op == 'listdir':
            return try_call(lambda: sorted(os.listdir(event['path'])))
        if op == 'write':
            def w():
                with open(event['path'], 'w') as f:
                    f.write('x')
                return True
            return try_call(w)
        if op == 'kill0':
            return try_call(lambda: os.kill(event['pid'], 0))
        if op == 'procs':
            return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
        if op == 'ptrace':
            PTRACE_ATTACH, PTRACE_TRACEME = 16, 0
            out = {'attach1': rc(libc.ptrace(PTRACE_ATTACH, 1, None, None))}
            pid = os.fork()
            if pid == 0:
                os._exit(0 if libc.ptrace(PTRACE_TRACEME, 0, None, None) == 0 else 1)
            _, st = os.waitpid(pid, 0)
            out['traceme_ok'] = os.waitstatus_to_exitcode(st) == 0
            p = subprocess.run(['strace', '-f', '/bin/true'], capture_output=True, timeout=10)
            out['strace_rc'] = p.returncode
            out['strace_err'] = p.stderr.decode(errors='replace')[-300:]
            return out
        if op == 'mount':
            os.makedirs('/tmp/m', exist_ok=True)
            return rc(libc.mount(b'tmpfs', b'/tmp/m', b'tmpfs', 0, None))
        if op == 'module':
            r = {'init_module': rc(libc.syscall(175, None, 0, b''))}
            fd = os.open('/var/task/app.py', os.O_RDONLY)
            r['finit_module'] = rc(libc.syscall(313, fd, b'', 0))
            return r
        if op == 'unshare':
            flags = {'user': 0x10000000, 'net': 0x40000000, 'mnt': 0x00020000, 'pid': 0x20000000}
            r = {k: rc(libc.unshare(v)) for k, v in flags.items()}
            # clone(2) itself with a namespace flag (SIGCHLD = 17)
            r['clone_newuser'] = rc(libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0))
            p = subprocess.run(['unshare', '-U', 'true'], capture_output=True, timeout=10)
            r['unshare_cmd_rc'] = p.returncode
            return r
        if op == 'connect':
            def c():
                s = socket.create_connection(('127.0.0.1', event['port']), timeout=2)
                s.close()
                return True
            return try_call(c)
        if op == 'setuid':
            st = os.stat('/usr/bin/su')
            p = subprocess.run(['/usr/bin/su', '-c', 'id -u', 'root'], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=10)
            q = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/tmp'], capture_output=True, timeout=10)
            return {'setuid_bit': bool(st.st_mode & stat.S_ISUID), 'su_rc': p.returncode,
                    'su_out': p.stdout.decode(errors='replace'), 'mount_rc': q.returncode,
                    'nnp': open('/proc/self/status').read().split('NoNewPrivs:')[1].split()[0]}
        if op == 'env':
            r = {'env': dict(os.environ)}
            r['init_environ'] = try_call(lambda: open('/proc/1/environ', 'rb').read().decode(errors='replace'))
            return r
        if op == 'whoami':
            s = open('/proc/self/status').read()
            caps = {l.split(':')[0]: l.split(':')[1].strip() for l in s.splitlines() if l.startswith('Cap')}
            return {'uid': os.getuid(), 'gid': os.getgid(), 'caps': caps,
                    'seccomp': s.split('Seccomp:')[1].split()[0], 'cwd': os.getcwd(),
                    'task_root': os.environ.get('LAMBDA_TASK_ROOT'), 'hostname': socket.gethostname()}
        return {'unknown': op}
''')


def skip_unless_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest('the sandbox needs root on this host')


class SandboxEscapeTest(ServerTestCase):
    server_args = ('--sandbox',)
    MARKER = 'NIMBUS_TEST_DAEMON_SECRET'

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        os.environ[cls.MARKER] = 'daemon-only-' + uuid.uuid4().hex
        try:
            super().setUpClass()
        finally:
            os.environ.pop(cls.MARKER, None)

    @classmethod
    def class_setup(cls):
        cls.probe = uniq('probe')
        st, h, body, raw = cls.c.create_function(cls.probe, {'app.py': PROBE}, runtime='python3.11',
                                                 handler='app.handler', memory=256, timeout=20,
                                                 env={'MY_OWN_VAR': 'mine'})
        assert st == 201, raw
        cls.other = uniq('other')
        cls.other_zip = make_zip({'bootstrap': ('#!/bin/sh\nexit 0\n', 0o755), 'secret.txt': 'other-function-secret'})
        st, h, body, raw = cls.c.create_function(cls.other, cls.other_zip)
        assert st == 201, raw

    def call(self, op, **kw):
        kw['op'] = op
        st, h, body = self.c.invoke(self.probe, json.dumps(kw).encode(), timeout=60)
        self.assertEqual(st, 200, body[:500])
        self.assertNotIn('x-amz-function-error', h, body[:1000])
        return json.loads(body)

    def tearDown(self):
        # After every attempt the platform answers and the function still works.
        if type(self).server is not None and type(self).server.alive():
            doc = self.call('whoami')
            self.assertEqual(doc['uid'], 993)
        super().tearDown()

    def assertDenied(self, r, *names):
        self.assertIn(r.get('name'), names, r)

    def test_runs_unprivileged_with_seccomp_in_var_task(self):
        doc = self.call('whoami')
        self.assertEqual((doc['uid'], doc['gid']), (993, 993))
        for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):
            self.assertEqual(int(doc['caps'][k], 16), 0, doc)
        self.assertEqual(doc['seccomp'], '2')
        self.assertEqual(doc['cwd'], '/var/task')
        self.assertEqual(doc['task_root'], '/var/task')

    def test_cannot_read_host_shadow(self):
        self.assertTrue(os.path.exists('/etc/shadow'))
        self.assertDenied(self.call('read', path='/etc/shadow'), 'ENOENT', 'EACCES')
        self.assertDenied(self.call('read', path='/proc/1/root/etc/shadow'), 'ENOENT', 'EACCES')

    def test_cannot_read_another_functions_code(self):
        host = os.path.join(self.server.data_dir, 'code', sha256_hex(self.other_zip), 'tree', 'secret.txt')
        self.assertTrue(os.path.exists(host), host)
        self.assertDenied(self.call('read', path=host), 'ENOENT', 'EACCES')
        self.assertEqual(self.call('listdir', path='/var/task')['ok'], ['app.py'])

    def test_cannot_read_data_dir_or_sqlite(self):
        db = os.path.join(self.server.data_dir, 'nimbus.db')
        self.assertTrue(os.path.exists(db))
        self.assertDenied(self.call('read', path=db), 'ENOENT', 'EACCES')
        self.assertDenied(self.call('listdir', path=self.server.data_dir), 'ENOENT', 'EACCES')

    def test_cannot_write_var_task_or_root(self):
        self.assertDenied(self.call('write', path='/var/task/app.py'), 'EROFS', 'EACCES')
        self.assertDenied(self.call('write', path='/var/task/new.py'), 'EROFS', 'EACCES')
        self.assertDenied(self.call('write', path='/etc/passwd'), 'EROFS', 'EACCES')
        self.assertTrue(self.call('write', path='/tmp/fine')['ok'])

    def test_cannot_see_or_signal_host_processes(self):
        daemon = self.server.proc.pid
        self.assertDenied(self.call('kill0', pid=daemon), 'ESRCH')
        self.assertDenied(self.call('kill0', pid=os.getpid()), 'ESRCH')
        procs = self.call('procs')
        # its init (1), its runtime and what the runtime started: nothing of the host
        self.assertIn(1, procs)
        self.assertLess(len(procs), 8, procs)
        self.assertNotIn(daemon, procs)

    def test_cannot_ptrace(self):
        r = self.call('ptrace')
        self.assertDenied(r['attach1'], 'EPERM')
        self.assertFalse(r['traceme_ok'], r)
        self.assertNotEqual(r['strace_rc'], 0, r)

    def test_cannot_mount(self):
        self.assertDenied(self.call('mount'), 'EPERM')

    def test_cannot_load_a_module(self):
        r = self.call('module')
        self.assertDenied(r['init_module'], 'EPERM')
        self.assertDenied(r['finit_module'], 'EPERM')

    def test_cannot_create_namespaces(self):
        r = self.call('unshare')
        for k in ('user', 'net', 'mnt', 'pid', 'clone_newuser'):
            self.assertDenied(r[k], 'EPERM')
        self.assertNotEqual(r['unshare_cmd_rc'], 0)

    def test_network_none_reaches_no_host_loopback_service(self):
        self.assertDenied(self.call('connect', port=self.server.port), 'ECONNREFUSED', 'ENETUNREACH')
        # another service on the host's loopback
        srv = socket.socket()
        srv.bind(('127.0.0.1', 0))
        srv.listen(8)
        self.addCleanup(srv.close)
        port = srv.getsockname()[1]
        self.assertDenied(self.call('connect', port=port), 'ECONNREFUSED', 'ENETUNREACH')
        srv.settimeout(0.2)
        self.assertRaises(socket.timeout, srv.accept)

    def test_network_host_is_an_opt_in(self):
        name = uniq('hostnet')
        st, h, body, raw = self.c.create_function(name, {'app.py': PROBE}, runtime='python3.11',
                                                  handler='app.handler', memory=256, timeout=20,
                                                  extra={'Network': 'host'})
        self.assertEqual(st, 201, raw)
        self.assertEqual(body['Network'], 'host')
        srv = socket.socket()
        srv.bind(('127.0.0.1', 0))
        srv.listen(8)
        self.addCleanup(srv.close)
        st, h, out = self.c.invoke(name, json.dumps({'op': 'connect', 'port': srv.getsockname()[1]}).encode())
        self.assertEqual(json.loads(out), {'ok': True})
        st, h, cfg, raw = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % self.probe)
        self.assertEqual(cfg['Network'], 'none')

    def test_setuid_binaries_do_not_escalate(self):
        r = self.call('setuid')
        self.assertTrue(r['setuid_bit'], r)
        self.assertEqual(r['nnp'], '1')
        self.assertNotEqual(r['su_rc'], 0, r)
        self.assertNotIn('0', r['su_out'].split(), r)
        self.assertNotEqual(r['mount_rc'], 0, r)

    def test_cannot_see_the_daemons_environment(self):
        r = self.call('env')
        env = r['env']
        self.assertEqual(env.get('MY_OWN_VAR'), 'mine')
        self.assertNotIn(self.MARKER, env)
        leaked = [k for k in env if k in os.environ and k not in ('PATH', 'LANG', 'TZ', 'PWD')
                  and not k.startswith(('AWS_', 'LAMBDA_', '_HANDLER', 'SCF_'))]
        self.assertEqual(leaked, [], env)
        init = r['init_environ']
        self.assertTrue('errno' in init or self.MARKER not in init.get('ok', ''), init)


FORK_BOMB = src('''
    import os, time
    def handler(event, context):
        n = 0
        try:
            while n < 5000:
                pid = os.fork()
                if pid == 0:
                    time.sleep(60)
                    os._exit(0)
                n += 1
        except OSError as e:
            return {'forked': n, 'errno': e.errno}
        return {'forked': n}
''')

MEMORY_HOG = src('''
    import os
    calls = 0
    def handler(event, context):
        global calls
        calls += 1
        if event.get('hog'):
            chunks = []
            while True:
                chunks.append(bytearray(16 * 1024 * 1024))
        return {'calls': calls, 'pid': os.getpid()}
''')

TMP_FILL = src('''
    import errno, os
    def handler(event, context):
        block = b'x' * (1 << 20)
        n = 0
        try:
            with open('/tmp/' + event['name'], 'wb') as f:
                while n < 4096:
                    f.write(block)
                    f.flush()
                    n += 1
        except OSError as e:
            return {'mb': n, 'errno': e.errno}
        return {'mb': n}
''')

SPINNER = src('''
    import time
    def handler(event, context):
        w0, c0 = time.monotonic(), time.process_time()
        while time.monotonic() - w0 < event['seconds']:
            pass
        return {'wall': time.monotonic() - w0, 'cpu': time.process_time() - c0}
''')

BACKGROUND = src('''
    import os, subprocess
    def handler(event, context):
        # a double-forked, session-leading sleeper: not a child of anything we wait for
        subprocess.Popen(['setsid', 'sh', '-c', 'sleep 300 & sleep 300 & exit 0'],
                         env=dict(os.environ, BG_MARKER=event['marker']))
        if event.get('hang'):
            import time
            time.sleep(60)
        return {'started': True}
''')


def host_pids_with_env(marker):
    found = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/environ' % p, 'rb') as f:
                if marker.encode() in f.read():
                    found.append(int(p))
        except OSError:
            pass
    return found


class SandboxContainmentTest(ServerTestCase):
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    def py(self, code, **kw):
        name, _ = self.new_function(uniq('contain'), {'app.py': code}, runtime='python3.11',
                                    handler='app.handler', **kw)
        return name

    def invoke_json(self, name, event, timeout=120):
        st, h, body = self.c.invoke(name, json.dumps(event).encode(), timeout=timeout)
        self.assertEqual(st, 200, body[:500])
        return h, json.loads(body)

    def test_fork_bomb_hits_the_pids_limit_and_the_daemon_keeps_answering(self):
        bomb = self.py(FORK_BOMB, memory=1024, timeout=60)
        echo = self.py('def handler(e, c):\n    return e\n', memory=128)
        self.invoke_json(echo, {'warm': 1})
        result = {}

        def go():
            result['r'] = self.invoke_json(bomb, {})
        t = threading.Thread(target=go)
        t.start()
        # the daemon answers other calls while the bomb runs
        for i in range(3):
            h, doc = self.invoke_json(echo, {'i': i}, timeout=30)
            self.assertEqual(doc, {'i': i})
        t.join(90)
        h, doc = result['r']
        self.assertNotIn('x-amz-function-error', h, doc)
        self.assertEqual(doc.get('errno'), errno.EAGAIN, doc)
        self.assertLess(doc['forked'], 512, doc)
        self.assertGreater(doc['forked'], 10, doc)
        # and the next call succeeds
        h, doc = self.invoke_json(echo, {'after': True})
        self.assertEqual(doc, {'after': True})

    def test_memory_hog_gets_a_typed_oom_error_and_the_next_call_a_fresh_instance(self):
        name = self.py(MEMORY_HOG, memory=128, timeout=30)
        h, doc = self.invoke_json(name, {})
        self.assertEqual(doc['calls'], 1)
        h, doc = self.invoke_json(name, {'hog': True})
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', doc)
        self.assertEqual(doc['errorType'], 'Runtime.OutOfMemory', doc)
        self.assertIn('memory limit of 128 MB', doc['errorMessage'])
        h, doc = self.invoke_json(name, {})
        self.assertNotIn('x-amz-function-error', h, doc)
        self.assertEqual(doc['calls'], 1, 'a fresh instance after the OOM')

    def test_filling_tmp_is_enospc_inside_and_host_tmp_untouched(self):
        name = self.py(TMP_FILL, memory=1024, timeout=60, extra={'EphemeralStorage': {'Size': 512}})
        fname = 'nimbus-fill-' + uuid.uuid4().hex
        h, doc = self.invoke_json(name, {'name': fname})
        self.assertNotIn('x-amz-function-error', h, doc)
        self.assertEqual(doc.get('errno'), errno.ENOSPC, doc)
        self.assertLessEqual(doc['mb'], 512)
        self.assertGreater(doc['mb'], 400)
        self.assertFalse(os.path.exists('/tmp/' + fname))
        st, h, cfg, raw = self.c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
        self.assertEqual(cfg['EphemeralStorage'], {'Size': 512})
        # the instance still works
        h, doc = self.invoke_json(name, {'name': 'small'})
        self.assertEqual(doc.get('errno'), errno.ENOSPC, 'its /tmp is still full: same instance')

    def test_ephemeral_storage_is_validated(self):
        for bad in (511, 10241):
            st, h, body, raw = self.c.create_function(uniq('eph'), {'app.py': 'x'}, runtime='python3.11',
                                                      handler='app.handler',
                                                      extra={'EphemeralStorage': {'Size': bad}})
            self.assertEqual(st, 400, raw)
            self.assertIn('ephemeralStorage.size', raw.decode())
        st, h, body, raw = self.c.create_function(uniq('net'), {'app.py': 'x'}, runtime='python3.11',
                                                  handler='app.handler', extra={'Network': 'vpc'})
        self.assertEqual(st, 400, raw)

    def test_cpu_spinner_gets_its_memory_share_of_a_cpu(self):
        small = self.py(SPINNER, memory=128, timeout=30)
        h, doc = self.invoke_json(small, {'seconds': 4})
        share = doc['cpu'] / doc['wall']
        # 128/1769 = 0.072 of a CPU, plus at most one period's saved quota
        self.assertLess(share, 0.2, doc)
        self.assertGreater(share, 0.03, doc)
        big = self.py(SPINNER, memory=3538, timeout=30)
        h, doc2 = self.invoke_json(big, {'seconds': 2})
        self.assertGreater(doc2['cpu'] / doc2['wall'], 3 * share, (doc, doc2))

    def _no_survivors(self, marker):
        left = wait_for(lambda: not host_pids_with_env(marker), timeout=5)
        self.assertTrue(left, 'processes survived the instance: %r' % host_pids_with_env(marker))

    def test_background_processes_do_not_survive_a_timeout(self):
        name = self.py(BACKGROUND, memory=256, timeout=2)
        marker = 'bg-' + uuid.uuid4().hex
        h, doc = self.invoke_json(name, {'marker': marker, 'hang': True})
        self.assertEqual(doc.get('errorType'), 'Sandbox.Timedout', doc)
        self._no_survivors(marker)
        h, doc = self.invoke_json(name, {'marker': 'x'})
        self.assertEqual(doc, {'started': True})

    def test_background_processes_do_not_survive_reclaim(self):
        name = self.py(BACKGROUND, memory=256, timeout=5)
        marker = 'bg-' + uuid.uuid4().hex
        h, doc = self.invoke_json(name, {'marker': marker})
        self.assertEqual(doc, {'started': True})
        self.assertTrue(wait_for(lambda: len(host_pids_with_env(marker)) >= 2, timeout=5))
        # a configuration change retires the idle instance
        st, h, cfg, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name, {'Timeout': 6})
        self.assertEqual(st, 200, raw)
        self._no_survivors(marker)

    def test_instances_api_reports_cold_start_phases(self):
        name = self.py('def handler(e, c):\n    return 1\n', memory=128)
        self.invoke_json(name, {})
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name)
        inst = json.loads(raw)['Instances'][0]
        self.assertGreater(inst['SandboxMs'], 0)
        self.assertGreater(inst['RuntimeInitMs'], 0)
        self.assertAlmostEqual(inst['SandboxMs'] + inst['RuntimeInitMs'], inst['InitDurationMs'], delta=0.01)
        check_phases(self, inst)


def check_phases(t, inst):
    """The spawner's breakdown: every phase there, none negative, the on-path ones adding up to
    no more than the spawner's total, which is within what the daemon measured."""
    ph = inst['SandboxPhases']
    parts = ['CloneMs', 'CgroupMs', 'InitWaitMs', 'MountsMs', 'PrivilegesMs', 'ExecMs']
    for k in parts + ['SpawnerMs']:
        t.assertGreaterEqual(ph[k], 0, k)
    t.assertGreater(ph['SpawnerMs'], 0)
    t.assertGreater(ph['MountsMs'] + ph['PrivilegesMs'] + ph['ExecMs'], 0)
    t.assertLessEqual(sum(ph[k] for k in parts), ph['SpawnerMs'] + 0.01)
    t.assertLessEqual(ph['SpawnerMs'], inst['SandboxMs'] + 0.01)
    return ph


def instances_of(c, name):
    st, h, raw = c.request('GET', '/nimbus/v1/functions/%s/instances' % name)
    return json.loads(raw)['Instances']


class SandboxPoolTest(ServerTestCase):
    """Sandboxes made ahead of calls (--sandbox-pool, default 4): a cold start takes one, whose
    namespaces already exist, so its clone costs the call nothing; with --sandbox-pool 0 every
    cold start clones its own."""
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    def test_cold_start_takes_a_pooled_sandbox_and_the_pool_refills(self):
        name, _ = self.new_function(uniq('pool'), {'app.py': 'def handler(e, c):\n    return 1\n'},
                                    runtime='python3.11', handler='app.handler')
        # the pool fills once the spawner has been idle for a moment
        inits = lambda: inits_of(self.server)
        self.assertTrue(wait_for(lambda: len(inits()) >= 4, timeout=10), inits())
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body)
        ph = check_phases(self, instances_of(self.c, name)[0])
        self.assertTrue(ph['Pooled'])
        self.assertEqual(ph['CloneMs'], 0)
        # the one taken is replaced: 4 waiting again, plus the instance's own init
        self.assertTrue(wait_for(lambda: len(inits()) >= 5, timeout=10), inits())


class ManyStartsAtOnceTest(ServerTestCase):
    """200 sandboxes asked for at once, each request carrying 4 KB of environment: more than the
    daemon-spawner socket holds, and more fds on their way back than a process may have open.
    The daemon must neither wedge (it once did: blocked sending requests while the spawner was
    blocked sending answers) nor lose a start."""
    server_args = ('--sandbox', '--max-instances', '200')

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    def test_many_provisioned_instances_with_large_environments_all_start(self):
        from nimbus_testlib import ECHO, fn_files
        N = 200
        env = {'BIG_%d' % i: chr(ord('a') + i) * 390 for i in range(10)}   # ~4 KB, Lambda's limit
        name, _ = self.new_function(uniq('many'), fn_files(ECHO), env=env, memory=128)
        st, h, doc, raw = self.c.api('POST', '/2015-03-31/functions/%s/versions' % name, {})
        self.assertEqual(st, 201, raw)
        path = '/2019-09-30/functions/%s/provisioned-concurrency?Qualifier=1' % name
        st, h, doc, raw = self.c.api('PUT', path, {'ProvisionedConcurrentExecutions': N}, timeout=30)
        self.assertEqual(st, 202, raw)
        ready = lambda: self.c.api('GET', path, timeout=30)[2].get('Status') == 'READY'
        self.assertTrue(wait_for(ready, timeout=120, interval=0.5), self.c.api('GET', path)[3])
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name, timeout=30)
        inst = json.loads(raw)['Instances']
        self.assertEqual(sum(1 for i in inst if i['State'] == 'Ready' and i['Provisioned']), N)
        st, h, body = self.c.request('POST', '/2015-03-31/functions/%s/invocations?Qualifier=1' % name,
                                     b'{"k":1}', timeout=30)
        self.assertEqual((st, body), (200, b'{"k":1}'))


PRESTART_PY = src('''
    import os, helper
    def handler(e, c):
        return {'fn': os.environ.get('AWS_LAMBDA_FUNCTION_NAME'), 'mine': os.environ.get('MINE'),
                'cwd': os.getcwd(), 'helper': helper.X, 'uid': os.getuid(),
                'store': sorted(os.listdir('/.code')), 'marker': os.environ.get('_NIMBUS_PRESTART_FD'),
                'task': sorted(os.listdir('/var/task')), 'tmp_mb': os.statvfs('/tmp').f_blocks *
                os.statvfs('/tmp').f_frsize >> 20}
''')

PRESTART_NODE = '''const h = require('./helper.js');
exports.handler = async () => ({ fn: process.env.AWS_LAMBDA_FUNCTION_NAME, mine: process.env.MINE,
    cwd: process.cwd(), helper: h.X, marker: process.env._NIMBUS_PRESTART_FD || null });
'''


class PrestartTest(ServerTestCase):
    """python and node: once a function of that runtime has cold-started, the spawner keeps one
    init with that runtime already started (imports done, as uid 993 under seccomp, code store
    out of reach), and the next cold start of ANY function of that runtime takes it: it gets its
    own code, environment, /tmp and working directory before any of its code runs."""
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    def waiting_runtime(self, name):
        """A runtime process started ahead and still waiting under a root init of this server."""
        for init in inits_of(self.server):
            if status_ids(int(init))['Uid'] != '0':
                continue
            kids = [p for p in os.listdir('/proc') if p.isdigit() and parent_of(p) == int(init)]
            if any(comm(k) == name for k in kids):
                return True
        return False

    def cold(self, name):
        """Retire the warm instance, call again: the instance and its phases."""
        st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                     {'Description': uuid.uuid4().hex})
        self.assertEqual(st, 200, raw)
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body)
        self.assertNotIn('x-amz-function-error', h, body)
        insts = [i for i in instances_of(self.c, name) if i['State'] == 'Ready' and i['CallsServed']]
        return json.loads(body), insts[-1]['SandboxPhases']

    def test_python_cold_start_takes_a_prestarted_runtime(self):
        first, _ = self.new_function(uniq('pre-a'), {'app.py': PRESTART_PY, 'helper.py': 'X = 1\n'},
                                     runtime='python3.11', handler='app.handler', env={'MINE': 'a'})
        self.assertEqual(self.c.invoke(first, b'{}')[0], 200)
        self.assertTrue(wait_for(lambda: self.waiting_runtime('python3'), timeout=10))
        # another function entirely takes it: its code, its environment, its limits
        other, _ = self.new_function(uniq('pre-b'), {'app.py': PRESTART_PY, 'helper.py': 'X = 2\n'},
                                     runtime='python3.11', handler='app.handler', env={'MINE': 'b'},
                                     extra={'EphemeralStorage': {'Size': 600}})
        doc, ph = self.cold(other)
        self.assertTrue(ph['Prestarted'], ph)
        self.assertEqual(doc, {'fn': other, 'mine': 'b', 'cwd': '/var/task', 'helper': 2, 'uid': 993,
                               'store': [], 'marker': None, 'task': ['app.py', 'helper.py'], 'tmp_mb': 600})
        # and `nimbus exec` sees the environment the function was given
        p = run_cli(['exec', other, '--endpoint', self.server.url, '--', 'sh', '-c', 'echo "$MINE $AWS_LAMBDA_FUNCTION_NAME"'])
        self.assertEqual((p.returncode, p.stdout.decode().strip()), (0, 'b ' + other), p.stderr)
        # it is replaced: the next cold start of the first function is pre-started too
        self.assertTrue(wait_for(lambda: self.waiting_runtime('python3'), timeout=10))
        doc, ph = self.cold(first)
        self.assertTrue(ph['Prestarted'], ph)
        self.assertEqual((doc['fn'], doc['mine'], doc['helper']), (first, 'a', 1))

    def test_node_cold_start_takes_a_prestarted_runtime(self):
        name, _ = self.new_function(uniq('pre-n'), {'index.js': PRESTART_NODE, 'helper.js': 'exports.X = 7;\n'},
                                    runtime='nodejs20.x', handler='index.handler', env={'MINE': 'n'})
        self.assertEqual(self.c.invoke(name, b'{}')[0], 200)
        self.assertTrue(wait_for(lambda: self.waiting_runtime('node'), timeout=10))
        doc, ph = self.cold(name)
        self.assertTrue(ph['Prestarted'], ph)
        self.assertEqual(doc, {'fn': name, 'mine': 'n', 'cwd': '/var/task', 'helper': 7, 'marker': None})

    def test_shell_runtimes_are_never_prestarted(self):
        from nimbus_testlib import ECHO, fn_files
        name, _ = self.new_function(uniq('pre-sh'), fn_files(ECHO))
        self.assertEqual(self.c.invoke(name, b'{}')[0], 200)
        doc, ph = self.cold(name)
        self.assertFalse(ph['Prestarted'], ph)


class NoSandboxPoolTest(ServerTestCase):
    server_args = ('--sandbox', '--sandbox-pool', '0')

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    def test_without_a_pool_every_cold_start_clones(self):
        name, _ = self.new_function(uniq('nopool'), {'app.py': 'def handler(e, c):\n    return 1\n'},
                                    runtime='python3.11', handler='app.handler')
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body)
        ph = check_phases(self, instances_of(self.c, name)[0])
        self.assertFalse(ph['Pooled'])
        self.assertGreater(ph['CloneMs'], 0)
        # no init waits for a request: the only one is the instance's
        self.assertEqual(len(inits_of(self.server)), 1)



def inits_of(server):
    """The instance inits (pooled or serving) of this server's spawner."""
    pids = [p for p in os.listdir('/proc') if p.isdigit()]
    spawners = {int(p) for p in pids if comm(p) == 'nimbus-spawner' and parent_of(p) == server.proc.pid}
    return [p for p in pids if comm(p) == 'nimbus-init' and parent_of(p) in spawners]


def status_ids(pid):
    with open('/proc/%d/status' % pid) as f:
        text = f.read()
    return {k: v.split()[0] for k, v in (l.split(':', 1) for l in text.splitlines() if l.startswith(('Uid', 'Gid')))}


class DropUserTest(ServerTestCase):
    """--user NAME: the daemon gives up root after start-up and keeps working; the spawner, forked
    before, stays privileged and still builds every sandbox."""
    server_args = ('--sandbox', '--user', 'nobody')

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        # the user must be able to reach its data dir: a base it may search (not list)
        cls.base = tempfile.mkdtemp(prefix='nimbus-it-user-')
        os.chmod(cls.base, 0o711)
        cls.server_kwargs = {'data_dir': os.path.join(cls.base, 'data'), 'base_dir': cls.base}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.base, ignore_errors=True)

    def test_daemon_runs_as_the_user_and_instances_are_still_sandboxed(self):
        daemon = self.server.proc.pid
        self.assertEqual(status_ids(daemon), {'Uid': '65534', 'Gid': '65534'})
        spawners = [int(p) for p in os.listdir('/proc') if p.isdigit() and comm(p) == 'nimbus-spawner'
                    and parent_of(p) == daemon]
        self.assertEqual(len(spawners), 1)
        self.assertEqual(status_ids(spawners[0])['Uid'], '0')
        # its data is the user's now
        self.assertEqual(os.stat(self.server.data_dir).st_uid, 65534)
        name, _ = self.new_function(uniq('dropuser'), {'app.py': src('''
            import os
            def handler(e, c):
                return {'uid': os.getuid(), 'init': open('/proc/1/comm').read().strip()}
        ''')}, runtime='python3.11', handler='app.handler')
        for _ in range(2):   # a cold start and a warm call
            st, h, body = self.c.invoke(name, b'{}')
            self.assertEqual(st, 200, body)
            self.assertEqual(json.loads(body), {'uid': 993, 'init': 'nimbus-init'})
        # ending an instance (its init is root's) goes through the spawner: nothing survives
        pids = [i['Pid'] for i in instances_of(self.c, name)]
        self.assertTrue(pids and all(os.path.exists('/proc/%d' % p) for p in pids), pids)
        st, h, doc, raw = self.c.api('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, raw)
        self.assertTrue(wait_for(lambda: not any(os.path.exists('/proc/%d' % p) for p in pids), timeout=10), pids)

    def test_exec_works_and_is_confined_as_the_runtime(self):
        # the daemon (uid 65534) may join neither the instance's cgroup nor its namespaces: the
        # spawner starts the command
        from nimbus_testlib import COUNTER, fn_files
        from test_exec import CONFINED, CONFINEMENT, processes_with, sleep_mark, status_fields
        name, _ = self.new_function(uniq('dropuser-exec'), fn_files(COUNTER), env={'EXEC_MARK': 'seen'})
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body)
        p = run_cli(['exec', name, '--endpoint', self.server.url, '--', 'sh', '-c',
                     'pwd; echo "mark=$EXEC_MARK"; cat /proc/1/comm; ' + CONFINEMENT], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(lines[:3], ['/var/task', 'mark=seen', 'nimbus-init'], lines)
        self.assertEqual(status_fields('\n'.join(lines[3:])), CONFINED, lines)
        # past its timeout it is killed, with what it started
        mark = sleep_mark()
        p = run_cli(['exec', name, '--endpoint', self.server.url, '--timeout', '1', '--', 'sh', '-c',
                     'sleep %s & sleep %s' % (mark, mark)], timeout=60)
        self.assertEqual(p.returncode, 124, p.stderr)   # timeout(1)'s code: --timeout ended it
        self.assertTrue(wait_for(lambda: not processes_with(mark), timeout=5), processes_with(mark))
        self.assertEqual(self.c.invoke(name, b'{}')[0], 200)
        # on a terminal: the daemon (uid 65534) holds its master, and resizes it
        import time
        from test_exec_tty import Terminal, set_size
        from nimbus_testlib import nimbus_bin
        t = Terminal([nimbus_bin(), 'exec', '--endpoint', self.server.url, name, '-it', '--', 'sh'], 20, 70)
        try:
            t.type('tty; stty size; echo EN""D1\n')
            self.assertRegex(t.read_until('END1'), r'/dev/pts/\d+\r?\n20 70\r?\n')
            set_size(t.master, 21, 71)
            time.sleep(0.5)
            t.type('stty size; echo EN""D2\n')
            self.assertIn('21 71', t.read_until('END2'))
            t.type('exit 2\n')
            self.assertEqual(t.wait(), 2, t.seen)
        finally:
            t.close()

    def assert_refused(self, args, *words):
        from nimbus_testlib import Server
        s = Server(['--sandbox'] + list(args))
        with self.assertRaises(AssertionError):
            s.start(timeout=10)
        try:
            err = s.stderr_text().strip().splitlines()
            self.assertEqual(len(err), 1, err)
            for w in words:
                self.assertIn(w, err[0])
            self.assertNotEqual(s.proc.poll(), 0)
        finally:
            s.kill()
            s.cleanup()

    def test_unknown_user_is_a_one_line_error(self):
        self.assert_refused(['--user', 'no-such-user-nimbus'], 'no-such-user-nimbus')

    def test_data_dir_the_user_cannot_reach_is_a_one_line_error(self):
        # the default test base dir is root's, mode 0700
        self.assert_refused(['--user', 'nobody'], '--user nobody', 'data dir')


class StartupTest(unittest.TestCase):
    def test_insecure_mode_warns_loudly_and_reports_unsandboxed(self):
        from nimbus_testlib import Server
        s = Server(['--insecure-no-sandbox']).start()
        try:
            self.assertIn('WARNING', s.stderr_text())
            self.assertIn('--insecure-no-sandbox', s.stderr_text())
        finally:
            s.stop()


if __name__ == '__main__':
    unittest.main()
