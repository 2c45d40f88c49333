"""The API of asynchronous invocation, over real HTTP against `nimbus serve`:
Invoke with InvocationType Event (and FC's x-fc-invocation-type: Async, and
Lambda's legacy InvokeAsync), Lambda's EventInvokeConfig operations with
their documented shapes and errors, DeadLetterConfig on the function, and
Nimbus' native events and dead-letter API. (Retries, destinations, order and
durability under kill -9 are test_async's.)"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from nimbus_testlib import aws_cli, run_aws, ServerTestCase, Server, error_type, function_arn, uniq

ECHO = 'def handler(event, context):\n    return {"got": event}\n'
FAIL = 'def handler(event, context):\n    raise RuntimeError("boom")\n'
UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
STATES = {'queued', 'running', 'retrying', 'succeeded', 'failed', 'dead', 'cancelled'}
EVENT_FIELDS = {'RequestId', 'Qualifier', 'State', 'Attempts', 'CreatedMs', 'NextAttemptMs', 'LastError', 'Origin'}
EIC = '/2019-09-25/functions/%s/event-invoke-config'
MAX_PAYLOAD = 65536           # the class's --async-max-payload
DEST_PATTERN_WORDS = 'Member must satisfy regular expression pattern'


class AsyncApiBase(ServerTestCase):
    server_args = ('--async-retry-scale', '0.001', '--async-max-payload', str(MAX_PAYLOAD))

    def py(self, text=ECHO, name=None, **kw):
        return self.new_function(name or uniq('asy'), {'app.py': text}, runtime='python3.11',
                                 handler='app.handler', **kw)[0]

    def event(self, name, payload=b'{}', headers=None, qualifier=None):
        h = {'X-Amz-Invocation-Type': 'Event'}
        h.update(headers or {})
        path = '/2015-03-31/functions/%s/invocations' % name
        if qualifier:
            path += '?Qualifier=' + qualifier
        return self.c.request('POST', path, payload, h)

    def accepted(self, name, payload=b'{}', headers=None, qualifier=None):
        st, h, raw = self.event(name, payload, headers, qualifier)
        self.assertEqual(st, 202, raw)
        self.assertEqual(raw, b'')
        rid = h.get('x-amzn-requestid', '')
        self.assertRegex(rid, UUID)
        return rid

    def events(self, name, query=''):
        st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events%s' % (name, query))
        self.assertEqual(st, 200, raw)
        return doc

    def get_event(self, name, rid):
        st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events/%s' % (name, rid))
        self.assertEqual(st, 200, raw)
        return doc

    def wait_state(self, name, rid, states, timeout=20):
        end = time.time() + timeout
        while True:
            ev = self.get_event(name, rid)
            if ev['State'] in states:
                return ev
            if time.time() > end:
                self.fail('event %s stayed %s, wanted %s: %s' % (rid, ev['State'], states, ev))
            time.sleep(0.05)

    def eic(self, method, name, body=None, qualifier=None):
        path = EIC % name
        if qualifier is not None:
            path += '?Qualifier=' + qualifier
        return self.c.api(method, path, body)

    def assert_error(self, got, status, etype, message=None, contains=None):
        st, h, doc, raw = got
        self.assertEqual(st, status, raw)
        self.assertEqual(error_type(h), etype, raw)
        msg = (doc or {}).get('message', (doc or {}).get('Message'))
        if message is not None:
            self.assertEqual(msg, message)
        if contains is not None:
            self.assertIn(contains, msg or '')
        return msg


class InvokeEventTest(AsyncApiBase):
    def test_event_is_202_with_a_request_id_and_runs(self):
        name = self.py()
        rid = self.accepted(name, b'{"day":"2026-12-01"}')
        ev = self.wait_state(name, rid, {'succeeded'})
        self.assertEqual(ev['RequestId'], rid)
        self.assertEqual(json.loads(ev['Payload']), {'day': '2026-12-01'})
        self.assertEqual(json.loads(ev['Result']), {'got': {'day': '2026-12-01'}})
        self.assertEqual((ev['Qualifier'], ev['Origin']), ('$LATEST', 'invoke'))
        self.assertGreaterEqual(ev['Attempts'], 1)
        self.assertTrue(ev['AttemptsDetail'], ev)
        # The synchronous path is unchanged beside it.
        st, h, raw = self.c.invoke(name, b'{"x":1}')
        self.assertEqual((st, json.loads(raw)), (200, {'got': {'x': 1}}))

    def test_queue_counts_and_commits_are_reported(self):
        name = self.py()
        st, h, doc, raw = self.c.api('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                     {'ReservedConcurrentExecutions': 0})
        self.assertEqual(st, 200, raw)
        st, h, before, raw = self.c.api('GET', '/nimbus/v1/async')
        self.assertEqual(st, 200, raw)
        for i in range(3):
            self.accepted(name, b'{"n":%d}' % i)
        st, h, mine, raw = self.c.api('GET', '/nimbus/v1/async?function=' + name)
        self.assertEqual(st, 200, raw)
        self.assertEqual((mine['Queued'], mine['Running'], mine['Accepted']), (3, 0, 3), mine)
        st, h, after, raw = self.c.api('GET', '/nimbus/v1/async')
        self.assertGreaterEqual(after['Accepted'] - before['Accepted'], 3, (before, after))
        # Each accept was fsync'd before its 202: at least one durable commit each time here,
        # as they came one after another.
        self.assertGreaterEqual(after['Commits'] - before['Commits'], 3, (before, after))
        self.assertGreaterEqual(after['EventsWritten'] - before['EventsWritten'], 3, (before, after))

    def test_unknown_function_or_qualifier_is_404_and_nothing_is_queued(self):
        st, h, raw = self.event(uniq('nosuch'))
        self.assertEqual(st, 404, raw)
        self.assertEqual(error_type(h), 'ResourceNotFoundException')
        name = self.py()
        for q in ('7', 'nosuchalias'):
            st, h, raw = self.event(name, qualifier=q)
            self.assertEqual(st, 404, raw)
            self.assertEqual(error_type(h), 'ResourceNotFoundException')
            self.assertIn(function_arn(name) + ':' + q, json.loads(raw)['Message'])
        st, h, raw = self.event(name + ':7')
        self.assertEqual(st, 404, raw)
        self.assertEqual(self.events(name), {'Events': []})
        st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events' % uniq('nosuch'))
        self.assertEqual((st, error_type(h)), (404, 'ResourceNotFoundException'))

    def test_payload_over_the_async_limit_is_413(self):
        name = self.py()
        big = b'"' + b'x' * (MAX_PAYLOAD - 1) + b'"'     # MAX_PAYLOAD + 1 bytes of JSON
        st, h, raw = self.event(name, big)
        self.assertEqual(st, 413, raw)
        self.assertEqual(error_type(h), 'RequestEntityTooLargeException')
        self.assertIn('%d bytes' % MAX_PAYLOAD, json.loads(raw)['message'])
        self.assertEqual(self.events(name), {'Events': []})
        rid = self.accepted(name, big[:-2] + b'"')           # exactly the limit
        self.assertEqual(len(self.get_event(name, rid)['Payload']), MAX_PAYLOAD)
        # The synchronous limit is its own.
        st, h, raw = self.c.invoke(name, big)
        self.assertEqual(st, 200, raw[:200])

    def test_payload_must_be_json(self):
        name = self.py()
        st, h, raw = self.event(name, b'{not json')
        self.assertEqual(st, 400, raw)
        self.assertEqual(error_type(h), 'InvalidRequestContentException')
        self.assertEqual(self.events(name), {'Events': []})

    def test_idempotency_key_makes_one_event(self):
        name = self.py()
        key = {'X-Nimbus-Idempotency-Key': 'order-%s' % uniq('k')}
        first = self.accepted(name, b'{"n":1}', key)
        second = self.accepted(name, b'{"n":2}', key)
        self.assertEqual(second, first)
        other = self.accepted(name, b'{"n":3}', {'X-Nimbus-Idempotency-Key': 'another'})
        plain = self.accepted(name, b'{"n":4}')
        self.assertEqual(len({first, other, plain}), 3)
        ids = [e['RequestId'] for e in self.events(name)['Events']]
        self.assertEqual(sorted(ids), sorted([first, other, plain]))
        self.assertEqual(json.loads(self.get_event(name, first)['Payload']), {'n': 1})
        st, h, raw = self.event(name, b'{}', {'X-Nimbus-Idempotency-Key': 'k' * 129})
        self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), raw)

    def test_fc_async_header(self):
        name = self.py()
        st, h, raw = self.c.request('POST', '/2015-03-31/functions/%s/invocations' % name, b'{"fc":1}',
                                    {'x-fc-invocation-type': 'Async'})
        self.assertEqual((st, raw), (202, b''))
        rid = h['x-amzn-requestid']
        self.assertRegex(rid, UUID)
        self.assertEqual(json.loads(self.wait_state(name, rid, {'succeeded'})['Result']), {'got': {'fc': 1}})
        st, h, raw = self.c.request('POST', '/2015-03-31/functions/%s/invocations' % name, b'{}',
                                    {'x-fc-invocation-type': 'Sync'})
        self.assertEqual((st, json.loads(raw)), (200, {'got': {}}))

    def test_legacy_invoke_async_path(self):
        name = self.py()
        for path in ('/2014-11-13/functions/%s/invoke-async/', '/2014-11-13/functions/%s/invoke-async'):
            st, h, raw = self.c.request('POST', path % name, b'{"legacy":true}')
            self.assertEqual(st, 202, raw)
            self.assertEqual(json.loads(raw), {'Status': 202})
            rid = h['x-amzn-requestid']
            self.assertRegex(rid, UUID)
            self.assertEqual(json.loads(self.get_event(name, rid)['Payload']), {'legacy': True})
        st, h, raw = self.c.request('POST', '/2014-11-13/functions/%s/invoke-async/' % uniq('nosuch'), b'{}')
        self.assertEqual((st, error_type(h)), (404, 'ResourceNotFoundException'), raw)
        st, h, raw = self.c.request('GET', '/2014-11-13/functions/%s/invoke-async/' % name)
        self.assertEqual(st, 405, raw)

    def test_event_on_a_version_and_an_alias(self):
        name = self.py()
        st, h, doc, raw = self.c.api('POST', '/2015-03-31/functions/%s/versions' % name, {})
        self.assertEqual(st, 201, raw)
        st, h, doc, raw = self.c.api('POST', '/2015-03-31/functions/%s/aliases' % name,
                                     {'Name': 'live', 'FunctionVersion': '1'})
        self.assertEqual(st, 201, raw)
        rv = self.accepted(name, qualifier='1')
        ra = self.accepted(name + ':live')
        self.assertEqual(self.get_event(name, rv)['Qualifier'], '1')
        self.assertEqual(self.get_event(name, ra)['Qualifier'], 'live')


class EventInvokeConfigTest(AsyncApiBase):
    def check_doc(self, doc, name, qualifier, retry=None, age=None, on_success=None, on_failure=None):
        self.assertEqual(doc['FunctionArn'], function_arn(name) + ':' + qualifier)
        self.assertIsInstance(doc['LastModified'], (int, float))
        self.assertLess(abs(doc['LastModified'] - time.time()), 300)    # epoch seconds
        self.assertEqual(doc.get('MaximumRetryAttempts'), retry)
        self.assertEqual(doc.get('MaximumEventAgeInSeconds'), age)
        dc = doc['DestinationConfig']
        self.assertEqual(dc['OnSuccess'].get('Destination'), on_success)
        self.assertEqual(dc['OnFailure'].get('Destination'), on_failure)

    def test_put_get_update_list_delete(self):
        name = self.py()
        target = self.py()
        st, h, doc, raw = self.eic('PUT', name, {'MaximumRetryAttempts': 1, 'MaximumEventAgeInSeconds': 3600})
        self.assertEqual(st, 200, raw)
        self.check_doc(doc, name, '$LATEST', retry=1, age=3600)
        self.assertEqual(list(doc), ['LastModified', 'FunctionArn', 'MaximumRetryAttempts',
                                     'MaximumEventAgeInSeconds', 'DestinationConfig'])
        st, h, got, raw = self.eic('GET', name)
        self.assertEqual((st, got), (200, doc))
        # Update: what it names changes, the rest stays.
        time.sleep(0.01)
        st, h, up, raw = self.eic('POST', name, {'DestinationConfig': {'OnFailure': {'Destination': function_arn(target)}}})
        self.assertEqual(st, 200, raw)
        self.check_doc(up, name, '$LATEST', retry=1, age=3600, on_failure=function_arn(target))
        self.assertGreaterEqual(up['LastModified'], doc['LastModified'])
        st, h, up, raw = self.eic('POST', name, {'MaximumRetryAttempts': 0,
                                                 'DestinationConfig': {'OnSuccess': {'Destination': 'https://hooks.example/ok'}}})
        self.assertEqual(st, 200, raw)
        self.check_doc(up, name, '$LATEST', retry=0, age=3600, on_success='https://hooks.example/ok',
                       on_failure=function_arn(target))
        # Put replaces the whole configuration.
        st, h, put, raw = self.eic('PUT', name, {'MaximumEventAgeInSeconds': 60})
        self.assertEqual(st, 200, raw)
        self.check_doc(put, name, '$LATEST', age=60)
        st, h, lst, raw = self.c.api('GET', (EIC % name) + '/list')
        self.assertEqual(st, 200, raw)
        self.assertEqual(lst, {'FunctionEventInvokeConfigs': [put]})
        st, h, doc, raw = self.eic('DELETE', name)
        self.assertEqual((st, raw), (204, b''))
        msg = 'The function %s:$LATEST doesn\'t have an EventInvokeConfig' % function_arn(name)
        self.assert_error(self.eic('GET', name), 404, 'ResourceNotFoundException', msg)
        self.assert_error(self.eic('DELETE', name), 404, 'ResourceNotFoundException', msg)
        self.assert_error(self.eic('POST', name, {'MaximumRetryAttempts': 1}), 404, 'ResourceNotFoundException', msg)
        st, h, lst, raw = self.c.api('GET', (EIC % name) + '/list')
        self.assertEqual((st, lst), (200, {'FunctionEventInvokeConfigs': []}))

    def test_per_qualifier_and_paging(self):
        name = self.py()
        self.assertEqual(self.c.api('POST', '/2015-03-31/functions/%s/versions' % name, {})[0], 201)
        self.assertEqual(self.c.api('POST', '/2015-03-31/functions/%s/aliases' % name,
                                    {'Name': 'live', 'FunctionVersion': '1'})[0], 201)
        for q, retry in (('$LATEST', 2), ('1', 1), ('live', 0)):
            st, h, doc, raw = self.eic('PUT', name, {'MaximumRetryAttempts': retry}, qualifier=q)
            self.assertEqual(st, 200, raw)
            self.check_doc(doc, name, q, retry=retry)
        # The name:qualifier and ARN forms name the same configurations.
        st, h, doc, raw = self.c.api('GET', EIC % (name + ':live'))
        self.assertEqual((st, doc['MaximumRetryAttempts']), (200, 0), raw)
        st, h, doc, raw = self.c.api('GET', EIC % (function_arn(name) + ':1'))
        self.assertEqual((st, doc['MaximumRetryAttempts']), (200, 1), raw)
        st, h, doc, raw = self.eic('GET', name)
        self.assertEqual((st, doc['MaximumRetryAttempts']), (200, 2), raw)
        st, h, lst, raw = self.c.api('GET', (EIC % name) + '/list')
        arns = sorted(c['FunctionArn'] for c in lst['FunctionEventInvokeConfigs'])
        self.assertEqual(arns, sorted(function_arn(name) + ':' + q for q in ('$LATEST', '1', 'live')))
        seen = []
        marker = None
        for _ in range(4):
            path = (EIC % name) + '/list?MaxItems=2' + ('&Marker=' + marker if marker else '')
            st, h, page, raw = self.c.api('GET', path.replace('$', '%24'))
            self.assertEqual(st, 200, raw)
            self.assertLessEqual(len(page['FunctionEventInvokeConfigs']), 2)
            seen += [c['FunctionArn'] for c in page['FunctionEventInvokeConfigs']]
            marker = page.get('NextMarker')
            if not marker:
                break
        self.assertEqual(sorted(seen), arns)
        self.assert_error(self.c.api('GET', (EIC % name) + '/list?MaxItems=0'), 400, 'ValidationException')
        self.assert_error(self.c.api('GET', (EIC % name) + '/list?MaxItems=51'), 400, 'ValidationException')
        # A qualifier that names nothing.
        self.assert_error(self.eic('PUT', name, {'MaximumRetryAttempts': 1}, qualifier='9'),
                          404, 'ResourceNotFoundException', contains=function_arn(name) + ':9')
        self.assert_error(self.eic('GET', name, qualifier='9'), 404, 'ResourceNotFoundException',
                          contains="doesn't have an EventInvokeConfig")

    def test_unknown_function_is_404(self):
        ghost = uniq('ghost')
        for method, body in (('PUT', {'MaximumRetryAttempts': 1}), ('POST', {'MaximumRetryAttempts': 1}),
                             ('GET', None), ('DELETE', None)):
            self.assert_error(self.eic(method, ghost, body), 404, 'ResourceNotFoundException',
                              contains=function_arn(ghost))
        self.assert_error(self.c.api('GET', (EIC % ghost) + '/list'), 404, 'ResourceNotFoundException')
        self.assertEqual(self.c.api('PATCH', EIC % self.py())[0], 405)

    def test_lambdas_validation_errors(self):
        name = self.py()
        v = '1 validation error detected: Value \'%s\' at \'%s\' failed to satisfy constraint: %s'
        cases = [
            ({'MaximumRetryAttempts': 3}, v % ('3', 'maximumRetryAttempts', 'Member must have value less than or equal to 2')),
            ({'MaximumRetryAttempts': -1}, v % ('-1', 'maximumRetryAttempts', 'Member must have value greater than or equal to 0')),
            ({'MaximumEventAgeInSeconds': 59}, v % ('59', 'maximumEventAgeInSeconds', 'Member must have value greater than or equal to 60')),
            ({'MaximumEventAgeInSeconds': 21601}, v % ('21601', 'maximumEventAgeInSeconds', 'Member must have value less than or equal to 21600')),
        ]
        for body, msg in cases:
            for method in ('PUT', 'POST'):
                self.assert_error(self.eic(method, name, body), 400, 'ValidationException', msg)
        msg = self.assert_error(self.eic('PUT', name, {'MaximumRetryAttempts': 9, 'MaximumEventAgeInSeconds': 1}),
                                400, 'ValidationException')
        self.assertTrue(msg.startswith('2 validation errors detected: '), msg)
        msg = self.assert_error(self.eic('PUT', name, {'DestinationConfig': {'OnFailure': {'Destination': 'not-an-arn'}}}),
                                400, 'ValidationException')
        self.assertIn("Value 'not-an-arn' at 'destinationConfig.onFailure.destination'", msg)
        self.assertIn(DEST_PATTERN_WORDS, msg)
        long_url = 'https://hooks.example/' + 'x' * 340
        self.assert_error(self.eic('PUT', name, {'DestinationConfig': {'OnSuccess': {'Destination': long_url}}}),
                          400, 'ValidationException', contains='Member must have length less than or equal to 350')
        for body in ({}, None, {'MaximumRetryAttempts': None}):
            self.assert_error(self.eic('PUT', name, body), 400, 'InvalidParameterValueException',
                              'You must specify at least one of error handling or destination setting.')
        self.assert_error(self.eic('PUT', name, {'MaximumRetryAttempts': 'two'}), 400, 'InvalidParameterValueException')
        st, h, raw = self.c.request('PUT', EIC % name, b'{nope')
        self.assertEqual((st, error_type(h)), (400, 'InvalidRequestContentException'), raw)
        # Nothing was stored by any of them.
        self.assertEqual(self.eic('GET', name)[0], 404)

    def test_destinations_nimbus_can_and_cannot_deliver_to(self):
        name = self.py()
        other = self.py()
        for arn in ('arn:aws:sqs:us-east-1:000000000000:my-queue', 'arn:aws:sns:us-east-1:000000000000:my-topic',
                    'arn:aws:events:us-east-1:000000000000:event-bus/default', 'arn:aws:s3:::my-bucket'):
            msg = self.assert_error(self.eic('PUT', name, {'DestinationConfig': {'OnFailure': {'Destination': arn}}}),
                                    400, 'InvalidParameterValueException')
            self.assertIn(arn, msg)
            self.assertIn('not supported by Nimbus', msg)
        ghost = function_arn(uniq('ghost'))
        self.assert_error(self.eic('PUT', name, {'DestinationConfig': {'OnSuccess': {'Destination': ghost}}}),
                          400, 'InvalidParameterValueException', 'The destination ARN %s is invalid.' % ghost)
        self.assert_error(self.eic('PUT', name, {'DestinationConfig': {'OnSuccess': {'Destination': function_arn(name)}}}),
                          400, 'InvalidParameterValueException', "You can't specify the function as a destination for itself.")
        ok = {'DestinationConfig': {'OnSuccess': {'Destination': function_arn(other)},
                                    'OnFailure': {'Destination': 'http://127.0.0.1:9/failures'}}}
        st, h, doc, raw = self.eic('PUT', name, ok)
        self.assertEqual(st, 200, raw)
        self.check_doc(doc, name, '$LATEST', on_success=function_arn(other), on_failure='http://127.0.0.1:9/failures')
        # An empty destination removes that side.
        st, h, doc, raw = self.eic('POST', name, {'DestinationConfig': {'OnSuccess': {}}})
        self.assertEqual(st, 200, raw)
        self.check_doc(doc, name, '$LATEST', on_failure='http://127.0.0.1:9/failures')

    def test_removed_with_its_alias_version_and_function(self):
        name = self.py()
        self.assertEqual(self.c.api('POST', '/2015-03-31/functions/%s/versions' % name, {})[0], 201)
        self.assertEqual(self.c.api('POST', '/2015-03-31/functions/%s/aliases' % name,
                                    {'Name': 'live', 'FunctionVersion': '1'})[0], 201)
        for q in ('$LATEST', '1', 'live'):
            self.assertEqual(self.eic('PUT', name, {'MaximumRetryAttempts': 1}, qualifier=q)[0], 200)
        self.assertEqual(self.c.api('DELETE', '/2015-03-31/functions/%s/aliases/live' % name)[0], 204)
        self.assertEqual(self.eic('GET', name, qualifier='live')[0], 404)
        self.assertEqual(self.c.api('DELETE', '/2015-03-31/functions/%s?Qualifier=1' % name)[0], 204)
        self.assertEqual(self.eic('GET', name, qualifier='1')[0], 404)
        lst = self.c.api('GET', (EIC % name) + '/list')[2]
        self.assertEqual([c['FunctionArn'] for c in lst['FunctionEventInvokeConfigs']], [function_arn(name) + ':$LATEST'])
        # A new alias of the same name starts without one.
        self.assertEqual(self.c.api('POST', '/2015-03-31/functions/%s/aliases' % name,
                                    {'Name': 'live', 'FunctionVersion': '$LATEST'})[0], 201)
        self.assertEqual(self.eic('GET', name, qualifier='live')[0], 404)
        self.assertEqual(self.c.api('DELETE', '/2015-03-31/functions/%s' % name)[0], 204)
        self.py(name=name)
        self.assertEqual(self.eic('GET', name)[0], 404)
        self.assertEqual(self.c.api('GET', (EIC % name) + '/list')[2], {'FunctionEventInvokeConfigs': []})


class DeadLetterConfigTest(AsyncApiBase):
    def config(self, name, qualifier=None):
        path = '/2015-03-31/functions/%s/configuration' % name
        if qualifier:
            path += '?Qualifier=' + qualifier
        st, h, doc, raw = self.c.api('GET', path)
        self.assertEqual(st, 200, raw)
        return doc

    def test_round_trip_create_update_clear(self):
        url = 'https://dlq.example/nimbus'
        name = self.py(extra={'DeadLetterConfig': {'TargetArn': url}}, env={'AA': '1'})
        doc = self.config(name)
        self.assertEqual(doc['DeadLetterConfig'], {'TargetArn': url})
        keys = list(doc)
        # Lambda's FunctionConfiguration order: ... Version, DeadLetterConfig, Environment ...
        self.assertEqual(keys.index('DeadLetterConfig'), keys.index('Version') + 1)
        self.assertEqual(keys.index('Environment'), keys.index('DeadLetterConfig') + 1)
        target = self.py()
        st, h, up, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                    {'DeadLetterConfig': {'TargetArn': function_arn(target)}})
        self.assertEqual(st, 200, raw)
        self.assertEqual(up['DeadLetterConfig'], {'TargetArn': function_arn(target)})
        # A published version keeps the target it was published with.
        st, h, v1, raw = self.c.api('POST', '/2015-03-31/functions/%s/versions' % name, {})
        self.assertEqual((st, v1['DeadLetterConfig']), (201, {'TargetArn': function_arn(target)}), raw)
        for clear in ({}, {'TargetArn': ''}):
            self.assertEqual(self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                        {'DeadLetterConfig': {'TargetArn': url}})[0], 200)
            st, h, up, raw = self.c.api('PUT', '/2015-03-31/functions/%s/configuration' % name,
                                        {'DeadLetterConfig': clear})
            self.assertEqual(st, 200, raw)
            self.assertNotIn('DeadLetterConfig', up)
            self.assertNotIn('DeadLetterConfig', self.config(name))
        self.assertEqual(self.config(name, '1')['DeadLetterConfig'], {'TargetArn': function_arn(target)})
        # Without one, FunctionConfiguration does not show it.
        self.assertNotIn('DeadLetterConfig', self.config(self.py()))

    def test_targets_refused(self):
        name = self.py()
        path = '/2015-03-31/functions/%s/configuration' % name
        for arn in ('arn:aws:sqs:us-east-1:000000000000:dlq', 'arn:aws:sns:us-east-1:000000000000:dlq'):
            st, h, doc, raw = self.c.api('PUT', path, {'DeadLetterConfig': {'TargetArn': arn}})
            self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), raw)
            self.assertIn('not supported by Nimbus', doc['message'] if 'message' in doc else doc['Message'])
        st, h, doc, raw = self.c.api('PUT', path, {'DeadLetterConfig': {'TargetArn': 'queue please'}})
        self.assertEqual((st, error_type(h)), (400, 'ValidationException'), raw)
        self.assertIn("at 'deadLetterConfig.targetArn'", raw.decode())
        st, h, b, raw = self.c.create_function(uniq('dlqbad'), {'app.py': ECHO}, runtime='python3.11',
                                               handler='app.handler',
                                               extra={'DeadLetterConfig': {'TargetArn': 'arn:aws:sqs:us-east-1:000000000000:q'}})
        self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), raw)
        self.assertNotIn('DeadLetterConfig', self.config(name))


class NativeEventsApiTest(AsyncApiBase):
    def test_list_filter_and_page(self):
        name = self.py()
        rids = [self.accepted(name, json.dumps({'n': i}).encode()) for i in range(3)]
        for rid in rids:
            self.wait_state(name, rid, {'succeeded'})
        doc = self.events(name)
        self.assertEqual(list(doc), ['Events'])
        self.assertEqual([e['RequestId'] for e in doc['Events']], rids)     # oldest first
        for e in doc['Events']:
            self.assertEqual(set(e), EVENT_FIELDS)
            self.assertIn(e['State'], STATES)
            self.assertIsInstance(e['CreatedMs'], (int, float))
            self.assertLess(abs(e['CreatedMs'] / 1000 - time.time()), 300)
        self.assertEqual(len(self.events(name, '?state=succeeded')['Events']), 3)
        self.assertEqual(self.events(name, '?state=dead'), {'Events': []})
        page = self.events(name, '?limit=2')
        self.assertEqual([e['RequestId'] for e in page['Events']], rids[:2])
        self.assertEqual(page['NextMarker'], rids[1])
        rest = self.events(name, '?limit=2&after=' + page['NextMarker'])
        self.assertEqual([e['RequestId'] for e in rest['Events']], rids[2:])
        self.assertNotIn('NextMarker', rest)
        for q in ('?state=bogus', '?limit=0', '?limit=x'):
            st, h, d, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events%s' % (name, q))
            self.assertEqual((st, error_type(h)), (400, 'InvalidParameterValueException'), raw)

    def test_one_event_and_404s(self):
        name = self.py()
        rid = self.accepted(name, b'{"one":1}')
        ev = self.wait_state(name, rid, {'succeeded'})
        self.assertTrue(EVENT_FIELDS | {'Payload', 'Result', 'Destination', 'AttemptsDetail'} <= set(ev), ev)
        a = ev['AttemptsDetail'][0]
        self.assertEqual(set(a), {'N', 'StartMs', 'DurationMs', 'ErrorType', 'ErrorMessage'})
        self.assertEqual((a['N'], a['ErrorType']), (1, ''))
        missing = '00000000-0000-4000-8000-000000000000'
        for method in ('GET', 'DELETE'):
            st, h, d, raw = self.c.api(method, '/nimbus/v1/functions/%s/events/%s' % (name, missing))
            self.assertEqual((st, error_type(h)), (404, 'ResourceNotFoundException'), raw)
        # Another function's event is not found under this one.
        st, h, d, raw = self.c.api('GET', '/nimbus/v1/functions/%s/events/%s' % (self.py(), rid))
        self.assertEqual(st, 404, raw)
        # Finished: it cannot be cancelled.
        st, h, d, raw = self.c.api('DELETE', '/nimbus/v1/functions/%s/events/%s' % (name, rid))
        self.assertEqual((st, error_type(h)), (409, 'ResourceConflictException'), raw)

    def test_cancel_a_waiting_event(self):
        name = self.py()
        # Reserved concurrency 0: nothing of it runs, its events wait.
        st, h, d, raw = self.c.api('PUT', '/2017-10-31/functions/%s/concurrency' % name,
                                   {'ReservedConcurrentExecutions': 0})
        self.assertEqual(st, 200, raw)
        rid = self.accepted(name)
        self.assertIn(self.get_event(name, rid)['State'], {'queued', 'retrying'})
        st, h, d, raw = self.c.api('DELETE', '/nimbus/v1/functions/%s/events/%s' % (name, rid))
        self.assertEqual((st, raw), (204, b''))
        self.assertEqual(self.get_event(name, rid)['State'], 'cancelled')
        st, h, d, raw = self.c.api('DELETE', '/nimbus/v1/functions/%s/events/%s' % (name, rid))
        self.assertEqual((st, error_type(h)), (409, 'ResourceConflictException'), raw)

    def test_dead_letters_list_redrive_purge(self):
        name = self.py(FAIL)
        self.assertEqual(self.c.api('PUT', EIC % name, {'MaximumRetryAttempts': 0})[0], 200)
        dlq = '/nimbus/v1/functions/%s/dlq' % name
        st, h, doc, raw = self.c.api('GET', dlq)
        self.assertEqual((st, doc), (200, {'DeadLetters': []}), raw)
        rids = [self.accepted(name, json.dumps({'d': i}).encode()) for i in range(2)]
        for rid in rids:
            ev = self.wait_state(name, rid, {'dead'})
            self.assertIn('boom', ev['Result'] or ev['LastError'])
        st, h, doc, raw = self.c.api('GET', dlq)
        self.assertEqual(st, 200, raw)
        self.assertEqual([e['RequestId'] for e in doc['DeadLetters']], rids)
        for e in doc['DeadLetters']:
            self.assertEqual(set(e), EVENT_FIELDS | {'Payload'})
            self.assertEqual(e['State'], 'dead')
        self.assertEqual(json.loads(doc['DeadLetters'][0]['Payload']), {'d': 0})
        page = self.c.api('GET', dlq + '?limit=1')[2]
        self.assertEqual(([e['RequestId'] for e in page['DeadLetters']], page['NextMarker']), ([rids[0]], rids[0]))
        self.assertEqual(len(self.events(name, '?state=dead')['Events']), 2)
        # Redrive one: a new event, with a new request id, of the same payload.
        st, h, doc, raw = self.c.api('POST', dlq + '/redrive', {'RequestId': rids[0]})
        self.assertEqual((st, doc), (200, {'Redriven': 1}), raw)
        new = [e for e in self.events(name)['Events'] if e['RequestId'] not in rids]
        self.assertEqual(len(new), 1, new)
        self.assertEqual(json.loads(self.get_event(name, new[0]['RequestId'])['Payload']), {'d': 0})
        self.wait_state(name, new[0]['RequestId'], {'dead'})
        st, h, doc, raw = self.c.api('POST', dlq + '/redrive', ['not', 'an', 'object'])
        self.assertEqual((st, error_type(h)), (400, 'InvalidRequestContentException'), raw)
        st, h, doc, raw = self.c.api('DELETE', dlq)
        self.assertEqual(st, 200, raw)
        self.assertEqual(list(doc), ['Purged'])
        self.assertGreaterEqual(doc['Purged'], 2)
        self.assertEqual(self.c.api('GET', dlq)[2], {'DeadLetters': []})
        st, h, doc, raw = self.c.api('POST', dlq + '/redrive', {})
        self.assertEqual((st, doc), (200, {'Redriven': 0}), raw)
        st, h, doc, raw = self.c.api('GET', '/nimbus/v1/functions/%s/dlq' % uniq('nosuch'))
        self.assertEqual((st, error_type(h)), (404, 'ResourceNotFoundException'), raw)


class AsyncSettingsRestartTest(unittest.TestCase):
    """EventInvokeConfig and DeadLetterConfig are stored: a restart on the
    same data directory shows them unchanged."""

    def test_survive_a_restart(self):
        base = tempfile.mkdtemp(prefix='nimbus-it-asyncapi-')
        data = os.path.join(base, 'data')
        os.mkdir(data)
        try:
            s = Server(['--async-retry-scale', '0.001'], data_dir=data, base_dir=base).start()
            c = s.client()
            try:
                name = uniq('keep')
                st, h, b, raw = c.create_function(name, {'app.py': ECHO}, runtime='python3.11', handler='app.handler',
                                                  extra={'DeadLetterConfig': {'TargetArn': 'https://dlq.example/k'}})
                self.assertEqual(st, 201, raw)
                st, h, put, raw = c.api('PUT', EIC % name, {'MaximumRetryAttempts': 1, 'MaximumEventAgeInSeconds': 120,
                                                            'DestinationConfig': {'OnFailure': {'Destination': 'https://f.example/x'}}})
                self.assertEqual(st, 200, raw)
            finally:
                s.stop()
            self.assertTrue(os.path.exists(os.path.join(data, 'queue.db')))
            s = Server(['--async-retry-scale', '0.001'], data_dir=data, base_dir=base).start()
            c = s.client()
            try:
                st, h, got, raw = c.api('GET', EIC % name)
                self.assertEqual((st, got), (200, put), raw)
                st, h, cfg, raw = c.api('GET', '/2015-03-31/functions/%s/configuration' % name)
                self.assertEqual(cfg['DeadLetterConfig'], {'TargetArn': 'https://dlq.example/k'})
            finally:
                s.stop()
        finally:
            shutil.rmtree(base, True)


@unittest.skipUnless(aws_cli(), "Debian's awscli is not installed (scripts/deps.sh installs it)")
class AwsCliEventInvokeConfigTest(AsyncApiBase):
    """The real AWS CLI against Nimbus: its requests and its parsing of the
    answers are Lambda's own."""

    def aws(self, *args, ok=True):
        return run_aws(self, self.c.url, *args, ok=ok)

    def test_put_get_update_list_delete(self):
        name = self.py()
        doc = self.aws('put-function-event-invoke-config', '--function-name', name,
                       '--maximum-retry-attempts', '1', '--maximum-event-age-in-seconds', '3600',
                       '--destination-config', json.dumps({'OnFailure': {'Destination': 'https://f.example/x'}}))
        self.assertEqual(doc['FunctionArn'], function_arn(name) + ':$LATEST')
        self.assertEqual((doc['MaximumRetryAttempts'], doc['MaximumEventAgeInSeconds']), (1, 3600))
        self.assertEqual(doc['DestinationConfig']['OnFailure'], {'Destination': 'https://f.example/x'})
        self.assertIn('LastModified', doc)
        got = self.aws('get-function-event-invoke-config', '--function-name', name)
        self.assertEqual(got['MaximumRetryAttempts'], 1)
        up = self.aws('update-function-event-invoke-config', '--function-name', name, '--maximum-retry-attempts', '0')
        self.assertEqual((up['MaximumRetryAttempts'], up['MaximumEventAgeInSeconds']), (0, 3600))
        lst = self.aws('list-function-event-invoke-configs', '--function-name', name)
        self.assertEqual([c['FunctionArn'] for c in lst['FunctionEventInvokeConfigs']], [function_arn(name) + ':$LATEST'])
        self.aws('delete-function-event-invoke-config', '--function-name', name)
        err = self.aws('get-function-event-invoke-config', '--function-name', name, ok=False)
        self.assertIn('ResourceNotFoundException', err)
        err = self.aws('put-function-event-invoke-config', '--function-name', name, '--maximum-retry-attempts', '5',
                       ok=False)
        self.assertIn('maximumRetryAttempts', err)

    def test_invoke_event(self):
        name = self.py()
        out = os.path.join(tempfile.mkdtemp(prefix='nimbus-it-aws-'), 'out.json')
        try:
            doc = self.aws('invoke', '--function-name', name, '--invocation-type', 'Event',
                           '--cli-binary-format', 'raw-in-base64-out', '--payload', '{"cli":1}', out)
            self.assertEqual(doc['StatusCode'], 202)
        finally:
            shutil.rmtree(os.path.dirname(out), True)
        evs = self.events(name)['Events']
        self.assertEqual(len(evs), 1)
        self.assertEqual(json.loads(self.get_event(name, evs[0]['RequestId'])['Payload']), {'cli': 1})


if __name__ == '__main__':
    unittest.main()
