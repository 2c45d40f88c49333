"""A large burst (issue 16): 200 calls at once on a cold function, each holding its instance, are
all answered, by instances each with a /tmp of its own that no other instance sees; the instances
API then lists one instance per call, all ready and idle, agreeing with who answered; the same
burst again is served warm by them. Past the function's instance limit the calls over it
get Lambda's 429 TooManyRequestsException (Reason ConcurrentInvocationLimitExceeded) and nothing
else fails. Lambda scales a function out one execution environment per concurrent request, up to
its limits, and throttles beyond them with 429."""
import json
import os
import signal
import threading

from nimbus_testlib import ServerTestCase, bootstrap, fn_files, uniq, wait_for

N = 200

# Per call: what /tmp held before, a marker of its own there, a hold of {"hold": S} seconds, then
# "PID|what /tmp held before|what it holds after" (the shell runtime's own scratch dir, tmp.*, is
# there from its start).
HOLDER = bootstrap('''
while next; do
  S=$(printf '%s' "$EVENT" | sed -n 's/.*"hold"[^0-9.]*\\([0-9.]*\\).*/\\1/p')
  BEFORE=$(ls -A /tmp | tr '\\n' ,)
  : > "/tmp/m-$REQ_ID"
  [ -n "$S" ] && sleep "$S"
  respond "\\"$$|$BEFORE|$(ls -A /tmp | tr '\\n' ,)\\""
done''')


def at_once(fn, n):
    """fn(i) for i in 0..n-1, released together from n threads."""
    out = [None] * n
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        try:
            out[i] = fn(i)
        except Exception as e:        # a lost call is a failure the test names
            out[i] = (0, {}, str(e).encode())
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(180)
    return out


def children(pid):
    out = []
    try:
        for t in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def tmp_by_instance(test, res):
    """Every answer of a burst of HOLDER calls is a 200 from an instance whose /tmp holds its own
    scratch dir and the markers of the calls it served, nobody else's (a call whose instance came
    late may be served by another that finished first). {pid: [(before, after)]}."""
    by_pid = {}
    for st, h, body in res:
        test.assertEqual(st, 200, body[:300])
        test.assertNotIn('x-amz-function-error', h, body[:300])
        pid, before, after = json.loads(body).split('|')
        by_pid.setdefault(pid, []).append((before, after))
    for pid, seen in by_pid.items():
        mine = set(m for _, a in seen for m in a.split(',') if m.startswith('m-'))
        test.assertEqual(len(mine), len(seen), 'one marker per call it served: %r' % seen)
        for before, after in seen:
            test.assertEqual(len([e for e in before.split(',') if e.startswith('tmp.')]), 1,
                             'its /tmp holds its own scratch dir alone: %s' % before)
            test.assertLessEqual(set(e for e in after.split(',') if e.startswith('m-')), mine,
                                 'its /tmp is seen by no other instance: %s' % after)
            test.assertEqual(set(e for e in after.split(',') if e and not e.startswith(('m-', 'tmp.'))), set(), after)
    return by_pid


