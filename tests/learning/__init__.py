"""Tests of the training stack (agents/ and train.py).

This directory is a package so that its ``conftest.py`` is imported as
``learning.conftest`` and does not replace ``tests/conftest.py`` in
``sys.modules["conftest"]`` (the world tests do ``from conftest import ...``).
"""
