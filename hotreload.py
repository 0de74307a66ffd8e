"""``%load_ext hotreload`` imports this module; the extension lives in :mod:`hotreload_ext`.

The distribution is ``ipython-hotreload`` because the PyPI name ``hotreload`` belongs to an
unrelated project; this top-level module keeps the short name for IPython.
"""

from hotreload_ext import load_ipython_extension, unload_ipython_extension

__all__ = ["load_ipython_extension", "unload_ipython_extension"]
