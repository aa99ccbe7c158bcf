from tests.consumers.conftest import embedded  # noqa: F401 - the consumers' mode fixture
