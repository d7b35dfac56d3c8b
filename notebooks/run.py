"""Executes a notebook headless (nbclient) and fails if a cell errors.

Usage: .local/venv/bin/python notebooks/run.py [notebooks/trends.ipynb]
The notebook reads SHELF_MONGO and SHELF_DB like the rest of shelfstream.
"""
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

path = sys.argv[1] if len(sys.argv) > 1 else "notebooks/trends.ipynb"
notebook = nbformat.read(path, as_version=4)
client = NotebookClient(notebook, timeout=300, kernel_name="python3")
try:
    client.execute()
except CellExecutionError as error:
    print(f"{path}: a cell failed:\n{error}", file=sys.stderr)
    sys.exit(1)
print(f"{path}: {len(notebook.cells)} cells ran")
