"""Local pretrained-weight lookup in GluonCV's ``model_store`` convention.

Weights are never downloaded: put ``{name}-{sha1[:8]}.params`` under ``root`` (default
``~/.mxnet/models``). The file's SHA-1 must start with the 8 hex digits of its name (and equal
the full hash when the caller knows it: the zoo passes its model card's ``sha1``).
"""
import glob
import hashlib
import os
import re

__all__ = ['DEFAULT_ROOT', 'get_model_file', 'check_sha1']

DEFAULT_ROOT = os.path.join('~', '.mxnet', 'models')


def check_sha1(filename, sha1_hash):
    """True if the SHA-1 of ``filename`` starts with ``sha1_hash`` (a full hash or a prefix)."""
    sha1 = hashlib.sha1()
    with open(filename, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            sha1.update(chunk)
    return sha1.hexdigest().startswith(sha1_hash.lower())


def get_model_file(name, root=DEFAULT_ROOT, sha1=None):
    """Return the path of the local pretrained weights for zoo model ``name``.

    ``sha1``: the checkpoint's full SHA-1 when known (its first 8 digits name the file);
    otherwise any ``{name}-XXXXXXXX.params`` whose SHA-1 starts with its 8 digits.

    Raises
    ------
    FileNotFoundError
        No ``{name}-XXXXXXXX.params`` under ``root``; the message names the expected file.
    ValueError
        The file's SHA-1 does not match its name (a corrupt or wrong file).
    """
    root = os.path.expanduser(root)
    if sha1:
        candidates = [os.path.join(root, '%s-%s.params' % (name, sha1[:8]))]
        expected = os.path.basename(candidates[0])
    else:
        candidates = sorted(f for f in glob.glob(os.path.join(root, glob.escape(name) + '-*.params'))
                            if re.search(r'-[0-9a-f]{8}\.params$', f))
        expected = '%s-<first 8 hex digits of its sha1>.params' % name
    existing = [f for f in candidates if os.path.isfile(f)]
    if not existing:
        raise FileNotFoundError(
            'pretrained weights for %r not found: expected %s in %s. Weights cannot be '
            'downloaded by gluon-aff; copy the checkpoint there (convert original open-aff '
            'files with gluon_aff.model_zoo.convert) or use pretrained=False.'
            % (name, expected, root))
    path = existing[-1]
    want = sha1 or path[-15:-7]
    if not check_sha1(path, want):
        raise ValueError('%s: SHA-1 does not match %s; the file is corrupt or not the '
                         'checkpoint of %r' % (path, want, name))
    return path
