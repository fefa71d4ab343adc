"""Hidden check suites: differential checks against reference/. Never shipped to learners."""
