"""Instance lifecycle: warm reuse, concurrency, crash, timeout, init failure,
code update during a call, graceful shutdown."""

import json
import os
import threading
import time
import unittest

from nimbus_testlib import COUNTER, Server, ServerTestCase, bootstrap, fn_files, uniq

CRASHER = bootstrap('''
while next; do
  if [ "$EVENT" = '"crash"' ]; then exit 3; fi
  respond '"alive"'
done''')

SLEEPER = bootstrap('''
while next; do
  if [ "$EVENT" = '"sleep"' ]; then
    sleep 300 &
    sleep 5
    respond '"woke up"'
  else
    respond '"quick"'
  fi
done''')

CONCURRENT = bootstrap('''
while next; do
  sleep 1
  respond "\\"$REQ_ID\\""
done''')

INIT_ERROR = bootstrap('''
curl -sS -o /dev/null -X POST -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigInvalid' \\
  -H 'Content-Type: application/json' \\
  --data-binary '{"errorMessage":"bad config","errorType":"Runtime.ConfigInvalid"}' "$API/init/error"
exit 1''')

EXIT_AT_ONCE = '#!/bin/sh\nexit 1\n'


def answer_after(text, seconds):
    return fn_files(bootstrap('while next; do sleep %s; respond \'"%s"\'; done' % (seconds, text)))


def pid_gone(pid):
    """True if no process `pid` exists any more (a zombie still counts as existing)."""
    return not os.path.exists('/proc/%d' % pid)


def marked_pids(marker):
    """Host pids of every process whose environment holds `marker` (the
    function's env reaches every process of its instance, sandboxed or not,
    whatever pid namespace or /tmp it sees)."""
    found = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/environ' % p, 'rb') as f:
                if marker.encode() in f.read().split(b'\0'):
                    found.append(int(p))
        except OSError:
            pass
    return found


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ')
    except OSError:
        return None


