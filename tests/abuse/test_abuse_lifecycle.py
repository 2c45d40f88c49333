"""Races and the daemon's own life under abuse (issue 17, item 12), on the ASan build:
code and configuration updated while the function is invoked, a function deleted while
its alias is invoked from many threads, SIGTERM with calls in flight and clients still
arriving (a clean drain, exit 0, no sanitizer report), and a restart after kill -9 on the
same data directory.

(DeleteFunction during a first cold start, the use-after-free of the issue's item 1, is
task A's test_abuse_core.)"""

import json
import os
import signal
import threading
import time
import unittest

import abuse_lib
from nimbus_testlib import Server, bootstrap, fn_files, uniq, wait_for

FN = '/2015-03-31/functions'


def answer_files(word, delay=0):
    return fn_files(bootstrap('while next; do %s respond \'"%s"\'; done' %
                              ('sleep %s;' % delay if delay else '', word)))


class RaceTest(abuse_lib.AbuseTestCase):

    def tearDown(self):
        if type(self).server is not None and type(self).server.alive():
            self.assertHealthy()
        super().tearDown()

    def test_code_and_config_updates_while_invoking(self):
        name, _ = self.new_function(uniq('race-upd'), answer_files('v0'), timeout=10)
        stop = threading.Event()
        results, errors = [], []

        def invoker():
            while not stop.is_set():
                try:
                    results.append(self.c.invoke(name, b'{}', timeout=60))
                except Exception as e:       # asserted below
                    errors.append(e)

        def updater():
            for i in range(1, 13):
                st, h, body, raw = self.c.update_code(name, answer_files('v%d' % i))
                if st not in (200, 409):
                    errors.append(('code', st, raw[:200]))
                st, h, body, raw = self.c.api('PUT', '%s/%s/configuration' % (FN, name),
                                              {'MemorySize': 128 + 64 * (i % 3), 'Timeout': 5 + i % 4,
                                               'Environment': {'Variables': {'ITER': str(i)}}})
                if st not in (200, 409):
                    errors.append(('config', st, raw[:200]))
        ts = [threading.Thread(target=invoker, daemon=True) for _ in range(4)]
        for t in ts:
            t.start()
        u = threading.Thread(target=updater)
        u.start()
        u.join(120)
        stop.set()
        for t in ts:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertGreater(len(results), 0)
        for st, h, body in results:
            # 409 (ResourceConflictException) is Lambda's answer while an update is in progress
            self.assertIn(st, (200, 409, 429), body[:300])
            if st == 200:
                self.assertNotIn('x-amz-function-error', h, body[:300])
                self.assertRegex(body.decode(), r'^"v\d+"$')
        # the last update wins once it is all done
        self.assertTrue(wait_for(lambda: self.c.invoke(name, b'{}')[2] == b'"v12"', 20))

    def test_delete_while_invoking_an_alias(self):
        for round_ in range(3):
            name, _ = self.new_function(uniq('race-del'), answer_files('a', delay='0.2'), timeout=10)
            st, h, ver, raw = self.c.api('POST', '%s/%s/versions' % (FN, name), {})
            self.assertEqual(st, 201, raw[:300])
            st, h, al, raw = self.c.api('POST', '%s/%s/aliases' % (FN, name),
                                        {'Name': 'live', 'FunctionVersion': ver['Version']})
            self.assertEqual(st, 201, raw[:300])
            res = []

            def caller():
                for _ in range(6):
                    try:
                        res.append(self.c.invoke(name + ':live', b'{}', timeout=60))
                    except Exception as e:   # asserted below
                        res.append(e)
            ts = [threading.Thread(target=caller, daemon=True) for _ in range(6)]
            for t in ts:
                t.start()
            time.sleep(0.3 + 0.2 * round_)
            st, h, raw = self.c.request('DELETE', '%s/%s' % (FN, name))
            self.assertEqual(st, 204, raw[:300])
            for t in ts:
                t.join(90)
            for r in res:
                self.assertIsInstance(r, tuple, 'a call got no HTTP answer: %r' % (r,))
                st, h, body = r
                # ran before the delete (200 "a"), or found it gone (404); or, already at an
                # instance when the function went, ended with an error naming it
                self.assertIn(st, (200, 404, 410, 429), body[:300])
                if st == 200 and 'x-amz-function-error' not in h:
                    self.assertEqual(body, b'"a"')
            st, h, body = self.c.invoke(name + ':live', b'{}')
            self.assertEqual(st, 404, body[:300])
            # the same name again is a new function
            self.new_function(name, answer_files('again'))
            self.assertEqual(self.invoke_ok(name)[1], b'"again"')
            self.c.request('DELETE', '%s/%s' % (FN, name))

    def test_create_invoke_delete_many_names_at_once(self):
        def life(i):
            name = uniq('race-life')
            st, h, body, raw = self.c.create_function(name, answer_files('l%d' % i))
            if st != 201:
                return ('create', st, raw[:200])
            st, h, body = self.c.invoke(name, b'{}', timeout=60)
            if (st, body) != (200, b'"l%d"' % i):
                return ('invoke', st, body[:200])
            st, h, raw = self.c.request('DELETE', '%s/%s' % (FN, name))
            return None if st == 204 else ('delete', st, raw[:200])
        res = abuse_lib.parallel(life, [(i,) for i in range(16)])
        self.assertEqual([r for r in res if r is not None], [])


