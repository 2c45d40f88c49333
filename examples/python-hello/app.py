"""python-hello: a Nimbus example in Python (runtime python3.11, handler app.handler).

    build/nimbus deploy python-hello examples/python-hello --runtime python3.11 --handler app.handler
    build/nimbus invoke python-hello --payload '{"name":"Ada"}' --log
"""

import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# Module-level state lives as long as the instance: it counts warm calls.
CALLS = 0


def handler(event, context):
    global CALLS
    CALLS += 1
    name = event.get('name') if isinstance(event, dict) else None
    name = name or 'world'
    print('greeting %s' % name)
    logger.info('call %d on instance %d', CALLS, os.getpid())
    return {
        'message': 'Hello, %s!' % name,
        'calls': CALLS,
        'function': context.function_name,
        'request_id': context.aws_request_id,
        'remaining_ms': context.get_remaining_time_in_millis(),
    }
