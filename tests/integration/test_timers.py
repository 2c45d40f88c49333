"""Timer triggers end to end, against a real `nimbus serve`: the seed-004 case (a per-second
schedule on a function that takes 3 s with a reserved concurrency of 1: the calls queue, and each
event's triggerTime is its own slot, not when it ran), cron and rate forms firing at their slots,
the SCF and EventBridge event shapes, disabling and enabling, restarts (SIGTERM, kill -9) that
neither lose nor repeat a slot under the catch-up rule, a deleted function's triggers, bad
requests answered 400 naming the field, and the `nimbus trigger` commands.

What a timer fired is read from the async queue's events API (each event's payload, its
CreatedMs, its attempts and the result the function returned), which only the server writes.
"""

import calendar
import json
import re
import time
import urllib.parse

from nimbus_testlib import (ECHO, Server, ServerTestCase, bootstrap, fn_files, run_cli, uniq, wait_for)

SCALE_ARGS = ('--async-retry-scale', '0.001')
UUID_RE = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
TIME_RE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')

# Takes 3 s per call, then echoes its event.
SLOW3 = bootstrap('while next; do sleep 3; respond_file "$T/ev"; done')


def epoch_ms(rfc3339):
    """'2026-12-02T05:49:00Z' as epoch ms."""
    return calendar.timegm(time.strptime(rfc3339, '%Y-%m-%dT%H:%M:%SZ')) * 1000


def rfc3339(ms):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ms // 1000))


class TimerHelpers:
    """Calls of the trigger and events APIs; `self.c` is the server's client."""

    def tpath(self, fn, trigger=None):
        p = '/nimbus/v1/functions/%s/triggers' % urllib.parse.quote(fn)
        return p + ('/' + urllib.parse.quote(trigger) if trigger else '')

    def add_trigger(self, fn, doc):
        st, h, body, raw = self.c.api('POST', self.tpath(fn), doc)
        self.assertEqual(st, 201, 'POST trigger -> %s %r' % (st, raw[:300]))
        return body

    def get_trigger(self, fn, trigger):
        st, h, body, raw = self.c.api('GET', self.tpath(fn, trigger))
        self.assertEqual(st, 200, 'GET trigger -> %s %r' % (st, raw[:300]))
        return body

    def patch_trigger(self, fn, trigger, doc):
        st, h, body, raw = self.c.api('PATCH', self.tpath(fn, trigger), doc)
        self.assertEqual(st, 200, 'PATCH trigger -> %s %r' % (st, raw[:300]))
        return body

    def remove_trigger(self, fn, trigger):
        st, h, body, raw = self.c.api('DELETE', self.tpath(fn, trigger))
        self.assertEqual(st, 204, 'DELETE trigger -> %s %r' % (st, raw[:300]))

    def wait_fires(self, fn, trigger, n, timeout=20):
        last = [None]

        def enough():
            last[0] = self.get_trigger(fn, trigger)
            return last[0]['Fires'] >= n
        if not wait_for(enough, timeout, 0.2):
            self.fail('trigger %s/%s fired %s times, not %d, within %d s: %r'
                      % (fn, trigger, last[0] and last[0]['Fires'], n, timeout, last[0]))
        return last[0]

    def events(self, fn):
        """Every event of `fn`, each with its payload parsed (GET of each), oldest first."""
        out, marker = [], None
        while True:
            q = {'limit': '1000'}
            if marker:
                q['after'] = marker
            st, h, body, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events?%s' % (fn, urllib.parse.urlencode(q)))
            self.assertEqual(st, 200, raw[:300])
            out += body['Events']
            marker = body.get('NextMarker')
            if not marker:
                break
        full = []
        for e in out:
            st, h, body, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events/%s' % (fn, e['RequestId']))
            self.assertEqual(st, 200, raw[:300])
            body['Event'] = json.loads(body['Payload'])
            full.append(body)
        return full

    def slots(self, fn, key='triggerTime'):
        """The slot (epoch ms) of each event of `fn`, in accept order; asserts no slot twice."""
        evs = self.events(fn)
        got = [epoch_ms(e['Event'][key]) for e in evs]
        self.assertEqual(len(got), len(set(got)), 'a slot fired twice: %r' % [rfc3339(s) for s in got])
        return sorted(got), evs

    def assertConsecutive(self, slots, step=1000):
        self.assertGreater(len(slots), 0)
        self.assertEqual(slots, list(range(slots[0], slots[0] + step * len(slots), step)),
                         'slots are not consecutive: %r' % [rfc3339(s) for s in slots])