class LifecycleTest(unittest.TestCase):
    """Servers of their own: these stop and kill them."""

    def check_stderr(self, server):
        rep = abuse_lib.sanitizer_report(server)
        self.assertIsNone(rep, 'sanitizer report:\n%s' % rep)

    def test_sigterm_drain_with_calls_in_flight_and_clients_arriving(self):
        s = Server().start()
        try:
            c = s.client()
            st, h, b, raw = c.create_function('slow', answer_files('done', delay=2), timeout=20)
            self.assertEqual(st, 201, raw[:300])
            st, h, b, raw = c.create_function('stubborn', fn_files(bootstrap(
                "trap '' TERM\nwhile next; do sleep 1; respond '\"late\"'; done")), timeout=20)
            self.assertEqual(st, 201, raw[:300])
            results = []

            def call(fn):
                try:
                    results.append((fn, c.invoke(fn, b'{}', timeout=60)))
                except Exception as e:        # a refused connection after the stop: fine
                    results.append((fn, e))
            ts = [threading.Thread(target=call, args=('slow',), daemon=True) for _ in range(6)]
            ts += [threading.Thread(target=call, args=('stubborn',), daemon=True) for _ in range(2)]
            for t in ts:
                t.start()
            time.sleep(1.0)
            s.proc.send_signal(signal.SIGTERM)
            # clients still arriving while it drains: refused or answered, never a hang
            late = [threading.Thread(target=call, args=('slow',), daemon=True) for _ in range(4)]
            for t in late:
                t.start()
            rc = s.terminate(30)
            for t in ts + late:
                t.join(60)
            self.assertEqual(rc, 0, 'exit code after SIGTERM; stderr:\n' + s.stderr_text()[-3000:])
            self.check_stderr(s)
            got = {fn: [] for fn in ('slow', 'stubborn')}
            for fn, r in results:
                got[fn].append(r)
            # every call that was running when the signal came finished with its answer
            done_slow = [r for r in got['slow'] if isinstance(r, tuple) and r[0] == 200 and r[2] == b'"done"']
            self.assertGreaterEqual(len(done_slow), 6, got['slow'])
            for r in got['stubborn']:
                self.assertIsInstance(r, tuple, r)
                self.assertEqual(r[0], 200, r)
            for r in got['slow']:
                if isinstance(r, tuple):      # a late client: answered, or 503 while stopping
                    self.assertIn(r[0], (200, 503), r)
        finally:
            s.kill()
            s.cleanup()

    def test_restart_after_kill_9_with_calls_in_flight(self):
        first = Server().start()
        data = first.data_dir
        try:
            c = first.client()
            st, h, b, raw = c.create_function('keep', answer_files('kept'), timeout=20)
            self.assertEqual(st, 201, raw[:300])
            st, h, b, raw = c.create_function('slow', answer_files('x', delay=5), timeout=20)
            self.assertEqual(st, 201, raw[:300])
            self.assertEqual(c.invoke('keep', b'{}')[2], b'"kept"')
            ts = [threading.Thread(target=lambda: self._swallow(c, 'slow'), daemon=True) for _ in range(4)]
            for t in ts:
                t.start()
            time.sleep(1.0)
            os.kill(first.proc.pid, signal.SIGKILL)      # the daemon alone, as the OOM killer would
            first.proc.wait(10)
            for t in ts:
                t.join(30)
        finally:
            first.kill()                                 # and whatever of its group is left
        second = Server(data_dir=data, base_dir=first.base)
        second.own_base = True
        try:
            second.start(30)
            c = second.client()
            st, doc = abuse_lib.health(second)
            self.assertEqual((st, doc.get('status')), (200, 'ok'), doc)
            st, h, cfgs, raw = c.api('GET', FN)
            self.assertEqual(sorted(f['FunctionName'] for f in cfgs['Functions']), ['keep', 'slow'])
            self.assertEqual(c.invoke('keep', b'{}')[2], b'"kept"')
            abuse_lib.assert_healthy(self, second)
            self.assertEqual(second.terminate(20), 0, second.stderr_text()[-3000:])
            self.check_stderr(second)
        finally:
            second.kill()
            second.cleanup()

    @staticmethod
    def _swallow(c, fn):
        try:
            c.invoke(fn, b'{}', timeout=20)
        except Exception:       # the daemon is killed under it: no answer is expected
            pass