class InstancesTest(ServerTestCase):

    def test_warm_instance_reused_counter_1_then_2(self):
        name, _ = self.new_function(uniq('warm'), fn_files(COUNTER))
        self.assertEqual(self.invoke_ok(name)[1], b'1')
        self.assertEqual(self.invoke_ok(name)[1], b'2')

    def test_two_concurrent_calls_on_idle_function_both_succeed(self):
        name, _ = self.new_function(uniq('conc'), fn_files(CONCURRENT), timeout=10)
        results = [None, None]

        def call(i):
            try:
                results[i] = self.c.invoke(name, b'{}', timeout=30)
            except Exception as e:    # reported below
                results[i] = e

        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        bodies = []
        for r in results:
            self.assertIsInstance(r, tuple, 'call failed: %r' % (r,))
            st, h, body = r
            self.assertEqual(st, 200, body[:300])
            self.assertNotIn('x-amz-function-error', h, body[:300])
            bodies.append(body)
        self.assertEqual(bodies[0], json.dumps(results[0][1].get('x-amzn-requestid')).encode())
        self.assertEqual(bodies[1], json.dumps(results[1][1].get('x-amzn-requestid')).encode())
        self.assertNotEqual(bodies[0], bodies[1])

    # ---- crash

    def test_crash_mid_call_gives_runtime_exit_error(self):
        name, _ = self.new_function(uniq('crash'), fn_files(CRASHER))
        self.assertEqual(self.invoke_ok(name, b'"hi"')[1], b'"alive"')
        st, h, body = self.c.invoke(name, b'"crash"')
        self.assertEqual(st, 200, body[:300])
        doc = self.assertFunctionError(h, body, 'Runtime.ExitError')
        self.assertIn('Runtime exited with error: exit status 3', doc.get('errorMessage', ''))

    def test_call_after_crash_succeeds(self):
        name, _ = self.new_function(uniq('crash2'), fn_files(CRASHER))
        st, h, body = self.c.invoke(name, b'"crash"')
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])
        self.assertEqual(self.invoke_ok(name, b'"hi"')[1], b'"alive"')

    # ---- timeout

    def _timeout_call(self):
        """A call that times out; returns (..., pids seen in its instance while it ran)."""
        mark = 'PIDMARK=%s' % uniq('m')
        name, _ = self.new_function(uniq('timeout'), fn_files(SLEEPER), timeout=1,
                                    env={'PIDMARK': mark.split('=', 1)[1]})
        seen = set()
        done = threading.Event()

        def watch():
            while not done.is_set():
                seen.update(marked_pids(mark))
                time.sleep(0.05)
        w = threading.Thread(target=watch)
        w.start()
        t0 = time.monotonic()
        try:
            st, h, body = self.c.invoke(name, b'"sleep"', timeout=30)
        finally:
            elapsed = time.monotonic() - t0
            done.set()
            w.join()
        return name, (mark, sorted(seen)), st, h, body, elapsed

    def test_timeout_gives_sandbox_timedout_in_about_1s(self):
        name, pidfile, st, h, body, elapsed = self._timeout_call()
        self.assertEqual(st, 200, body[:300])
        doc = self.assertFunctionError(h, body, 'Sandbox.Timedout')
        self.assertIn('Task timed out after 1.00 seconds', doc.get('errorMessage', ''))
        self.assertLess(elapsed, 3.0)
        self.assertGreaterEqual(elapsed, 0.9)

    def test_timeout_kills_process_tree(self):
        name, (mark, pids), st, h, body, elapsed = self._timeout_call()
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])
        # the bootstrap and its `sleep 300 &` (at least) were running during the call
        self.assertGreaterEqual(len(pids), 2, pids)
        gone = lambda: all(pid_gone(p) for p in pids) and not marked_pids(mark)   # noqa: E731
        deadline = time.monotonic() + 2.0
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = sorted(set(p for p in pids if not pid_gone(p)) | set(marked_pids(mark)))
        desc = {p: cmdline(p) for p in alive}
        self.assertEqual(alive, [], 'processes survived the timeout (bootstrap, sleep 300): %r' % desc)

    def test_call_after_timeout_succeeds(self):
        name, pidfile, st, h, body, elapsed = self._timeout_call()
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])
        self.assertEqual(self.invoke_ok(name, b'"quick"')[1], b'"quick"')

    # ---- init failures

    def test_init_error_config_invalid_reported_to_caller(self):
        name, _ = self.new_function(uniq('initerr'), fn_files(INIT_ERROR))
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body[:300])
        doc = self.assertFunctionError(h, body, 'Runtime.ConfigInvalid')
        self.assertEqual(doc.get('errorMessage'), 'bad config')

    def test_bootstrap_exiting_at_once_gives_runtime_exit_error(self):
        name, _ = self.new_function(uniq('exit1'), fn_files(EXIT_AT_ONCE))
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body[:300])
        doc = self.assertFunctionError(h, body, 'Runtime.ExitError')
        self.assertIn('exit status 1', doc.get('errorMessage', ''))

    def test_zip_without_bootstrap_gives_invalid_entrypoint(self):
        name, _ = self.new_function(uniq('noboot'), {'handler.sh': (b'#!/bin/sh\necho hi\n', 0o755)})
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body[:300])
        self.assertFunctionError(h, body, 'Runtime.InvalidEntrypoint')

    def test_non_executable_bootstrap_is_a_function_error(self):
        name, _ = self.new_function(uniq('noexec'), {'bootstrap': (b'#!/bin/sh\nexit 0\n', 0o644)})
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(h.get('x-amz-function-error'), 'Unhandled', body[:300])

    # ---- update during a call

    def test_update_during_call_old_code_answers_then_new_code(self):
        name, _ = self.new_function(uniq('updcall'), answer_after('old', 2), timeout=10)
        self.assertEqual(self.invoke_ok(name, timeout=30)[1], b'"old"')   # warm it up
        result = {}

        def call():
            try:
                result['r'] = self.c.invoke(name, b'{}', timeout=30)
            except Exception as e:
                result['r'] = e

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.7)
        st, h, cfg, raw = self.c.update_code(name, answer_after('new', 0))
        self.assertEqual(st, 200, raw[:300])
        t.join(30)
        r = result.get('r')
        self.assertIsInstance(r, tuple, 'in-flight call failed: %r' % (r,))
        self.assertEqual(r[0], 200, r[2][:300])
        self.assertNotIn('x-amz-function-error', r[1], r[2][:300])
        self.assertEqual(r[2], b'"old"')
        self.assertEqual(self.invoke_ok(name)[1], b'"new"')


