"""The documentation names every frame type, code and setting the code has (docs match code)."""

from pathlib import Path

import pytest

from chat.conf import ChatSettings
from chat.wire import protocol
from chat.wire.errors import CloseCode, ErrorCode

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _names(kind) -> list[str]:
    return [value for key, value in vars(kind).items() if key.isupper()]


@pytest.fixture(scope="module")
def protocol_doc() -> str:
    return (DOCS / "protocol.md").read_text()


@pytest.mark.parametrize("frame", _names(protocol.ClientType) + _names(protocol.ServerType))
def test_every_frame_type_is_documented(protocol_doc, frame):
    assert f"`{frame}`" in protocol_doc


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_documented(protocol_doc, code):
    assert f"`{code}`" in protocol_doc


@pytest.mark.parametrize("code", [int(c) for c in CloseCode])
def test_every_close_code_is_documented(protocol_doc, code):
    assert f"| {code} |" in protocol_doc


@pytest.mark.parametrize(
    "setting",
    [
        f"CHAT_{name.upper()}"
        for name in ChatSettings.__dataclass_fields__
        if name not in ("redis_url",)
    ],
)
def test_every_chat_setting_is_in_the_readme(setting):
    readme = (DOCS.parent / "README.md").read_text()
    assert setting in readme
