"""Worker runtime: stdlib + torch only; copied next to learner code, never imports the grader."""
