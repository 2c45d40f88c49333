"""A function's log output under abuse (issue 17, items 2 and 3).

Item 2: a call that writes 500 MB to stdout. The daemon keeps reading its pipe (the function is
never blocked) but stores at most --log-call-max-bytes of it, says in one platform line where it
cut and how much it dropped, keeps its memory flat, and the next call's log is whole.

Item 3: retention by age and by size, per function and overall, run on a worker every
--log-sweep, and the database file gives the space back.

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


def stored_ids(con, fn):
    """The ids of a function's stored lines, in chunk order, read from the chunks' blobs: each line is
    "<id - first_id>,<ts - ts_min>,<request id bytes>,<line bytes>:" then those bytes (docs/logs.md)."""
    ids = []
    for first, blob in con.execute('SELECT first_id, lines FROM log_chunks WHERE function = ? ORDER BY first_id',
                                   (fn,)):
        i = 0
        while i < len(blob):
            colon = blob.index(b':', i)
            did, _dts, rlen, llen = (int(x) for x in blob[i:colon].split(b','))
            ids.append(first + did)
            i = colon + 1 + rlen + llen
    return ids


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


# Prints $EVENT's "n" lines of 100 bytes (default 3), then answers.
LINES_FN = lib.bootstrap(r'''
while next; do
  n=$(printf '%s' "$EVENT" | sed -n 's/.*"n": *\([0-9]*\).*/\1/p'); n=${n:-3}
  i=0; while [ $i -lt $n ]; do
    printf 'line %06d %s %s\n' $i "$REQ_ID" 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy'; i=$((i+1)); done
  respond '"ok"'
done
''')


def wait_until(pred, timeout=30, what='condition'):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError('timed out waiting for ' + what)


class RetentionTest(abuse_lib.AbuseTestCase):
    server_args = ('--log-sweep', '1')

    def db(self):
        return os.path.join(self.server.data_dir, 'nimbus.db')

    def db_bytes(self):
        return sum(os.path.getsize(p) for p in (self.db(), self.db() + '-wal') if os.path.exists(p))

    def fn(self, extra=None):
        name = lib.uniq('ret')
        st, _h, doc, raw = self.c.create_function(name, lib.fn_files(LINES_FN), timeout=60, extra=extra)
        self.assertEqual(st, 201, raw[:300])
        return name, doc

    def call(self, fn, n=3):
        st, h, body = self.c.invoke(fn, json.dumps({'n': n}).encode(), timeout=120)
        self.assertEqual(st, 200, body[:300])
        rid = h['x-amzn-requestid']
        lib.wait_for(lambda: any(m.startswith('REPORT') for m in call_lines(self.c, fn, rid)), 10)
        return rid

    def age(self, rid, days):
        """Make a call's stored lines `days` older, as if written then."""
        con = sqlite3.connect(self.db(), timeout=30)
        try:
            con.execute('UPDATE log_chunks SET ts_min = ts_min - ?1, ts_max = ts_max - ?1 WHERE (function, first_id) IN '
                        '(SELECT function, first_id FROM log_requests WHERE request_id = ?2)', (days * 86400000, rid))
            con.commit()
        finally:
            con.close()

    def test_old_lines_past_the_age_are_deleted(self):
        fn, doc = self.fn({'LogRetentionInDays': 7})
        self.assertEqual(doc['LogRetentionInDays'], 7)
        keep_fn, _ = self.fn()        # the daemon's default: kept by age forever
        old, new = self.call(fn), self.call(fn)
        keep_old = self.call(keep_fn)
        self.age(old, 8)
        self.age(keep_old, 400)
        wait_until(lambda: not call_lines(self.c, fn, old), what='the old call\'s lines to go')
        self.assertTrue(any(m.startswith('REPORT') for m in call_lines(self.c, fn, new)))
        self.assertTrue(any(m.startswith('REPORT') for m in call_lines(self.c, keep_fn, keep_old)))
        self.assertHealthy()

    def test_a_function_over_its_budget_loses_its_oldest_lines_first(self):
        fn, doc = self.fn({'LogMaxBytes': 20000})
        self.assertEqual(doc['LogMaxBytes'], 20000)
        other, _ = self.fn()
        rids = [self.call(fn, 100) for _ in range(3)]
        other_rid = self.call(other, 100)

        def stored():
            con = sqlite3.connect(self.db(), timeout=30)
            try:
                return con.execute('SELECT coalesce(sum(bytes + 64 * n), 0), min(first_id) FROM log_chunks WHERE function = ?',
                                   (fn,)).fetchone()
            finally:
                con.close()
        wait_until(lambda: stored()[0] <= 20000, what='the function to fit its budget')
        last = call_lines(self.c, fn, rids[-1])
        self.assertTrue(last and last[-1].startswith('REPORT'), last[-2:])
        self.assertEqual(call_lines(self.c, fn, rids[0]), [], 'the oldest call goes first')
        # What is left is the newest lines, with nothing missing between them.
        con = sqlite3.connect(self.db(), timeout=30)
        try:
            ids = stored_ids(con, fn)
            newest_other = con.execute('SELECT coalesce(sum(n), 0) FROM log_chunks WHERE function = ?',
                                       (other,)).fetchone()[0]
        finally:
            con.close()
        # The lines kept are the newest: every id above the first kept one is still there.
        kept_last = call_ids(self.c, fn, rids[-1])
        self.assertTrue(set(kept_last) <= set(ids))
        self.assertEqual(ids, sorted(ids))
        self.assertGreater(newest_other, 100, 'another function keeps its lines')
        self.assertTrue(len(call_lines(self.c, other, other_rid)) > 100)
        self.assertHealthy()

    def test_the_database_file_shrinks(self):
        fn, _ = self.fn()
        for _ in range(4):
            self.call(fn, 20000)      # ~2.5 MB of lines a call
        big = self.db_bytes()
        self.assertGreater(big, 6 * 1024 * 1024, 'the lines are in the file')
        st, _h, doc, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % fn, {'LogMaxBytes': 10000})
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(doc['LogMaxBytes'], 10000)
        wait_until(lambda: self.db_bytes() < big // 2, timeout=60,
                   what='the file to shrink from %d bytes' % big)
        self.assertHealthy()


