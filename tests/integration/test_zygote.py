"""Runtimes ready from daemon start, and Python instances forked from a zygote (docs/zygote.md).

The daemon tells the sandbox, for every function it loads at start or is given later, that its
runtime exists: the spawner then keeps runtimes of it started ahead (and, for Python, a zygote:
an interpreter that has imported the runtime and forks a child into each new instance), so even
the first cold start after a restart is not an interpreter start. The instances API says how
each instance's runtime came to be (StartedFrom: zygote, prestart or exec).
"""

import errno
import json
import os
import shutil
import signal
import socket
import tempfile
import unittest
import uuid

from nimbus_testlib import Server, ServerTestCase, instances_of, run_cli, uniq, wait_for, comm, parent_of



def descendants(root):
    """Every live process below `root` (host pids)."""
    kids = {}
    for p in os.listdir('/proc'):
        if p.isdigit():
            kids.setdefault(parent_of(p), []).append(int(p))
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def spawner_of(server):
    for p in os.listdir('/proc'):
        if p.isdigit() and comm(p) == 'nimbus-spawner' and parent_of(p) == server.proc.pid:
            return int(p)
    return None


def runtimes_waiting(server, name='python3'):
    """Interpreters the spawner keeps ahead of calls (pre-started runtimes, the zygote)."""
    sp = spawner_of(server)
    return [p for p in descendants(sp) if comm(p) == name] if sp else []


def zygotes_of(server):
    """The spawner's zygote processes (direct children named nimbus-zygote)."""
    sp = spawner_of(server)
    if not sp:
        return []
    return [int(p) for p in os.listdir('/proc') if p.isdigit() and parent_of(p) == sp and comm(p) == 'nimbus-zygote']


def skip_unless_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest('runtimes are started ahead only by a root spawner')


HANDLER = '''
import os
def handler(event, context):
    return {'fn': os.environ.get('AWS_LAMBDA_FUNCTION_NAME'), 'pid': os.getpid()}
'''


class WarmFromDaemonStartTest(unittest.TestCase):
    """A restart with a Python function deployed: its first call is not an interpreter start."""

    @classmethod
    def setUpClass(cls):
        skip_unless_root()

    def test_first_call_after_a_restart_is_started_ahead(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-zygote-')
        data = os.path.join(base, 'data')
        os.mkdir(data)
        try:
            s = Server(['--sandbox'], data_dir=data, base_dir=base).start()
            try:
                c = s.client()
                name = uniq('warm')
                st, h, b, raw = c.create_function(name, {'app.py': HANDLER}, runtime='python3.11',
                                                  handler='app.handler')
                self.assertEqual(st, 201, raw)
            finally:
                s.stop()
            s = Server(['--sandbox'], data_dir=data, base_dir=base).start()
            try:
                c = s.client()
                # Nothing has called it since the start, yet its runtime is being made ready.
                self.assertTrue(wait_for(lambda: runtimes_waiting(s) or zygotes_of(s), timeout=20, interval=0.2),
                                'no runtime was started ahead after the restart')
                wait_for(lambda: zygotes_of(s), timeout=10, interval=0.2)
                st, h, body = c.invoke(name, b'{}')
                self.assertEqual(st, 200, body)
                self.assertEqual(json.loads(body)['fn'], name)
                insts = instances_of(c, name)
                self.assertEqual(len(insts), 1, insts)
                self.assertIn(insts[0]['StartedFrom'], ('zygote', 'prestart'), insts[0])
                self.assertTrue(insts[0]['SandboxPhases']['Prestarted'], insts[0])
            finally:
                s.stop()
        finally:
            shutil.rmtree(base, True)


class DepthTest(ServerTestCase):
    """Several cold starts at once of a runtime kept ready: more than one of them is started
    ahead (the spawner keeps more than one per runtime)."""
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    def test_node_keeps_more_than_one_ready(self):
        code = {'index.js': 'exports.handler = async () => { await new Promise(r => setTimeout(r, 1000)); '
                            'return {pid: process.pid}; };\n'}
        name, _ = self.new_function(uniq('depth-n'), code, runtime='nodejs20.x', handler='index.handler')
        self.assertTrue(wait_for(lambda: len(runtimes_waiting(self.server, 'node')) >= 2, timeout=30, interval=0.2),
                        runtimes_waiting(self.server, 'node'))
        self.invoke_together(name, [b'{"wait": 1}'] * 2)
        insts = instances_of(self.c, name)
        self.assertEqual(len(insts), 2, insts)
        self.assertEqual([i['StartedFrom'] for i in insts], ['prestart', 'prestart'], insts)


def started_ticks(pid):
    """When a process started (clock ticks since boot; its order among others is what counts)."""
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[19])


