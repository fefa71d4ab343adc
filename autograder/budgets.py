"""Wall-time budgets of one grading (torch-free: the command line shows them in --help).

The solutions' whole grading takes 16-20 s for seven assignments on an idle 2-core machine (42 s with
six other test runs sharing it), the slowest assignment 10 s of that. 60 s an assignment is 6x the
slowest under load, and 300 s a submission leaves room for all 14 planned assignments at that pace.
They bound what per-call limits cannot: code that sleeps just under the call limit on every call, or
that crashes so every check pays for a fresh worker. `grade-all` waits for one student as long as
the submission budget plus STARTUP_SLACK_S (worker start, suites, the report) before it gives up.
"""

ASSIGNMENT_BUDGET_S = 60.0
SUBMISSION_BUDGET_S = 300.0
STARTUP_SLACK_S = 120.0
