"""Grader-only reference implementations of every graded API.

Written independently of `solutions/` and on purpose differently (PyTorch's fused ops
where they exist), with the same parameter names and shapes so that state_dicts are
interchangeable. Never shipped to learners; never on the worker's sys.path.
"""