class NodeTakenInOrderTest(ServerTestCase):
    """Node runtimes started ahead serve cold starts in the order they were started: the one that
    waited longest (most likely warm) first, not the one just started (spawner_prestart.c,
    prestart_take; docs/zygote.md). And one that dies while it waits is replaced before any
    request finds it dead (its word channel closes)."""
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    names = []   # this server's functions: their instances' runtimes are not waiting

    def waiting(self, name):
        """Node runtimes kept ahead (none of them an instance's), oldest first."""
        if name not in self.names:
            self.names.append(name)
        live = {i.get('Pid') for n in self.names for i in instances_of(self.c, n)}
        pids = [p for p in runtimes_waiting(self.server, 'node') if p not in live]
        return sorted(pids, key=lambda p: (started_ticks(p), p))

    def test_back_to_back_cold_starts_take_the_oldest(self):
        code = {'index.js': 'exports.handler = async () => ({ pid: process.pid });\n'}
        name, _ = self.new_function(uniq('order-n'), code, runtime='nodejs20.x', handler='index.handler')
        for i in range(5):
            self.assertTrue(wait_for(lambda: len(self.waiting(name)) >= 2, timeout=30, interval=0.05),
                            self.waiting(name))
            before = self.waiting(name)
            st, h, body = self.c.invoke(name, b'{}')
            self.assertEqual(st, 200, body)
            insts = instances_of(self.c, name)
            self.assertEqual(len(insts), 1, insts)
            self.assertEqual(insts[0]['StartedFrom'], 'prestart', insts[0])
            self.assertEqual(insts[0]['Pid'], before[0], (i, before, insts[0]))
            # A new configuration retires the instance: the next call is a cold start again.
            st, h, raw = self.c.request('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                        json.dumps({'Description': 'cold %d' % i}).encode())
            self.assertEqual(st, 200, raw)
            self.assertTrue(wait_for(lambda: not instances_of(self.c, name), timeout=10, interval=0.05))

    def test_a_runtime_that_dies_waiting_is_replaced(self):
        code = {'index.js': 'exports.handler = async () => ({ pid: process.pid });\n'}
        name, _ = self.new_function(uniq('dies-n'), code, runtime='nodejs20.x', handler='index.handler')
        self.assertTrue(wait_for(lambda: len(self.waiting(name)) >= 2, timeout=30, interval=0.05),
                        self.waiting(name))
        victim = self.waiting(name)[0]
        os.kill(victim, signal.SIGKILL)
        # Replaced without a call: two wait again, the dead one not among them.
        self.assertTrue(wait_for(lambda: len([p for p in self.waiting(name) if p != victim]) >= 2,
                                 timeout=30, interval=0.05), self.waiting(name))
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body)
        self.assertNotEqual(json.loads(body).get('pid'), None, body)
        insts = instances_of(self.c, name)
        self.assertEqual([i['StartedFrom'] for i in insts], ['prestart'], insts)


