"""`./course release chNN`: the folder a student works in for one chapter.

It holds the student notebook, `checks.py`, and the minimx package built from the chapters
*before* chNN only -- never any reference code of chNN or later.
"""
import shutil
from pathlib import Path

from pipeline.chapters import BUILD
from pipeline.execute import stage

README = """\
# {id}: {name}

Open `{name}.ipynb` in Jupyter (`jupyter lab` or `jupyter notebook` in this folder) and work
through it top to bottom. `minimx/` holds the framework as built in the earlier chapters and
`checks.py` the helpers the test cells use; keep them beside the notebook.

Compare your outputs with the reference run from the course repository:

    ./course check {id} path/to/{name}.ipynb
"""


def release(ch, dest=None):
    if not ch.student.exists():
        raise SystemExit(f'error: {ch.student} does not exist; run `./course build` first')
    dest = Path(dest) if dest else BUILD / 'releases' / ch.id
    if dest.exists():
        shutil.rmtree(dest)
    stage(ch, dest)
    shutil.copy(ch.student, dest / ch.student.name)
    (dest / 'README.md').write_text(README.format(id=ch.id, name=ch.name), encoding='utf-8')
    return dest
