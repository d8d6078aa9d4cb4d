"""gluon-aff: Attentional Feature Fusion (WACV 2021) for MXNet/Gluon."""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, 'gluon_aff', '__init__.py')) as f:
    VERSION = re.search(r"__version__ = '([^']+)'", f.read()).group(1)

setup(
    name='gluon-aff',
    version=VERSION,
    description='Attentional Feature Fusion (MS-CAM, AFF, iAFF) for MXNet/Gluon, '
                'faithful to the original open-aff code',
    long_description=open(os.path.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['gluon_aff', 'gluon_aff.*']),
    python_requires='>=3.7',
    # mxnet is chosen by the user, as with GluonCV: the `cpu` or `gpu` extra, or a requirements file
    install_requires=['numpy>=1.16,<1.24', 'gluoncv==0.10.5.post0', 'tqdm>=4.40',
                      'matplotlib>=3.3', 'Pillow>=8'],
    extras_require={
        'cpu': ['mxnet==1.9.1'],
        'gpu': ['mxnet-cu112==1.9.1'],
        'demo': ['scikit-learn>=1.0'],
        'coco': ['pycocotools==2.0.8'],
        'test': ['pytest>=7', 'scikit-learn>=1.0', 'pycocotools==2.0.8'],
    },
    license='MIT',
    classifiers=['Programming Language :: Python :: 3',
                 'Topic :: Scientific/Engineering :: Artificial Intelligence'],
)
