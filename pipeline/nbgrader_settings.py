"""nbgrader's settings for this course, in one place.

Used by `nbgrader_config.py` (for instructors who run nbgrader's own commands or formgrader
from the repository root) and by the pipeline, which calls nbgrader's API in-process.
"""
import os
from pathlib import Path

from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                    ClearOutput, ClearSolutions, ComputeChecksums,
                                    IncludeHeaderFooter, InstantiateTests, LockCells, SaveCells)
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets.config import Config

from pipeline.chapters import CELL_TIMEOUT, GRADING


class ClearSolutionOutputs(NbGraderPreprocessor):
    """Keep the reference outputs in the student edition -- they are the "expected output" --
    except those of answer cells, which would give the solution away. An answer cell without
    an execution count is one that nbval runs without comparing."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == 'code' and cell.metadata.get('nbgrader', {}).get('solution'):
            cell.outputs = []
            cell.execution_count = None
        return cell, resources


def configure(c, root, release_directory='book', work_directory=None):
    """Fill nbgrader Config `c` for the course rooted at `root`. Folders are given relative to
    `root` (nbgrader matches its paths as regular expressions built from them)."""
    root = Path(root).resolve()
    work_directory = work_directory or os.path.relpath(GRADING, root)
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = 'solutions'
    c.CourseDirectory.release_directory = release_directory
    c.CourseDirectory.submitted_directory = f'{work_directory}/submitted'
    c.CourseDirectory.autograded_directory = f'{work_directory}/autograded'
    c.CourseDirectory.feedback_directory = f'{work_directory}/feedback'
    c.CourseDirectory.db_url = f'sqlite:///{root / work_directory / "gradebook.db"}'
    # Same steps as nbgrader's default, but outputs are kept (ClearOutput off) and only the
    # answer cells' outputs are cleared. ClearHiddenTests after SaveCells, as nbgrader requires.
    c.ClearOutput.enabled = False
    c.GenerateAssignment.preprocessors = [
        IncludeHeaderFooter, InstantiateTests, LockCells, ClearSolutions, ClearOutput,
        ClearSolutionOutputs, CheckCellMetadata, ComputeChecksums, SaveCells, ClearHiddenTests,
        ClearMarkScheme, ComputeChecksums, CheckCellMetadata,
    ]
    c.Execute.timeout = CELL_TIMEOUT
    c.ExecutePreprocessor.timeout = CELL_TIMEOUT
    return c


def config(root, **kwargs):
    return configure(Config(), root, **kwargs)