class TimerTest(TimerHelpers, ServerTestCase):
    server_args = SCALE_ARGS

    @classmethod
    def class_setup(cls):
        # rate(1 minute) counts from the trigger's creation: armed now, checked by the last test.
        cls.rate_fn = uniq('rate')
        st, h, body, raw = cls.c.create_function(cls.rate_fn, fn_files(ECHO))
        if st != 201:
            raise AssertionError('create %s -> %s %r' % (cls.rate_fn, st, raw[:300]))
        st, h, body, raw = cls.c.api('POST', '/nimbus/v1/functions/%s/triggers' % cls.rate_fn,
                                     {'Name': 'minutely', 'ScheduleExpression': 'rate(1 minute)'})
        if st != 201:
            raise AssertionError('add rate trigger -> %s %r' % (st, raw[:300]))
        cls.rate_doc = body

    # -- seed 004

    def test_per_second_slots_queue_behind_concurrency_and_keep_their_time(self):
        name, _ = self.new_function(code=fn_files(SLOW3), timeout=10)
        st, h, body, raw = self.c.api('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                      {'ReservedConcurrentExecutions': 1})
        self.assertEqual(st, 200, raw[:300])
        t = self.add_trigger(name, {'Name': 'every-second', 'ScheduleExpression': '* * * * * *', 'Payload': 'seed-004'})
        self.assertEqual((t['Format'], t['Enabled'], t['Timezone'], t['Qualifier']), ('fc', True, 'UTC', '$LATEST'), t)
        self.wait_fires(name, 'every-second', 6, 20)
        queued = [e for e in self.events(name) if e['State'] == 'queued']
        self.assertGreaterEqual(len(queued), 2, 'calls wait behind the reserved concurrency of 1')
        self.patch_trigger(name, 'every-second', {'Enabled': False})
        slots, evs = self.slots(name)
        self.assertGreaterEqual(len(slots), 6)
        self.assertConsecutive(slots)
        for e in evs:
            ev = e['Event']
            self.assertEqual(set(ev), {'triggerTime', 'triggerName', 'payload'}, ev)
            self.assertRegex(ev['triggerTime'], TIME_RE)
            self.assertEqual((ev['triggerName'], ev['payload']), ('every-second', 'seed-004'))
            lag = e['CreatedMs'] - epoch_ms(ev['triggerTime'])
            self.assertTrue(0 <= lag < 1000, 'accepted %d ms after its slot' % lag)
            self.assertEqual(e['Origin'], 'timer:every-second')

        # The handler reads the slot, not the clock: a call that ran seconds late still says its slot.
        def two_done():
            return len([e for e in self.events(name) if e['State'] == 'succeeded']) >= 2
        self.assertTrue(wait_for(two_done, 20, 0.5), 'two calls done')
        done = sorted((e for e in self.events(name) if e['State'] == 'succeeded'), key=lambda e: e['Event']['triggerTime'])
        for e in done:
            self.assertEqual(json.loads(e['Result']), e['Event'], 'the function got the event with its slot')
        late = done[1]
        started = late['AttemptsDetail'][0]['StartMs']
        self.assertGreater(started - epoch_ms(late['Event']['triggerTime']), 2000,
                           'the second call ran behind the first, long after its slot')

    # -- forms fire at their slots

    def test_fc_cron_fires_at_exactly_its_seconds(self):
        name, _ = self.new_function()
        base = (int(time.time()) + 3) * 1000
        want = [base, base + 1000, base + 3000]
        expr = '%s * * * * *' % ','.join(str(s // 1000 % 60) for s in want)
        t = self.add_trigger(name, {'Name': 'three', 'ScheduleExpression': expr})
        self.assertEqual(t['NextSlot'], rfc3339(want[0]), t)
        time.sleep(max(0, want[-1] / 1000 - time.time()) + 1.5)
        t = self.get_trigger(name, 'three')
        self.remove_trigger(name, 'three')
        slots, evs = self.slots(name)
        self.assertEqual([rfc3339(s) for s in slots], [rfc3339(s) for s in want])
        self.assertEqual(t['LastFiredSlot'], rfc3339(want[-1]), t)
        self.assertEqual(t['NextSlot'], rfc3339(want[0] + 60000), 'next minute')
        self.assertEqual((t['Fires'], t['Missed']), (3, 0), t)
        for e in evs:
            self.assertLess(e['CreatedMs'] - epoch_ms(e['Event']['triggerTime']), 1000)

    def test_zz_rate_one_minute_fired_at_its_slot(self):
        created = self.rate_doc['CreationTime']
        created_ms = calendar.timegm(time.strptime(created[:19], '%Y-%m-%dT%H:%M:%S')) * 1000
        slot = created_ms + 60000
        self.assertEqual(self.rate_doc['NextSlot'], rfc3339(slot), self.rate_doc)
        time.sleep(max(0, slot / 1000 - time.time()) + 1.5)
        slots, evs = self.slots(self.rate_fn)
        self.assertEqual([rfc3339(s) for s in slots], [rfc3339(slot)])
        t = self.get_trigger(self.rate_fn, 'minutely')
        self.assertEqual((t['LastFiredSlot'], t['NextSlot']), (rfc3339(slot), rfc3339(slot + 60000)), t)

    # -- the other platforms' events

    def test_scf_event_shape(self):
        name, _ = self.new_function()
        self.add_trigger(name, {'Name': 'scf-timer', 'ScheduleExpression': '@every 1s', 'Format': 'scf',
                                'Payload': 'user define msg body'})
        self.wait_fires(name, 'scf-timer', 1)
        self.remove_trigger(name, 'scf-timer')
        slots, evs = self.slots(name, 'Time')
        ev = evs[0]['Event']
        self.assertEqual(set(ev), {'Type', 'TriggerName', 'Time', 'Message'}, ev)
        self.assertEqual((ev['Type'], ev['TriggerName'], ev['Message']), ('Timer', 'scf-timer', 'user define msg body'))
        self.assertRegex(ev['Time'], TIME_RE)

    def test_eventbridge_event_shape(self):
        name, _ = self.new_function()
        self.add_trigger(name, {'Name': 'my-scheduled-rule', 'ScheduleExpression': '@every 1s',
                                'Format': 'eventbridge', 'Payload': '{"k":1}'})
        self.wait_fires(name, 'my-scheduled-rule', 2)
        self.remove_trigger(name, 'my-scheduled-rule')
        slots, evs = self.slots(name, 'time')
        ids = set()
        for e in evs:
            ev = e['Event']
            self.assertEqual(set(ev), {'version', 'id', 'detail-type', 'source', 'account', 'time', 'region',
                                       'resources', 'detail'}, ev)
            self.assertEqual((ev['version'], ev['detail-type'], ev['source']), ('0', 'Scheduled Event', 'aws.events'))
            self.assertEqual((ev['account'], ev['region']), ('000000000000', 'us-east-1'))
            self.assertEqual(ev['resources'], ['arn:aws:events:us-east-1:000000000000:rule/my-scheduled-rule'])
            self.assertEqual(ev['detail'], {'k': 1})
            self.assertRegex(ev['id'], UUID_RE)
            self.assertRegex(ev['time'], TIME_RE)
            ids.add(ev['id'])
        self.assertEqual(len(ids), len(evs), 'one id per slot')

    # -- enabled / disabled

    def test_disabled_does_not_fire_and_enabling_starts_from_then(self):
        name, _ = self.new_function()
        t = self.add_trigger(name, {'Name': 'off', 'ScheduleExpression': '@every 1s', 'Enabled': False})
        self.assertEqual((t['Enabled'], t['NextSlot']), (False, None), t)
        time.sleep(2.5)
        self.assertEqual(self.events(name), [], 'a disabled trigger fires nothing')
        enabled_at = int(time.time() * 1000)
        t = self.patch_trigger(name, 'off', {'Enabled': True})
        self.assertTrue(t['Enabled'])
        self.wait_fires(name, 'off', 2)
        t = self.patch_trigger(name, 'off', {'Enabled': False})
        fires = t['Fires']
        slots, evs = self.slots(name)
        self.assertGreaterEqual(slots[0], enabled_at // 1000 * 1000, 'no slot of the disabled time was caught up')
        self.assertConsecutive(slots)
        time.sleep(2)
        self.assertLessEqual(len(self.events(name)), fires + 1, 'disabled again: at most the slot in flight')
        self.assertEqual(self.get_trigger(name, 'off')['NextSlot'], None)

    # -- the function's triggers go with it

    def test_deleting_the_function_deletes_its_triggers(self):
        name, _ = self.new_function()
        self.add_trigger(name, {'Name': 'a', 'ScheduleExpression': 'rate(5 minutes)'})
        self.add_trigger(name, {'Name': 'b', 'ScheduleExpression': 'cron(0 12 * * ? *)'})
        st, h, body, raw = self.c.api('GET', self.tpath(name))
        self.assertEqual([t['Name'] for t in body['Triggers']], ['a', 'b'])
        st, h, body, raw = self.c.api('DELETE', '/2015-03-31/functions/%s' % name)
        self.assertEqual(st, 204, raw[:300])
        st, h, body, raw = self.c.api('GET', self.tpath(name))
        self.assertEqual(st, 404, raw[:300])
        self.new_function(name)
        st, h, body, raw = self.c.api('GET', self.tpath(name))
        self.assertEqual((st, body), (200, {'Triggers': []}), 'the new function has none of the old triggers')

    # -- bad requests

    def test_bad_requests_name_the_field(self):
        name, _ = self.new_function()
        cases = [
            ({'ScheduleExpression': 'every tuesday'}, 'ScheduleExpression: '),
            ({}, 'ScheduleExpression: '),
            ({'ScheduleExpression': 42}, 'ScheduleExpression: '),
            ({'ScheduleExpression': 'rate(5 minutes)', 'Timezone': 'Mars/Base'}, 'Timezone: '),
            ({'ScheduleExpression': 'rate(5 minutes)', 'Format': 'sqs'}, 'Format: '),
            ({'ScheduleExpression': 'rate(5 minutes)', 'Name': 'bad name!'}, 'Name: '),
            ({'ScheduleExpression': 'rate(5 minutes)', 'Enabled': 'yes'}, 'Enabled: '),
            ({'ScheduleExpression': 'rate(5 minutes)', 'Format': 'eventbridge', 'Payload': 'not json'}, 'Payload: '),
        ]
        for doc, field in cases:
            st, h, body, raw = self.c.api('POST', self.tpath(name), doc)
            self.assertEqual(st, 400, '%r -> %s %r' % (doc, st, raw[:300]))
            self.assertIn(h.get('x-amzn-errortype'), ('InvalidParameterValueException', 'ValidationException'))
            self.assertTrue((body.get('message') or body.get('Message', '')).startswith(field), '%r: %r' % (doc, body))
        self.add_trigger(name, {'Name': 'once', 'ScheduleExpression': 'rate(5 minutes)'})
        st, h, body, raw = self.c.api('POST', self.tpath(name), {'Name': 'once', 'ScheduleExpression': 'rate(1 hour)'})
        self.assertEqual((st, h.get('x-amzn-errortype')), (409, 'ResourceConflictException'), raw[:300])
        st, h, body, raw = self.c.api('PATCH', self.tpath(name, 'once'), {'ScheduleExpression': 'rate(1 hour)'})
        self.assertEqual(st, 400, raw[:300])
        st, h, body, raw = self.c.api('GET', self.tpath(name, 'nope'))
        self.assertEqual((st, h.get('x-amzn-errortype')), (404, 'ResourceNotFoundException'), raw[:300])
        st, h, body, raw = self.c.api('POST', self.tpath('no-such-fn'), {'ScheduleExpression': 'rate(5 minutes)'})
        self.assertEqual((st, h.get('x-amzn-errortype')), (404, 'ResourceNotFoundException'), raw[:300])
        st, h, body, raw = self.c.api('POST', self.tpath(name), {'ScheduleExpression': 'rate(5 minutes)', 'Qualifier': 'nope'})
        self.assertEqual(st, 404, raw[:300])
        st, h, body, raw = self.c.api('PUT', self.tpath(name))
        self.assertEqual(st, 405, raw[:300])

    # -- the CLI

    def test_cli_add_list_disable_enable_rm(self):
        name, _ = self.new_function()
        ep = ['--endpoint', self.server.url]
        r = run_cli(['trigger', 'add', name, '--schedule', 'cron(0 12 * * ? *)', '--name', 'noon',
                     '--payload', 'hi', '--format', 'scf', '--timezone', 'Europe/Paris'] + ep)
        self.assertEqual((r.returncode, r.stdout), (0, b'noon\n'), r.stderr)
        t = self.get_trigger(name, 'noon')
        self.assertEqual((t['ScheduleExpression'], t['Payload'], t['Format'], t['Timezone']),
                         ('cron(0 12 * * ? *)', 'hi', 'scf', 'Europe/Paris'))
        r = run_cli(['trigger', 'list', name] + ep)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertTrue(lines[0].startswith('NAME'), lines)
        self.assertIn('noon', lines[1])
        self.assertIn('cron(0 12 * * ? *)', lines[1])
        r = run_cli(['trigger', 'disable', name, 'noon'] + ep)
        self.assertEqual((r.returncode, r.stdout), (0, b'disabled noon\n'), r.stderr)
        self.assertFalse(self.get_trigger(name, 'noon')['Enabled'])
        r = run_cli(['trigger', 'enable', name, 'noon'] + ep)
        self.assertEqual((r.returncode, r.stdout), (0, b'enabled noon\n'), r.stderr)
        self.assertTrue(self.get_trigger(name, 'noon')['Enabled'])
        r = run_cli(['trigger', 'list', name, '--json'] + ep)
        self.assertEqual([t['Name'] for t in json.loads(r.stdout)], ['noon'])
        r = run_cli(['trigger', 'rm', name, 'noon'] + ep)
        self.assertEqual((r.returncode, r.stdout), (0, b'removed noon\n'), r.stderr)
        self.assertEqual(json.loads(run_cli(['trigger', 'list', name, '--json'] + ep).stdout), [])
        # Errors: one line, non-zero.
        for args, code, needle in ((['trigger', 'add', name], 2, b'--schedule'),
                                   (['trigger', 'add', name, '--schedule', 'nonsense'], 1, b'ScheduleExpression'),
                                   (['trigger', 'rm', name, 'noon'], 1, b'not found'),
                                   (['trigger', 'frobnicate', name], 2, b'unknown action')):
            r = run_cli(args + ep)
            self.assertEqual(r.returncode, code, (args, r.stderr))
            self.assertEqual(r.stdout, b'')
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(needle, r.stderr)


class TimerRestartTest(TimerHelpers, ServerTestCase):
    """Restarts on the same data directory: SIGTERM and kill -9, the catch-up rule."""

    server_args = SCALE_ARGS

    def restart(self, how, extra=()):
        """Stop the server (`how`: 'term' or 'kill'), wait 3.5 s, start it again with `extra`."""
        old = self.server
        if how == 'kill':
            old.kill()
        else:
            self.assertEqual(old.terminate(), 0)
        stopped = int(time.time() * 1000)
        time.sleep(3.5)
        again = Server(tuple(self.server_args) + tuple(extra), data_dir=old.data_dir, base_dir=old.base).start()
        again.own_base = True
        type(self).server = again
        type(self).c = self.c = again.client()
        return stopped, int(time.time() * 1000)

    def per_second(self):
        name, _ = self.new_function()
        self.add_trigger(name, {'Name': 'tick', 'ScheduleExpression': '@every 1s'})
        self.wait_fires(name, 'tick', 3)
        return name

    def test_sigterm_then_only_the_last_missed_slot_fires(self):
        name = self.per_second()
        stopped, started = self.restart('term')
        t = self.wait_fires(name, 'tick', 2)
        slots, evs = self.slots(name)
        before = [s for s in slots if s < stopped]
        after = [s for s in slots if s >= stopped]
        self.assertConsecutive(before)
        self.assertGreaterEqual(len(after), 2)
        # The first after the restart is the last slot missed while down; the others were skipped.
        self.assertLessEqual(after[0], started)
        self.assertGreater(after[0], started - 2000)
        skipped = (after[0] - before[-1]) // 1000 - 1
        self.assertGreaterEqual(skipped, 2)
        self.assertEqual(t['Missed'], skipped, t)
        self.assertConsecutive(after)

    def test_kill_9_with_a_catchup_window_fires_every_slot_once(self):
        name = self.per_second()
        stopped, started = self.restart('kill', ('--timer-catchup', '60'))
        t = self.wait_fires(name, 'tick', 4)
        slots, evs = self.slots(name)
        # kill -9 may leave a slot accepted but not recorded as fired: offered again, it is the same
        # event (its idempotency key), so every slot is there exactly once, with no gap.
        self.assertConsecutive(slots)
        self.assertGreater(slots[-1], started - 1000)
        self.assertEqual(t['Missed'], 0, t)
        catch = [e for e in evs if stopped <= epoch_ms(e['Event']['triggerTime']) < started - 1000]
        self.assertGreaterEqual(len(catch), 2, 'the slots missed while down fired after the restart')
        for e in catch:
            self.assertGreaterEqual(e['CreatedMs'], started - 1000, 'fired late, at the restart')


if __name__ == '__main__':
    import unittest
    unittest.main()
