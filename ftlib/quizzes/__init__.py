"""The quizzes, one module per chapter (``chNN.py``), each with a list ``QUESTIONS`` of five questions.

A question is a ``Choice`` (2 to 5 choices, answered with a letter) or a ``Numeric`` (answered with a
number, compared after rounding to the decimals it states), both from ``ftlib/quizzes/_common.py``,
which also explains how the right answers are stored: hashed, not in plain text.
``ftlib.quiz.show_quiz`` and ``ftlib.quiz.check_quiz`` find the modules here by name.

Adding a chapter's quiz (chapter 13, say):

1. write ``ftlib/quizzes/ch13.py`` like ``ch12.py``, with a hint per question that names the section to
   re-read and does not give the answer away;
2. compute each ``answer_hash`` with ``ftlib.quizzes._common.answer_hash(13, number, question, answer)``
   and paste it in (keep the answers themselves out of ftlib);
3. add a section to ``chapters/quizzes.ipynb`` and the answers, with ``assert check_quiz(13, answers) == 5``,
   to ``chapters/solutions/quizzes_solutions.ipynb``; ``tests/test_quiz.py`` checks every module it finds.
"""
