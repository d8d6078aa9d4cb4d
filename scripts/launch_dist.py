"""Run a training command as a local MXNet parameter-server job (1 scheduler, S servers,
N workers on 127.0.0.1), e.g.::

    python scripts/launch_dist.py -n 2 -s 2 --timeout 600 -- \
        python scripts/train_imagenet.py --kvstore dist_sync --model aff_resnet50 ...

For a cluster see ``docs/imagenet.md``. Logic: ``gluon_aff/training/distributed.py``.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from gluon_aff.training.distributed import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
