"""The result kinds, one module each: a kind's storage, sweep rules, planner, job and validator,
registered (db.kinds.register) when its module is imported. db/ and render/ loop over the
registry but never import jobs/, so importing the `jobs` package imports these first.

A new kind: a module here, imported below, and its model-page partial
templates/partials/results_<name>.html (tests/toy_kind.py is one, whole).
"""

from jobs.kinds import accuracy, throughput  # noqa: F401 (the built-in kinds register themselves)
