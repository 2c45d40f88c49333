"""An instance's /tmp is storage of EphemeralStorage.Size MB, not memory (issue 12): a 128 MB
function writes 200 MB there and keeps it; ENOSPC at the size, whatever MemorySize is; every
instance starts with an empty /tmp no other instance sees; its storage is gone when it ends, and
after a kill -9 of the daemon. EphemeralStorage is checked as Lambda documents it (Size an
integer from 512 to 10240), set with the AWS CLI.

These run against `nimbus serve --sandbox` as root (the sandbox gives /tmp a file system of its
own; rootless it stays a tmpfs counted in memory)."""

import errno
import json
import os
import re
import subprocess
import unittest
import uuid

from nimbus_testlib import Server, ServerTestCase, function_arn, instances_of, src, tail_text, uniq, wait_for

EPH = src('''
    import errno, hashlib, os, time
    def handler(event, context):
        op = event['op']
        path = '/tmp/' + event.get('name', '')
        if op == 'write':
            block = hashlib.sha256(event['name'].encode()).digest() * 32768   # 1 MB
            h, n = hashlib.sha256(), 0
            try:
                with open(path, 'wb') as f:
                    while n < event['mb']:
                        f.write(block)
                        h.update(block)
                        n += 1
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                return {'mb': n, 'errno': e.errno}
            return {'mb': n, 'sha': h.hexdigest()}
        if op == 'read':
            h = hashlib.sha256()
            with open(path, 'rb') as f:
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    h.update(chunk)
            return {'sha': h.hexdigest(), 'mb': os.path.getsize(path) >> 20}
        if op == 'rm':
            os.unlink(path)
            return {}
        if op == 'ls':
            return {'ls': sorted(os.listdir('/tmp'))}
        if op == 'stat':
            s = os.statvfs('/tmp')
            return {'mb': s.f_blocks * s.f_frsize >> 20, 'mode': oct(os.stat('/tmp').st_mode & 0o7777)}
        if op == 'mark':
            open(path, 'w').close()
            time.sleep(event['s'])
            return {'pid': os.getpid(), 'ls': sorted(os.listdir('/tmp'))}
''')

MAX_USED = re.compile(r'Max Memory Used: (\d+) MB')


def skip_unless_root():
    if os.geteuid() != 0:
        raise unittest.SkipTest('a file system of its own per /tmp needs root (rootless: a tmpfs)')


def loop_backing_files():
    """Every loop device in use on this host and the file behind it."""
    out = {}
    for dev in os.listdir('/sys/block'):
        p = '/sys/block/%s/loop/backing_file' % dev
        try:
            with open(p) as f:
                out[dev] = f.read().strip()
        except OSError:
            pass
    return out


def devices_of(data_dir):
    """The loop devices whose file lies in this server's data dir."""
    prefix = os.path.join(data_dir, 'ephemeral') + '/'
    return {d: b for d, b in loop_backing_files().items() if b.startswith(prefix)}


def tmp_device_of(pid):
    """The loop device mounted at /tmp in the mount namespace of process `pid`, e.g. 'loop12'."""
    with open('/proc/%d/mountinfo' % pid) as f:
        for line in f:
            fields = line.split()
            if fields[4] == '/tmp':
                real = os.path.realpath('/sys/dev/block/' + fields[2])
                return os.path.basename(real)
    return None


class EphemeralBase(ServerTestCase):
    server_args = ('--sandbox',)

    @classmethod
    def setUpClass(cls):
        skip_unless_root()
        super().setUpClass()

    @classmethod
    def class_setup(cls):
        # the daemon says at start when /tmp had to stay a tmpfs, and why
        err = cls.server.stderr_text()
        if '/tmp is a tmpfs' in err:
            raise AssertionError('no /tmp of its own per instance: ' + err[-500:])

    def fn(self, memory=128, size=None, name=None):
        extra = {'EphemeralStorage': {'Size': size}} if size else None
        name, _ = self.new_function(name or uniq('eph'), {'app.py': EPH}, runtime='python3.11',
                                    handler='app.handler', memory=memory, timeout=120, extra=extra)
        return name

    def call(self, name, event, tail=False):
        headers = {'X-Amz-Log-Type': 'Tail'} if tail else None
        st, h, body = self.c.invoke(name, json.dumps(event).encode(), headers=headers, timeout=180)
        self.assertEqual(st, 200, body[:500])
        self.assertNotIn('x-amz-function-error', h, body[:1000])
        return (json.loads(body), h) if tail else json.loads(body)

    def retire(self, name):
        """End the function's instances: the next call starts a new one."""
        st, h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                     {'Description': uuid.uuid4().hex})
        self.assertEqual(st, 200, raw)


