import os
import sys

# make `import helpers` work from every test module, and keep MXNet quiet and deterministic
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('MXNET_STORAGE_FALLBACK_LOG_VERBOSE', '0')
os.environ.setdefault('MXNET_SUBGRAPH_VERBOSE', '0')
