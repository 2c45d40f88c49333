"""The Python zygote: one interpreter per Python runtime command that has
imported the runtime, and forks a child into each new instance
(docs/zygote.md).

The spawner starts it (bootstrap.py with _NIMBUS_ZYGOTE_FD set) in a root
like the instances' (/usr, /etc essentials, /var/runtime; no /var/task, no
network), as root: its forks must enter an instance's namespaces and give
up root there. It never runs a function's code and never holds anything of
a function: its control socket brings it only "lines", one socket per new
instance, and for each it forks at once; the fork alone reads the
instance's message from the line (the function's environment and the
fds of the instance's namespaces, output pipe, /dev/null and cgroup), so
what a function is never reaches the zygote's memory.

Per line the zygote reads one message, the instance's pid namespace (an
fd, nothing else), and forks into it (setns on the pid namespace applies
to children only; it goes back to its own at once). That fork (the
"middle" child) reads the instance's message, joins its cgroup, enters its
other namespaces and forks again. Orphans go to the reaper of their
parent's pid namespace, so when the middle child exits the grandchild
becomes a child of the instance's init (its pid 1), which then reaps it
like an exec'd runtime.
The grandchild confines itself exactly as the init confines an exec'd
runtime (the sandbox user, no capabilities, an empty bounding set,
no_new_privs, the same seccomp program, sent by the spawner as bytes),
closes every fd it did not get, takes the function's environment and
returns to bootstrap.py, which runs the runtime's main().

Python 3.11 has no os.setns and no prctl: those calls go to libc through
ctypes (loaded here, in the zygote, never again per instance).
"""

import ctypes
import gc
import os
import select
import signal
import socket
import struct
import sys

import _nimbus_runtime  # imported once, shared by every fork
import json  # noqa: F401  (what a call imports on first need: a decode error, an exception)
import traceback  # noqa: F401

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

CLONE_NEWPID = 0x20000000
CLONE_NEWNS = 0x00020000
# The namespaces an instance's fork message names, in the order of its fds.
# Its mount namespace comes with the "go" (the init's mounts are done by then).
NAMESPACES = (0x02000000,   # cgroup
              0x04000000,   # uts
              0x08000000,   # ipc
              0x40000000)   # net
FIXED_FDS = len(NAMESPACES) + 2   # then its output and /dev/null, then its cgroup.procs
CONFIG = struct.Struct('=4sIIII')   # magic, uid, gid, cap_last, filter length (instructions)
ASK = struct.Struct('=4sI')         # magic, cgroup.procs fds that follow the fixed ones
REPLY = struct.Struct('=ii')        # errno (0), pid inside


class _Fprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]


def _prctl(op, a=0, b=0, c=0, d=0):
    if _libc.prctl(op, a, b, c, d) != 0:
        e = ctypes.get_errno()
        raise OSError(e, 'prctl %d: %s' % (op, os.strerror(e)))


def _setns(fd, kind):
    if _libc.setns(fd, kind) != 0:
        e = ctypes.get_errno()
        raise OSError(e, 'setns %#x: %s' % (kind, os.strerror(e)))


def _reply(line, err, pid=0):
    try:
        line.send(REPLY.pack(err, pid))
    except OSError:
        pass


def _close_fds(keep):
    """Close every fd from 3 up but `keep`."""
    lo = 3
    for k in sorted(keep):
        if k >= lo:
            os.closerange(lo, k)
            lo = k + 1
    os.closerange(lo, os.sysconf('SC_OPEN_MAX'))   # 1024: the sandbox's limit


