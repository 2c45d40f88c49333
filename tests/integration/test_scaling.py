"""Life cycle and scaling: parallel cold starts for a burst, concurrency
limits (reserved, account, instance) with a bounded wait then Lambda's 429,
keep-alive reclaim down to zero, and the concurrency API."""
import json
import os
import time

from nimbus_testlib import ServerTestCase, Server, fn_files, instances_of, native_echo_bytes, uniq, SLEEPY, parallel




class ScalingTest(ServerTestCase):
    server_args = ('--throttle-wait-ms', '500')

    def instances(self, name):
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name)
        self.assertEqual(st, 200, raw[:200])
        return json.loads(raw)['Instances']

    def test_burst_starts_one_instance_per_call_in_parallel(self):
        name, _ = self.new_function(uniq('burst'), fn_files(SLEEPY), timeout=30)
        n = 8
        t0 = time.time()
        res = parallel(lambda i: self.c.invoke(name, b'{"sleep": 1}'), n)
        took = time.time() - t0
        pids = set()
        for st, h, body in res:
            self.assertEqual(st, 200, body)
            self.assertNotIn('x-amz-function-error', h)
            pids.add(body)
        self.assertEqual(len(pids), n, 'each concurrent call had its own instance')
        self.assertLess(took, 1 + 3.0, 'the %d instances started in parallel, not one after another' % n)
        self.assertEqual(len(self.instances(name)), n)

    def test_reserved_limit_waits_then_429_with_reason(self):
        name, _ = self.new_function(uniq('resv'), fn_files(SLEEPY), timeout=30)
        st, h, raw = self.c.request('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                    json.dumps({'ReservedConcurrentExecutions': 2}).encode())
        self.assertEqual(st, 200, raw)
        self.assertEqual(json.loads(raw), {'ReservedConcurrentExecutions': 2})

        def call(i):
            time.sleep(0.3 * (i == 2))     # the third arrives while two run
            t = time.time()
            r = self.c.invoke(name, b'{"sleep": 2}')
            return r, time.time() - t
        res = parallel(call, 3)
        codes = sorted(r[0][0] for r in res)
        self.assertEqual(codes, [200, 200, 429])
        (st, h, body), waited = [r for r in res if r[0][0] == 429][0]
        self.assertEqual(h.get('x-amzn-errortype'), 'TooManyRequestsException')
        self.assertEqual(json.loads(body)['Reason'], 'ReservedFunctionConcurrentInvocationLimitExceeded')
        self.assertIn('retry-after', h)
        self.assertGreaterEqual(waited, 0.45, 'it waited for room before the 429')
        self.assertLess(waited, 1.9, 'the wait is bounded by --throttle-wait-ms, not the 2 s calls')
        self.assertLessEqual(len(self.instances(name)), 2)

    def test_reserved_zero_throttles_at_once(self):
        name, _ = self.new_function(uniq('zero'), fn_files(SLEEPY))
        st, h, raw = self.c.request('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                    json.dumps({'ReservedConcurrentExecutions': 0}).encode())
        self.assertEqual(st, 200, raw)
        t = time.time()
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 429)
        self.assertLess(time.time() - t, 0.4)
        self.assertEqual(json.loads(body)['Reason'], 'ReservedFunctionConcurrentInvocationLimitExceeded')
        self.assertEqual(self.instances(name), [])
        st, h, raw = self.c.request('DELETE', '/2017-10-31/functions/%s/concurrency' % name)
        self.assertEqual(st, 204)
        st, h, body = self.c.invoke(name, b'{}')
        self.assertEqual(st, 200, body)

    def test_concurrency_api_get_put_delete_and_errors(self):
        name, _ = self.new_function(uniq('capi'), fn_files(SLEEPY))
        st, h, raw = self.c.request('GET', '/2019-09-30/functions/%s/concurrency' % name)
        self.assertEqual((st, json.loads(raw)), (200, {}))
        st, h, raw = self.c.request('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                    json.dumps({'ReservedConcurrentExecutions': 7}).encode())
        self.assertEqual(st, 200)
        st, h, raw = self.c.request('GET', '/2019-09-30/functions/%s/concurrency' % name)
        self.assertEqual(json.loads(raw), {'ReservedConcurrentExecutions': 7})
        st, h, raw = self.c.request('GET', '/2015-03-31/functions/%s' % name)
        self.assertEqual(json.loads(raw)['Concurrency'], {'ReservedConcurrentExecutions': 7})
        for bad in (-1, 'x', 100000):
            st, h, raw = self.c.request('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                        json.dumps({'ReservedConcurrentExecutions': bad}).encode())
            self.assertEqual(st, 400, (bad, raw))
        st, h, raw = self.c.request('PUT', '/2017-10-31/functions/nope-%s/concurrency' % name,
                                    json.dumps({'ReservedConcurrentExecutions': 1}).encode())
        self.assertEqual(st, 404)
        self.assertEqual(h.get('x-amzn-errortype'), 'ResourceNotFoundException')
        st, h, raw = self.c.request('DELETE', '/2017-10-31/functions/%s/concurrency' % name)
        self.assertEqual(st, 204)
        st, h, raw = self.c.request('GET', '/2019-09-30/functions/%s/concurrency' % name)
        self.assertEqual(json.loads(raw), {})

    def test_keep_alive_reclaims_idle_instances_to_zero_but_never_cuts_a_call(self):
        name, _ = self.new_function(uniq('ka'), fn_files(SLEEPY), timeout=30,
                                    extra={'KeepAliveSeconds': 1})
        res = parallel(lambda i: self.c.invoke(name, b'{}'), 3)
        self.assertTrue(all(r[0] == 200 for r in res))
        self.assertGreaterEqual(len(self.instances(name)), 1)
        deadline = time.time() + 6
        while self.instances(name) and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.instances(name), [], 'idle instances were reclaimed, down to zero')
        # A call longer than the keep-alive is not cut.
        st, h, body = self.c.invoke(name, b'{"sleep": 2.5}')
        self.assertEqual(st, 200, body)
        self.assertNotIn('x-amz-function-error', h)


class NativeConcurrentTest(ServerTestCase):
    """The native echo bootstrap (the benchmarks' runtime) in an instance with InstanceConcurrency
    8 serves eight calls at once from its one epoll loop, each answered with its own event."""

    def test_one_instance_answers_eight_calls_at_once(self):
        native = native_echo_bytes()
        if not native:
            self.skipTest('this build has no bench/bootstrap_native')
        name, _ = self.new_function(uniq('native-multi'), {'bootstrap': (native, 0o755)},
                                    extra={'InstanceConcurrency': 8}, timeout=10)
        self.invoke_ok(name, b'{"warm": true}')
        for rnd in range(3):
            _, calls = self.invoke_together(name, [json.dumps({'r': rnd, 'i': i}).encode() for i in range(8)])
            self.assertEqual(sorted(doc['i'] for h, doc in calls), list(range(8)))
            self.assertTrue(all(doc['r'] == rnd for h, doc in calls))
        insts = instances_of(self.c, name)
        self.assertEqual(len(insts), 1, insts)
        self.assertEqual(insts[0]['Capacity'], 8)
        self.assertEqual(insts[0]['CallsServed'], 25)
        # One Runtime API connection per slot, all held by the one process.
        fds = os.listdir('/proc/%d/fd' % insts[0]['Pid'])
        socks = [f for f in fds if os.readlink('/proc/%d/fd/%s' % (insts[0]['Pid'], f)).startswith('socket:')]
        self.assertEqual(len(socks), 8, socks)


class AccountLimitTest(ServerTestCase):
    server_args = ('--account-concurrency', '2', '--throttle-wait-ms', '300')

    def test_account_limit_429_concurrent_invocation_limit(self):
        a, _ = self.new_function(uniq('acc-a'), fn_files(SLEEPY), timeout=30)
        b, _ = self.new_function(uniq('acc-b'), fn_files(SLEEPY), timeout=30)

        def call(i):
            time.sleep(0.3 * (i == 2))
            return self.c.invoke([a, b, b][i], b'{"sleep": 1.5}')
        res = parallel(call, 3)
        codes = sorted(r[0] for r in res)
        self.assertEqual(codes, [200, 200, 429])
        body = [r[2] for r in res if r[0] == 429][0]
        self.assertEqual(json.loads(body)['Reason'], 'ConcurrentInvocationLimitExceeded')
        # Once room frees up, calls run again.
        st, h, body = self.c.invoke(a, b'{}')
        self.assertEqual(st, 200)
