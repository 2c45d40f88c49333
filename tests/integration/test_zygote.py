"""Runtimes ready from daemon start, and Python instances forked from a zygote (docs/zygote.md).

The daemon tells the sandbox, for every function it loads at start or is given later, that its
runtime exists: the spawner then keeps runtimes of it started ahead (and, for Python, a zygote:
an interpreter that has imported the runtime and forks a child into each new instance), so even
the first cold start after a restart is not an interpreter start. The instances API says how
each instance's runtime came to be (StartedFrom: zygote, prestart or exec).
"""

import json
import os
import shutil
import signal
import tempfile
import unittest

from nimbus_testlib import Server, ServerTestCase, uniq, wait_for, instances_of


def comm(pid):
    try:
        with open('/proc/%s/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def parent_of(pid):
    try:
        with open('/proc/%s/stat' % pid) as f:
            return int(f.read().rsplit(')', 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


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


if __name__ == '__main__':
    unittest.main()
