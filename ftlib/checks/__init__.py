"""The autograded checks of the end-of-chapter exercises, one module per chapter (``chNN.py``).

Each module defines ``CHECKS``, a dict from an exercise number such as ``"7.2"`` to a function
that takes the learner's answer and returns ``(passed, message)``. ``ftlib.exercises.check``
finds them; a new chapter adds its module here and nothing else.
"""
