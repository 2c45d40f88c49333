"""The layering check (scripts/check_layers.py): the real tree passes, and a
tree with an include or a call from a lower floor to a higher one fails."""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..'))
CHECK = os.path.join(ROOT, 'scripts', 'check_layers.py')


def run(*args):
    return subprocess.run(['/usr/bin/python3', CHECK] + list(args), capture_output=True, text=True)


class LayersTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='nimbus-layers-')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tree(self, files):
        src = os.path.join(self.tmp, 'src')
        for path, text in files.items():
            full = os.path.join(src, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, 'w') as f:
                f.write(text)
        return src

    def test_the_source_tree_keeps_its_floors(self):
        r = run('--src', os.path.join(ROOT, 'src'))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_include_from_a_lower_floor_fails(self):
        src = self.tree({'core/router.h': '#include "daemon/daemon.h"\n',
                         'daemon/daemon.h': '#include "core/router.h"\n'})
        r = run('--src', src)
        self.assertEqual(r.returncode, 1)
        self.assertIn('core/router.h:1: core (floor 3) includes daemon/daemon.h (floor 6)', r.stdout)
        self.assertNotIn('daemon/daemon.h:', r.stdout)

    def test_siblings_on_one_floor_may_not_include_each_other(self):
        src = self.tree({'store/store.h': '#include "sandbox/sandbox.h"\n', 'sandbox/sandbox.h': ''})
        r = run('--src', src)
        self.assertEqual(r.returncode, 1)
        self.assertIn('store (floor 2) includes sandbox/sandbox.h (floor 2)', r.stdout)

    def test_unknown_folder_and_bare_local_include_fail(self):
        src = self.tree({'misc/x.c': '', 'io/a.c': '#include "a.h"\n', 'io/a.h': ''})
        r = run('--src', src)
        self.assertEqual(r.returncode, 1)
        self.assertIn('folder misc has no floor', r.stdout)
        self.assertIn('include "a.h" without its folder', r.stdout)

    def test_call_through_a_hand_written_declaration_fails(self):
        # No include shows it; the objects do.
        src = self.tree({
            'base/b.c': 'int top_secret(void);\nint base_fn(void) { return top_secret(); }\n',
            'api/a.c': 'int top_secret(void);\nint top_secret(void) { return 1; }\n',
        })
        build = os.path.join(self.tmp, 'build')
        for rel in ('base/b.c', 'api/a.c'):
            out = os.path.join(build, 'CMakeFiles', 'nimbuscore.dir', 'src', rel + '.o')
            os.makedirs(os.path.dirname(out), exist_ok=True)
            subprocess.run(['cc', '-c', os.path.join(src, rel), '-o', out], check=True)
        r = run('--src', src, '--objects', build)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn('base (floor 0) uses top_secret', r.stdout)
        self.assertEqual(run('--src', src).returncode, 0)


if __name__ == '__main__':
    unittest.main()
