# python-hello — a Nimbus function in Python (runtime python3.11, handler app.handler).
#
#   nimbus deploy python-hello . --runtime python3.11 --handler app.handler
#   nimbus invoke python-hello --payload '{"name":"Ada"}' --log
#
# The event is the JSON you invoke it with; what the handler returns is sent
# back as JSON (bytes are sent as they are). An exception becomes the
# caller's function error. print() and logging output land in the call's log.

import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# Code outside the handler runs once per instance: put clients and caches
# here. This counter shows warm calls reusing the instance.
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
