"""Every environment variable the code reads is documented in .env.example."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READERS = re.compile(r"\benv_(?:str|bool|int|decimal|list|choice|required)\(\s*\"([A-Z][A-Z0-9_]*)\"")


def test_every_variable_read_by_settings_is_in_env_example():
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    read = set(READERS.findall((ROOT / "tradingsite" / "settings.py").read_text()))
    read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "Procfile").read_text()))
    assert read, "the pattern no longer finds the settings' readers"
    assert read - documented == set()
