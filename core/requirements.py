"""Requirements files written from this environment: what a student's machine (pipeline/publish.py)
or Gradescope's grader (autograder/gradescope.py) must install, pinned at the versions the
course's requirements.txt put here. Not shipped to students: it needs `packaging`."""
import importlib.metadata as metadata
import re

from packaging.requirements import Requirement


def pinned_closure(packages):
    """'Name==version' of `packages` and of everything they pull in (extras left out), at this
    environment's versions, sorted case-insensitively."""
    found, todo = {}, list(packages)
    while todo:
        name = todo.pop()
        key = re.sub(r'[-_.]+', '-', name).lower()      # one spelling per distribution
        if key in found:
            continue
        dist = metadata.distribution(name)
        found[key] = f'{dist.metadata["Name"]}=={dist.version}'
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({'extra': ''}):
                todo.append(requirement.name)
    return sorted(found.values(), key=str.lower)
