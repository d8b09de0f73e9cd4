"""The cells a chapter declares as demonstrations, which the grader does not run.

A chapter's solution notebook may name, in its metadata, the code cells that only show
something -- a training run with its log and curves, a plot, a table -- and that no test
reads anything from:

    "course": {"grading": {"demonstrations": {"skip": ["code040", "code041"]}}}

Cells are named by their cell id (nbformat's `id`), the stable name every cell has; a graded
cell's id is its nbgrader grade id. Grading leaves the named cells out of the plan, for the
reference run and every submission alike. tests/test_grading_budget.py proves, chapter by
chapter, that the tests record exactly the same values with the demonstrations run as
without them.

A declaration the grader cannot honour exactly is refused, never half-applied: an id that no
cell has (a renamed cell must not quietly start running again, nor a typo go unnoticed), an
answer or test cell, a markdown cell, a repeated id, an unknown key.
"""

KEYS = ('skip',)


def declared_demonstrations(instructor, grading):
    """(set of cell indices to leave out, list of problems) for the chapter's `grading`
    settings (Chapter.grading) over its instructor notebook's cells (notebook.read_instructor)."""
    declared = grading.get('demonstrations', {}) if isinstance(grading, dict) else None
    if declared == {}:
        return set(), []
    where = 'course.grading.demonstrations'
    if not isinstance(declared, dict):
        return set(), [f'{where} must be an object such as {{"skip": ["cell id", ...]}}']
    problems = [f'{where} has an unknown key {key!r} (known: {", ".join(KEYS)})' for key in declared if key not in KEYS]
    names = declared.get('skip', [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return set(), problems + [f'{where}.skip must be a list of cell ids']
    by_id = {}
    for n, cell in enumerate(instructor):
        for name in {cell.cell_id, cell.grade_id} - {None}:
            by_id.setdefault(name, []).append(n)
    skip = set()
    for name in names:
        found = by_id.get(name, [])
        if not found:
            problems.append(f'{where}.skip names {name!r}, which no cell of the notebook has as its id '
                            f'(renamed or deleted? name the cell by its current id)')
            continue
        if len(found) > 1:
            problems.append(f'{where}.skip names {name!r}, which {len(found)} cells have as their id')
            continue
        n = found[0]
        cell = instructor[n]
        if cell.is_answer or cell.is_test:
            problems.append(f'{where}.skip names {name!r}, which is {"an answer" if cell.is_answer else "a test"} '
                            f'cell: only cells that no grade depends on can be skipped')
        elif cell.kind != 'code':
            problems.append(f'{where}.skip names {name!r}, a {cell.kind} cell: only code cells run')
        elif n in skip:
            problems.append(f'{where}.skip names {name!r} twice')
        else:
            skip.add(n)
    return (set() if problems else skip), problems
