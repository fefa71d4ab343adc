"""Public check suites: one module per assignment. These ship to learners."""