def call_ids(client, fn, rid):
    path = '/nimbus/v1/functions/%s/logs?limit=10000&request_id=%s' % (urllib.parse.quote(fn), rid)
    st, _h, doc, _raw = client.api('GET', path)
    return [e['id'] for e in (doc or {}).get('events', [])]


class TotalBudgetTest(abuse_lib.AbuseTestCase):
    server_args = ('--log-sweep', '1', '--log-max-bytes', '300000')

    def test_all_lines_together_keep_the_overall_budget_oldest_first(self):
        a = lib.uniq('tot-a')
        b = lib.uniq('tot-b')
        for name in (a, b):
            st, _h, _d, raw = self.c.create_function(name, lib.fn_files(LINES_FN), timeout=60)
            self.assertEqual(st, 201, raw[:300])
        st, h, _b = self.c.invoke(a, b'{"n": 1500}', timeout=120)
        self.assertEqual(st, 200)
        rid_a = h['x-amzn-requestid']
        st, h, _b = self.c.invoke(b, b'{"n": 1000}', timeout=120)
        self.assertEqual(st, 200)
        rid_b = h['x-amzn-requestid']
        db = os.path.join(self.server.data_dir, 'nimbus.db')

        def total():
            con = sqlite3.connect(db, timeout=30)
            try:
                return con.execute('SELECT coalesce(sum(bytes + 64 * n), 0) FROM log_chunks').fetchone()[0]
            finally:
                con.close()
        lib.wait_for(lambda: any(m.startswith('REPORT') for m in call_lines(self.c, b, rid_b)), 10)
        wait_until(lambda: 0 < total() <= 300000, what='the store to fit --log-max-bytes')
        # b wrote last: its call is whole; a's (older) lines went first.
        lines_b = call_lines(self.c, b, rid_b)
        self.assertTrue(lines_b[0].startswith('START') and lines_b[-1].startswith('REPORT'), lines_b[:1])
        self.assertFalse(any(m.startswith('START') for m in call_lines(self.c, a, rid_a)))
        self.assertHealthy()
