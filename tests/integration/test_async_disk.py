"""An asynchronous call is acknowledged only once it is stored: when the disk cannot take the
write, the caller gets a 5xx, never a 202 — and every request id that did get a 202 is there
after a restart. The data directory is a small tmpfs this test mounts (root only), filled to the
last byte while the server runs."""

import json
import os
import subprocess
import tempfile
import unittest

from nimbus_testlib import ECHO, Server, fn_files, uniq

EVENTS = 40
PAYLOAD = json.dumps({'pad': 'x' * 60000}).encode()


@unittest.skipUnless(os.geteuid() == 0, 'mounting a tmpfs needs root')
class AsyncFullDiskTest(unittest.TestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix='nimbus-fulldisk-')
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', self.mnt], check=True)
        self.data = os.path.join(self.mnt, 'data')
        os.mkdir(self.data)
        self.srv = None

    def tearDown(self):
        if self.srv:
            self.srv.stop()
        subprocess.run(['umount', '-l', self.mnt])
        os.rmdir(self.mnt)

    def start(self):
        self.srv = Server(data_dir=self.data, base_dir=self.mnt)
        self.srv.start()
        return self.srv.client()

    def fill(self):
        """Take every free byte of the tmpfs."""
        # Unbuffered, so what did not fit is not written again at close.
        with open(os.path.join(self.mnt, 'ballast'), 'wb', buffering=0) as f:
            for size in (1 << 20, 65536, 4096, 1):
                try:
                    while f.write(b'\0' * size):
                        pass
                except OSError:
                    pass

    def test_no_202_without_the_disk_and_every_202_is_kept(self):
        c = self.start()
        name = uniq('disk')
        # Reserved concurrency 0: nothing runs, so every accepted event stays queued.
        st, h, body, raw = c.create_function(name, fn_files(ECHO))
        self.assertEqual(st, 201, raw)
        st, h, body, raw = c.api('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                 {'ReservedConcurrentExecutions': 0})
        self.assertEqual(st, 200, raw)
        ev = {'X-Amz-Invocation-Type': 'Event'}
        st, h, _ = c.invoke(name, PAYLOAD, ev)
        self.assertEqual(st, 202)
        accepted = [h['x-amzn-requestid']]

        self.fill()
        codes = []
        for _ in range(EVENTS):
            st, h, body = c.invoke(name, PAYLOAD, ev)
            codes.append(st)
            if st == 202:
                accepted.append(h['x-amzn-requestid'])
            else:
                self.assertGreaterEqual(st, 500, body)
                doc = json.loads(body)
                self.assertEqual(h.get('x-amzn-errortype'), 'ServiceException', body)
                self.assertIn('Message', doc)
        self.assertIn(500, codes, 'a full disk must refuse some of %d events of 60 KB: %r' % (EVENTS, codes))

        # Room again: accepted again, and after a restart every 202 is still there.
        os.unlink(os.path.join(self.mnt, 'ballast'))
        st, h, _ = c.invoke(name, PAYLOAD, ev)
        self.assertEqual(st, 202)
        accepted.append(h['x-amzn-requestid'])
        self.srv.stop()
        c = self.start()
        seen, marker = set(), ''
        while True:
            path = '/nimbus/v1/functions/%s/events?limit=100%s' % (name, '&after=' + marker if marker else '')
            st, h, body, raw = c.api('GET', path)
            self.assertEqual(st, 200, raw)
            seen.update(e['RequestId'] for e in body['Events'])
            marker = body.get('NextMarker')
            if not marker:
                break
        self.assertEqual(set(accepted) - seen, set(), 'accepted (202) but lost')


if __name__ == '__main__':
    unittest.main()
