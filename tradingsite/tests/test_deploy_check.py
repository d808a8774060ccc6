"""`manage.py check --deploy` is clean with the production environment the README documents."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tradingsite.testing.processes import ROOT, base_env

pytestmark = pytest.mark.integration  # a subprocess that builds the OpenAPI schema: ~15 s


def readme_production_env() -> dict[str, str]:
    block = re.search(r"```sh\n# production environment\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block, "README.md lost its production environment block"
    return dict(re.findall(r"^export (\w+)=(.+)$", block.group(1), re.MULTILINE))


def test_check_deploy_passes_at_warning_level_with_the_documented_environment(tmp_path: Path):
    env = readme_production_env()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS"} <= env.keys()
    env["SECRET_KEY"] = "x7Kq2mP9vR4tW8yZ1bN5cF3hJ6gL0dS-aE_uI7oX2qT9wV4rY8zM1nB5"  # stands in for $(…)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=base_env(**env, VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
