"""What pipeline/ (building the course) and autograder/ (grading it) share: where chapters
live, the notebook format, the environment notebooks run in, and staging a chapter's folder.
Both packages import from here and never from each other; the CLI (cli.py) sits above both.

This file imports nothing: the student's `.course/` folder ships a copy of the package's
standalone modules (notebook_format.py, export.py) with it.
"""
