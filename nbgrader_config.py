# nbgrader reads this file when its own commands run from the repository root.
# The settings live in pipeline/nbgrader_settings.py, shared with ./course.
import os
import sys

_root = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _root)
from pipeline.nbgrader_settings import configure  # noqa: E402

configure(get_config(), _root)  # noqa: F821  (get_config is provided by nbgrader)
