#!/usr/bin/python3
"""check_layers.py [--src DIR] [--objects BUILD_DIR] — the source tree's floors hold.

Each folder of src/ is a floor. A file may include headers of its own folder
and of lower floors only; two folders on the same floor may not include each
other. With --objects, the same rule is checked on the compiled objects: a
symbol an object needs from another object of the project must be defined
on its own floor or below (this catches a call made through a hand-written
declaration that no include shows). Prints one line per violation and exits
1 if there is any.
"""
import argparse
import os
import re
import subprocess
import sys

# Lowest first. The daemon wires everything; the CLI is a client of the API
# and shares nothing with the daemon; src/main.c (the top) may use anything.
FLOORS = {
    'base': 0,
    'io': 1,
    'store': 2,
    'sandbox': 2,
    'core': 3,
    'transport': 4,
    'api': 5,
    'daemon': 6,
    'cli': 6,
}
TOP = 99

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder_of(src, path):
    rel = os.path.relpath(path, src)
    parts = rel.split(os.sep)
    return parts[0] if len(parts) > 1 else None


def allowed(frm, to):
    """May code in folder `frm` use folder `to`?"""
    if frm == to:
        return True
    f = FLOORS.get(frm, TOP)
    t = FLOORS.get(to)
    return t is not None and t < f


def check_includes(src):
    bad = []
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(('.c', '.h')):
                continue
            path = os.path.join(root, name)
            frm = folder_of(src, path)
            if frm is not None and frm not in FLOORS:
                bad.append('%s: folder %s has no floor (add it to FLOORS)' % (path, frm))
                continue
            with open(path, encoding='utf-8', errors='replace') as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                if '/' not in inc:
                    # A bare name is a system-ish header (llhttp.h) unless it
                    # exists beside the file, which must then be named by folder.
                    if os.path.exists(os.path.join(root, inc)) and frm is not None:
                        bad.append('%s: include "%s" without its folder' % (path, inc))
                    continue
                to = inc.split('/')[0]
                if to not in FLOORS:
                    continue
                if not allowed(frm or '', to) and frm is not None:
                    line = text.count('\n', 0, m.start()) + 1
                    bad.append('%s:%d: %s (floor %d) includes %s (floor %d)'
                               % (path, line, frm, FLOORS[frm], inc, FLOORS[to]))
    return bad


def nm(obj):
    out = subprocess.run(['nm', '-P', obj], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        sym, kind = parts[0], parts[1]
        if kind == 'U':
            undefined.add(sym)
        elif kind in 'TDBRCVWtdbr' and kind.isupper():
            defined.add(sym)
    return defined, undefined


def check_objects(build, src):
    objdir = None
    for root, dirs, _ in os.walk(build):
        if root.endswith(os.path.join('nimbuscore.dir', 'src')):
            objdir = root
            break
    if not objdir:
        return ['%s: no nimbuscore objects found (build first)' % build]
    owner = {}
    needs = []
    for root, _, files in os.walk(objdir):
        for name in files:
            if not name.endswith('.o'):
                continue
            path = os.path.join(root, name)
            # Objects of sources since moved or deleted linger in a build dir.
            if not os.path.exists(os.path.join(src, os.path.relpath(path, objdir)[:-2])):
                continue
            frm = folder_of(objdir, path)
            defined, undefined = nm(path)
            for s in defined:
                owner[s] = (frm, path)
            needs.append((frm, path, undefined))
    bad = []
    for frm, path, undefined in needs:
        for s in sorted(undefined):
            if s not in owner:
                continue
            to, where = owner[s]
            if not allowed(frm, to):
                bad.append('%s: %s (floor %d) uses %s from %s (floor %d)'
                           % (os.path.relpath(path, build), frm, FLOORS.get(frm, TOP), s,
                              os.path.relpath(where, build), FLOORS.get(to, TOP)))
    return bad


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument('--src', default=os.path.join(here, '..', 'src'))
    ap.add_argument('--objects', help='a build directory whose objects to check too')
    args = ap.parse_args()
    bad = check_includes(os.path.normpath(args.src))
    if args.objects:
        bad += check_objects(args.objects, os.path.normpath(args.src))
    for b in bad:
        print('layers: ' + b)
    if bad:
        print('layers: %d violation(s); see docs/ARCHITECTURE.md for the floors' % len(bad))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