PROBE = '''
import ctypes, errno, os, socket, time
def c_environ():
    # the C library's environment (what a child process inherits), by name
    env = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), 'environ')
    names, i = [], 0
    while env[i]:
        names.append(env[i].split(b'=', 1)[0].decode())
        i += 1
    return sorted(names)
def handler(event, context):
    time.sleep(event.get('sleep', 0))
    if event.get('hog'):
        chunks = []
        while True:
            chunks.append(bytearray(16 * 1024 * 1024))
    fds = {}
    for fd in os.listdir('/proc/self/fd'):
        try:
            fds[fd] = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            pass   # the listing's own descriptor, closed by now
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        packet = 0
    except OSError as e:
        packet = e.errno
    status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
    with open('/tmp/mine', 'w') as f:
        f.write(event.get('mark', ''))
    st = os.statvfs('/tmp')
    return {
        'env': os.environ.get('MINE'), 'fn': os.environ.get('AWS_LAMBDA_FUNCTION_NAME'),
        'api': os.environ.get('AWS_LAMBDA_RUNTIME_API'),
        'uid': [os.getuid(), os.geteuid(), os.getgid(), os.getegid()], 'groups': os.getgroups(),
        'pid': os.getpid(), 'ppid': os.getppid(), 'init': open('/proc/1/comm').read().strip(),
        'cwd': os.getcwd(), 'task': sorted(os.listdir('/var/task')), 'tmp': sorted(os.listdir('/tmp')),
        'tmp_mb': st.f_blocks * st.f_frsize // (1 << 20),
        'fds': fds, 'packet': packet, 'comm': open('/proc/self/comm').read().strip(),
        'status': {k: ' '.join(status[k].split()) for k in ('CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp')},
        'cgroup': open('/proc/self/cgroup').read(),
        'store': sorted(os.listdir('/.code')) if os.path.isdir('/.code') else [],
        'mounts': sorted(l.split()[4] for l in open('/proc/self/mountinfo')),
        'env_names': sorted(os.environ), 'c_env_names': c_environ(),
    }
'''


