"""Test support shared by the tests and scripts/make_fixtures.py: the patient builder and the outward contract."""