class BurstTest(ServerTestCase):
    server_args = ('--max-instances', '250', '--throttle-wait-ms', '1000', '--keep-alive', '600')

    def instances(self, name):
        st, h, raw = self.c.request('GET', '/nimbus/v1/functions/%s/instances' % name)
        self.assertEqual(st, 200, raw[:200])
        return json.loads(raw)['Instances']

    def burst(self, name, hold):
        return at_once(lambda i: self.c.invoke(name, b'{"hold": %g}' % hold, timeout=120), N)

    def test_burst_of_200_all_answered_then_served_warm(self):
        name, _ = self.new_function(uniq('big'), fn_files(HOLDER), timeout=90)
        # Held long enough that almost every call needs an instance of its own; one whose instance
        # came late may be served by another that finished first: then that instance's /tmp holds
        # its own earlier calls' markers, and nobody else's.
        by_pid = tmp_by_instance(self, self.burst(name, 10))
        self.assertGreater(len(by_pid), N // 2, 'the burst scaled out')

        inst = self.instances(name)
        self.assertEqual(len(inst), N, 'one instance started per call nothing else would take')
        self.assertEqual(len(set(i['Id'] for i in inst)), N)
        self.assertEqual(len(set(i['Pid'] for i in inst)), N)
        for i in inst:
            self.assertEqual(i['State'], 'Ready', i)
            self.assertEqual(i['Busy'], 0, i)
            self.assertIn('InitDurationMs', i)
        self.assertEqual(sum(i['CallsServed'] for i in inst), N, 'every call counted once')
        self.assertEqual(sorted(i['CallsServed'] for i in inst if i['CallsServed']),
                         sorted(len(v) for v in by_pid.values()), 'the list agrees with who answered')
        ids = set(i['Id'] for i in inst)

        # The same burst again: as many idle instances as calls, so no call starts one.
        res = self.burst(name, 3)
        for st, h, body in res:
            self.assertEqual(st, 200, body[:300])
            self.assertNotIn('x-amz-function-error', h, body[:300])
        inst = self.instances(name)
        self.assertEqual(set(i['Id'] for i in inst), ids, 'no instance started, none lost')
        self.assertEqual(sum(i['CallsServed'] for i in inst), 2 * N)
        self.assertTrue(all(i['Busy'] == 0 and i['State'] == 'Ready' for i in inst), inst)

    def test_burst_past_the_instance_limit_throttles_the_rest_with_429(self):
        name, _ = self.new_function(uniq('cap'), fn_files(HOLDER), timeout=90)
        st, h, raw = self.c.request('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                    json.dumps({'ReservedConcurrentExecutions': 150}).encode())
        self.assertEqual(st, 200, raw)
        # Held longer than the throttle wait (1 s) plus the scale-out, so no call frees room.
        res = self.burst(name, 8)
        codes = [r[0] for r in res]
        self.assertEqual(codes.count(200) + codes.count(429), N, 'nothing but answers and throttles: %r' %
                         sorted(set(codes)))
        self.assertEqual(codes.count(200), 150)
        for st, h, body in res:
            if st == 429:
                self.assertEqual(h.get('x-amzn-errortype'), 'TooManyRequestsException', body)
                self.assertEqual(json.loads(body)['Reason'], 'ReservedFunctionConcurrentInvocationLimitExceeded')
                self.assertIn('retry-after', h)
        inst = self.instances(name)
        self.assertEqual(len(inst), 150, 'never more instances than the function may have')
        self.assertTrue(all(i['Busy'] == 0 for i in inst), inst)


class TmpWorkersTest(ServerTestCase):
    """The /tmp file systems of a burst are made by worker processes (nimbus-tmp, children of the
    spawner, forked at its start) one job after another, so neither the spawner nor the CPUs a
    burst waits for spend time forking and tearing down a process per /tmp; a worker killed
    leaves the others to go on, and without any the spawner forks the jobs itself. Every instance
    still gets a fresh /tmp of its own."""

    def spawner_and_workers(self):
        sp = [c for c in children(self.server.proc.pid) if comm(c) == 'nimbus-spawner']
        self.assertEqual(len(sp), 1, 'one spawner')
        return sp[0], sorted(c for c in children(sp[0]) if comm(c) == 'nimbus-tmp')

    def burst(self, prefix):
        name, _ = self.new_function(uniq(prefix), fn_files(HOLDER), timeout=60)
        tmp_by_instance(self, at_once(lambda i: self.c.invoke(name, b'{"hold": 3}', timeout=90), 20))

    def test_tmp_jobs_come_from_the_workers_and_go_on_without_them(self):
        spawner, workers = self.spawner_and_workers()
        self.assertEqual(len(workers), 8, 'the spawner has its /tmp workers from the start')
        self.burst('tmpw')
        self.assertEqual(self.spawner_and_workers()[1], workers, 'the same workers made them: no process per /tmp')

        os.kill(workers[0], signal.SIGKILL)
        self.assertTrue(wait_for(lambda: self.spawner_and_workers()[1] == workers[1:], timeout=10), 'one is gone')
        self.burst('tmpx')
        for w in workers[1:]:
            os.kill(w, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: not self.spawner_and_workers()[1], timeout=10), 'every worker is gone')
        self.burst('tmpg')
