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
    # the paper's tables and the original logs' numbers (gluon_aff.reproduce.load_paper_tables)
    package_data={'gluon_aff.reproduce': ['data/*.json']},
    python_requires='>=3.7',
    # one command line with subcommands (gluon-aff train-cifar ...); scripts/*.py wrap it
    entry_points={'console_scripts': ['gluon-aff = gluon_aff.commands:main']},
    # mxnet is chosen by the user, as with GluonCV: the `cpu` or `gpu` extra, or a requirements file
    install_requires=['numpy>=1.16,<1.24', 'gluoncv==0.10.5.post0', 'tqdm>=4.40',
                      'matplotlib>=3.3', 'Pillow>=8'],
    extras_require={
        'cpu': ['mxnet==1.9.1'],
        'gpu': ['mxnet-cu112==1.9.1'],
        'demo': ['scikit-learn>=1.0'],
        # ONNX export; onnxruntime (the check) needs --no-deps: requirements-onnx.txt
        'onnx': ['onnx==1.13.1', 'protobuf==3.20.3'],
        'coco': ['pycocotools==2.0.8'],
        'test': ['pytest>=7', 'scikit-learn>=1.0', 'pycocotools==2.0.8', 'wheel==0.45.1'],
    },
    license='MIT',
    classifiers=['Programming Language :: Python :: 3',
                 'Topic :: Scientific/Engineering :: Artificial Intelligence'],
)
