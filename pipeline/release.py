"""`./course release chNN`: the folder a student works in for one chapter.

    chNN_name/
      chNN_name.ipynb     the notebook to fill in (the student edition)
      check.py            self-check and submit, needing only the student requirements
      checks.py           the helpers the notebook's test cells call
      README.md
      minimx/             the framework of the earlier chapters, when every one of them is past
                          its deadline; otherwise check.py builds it (see below)
      .course/            what check.py needs: chapter.json (exercises, limits, earlier
                          chapters, the course's chapter ids), reference.ipynb (a pristine copy,
                          with the reference run's outputs), checks.py (a pristine copy: the
                          self-check runs it, as the grader runs its own), the grader's own
                          notebook rules (autograder/notebook.py), the notebook
                          format (core/notebook_format.py), the exporter (core/export.py, core/assembly.py),
                          the pinned environment (core/environment.py), and
                          exports/chKK.json: the reference code of each earlier chapter
                          whose deadline has passed

It never holds reference code of chNN or later, and holds an earlier chapter's only once that
chapter's deadline has passed (pipeline/schedule.py). Before that, `python check.py --minimx`
builds minimx from the student's own notebook of that chapter, found in the folder beside
this one (`../chKK_name/chKK_name.ipynb`).
"""
import json
import shutil
import textwrap
from pathlib import Path

from core.chapters import BUILD, CELL_TIMEOUT, CHECKS, ROOT, SUBMISSION_SECONDS, before, chapters
from core.export import exported_cells, write_package
from core.notebook_format import exercise_tests, read_cells
from core.staging import earlier_package
from core.test_cells import hidden_topics

STUDENT_TOOL = ROOT / 'student' / 'check.py'
SHIPPED_CODE = {                       # copied into .course/, each with a header saying so
    'autograder/__init__.py': ROOT / 'autograder' / '__init__.py',
    'autograder/notebook.py': ROOT / 'autograder' / 'notebook.py',
    'autograder/safe_text.py': ROOT / 'autograder' / 'safe_text.py',
    'core/__init__.py': ROOT / 'core' / '__init__.py',
    'core/notebook_format.py': ROOT / 'core' / 'notebook_format.py',
    'core/export.py': ROOT / 'core' / 'export.py',
    'core/assembly.py': ROOT / 'core' / 'assembly.py',
    'core/environment.py': ROOT / 'core' / 'environment.py',
}

README = """\
# {title}

Work in `{name}.ipynb` with Jupyter, from this folder, top to bottom. `checks.py` holds the
helpers its test cells call. {minimx}

Check your work (it runs a clean copy of the chapter with your answers and compares every
output with the reference run):

    python check.py {name}.ipynb

Before handing in, validate the notebook and write the file to submit:

    python check.py --submit {name}.ipynb
"""


def chapter_info(ch, schedule):
    """What check.py knows of the chapter (.course/chapter.json)."""
    exercises = []
    for answer, tests in exercise_tests(read_cells(ch.source)):
        hidden = [hidden_topics(test.source) for test in tests]
        exercises.append({'answer': answer.grade_id, 'tests': [test.grade_id for test in tests],
                          'points': sum(test.points for test in tests),
                          'hidden': '; '.join(h for h in hidden if h)})
    return {
        'generated': f'Written by the course for check.py ({ch.name}). Do not edit.',
        'id': ch.id, 'name': ch.name, 'number': ch.number, 'title': title_of(ch),
        'cell_timeout': CELL_TIMEOUT, 'submission_seconds': SUBMISSION_SECONDS,
        'exercises': exercises,
        'earlier': [{'id': k.id, 'name': k.name, 'reference': schedule.past_deadline(k)} for k in before(ch)],
        'chapters': [k.id for k in chapters()],      # a notebook named for any other chapter is refused
    }


def title_of(ch):
    import nbformat
    nb = nbformat.read(str(ch.student), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == 'markdown' and cell.source.startswith('# '):
            return cell.source.splitlines()[0][2:].strip()
    return ch.name


STUDENT_STAMP = ('The notebook of {title}: work in it, then `python check.py {name}.ipynb` compares it '
                 'with the reference run.')


def student_notebook(ch, target):
    """The student edition of the chapter, its first cell's stamp saying what the file is for a
    student (in the instructor repository it says what it is generated from)."""
    import nbformat
    nb = nbformat.read(str(ch.student), as_version=4)
    if nb.cells:
        nb.cells[0].metadata['generated'] = STUDENT_STAMP.format(title=title_of(ch), name=ch.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))
    return target


def copy_shipped(dest):
    """The grader's notebook rules and the exporter, verbatim but for a header line."""
    for rel, source in SHIPPED_CODE.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding='utf-8')
        origin = source.relative_to(ROOT).as_posix()
        target.write_text(f'# A copy of the grader\'s {origin}, for check.py. Do not edit.\n{text}',
                          encoding='utf-8')


def release(ch, dest=None, schedule=None):
    """Write the chapter's folder into `dest` (default _build/releases/chNN); returns it."""
    from pipeline import schedule as calendar

    schedule = schedule or calendar.load()
    if not ch.student.exists():
        raise SystemExit(f'error: {ch.student} does not exist; run `./course build` first')
    dest = Path(dest) if dest else BUILD / 'releases' / ch.id
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    student_notebook(ch, dest / ch.student.name)
    shutil.copy(CHECKS, dest / 'checks.py')
    shutil.copy(STUDENT_TOOL, dest / 'check.py')
    earlier = before(ch)
    shipped = [k for k in earlier if schedule.past_deadline(k)]
    if earlier and len(shipped) == len(earlier):
        write_package(earlier_package(ch, for_students=True), dest)
        minimx = '`minimx/` is the framework as built in the earlier chapters.'
    elif earlier:
        minimx = ('`minimx/` is not here yet: the earlier chapters are not all past their deadline, so '
                  'your own answers build it. With your notebooks of the earlier chapters in the folders '
                  'beside this one, run `python check.py --minimx` before opening the notebook.')
    else:
        minimx = 'This chapter starts minimx.'
    course = dest / '.course'
    (course / 'exports').mkdir(parents=True)
    student_notebook(ch, course / 'reference.ipynb')
    shutil.copy(CHECKS, course / 'checks.py')
    copy_shipped(course)
    for k in shipped:
        (course / 'exports' / f'{k.id}.json').write_text(json.dumps(exported_cells(k.source), indent=1) + '\n',
                                                          encoding='utf-8')
    info = chapter_info(ch, schedule)
    (course / 'chapter.json').write_text(json.dumps(info, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    minimx = textwrap.fill(minimx, 92)
    (dest / 'README.md').write_text(README.format(id=ch.id, name=ch.name, title=info['title'], minimx=minimx),
                                    encoding='utf-8')
    return dest
