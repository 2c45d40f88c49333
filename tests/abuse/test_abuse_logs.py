"""A function's log output under abuse (issue 17, items 2 and 3).

Item 2: a call that writes 500 MB to stdout. The daemon keeps reading its pipe (the function is
never blocked) but stores at most --log-call-max-bytes of it, says in one platform line where it
cut and how much it dropped, keeps its memory flat, and the next call's log is whole.

Item 3: retention by age and by size, per function and overall, run on a worker every
--log-sweep-seconds, and the database file gives the space back.

Every case ends with the daemon's health (abuse_lib.assert_healthy)."""

import json
import os
import re
import sqlite3
import time
import urllib.parse

import abuse_lib
import nimbus_testlib as lib

CAP = 2 * 1024 * 1024
FLOOD = 500 * 1000 * 1000

# "flood": 500 MB of 100-byte lines, then answer; anything else: three short lines.
FLOOD_FN = lib.bootstrap(r'''
while next; do
  case "$EVENT" in
    *flood*) yes 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' | head -c %d ;;
    *) echo "after-1 $REQ_ID"; echo "after-2 $REQ_ID"; echo "after-3 $REQ_ID" ;;
  esac
  respond '"done"'
done
''' % FLOOD)


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for %d' % pid)


def call_lines(client, fn, rid):
    """Every stored line of call `rid`, paged through the logs API."""
    out, after = [], 0
    while True:
        path = '/nimbus/v1/functions/%s/logs?limit=10000&request_id=%s&after=%d' % (
            urllib.parse.quote(fn), rid, after)
        st, _h, doc, raw = client.api('GET', path)
        if st != 200:
            raise AssertionError('GET %s -> %s %r' % (path, st, raw[:300]))
        ev = doc.get('events', [])
        out += [e.get('message', '') for e in ev]
        if not ev:
            return out
        after = doc['lastId']


class SmallQuarantine:
    """AddressSanitizer keeps freed memory aside (256 MB by default) to catch use after free:
    RSS then measures the allocator's churn, not what the daemon holds. A small quarantine
    keeps the check meaningful under ASan and changes nothing for other builds."""

    @classmethod
    def _start_server(cls):
        old = os.environ.get('ASAN_OPTIONS')
        os.environ['ASAN_OPTIONS'] = (old + ':' if old else '') + 'quarantine_size_mb=4:thread_local_quarantine_size_kb=64'
        try:
            super()._start_server()
        finally:
            if old is None:
                del os.environ['ASAN_OPTIONS']
            else:
                os.environ['ASAN_OPTIONS'] = old


class LogCapTest(SmallQuarantine, abuse_lib.AbuseTestCase):
    server_args = ('--log-call-max-bytes', str(CAP))

    def test_500mb_of_output_is_capped_and_memory_stays_flat(self):
        fn = lib.uniq('flood')
        st, _h, _b, raw = self.c.create_function(fn, lib.fn_files(FLOOD_FN), timeout=300)
        self.assertEqual(st, 201, raw[:300])
        # Warm: the instance, the store and the log path have all been used once.
        st, h, body = self.c.invoke(fn, b'{"quiet":1}', timeout=60)
        self.assertEqual(st, 200, body)
        pid = self.server.proc.pid
        before = rss_kb(pid)

        st, h, body = self.c.invoke(fn, b'{"flood":1}', timeout=600)
        self.assertEqual(st, 200, body[:300])
        self.assertNotIn('x-amz-function-error', h)
        rid = h['x-amzn-requestid']
        after = rss_kb(pid)
        self.assertLess(after - before, 64 * 1024,
                        'daemon RSS grew from %d kB to %d kB over one 500 MB call' % (before, after))

        lines = call_lines(self.c, fn, rid)
        stored = sum(len(m.encode()) + 1 for m in lines)
        self.assertLessEqual(stored, CAP + 4096, 'stored %d bytes for a call capped at %d' % (stored, CAP))
        self.assertGreater(stored, CAP // 2, 'the output up to the cap is kept')
        self.assertTrue(lines[0].startswith('START RequestId: %s' % rid), lines[:2])
        self.assertTrue(any(m.startswith('END RequestId: %s' % rid) for m in lines), lines[-3:])
        self.assertTrue(lines[-1].startswith('REPORT RequestId: %s' % rid), lines[-3:])
        cut = [m for m in lines if 'Log truncated' in m]
        self.assertEqual(len(cut), 1, lines[-4:])
        m = re.search(r'past (\d+) bytes was dropped \((\d+) bytes in (\d+) lines', cut[0])
        self.assertIsNotNone(m, cut[0])
        kept, dropped = int(m.group(1)), int(m.group(2))
        self.assertLessEqual(kept, CAP)
        # Everything the function wrote is accounted for: kept (bytes + 26 a line) or dropped.
        self.assertGreater(dropped, FLOOD - CAP - 1000, cut[0])
        self.assertLessEqual(dropped, FLOOD, cut[0])

        # The next call's log is whole.
        st, h, body = self.c.invoke(fn, b'{"quiet":2}', timeout=60)
        self.assertEqual(st, 200, body)
        rid2 = h['x-amzn-requestid']
        lines2 = call_lines(self.c, fn, rid2)
        self.assertEqual([m for m in lines2 if m.startswith('after-')],
                         ['after-%d %s' % (i, rid2) for i in (1, 2, 3)], lines2)
        self.assertFalse(any('Log truncated' in m for m in lines2), lines2)
        self.assertTrue(lines2[-1].startswith('REPORT RequestId: %s' % rid2), lines2)
        self.assertHealthy()