class ZygoteInstanceTest(ServerTestCase):
    """An instance whose runtime is a fork of the Python zygote is confined as an exec'd one."""
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    def zygote_born(self, name, event=b'{}'):
        """Call `name` until a cold start was a zygote's fork; its answer and instance."""
        for _ in range(10):
            wait_for(lambda: zygotes_of(self.server), timeout=10, interval=0.2)
            st, h, body = self.c.invoke(name, event)
            self.assertEqual(st, 200, body)
            self.assertNotIn('x-amz-function-error', h, body)
            inst = [i for i in instances_of(self.c, name) if i['CallsServed']][-1]
            if inst['StartedFrom'] == 'zygote':
                return json.loads(body), inst
            self.retire(name)
        self.fail('no cold start was forked by the zygote')

    def retire(self, name):
        st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                     {'Description': uuid.uuid4().hex})
        self.assertEqual(st, 200, raw)

    def test_a_forked_instance_is_the_function_s_own_and_confined(self):
        other, _ = self.new_function(uniq('zy-other'), {'app.py': PROBE, 'other.py': 'X = 1\n'}, runtime='python3.11',
                                     handler='app.handler', env={'MINE': 'other'})
        doc, _ = self.zygote_born(other, b'{"mark": "other-secret"}')
        self.assertEqual(doc['env'], 'other')
        name, _ = self.new_function(uniq('zy'), {'app.py': PROBE}, runtime='python3.11', handler='app.handler',
                                    env={'MINE': 'given'}, extra={'EphemeralStorage': {'Size': 600}})
        doc, inst = self.zygote_born(name)
        self.assertTrue(inst['SandboxPhases']['Prestarted'], inst)
        self.assertTrue(inst['SandboxPhases']['ForkedAhead'], inst)
        # its code, environment, working directory, /tmp (its own size, empty but for what it wrote)
        self.assertEqual((doc['env'], doc['fn'], doc['cwd'], doc['task']), ('given', name, '/var/task', ['app.py']))
        self.assertEqual(doc['api'].rsplit(':', 1)[0], '127.0.0.1')
        # exactly the environment it was given: nothing left of the rehearsal of the request's
        # path it ran while it waited (docs/zygote.md), in Python's view or the C library's
        self.assertEqual(doc['env_names'], doc['c_env_names'])
        self.assertFalse([n for n in doc['env_names'] if n.startswith('_NIMBUS')], doc['env_names'])
        self.assertIn('MINE', doc['env_names'])
        self.assertEqual(doc['tmp'], ['mine'])
        self.assertTrue(590 <= doc['tmp_mb'] <= 600, doc['tmp_mb'])
        # its root as an exec'd runtime's: the code store, in view while it waited, is gone
        self.assertEqual(doc['store'], [])
        self.assertFalse([m for m in doc['mounts'] if m.startswith('/.code')], doc['mounts'])
        self.assertIn('/var/task', doc['mounts'])
        # the sandbox user, no capabilities, no_new_privs, the seccomp filter
        self.assertEqual(doc['uid'], [993, 993, 993, 993])
        self.assertEqual(doc['groups'], [993])
        zero = '0000000000000000'
        self.assertEqual(doc['status'], {'CapEff': zero, 'CapPrm': zero, 'CapBnd': zero, 'CapAmb': zero,
                                         'NoNewPrivs': '1', 'Seccomp': '2'})
        self.assertEqual(doc['packet'], errno.EAFNOSUPPORT, 'AF_PACKET is refused by the filter, not by a capability')
        # its own pid namespace: the instance's init is its parent and pid 1
        self.assertEqual((doc['ppid'], doc['init']), (1, 'nimbus-init'))
        self.assertGreater(doc['pid'], 1)
        self.assertEqual(doc['comm'], 'python3')
        # its cgroup namespace starts at its own group
        self.assertEqual(doc['cgroup'].strip().splitlines()[-1].split(':', 2)[2], '/')
        # no descriptor of the zygote's or the spawner's: /dev/null (opened by the init before it
        # entered the root, so named from the host's devtmpfs: "/null"), output, its API connection
        kinds = sorted('null' if v.endswith('/null') else v.split(':')[0] for k, v in doc['fds'].items())
        self.assertEqual(kinds, ['null', 'pipe', 'pipe', 'socket'], doc['fds'])
        # the host sees it in the instance's cgroup and under its init
        host_pid = inst['Pid']
        self.assertEqual(comm(parent_of(host_pid)), 'nimbus-init')
        with open('/proc/%d/cgroup' % host_pid) as f:
            groups = f.read()
        with open('/proc/%d/cgroup' % parent_of(host_pid)) as f:
            self.assertEqual(groups, f.read())
        self.assertIn('nimbus-', groups)

    def burst(self, name, n, event):
        """n calls sent at once on connections opened before (so they reach the daemon within a
        millisecond or two, faster than the runtimes made ahead are refilled): their answers."""
        host, port = self.server.url.split('//', 1)[1].rsplit(':', 1)
        body = json.dumps(event).encode()
        head = ('POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n'
                'Connection: close\r\n\r\n' % (name, host, len(body))).encode()
        conns = [socket.create_connection((host, int(port)), timeout=60) for _ in range(n)]
        for c in conns:
            c.sendall(head + body)
        docs = []
        for c in conns:
            raw = b''
            while True:
                b = c.recv(65536)
                if not b:
                    break
                raw += b
            c.close()
            status, _, rest = raw.partition(b'\r\n\r\n')
            self.assertIn(b' 200 ', status.split(b'\r\n')[0], raw[:300])
            self.assertNotIn(b'x-amz-function-error', status.lower(), raw[:300])
            docs.append(json.loads(rest))
        return docs

    def test_forks_made_at_the_request_are_confined_as_those_made_ahead(self):
        # A burst beyond the forks made ahead: the rest are forked at the request, after their
        # instance's mounts, and enter and confine themselves then.
        name, _ = self.new_function(uniq('zy-late'), {'app.py': PROBE}, runtime='python3.11', handler='app.handler',
                                    env={'MINE': 'late'})
        late = []
        for _ in range(3):
            wait_for(lambda: zygotes_of(self.server), timeout=10, interval=0.2)
            docs = self.burst(name, 12, {'sleep': 1.5})
            late = [i for i in instances_of(self.c, name)
                    if i['StartedFrom'] == 'zygote' and not i['SandboxPhases']['ForkedAhead']]
            if late:
                break
            self.retire(name)
        self.assertTrue(late, [(i['StartedFrom'], i['SandboxPhases']) for i in instances_of(self.c, name)])
        zero = '0000000000000000'
        for doc in docs:
            self.assertEqual((doc['env'], doc['fn'], doc['cwd'], doc['task']), ('late', name, '/var/task', ['app.py']))
            self.assertEqual(doc['env_names'], doc['c_env_names'])
            self.assertFalse([n for n in doc['env_names'] if n.startswith('_NIMBUS')], doc['env_names'])
            self.assertEqual(doc['uid'], [993, 993, 993, 993])
            self.assertEqual(doc['status'], {'CapEff': zero, 'CapPrm': zero, 'CapBnd': zero, 'CapAmb': zero,
                                             'NoNewPrivs': '1', 'Seccomp': '2'})
            self.assertEqual(doc['store'], [])
            self.assertFalse([m for m in doc['mounts'] if m.startswith('/.code')], doc['mounts'])
            self.assertEqual((doc['ppid'], doc['init']), (1, 'nimbus-init'))

    def test_memory_limit_is_enforced_on_a_forked_instance(self):
        name, _ = self.new_function(uniq('zy-oom'), {'app.py': PROBE}, runtime='python3.11', handler='app.handler',
                                    memory=128, timeout=30)
        self.zygote_born(name)
        st, h, body = self.c.invoke(name, b'{"hog": true}', timeout=120)
        self.assertEqual(st, 200, body)
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body)
        self.assertEqual(json.loads(body)['errorType'], 'Runtime.OutOfMemory', body)

    def test_exec_sees_the_function_s_environment(self):
        name, _ = self.new_function(uniq('zy-exec'), {'app.py': PROBE}, runtime='python3.11', handler='app.handler',
                                    env={'MINE': 'execd'})
        self.zygote_born(name)
        p = run_cli(['exec', name, '--endpoint', self.server.url, '--', 'sh', '-c',
                     'echo "$MINE $AWS_LAMBDA_FUNCTION_NAME $(id -u) $(pwd)"'])
        self.assertEqual((p.returncode, p.stdout.decode().strip()), (0, 'execd %s 993 /var/task' % name), p.stderr)

    def test_killing_the_zygote_falls_back_and_it_is_restarted(self):
        code = {'app.py': 'import os, time\ndef handler(e, c):\n    time.sleep(1)\n    return os.getpid()\n'}
        name, _ = self.new_function(uniq('zy-kill'), code, runtime='python3.11', handler='app.handler')
        self.zygote_born(name)
        old = zygotes_of(self.server)
        self.assertEqual(len(old), 1, old)
        os.kill(old[0], signal.SIGKILL)
        # a burst of cold starts meanwhile: every one served, forked or not
        self.retire(name)
        self.invoke_together(name, [b'{}'] * 6)
        # a new zygote, and cold starts forked by it again
        self.assertTrue(wait_for(lambda: [z for z in zygotes_of(self.server) if z not in old], timeout=20,
                                 interval=0.2), 'the zygote was not restarted')
        self.retire(name)
        self.zygote_born(name)


if __name__ == '__main__':
    unittest.main()
