"""scratchgrad: graded exercises and an autograder for building a GPT-style model in PyTorch."""

__version__ = "0.1.0"
