"""Nimbus Python runtime entry point: /usr/bin/python3 -S bootstrap.py.

Everything lives in _nimbus_runtime.py beside this file: a main script is
compiled on every start, an imported module is loaded from its cached
bytecode. Standard library only; see docs/runtimes.md for the contract.

Started ahead of its call (_NIMBUS_PRESTART_FD set: the sandbox keeps one
waiting), it imports everything and compiles once (prepare()) first, then
reads its real environment from that fd (NUL-separated NAME=VALUE, until
EOF) before it looks at any of it: the function's code is mounted at
/var/task by then.

Started as the zygote (_NIMBUS_ZYGOTE_FD set), it serves forks until one
returns as an instance's runtime (_nimbus_zygote.py).
"""
import os
import sys

from _nimbus_runtime import main, prepare

_fd = os.environ.get('_NIMBUS_PRESTART_FD')
if os.environ.get('_NIMBUS_ZYGOTE_FD'):
    # The zygote (docs/zygote.md): serve() returns only in an instance's
    # runtime, confined, in /var/task, with the function's environment.
    from _nimbus_zygote import serve
    serve(int(os.environ['_NIMBUS_ZYGOTE_FD']), 4)
elif _fd:
    prepare()
    _chunks = []
    while True:
        _b = os.read(int(_fd), 65536)
        if not _b:
            break
        _chunks.append(_b)
    os.close(int(_fd))
    os.environ.clear()
    for _kv in b''.join(_chunks).split(b'\0'):
        _k, _sep, _v = _kv.partition(b'=')
        if _sep:
            os.environb[_k] = _v
    os.chdir('/var/task')

sys.exit(main())
