"""Fixtures shared by every test: the local parts each test suite runs against.

Each part has its own fixture module, loaded here as a plugin, so that a test
requests only the parts it uses and each part starts once per session.
"""

pytest_plugins = [
    "tests.fixtures.azurite",
    "tests.fixtures.hub",
    "tests.fixtures.issuer",
]