class Zygote:
    def __init__(self, fd, own_pidns):
        self.ctl = socket.socket(fileno=fd)
        self.own_pidns = own_pidns
        cfg = self.ctl.recv(1 << 20)
        magic, self.uid, self.gid, self.cap_last, n = CONFIG.unpack_from(cfg)
        if magic != b'NZC1' or len(cfg) != CONFIG.size + 8 * n:
            raise SystemExit(2)
        # The seccomp program, kept for every fork (a buffer prctl reads).
        self.filter = ctypes.create_string_buffer(cfg[CONFIG.size:], 8 * n)
        self.fprog = _Fprog(n, ctypes.addressof(self.filter))
        self.lines = []

    def serve(self):
        """Forever in the zygote; returns only in an instance's runtime, set up."""
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        name = ctypes.create_string_buffer(b'nimbus-zygote')
        _prctl(PR_SET_NAME, ctypes.addressof(name))
        # The middle children are reaped by the kernel.
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        _nimbus_runtime.prepare()
        # Everything imported now stays where it is: a fork's collector
        # must not touch (and so copy) the zygote's pages.
        gc.collect()
        gc.freeze()
        self.ctl.send(b'R')
        poller = select.poll()
        poller.register(self.ctl.fileno(), select.POLLIN)
        lines = {}
        while True:
            for fd, _ev in poller.poll():
                if fd == self.ctl.fileno():
                    msg, fds, _flags, _addr = socket.recv_fds(self.ctl, 16, 4)
                    if not msg:
                        os._exit(0)   # the spawner is gone or done
                    for f in fds:
                        lines[f] = socket.socket(fileno=f)
                        poller.register(f, select.POLLIN)
                    continue
                line = lines.pop(fd)
                poller.unregister(fd)
                if self.fork_into(line, lines):
                    return   # in the grandchild: the runtime
                line.close()

    def fork_into(self, line, lines):
        """A line spoke: its instance's pid namespace. Fork the middle child into
        it (True in the runtime it makes, False here in the zygote)."""
        try:
            msg, fds, _flags, _addr = socket.recv_fds(line, 16, 1)
        except OSError:
            return False
        try:
            if msg != b'P' or len(fds) != 1:
                return False
            _setns(fds[0], CLONE_NEWPID)
        except OSError as e:
            _reply(line, e.errno or 5)
            return False
        finally:
            for f in fds:
                os.close(f)
        pid = os.fork()
        if pid == 0:
            for other in lines.values():
                other.close()
            self.instance(line)
            return True
        # Its own again: the next fork must not land in that instance.
        try:
            _setns(self.own_pidns, CLONE_NEWPID)
        except OSError:
            os._exit(3)
        return False

    def instance(self, line):
        """The middle child (pid namespace: the instance's): read the instance's
        message, enter it, fork the runtime."""
        self.ctl.close()
        fds = []
        try:
            msg, fds, _flags, _addr = socket.recv_fds(line, 1 << 18, 16)
            magic, ncg = ASK.unpack_from(msg)
            if magic != b'NZA1' or len(fds) != FIXED_FDS + ncg:
                raise OSError(22, 'malformed request')
            for f in fds[FIXED_FDS:]:
                os.write(f, b'0')   # into the instance's cgroup: the runtime forked below starts there
            for f, kind in zip(fds, NAMESPACES):
                _setns(f, kind)
            pid = os.fork()
        except OSError as e:
            _reply(line, e.errno or 5)
            os._exit(1)
        if pid:
            os._exit(0)   # the runtime is the instance init's child now
        self.runtime(line, fds, None)

    def runtime(self, line, fds, _env):
        """The grandchild, in the instance's pid namespace: wait to enter its mount
        namespace and confine itself there, then for the go, then be the runtime."""
        try:
            # Its parent has exited: wait until the kernel has made it the init's
            # child (its parent, pid 1, must see it before it reports).
            while os.getppid() != 1:
                os.sched_yield()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            out, devnull = fds[FIXED_FDS - 2], fds[FIXED_FDS - 1]
            os.setsid()
            os.dup2(devnull, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            _close_fds([line.fileno()])
            # The bounding set now, off the request's path: it limits only what an
            # exec could gain, not the capabilities the go still needs.
            for cap in range(self.cap_last + 1):
                if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
                    raise OSError(ctypes.get_errno(), 'drop bounding set')
            # Named as an exec'd runtime is: its program's name, not the zygote's.
            name = ctypes.create_string_buffer(os.path.basename(sys.executable).encode()[:15])
            _prctl(PR_SET_NAME, ctypes.addressof(name))
            # Ready: the init may take its time (a pre-started one waits for its request).
            line.send(REPLY.pack(0, os.getpid()))
            # Enter: the instance's mount namespace, its root entered (for a
            # pre-started one, before the request, its code not mounted yet).
            msg, mnt, _flags, _addr = socket.recv_fds(line, 16, 1)
            if not msg:
                os._exit(0)   # the init let it go unused
            if msg != b'M' or len(mnt) != 1:
                raise OSError(22, 'malformed enter')
            _setns(mnt[0], CLONE_NEWNS)   # root and working directory: the instance's root
            os.close(mnt[0])
            os.setgroups([self.gid])
            os.setresgid(self.gid, self.gid, self.gid)
            os.setresuid(self.uid, self.uid, self.uid)
            _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
            _prctl(PR_SET_NO_NEW_PRIVS, 1)
            # The credential change made it non-dumpable; an exec'd runtime is
            # dumpable (its own /proc/self/fd is its user's to read).
            _prctl(PR_SET_DUMPABLE, 1)
            _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(self.fprog))
            line.send(REPLY.pack(0, os.getpid()))
            # Made ahead of its request, it has time to spare: the request's
            # path rehearsed once, its pages copied now. Not when the go is
            # already there (a fork made at the request).
            if not select.select([line], [], [], 0)[0]:
                try:
                    _nimbus_runtime.rehearse()
                except Exception:
                    pass   # only ahead of need: the request's path works without it
            # The go: the function's code is mounted (in this namespace, so in
            # view now) and its environment comes.
            msg, extra, _flags, _addr = socket.recv_fds(line, 1 << 18, 1)
            for f in extra:
                os.close(f)
            if not msg:
                os._exit(0)
            if msg[:1] != b'G' or extra:
                raise OSError(22, 'malformed go')
            env = msg[1:]
            os.chdir('/var/task')
            os.environ.clear()
            for kv in env.split(b'\0'):
                k, sep, v = kv.partition(b'=')
                if sep and k:
                    os.environb[k] = v
            line.send(REPLY.pack(0, os.getpid()))
            line.close()
        except OSError as e:
            _reply(line, e.errno or 5)
            os._exit(127)
        # Nothing of the zygote's is left but its imports.
        self.filter = self.fprog = self.ctl = None


def serve(fd, own_pidns):
    Zygote(fd, own_pidns).serve()