class GracefulShutdownTest(unittest.TestCase):

    def test_sigterm_lets_in_flight_call_finish_and_exits_0(self):
        s = Server().start()
        try:
            c = s.client()
            st, h, cfg, raw = c.create_function('slow', answer_after('done', 2), timeout=10)
            self.assertEqual(st, 201, raw[:300])
            result = {}

            def call():
                try:
                    result['r'] = c.invoke('slow', b'{}', timeout=30)
                except Exception as e:
                    result['r'] = e

            t = threading.Thread(target=call)
            t.start()
            time.sleep(0.7)
            rc = s.terminate(10)
            t.join(30)
            r = result.get('r')
            self.assertIsInstance(r, tuple, 'in-flight call failed: %r; server stderr:\n%s' % (r, s.stderr_text()[-2000:]))
            self.assertEqual((r[0], r[2]), (200, b'"done"'))
            self.assertEqual(rc, 0, 'exit code after SIGTERM; stderr:\n' + s.stderr_text()[-2000:])
        finally:
            s.kill()
            s.cleanup()


class InstancesStressTest(ServerTestCase):

    def test_six_concurrent_calls_all_succeed(self):
        name, _ = self.new_function(uniq('conc6'), fn_files(CONCURRENT), timeout=20)
        results = [None] * 6

        def call(i):
            try:
                results[i] = self.c.invoke(name, b'{}', timeout=60)
            except Exception as e:
                results[i] = e

        threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(70)
        for r in results:
            self.assertIsInstance(r, tuple, 'call failed: %r' % (r,))
            self.assertEqual(r[0], 200, r[2][:300])
            self.assertNotIn('x-amz-function-error', r[1], r[2][:300])
            self.assertEqual(r[2], json.dumps(r[1].get('x-amzn-requestid')).encode())

    def test_delete_during_call_answers_and_then_404(self):
        name, _ = self.new_function(uniq('delcall'), answer_after('x', 1), timeout=10)
        result = {}

        def call():
            try:
                result['r'] = self.c.invoke(name, b'{}', timeout=30)
            except Exception as e:
                result['r'] = e

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.5)
        st, h, raw = self.c.request('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, raw[:300])
        t.join(30)
        self.assertIsInstance(result.get('r'), tuple, 'in-flight call got no HTTP answer: %r' % (result.get('r'),))
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 404, body[:300])

    def test_many_sequential_calls_reuse_one_instance(self):
        name, _ = self.new_function(uniq('seq'), fn_files(COUNTER))
        bodies = [self.invoke_ok(name)[1] for _ in range(30)]
        self.assertEqual(bodies, [str(i).encode() for i in range(1, 31)])


class ShutdownCleanupTest(unittest.TestCase):

    def test_sigterm_leaves_no_instance_processes(self):
        mark = uniq('m')
        script = bootstrap('sleep 300 &\nwhile next; do respond \'"up"\'; done')
        s = Server().start()
        try:
            c = s.client()
            st, h, cfg, raw = c.create_function('idle', fn_files(script), env={'PIDMARK': mark})
            self.assertEqual(st, 201, raw[:300])
            st, h, body = c.invoke('idle', b'{}')
            self.assertEqual((st, body), (200, b'"up"'))
            # the idle bootstrap and its `sleep 300 &`, found by their environment
            pids = marked_pids('PIDMARK=' + mark)
            self.assertGreaterEqual(len(pids), 2, pids)
            self.assertEqual(s.terminate(10), 0, s.stderr_text()[-2000:])
            deadline = time.monotonic() + 2.0
            while (any(not pid_gone(p) for p in pids) or marked_pids('PIDMARK=' + mark)) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            alive = {p: cmdline(p) for p in set(pids) | set(marked_pids('PIDMARK=' + mark)) if not pid_gone(p)}
            self.assertEqual(alive, {}, 'instance processes outlived the server')
        finally:
            s.kill()
            s.cleanup()
