"""The examples that come from templates have not drifted from them.

examples/<T>-hello must be exactly what `nimbus init <T>-hello --template T`
makes from templates/<T> (same files, bytes and exec bits), so a change to a
template that is not carried to its example, or an edit made to the example
instead of the template, fails here. `sh scripts/examples.sh` regenerates
them. Build output the template's .gitignore names (c-hello's bootstrap,
made by `make run`) is not part of the example.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

from nimbus_testlib import REPO, dir_files, nimbus_bin

TEMPLATES = os.path.join(REPO, 'templates')
EXAMPLES = os.path.join(REPO, 'examples')


def ignored_names(template_dir):
    path = os.path.join(template_dir, '.gitignore')
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.strip().lstrip('/') for line in f if line.strip() and not line.startswith('#')}


class ExamplesFromTemplatesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='nimbus-examples-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_every_template_has_its_example_and_they_match(self):
        templates = sorted(d for d in os.listdir(TEMPLATES) if os.path.isdir(os.path.join(TEMPLATES, d)))
        self.assertEqual(templates, ['bash', 'c', 'fc', 'node', 'python', 'scf'])
        for t in templates:
            with self.subTest(template=t):
                name = t + '-hello'
                dest = os.path.join(self.tmp, name)
                r = subprocess.run([nimbus_bin(), 'init', name, '--template', t, '--dir', dest],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                want = dir_files(dest)
                skip = ignored_names(os.path.join(TEMPLATES, t))
                got = {k: v for k, v in dir_files(os.path.join(EXAMPLES, name)).items()
                       if k not in skip and not k.endswith('.pyc')}
                hint = 'examples/%s drifted from templates/%s: edit the template, then run ' \
                       'sh scripts/examples.sh' % (name, t)
                self.assertEqual(sorted(got), sorted(want), hint)
                for k, (data, mode) in want.items():
                    self.assertEqual(got[k][0], data, '%s (%s)' % (hint, k))
                    self.assertEqual(got[k][1] & 0o111, mode & 0o111, '%s (exec bits of %s)' % (hint, k))


if __name__ == '__main__':
    unittest.main()
