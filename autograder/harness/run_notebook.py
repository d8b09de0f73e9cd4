"""The sandbox's entry point: `python -S -s -B -P run_notebook.py`, the plan on stdin.

Kept tiny on purpose. It runs the harness (runtime.py) in a private namespace with its own
copy of the builtins: nothing of the harness is in `sys.modules` (where `__main__` becomes the
notebook's own module), so notebook code finds no way to it by name, and replacing a builtin
or a module's function changes nothing the harness uses.
"""


def _start():
    import builtins
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'runtime.py')
    with open(path) as f:
        source = f.read()
    namespace = {'__builtins__': dict(vars(builtins)), '__name__': 'grading-runtime', '__file__': path}
    exec(compile(source, path, 'exec'), namespace)
    namespace['main']()


_start()
