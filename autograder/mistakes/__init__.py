"""Mistake catalogues, one module per assignment (see autograder/kit.py); shipped in the learner kit."""