class EphemeralStorageTest(EphemeralBase):
    def test_a_128_mb_function_writes_200_mb_to_tmp_and_keeps_it(self):
        name = self.fn(memory=128)
        wrote, h = self.call(name, {'op': 'write', 'name': 'big', 'mb': 200}, tail=True)
        self.assertEqual(wrote['mb'], 200, wrote)
        # not killed for memory: the REPORT counts at most the function's memory (the kernel
        # reclaims the file's pages at the limit instead of killing anything)
        used = int(MAX_USED.search(tail_text(h)).group(1))
        self.assertLessEqual(used, 128, tail_text(h))
        # the same instance, on its next call, reads every byte back
        back = self.call(name, {'op': 'read', 'name': 'big'})
        self.assertEqual(back, {'sha': wrote['sha'], 'mb': 200})
        inst = [i for i in instances_of(self.c, name) if i['State'] == 'Ready']
        self.assertEqual([i['CallsServed'] for i in inst], [2], inst)

    def test_writing_past_the_size_is_enospc_whatever_the_memory(self):
        name = self.fn(memory=128, size=600)
        self.assertEqual(self.call(name, {'op': 'stat'}), {'mb': 600, 'mode': '0o1777'})
        full = self.call(name, {'op': 'write', 'name': 'fill', 'mb': 700})
        self.assertEqual(full.get('errno'), errno.ENOSPC, full)
        # what the file system keeps for itself (inode tables, a reserve) is a few per cent
        self.assertLessEqual(full['mb'], 600)
        self.assertGreater(full['mb'], 550, full)
        # still full on the next call (the same instance); room again once the file is gone
        again = self.call(name, {'op': 'write', 'name': 'more', 'mb': 10})
        self.assertEqual(again.get('errno'), errno.ENOSPC, again)
        self.call(name, {'op': 'rm', 'name': 'fill'})
        self.call(name, {'op': 'rm', 'name': 'more'})
        self.assertEqual(self.call(name, {'op': 'write', 'name': 'after', 'mb': 300})['mb'], 300)

    def test_the_largest_size_with_the_least_memory(self):
        name = self.fn(memory=128, size=10240)
        self.assertEqual(self.call(name, {'op': 'stat'}), {'mb': 10240, 'mode': '0o1777'})
        self.assertEqual(self.call(name, {'op': 'write', 'name': 'x', 'mb': 64})['mb'], 64)

    def test_every_instance_starts_empty_and_sees_no_other(self):
        a = self.fn()
        self.assertEqual(self.call(a, {'op': 'ls'}), {'ls': []})
        self.call(a, {'op': 'write', 'name': 'secret-a', 'mb': 1})
        self.assertEqual(self.call(a, {'op': 'ls'}), {'ls': ['secret-a']})
        # another function's instance, running at the same time
        b = self.fn()
        self.assertEqual(self.call(b, {'op': 'ls'}), {'ls': []})
        # two instances of one function at once: neither sees the other's file
        marks = [json.dumps({'op': 'mark', 'name': m, 's': 1.5}).encode() for m in ('m1', 'm2')]
        elapsed, docs = self.invoke_together(a, marks, timeout=60)
        (_, d1), (_, d2) = docs
        self.assertNotEqual(d1['pid'], d2['pid'], docs)
        self.assertIn('m1', d1['ls'])
        self.assertNotIn('m2', d1['ls'])
        self.assertIn('m2', d2['ls'])
        self.assertNotIn('m1', d2['ls'])
        self.assertEqual(sorted(d1['ls'] + d2['ls']), ['m1', 'm2', 'secret-a'], docs)
        # a new instance of the same function: empty
        self.retire(a)
        self.assertEqual(self.call(a, {'op': 'ls'}), {'ls': []})

    def test_the_storage_is_gone_when_the_instance_ends(self):
        name = self.fn()
        self.call(name, {'op': 'write', 'name': 'f', 'mb': 50})
        pid = [i['Pid'] for i in instances_of(self.c, name) if i['State'] == 'Ready'][0]
        dev = tmp_device_of(pid)
        self.assertIsNotNone(dev, 'no /tmp mount of its own')
        backing = loop_backing_files().get(dev)
        self.assertTrue(backing and backing.startswith(self.server.data_dir), backing)
        # nothing of it has a name on disk
        self.assertEqual(os.listdir(os.path.join(self.server.data_dir, 'ephemeral')), [])
        st, h, raw = self.c.request('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, raw)
        self.assertTrue(wait_for(lambda: loop_backing_files().get(dev) != backing, timeout=15),
                        'the loop device of the ended instance still holds its file')


class EphemeralCrashTest(unittest.TestCase):
    """kill -9 of the daemon: its instances, their /tmp file systems and the ones made ahead go
    with it; the next daemon on the same data dir starts clean."""

    def setUp(self):
        skip_unless_root()

    def test_nothing_is_left_after_kill_9(self):
        s = Server(['--sandbox']).start()
        try:
            c = s.client()
            name = uniq('crash')
            st, h, body, raw = c.create_function(name, {'app.py': EPH}, runtime='python3.11', handler='app.handler')
            self.assertEqual(st, 201, raw)
            st, h, out = c.invoke(name, json.dumps({'op': 'write', 'name': 'kept', 'mb': 20}).encode(), timeout=60)
            self.assertEqual(st, 200, out)
            self.assertGreaterEqual(len(devices_of(s.data_dir)), 2, 'the instance and one made ahead')
            s.kill()
            self.assertTrue(wait_for(lambda: not devices_of(s.data_dir), timeout=15), devices_of(s.data_dir))
            self.assertEqual(os.listdir(os.path.join(s.data_dir, 'ephemeral')), [])
            s2 = Server(['--sandbox'], data_dir=s.data_dir, base_dir=s.base).start()
            try:
                c2 = s2.client()
                st, h, out = c2.invoke(name, json.dumps({'op': 'ls'}).encode(), timeout=60)
                self.assertEqual((st, json.loads(out)), (200, {'ls': []}), out)
            finally:
                s2.stop()
        finally:
            s.kill()
            s.cleanup()


def aws_cli():
    return '/usr/bin/aws' if os.path.exists('/usr/bin/aws') else None


class EphemeralConfigTest(EphemeralBase):
    """EphemeralStorage as Lambda documents it: an object with Size, an integer, 512 to 10240."""

    def create(self, eph):
        return self.c.create_function(uniq('ephv'), {'app.py': EPH}, runtime='python3.11', handler='app.handler',
                                      extra={'EphemeralStorage': eph})

    def test_size_out_of_range_or_not_an_integer_is_refused(self):
        for bad, words in ((511, 'greater than or equal to 512'), (10241, 'less than or equal to 10240'),
                           (0, 'greater than or equal to 512'), (-1, 'greater than or equal to 512')):
            st, h, body, raw = self.create({'Size': bad})
            self.assertEqual(st, 400, raw)
            self.assertEqual(h.get('x-amzn-errortype'), 'ValidationException', raw)
            self.assertIn("Value '%d' at 'ephemeralStorage.size' failed to satisfy constraint" % bad, raw.decode())
            self.assertIn(words, raw.decode())
        for bad in ('1024', 1024.5, None, [], {}):
            st, h, body, raw = self.create({'Size': bad})
            self.assertEqual(st, 400, (bad, raw))
        st, h, body, raw = self.create({})
        self.assertEqual(st, 400, raw)

    def test_limits_are_accepted(self):
        for ok in (512, 10240):
            st, h, body, raw = self.create({'Size': ok})
            self.assertEqual(st, 201, raw)
            self.assertEqual(body['EphemeralStorage'], {'Size': ok})

    @unittest.skipUnless(aws_cli(), "Debian's awscli is not installed (scripts/deps.sh installs it)")
    def test_the_aws_cli_sets_it_and_new_instances_get_it(self):
        region = function_arn('x').split(':')[3]
        env = dict(os.environ, AWS_ACCESS_KEY_ID='test', AWS_SECRET_ACCESS_KEY='test', AWS_DEFAULT_REGION=region,
                   AWS_PAGER='', AWS_CONFIG_FILE='/dev/null', AWS_SHARED_CREDENTIALS_FILE='/dev/null',
                   AWS_MAX_ATTEMPTS='1')

        def aws(*args):
            p = subprocess.run([aws_cli(), '--endpoint-url', self.c.url, '--output', 'json', 'lambda'] + list(args),
                               env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            return json.loads(p.stdout) if p.stdout.strip() else None

        name = self.fn(memory=256)
        self.assertEqual(aws('get-function-configuration', '--function-name', name)['EphemeralStorage'], {'Size': 512})
        self.assertEqual(self.call(name, {'op': 'stat'})['mb'], 512)
        doc = aws('update-function-configuration', '--function-name', name, '--ephemeral-storage', 'Size=2048')
        self.assertEqual(doc['EphemeralStorage'], {'Size': 2048})
        self.assertEqual(doc['MemorySize'], 256)
        self.assertTrue(wait_for(lambda: aws('get-function-configuration', '--function-name', name)
                                 ['LastUpdateStatus'] == 'Successful', timeout=30))
        self.assertEqual(self.call(name, {'op': 'stat'})['mb'], 2048)


if __name__ == '__main__':
    unittest.main()
