"""Test accounts: the one password every test user has."""

PASSWORD = "correct-horse-battery-staple"
