"""playbooks/validate.yml against localhost without an admin token: the run stops with a readable reason.

pm2 has no application here, so only the first checks run before the token check stops the run.
"""

from __future__ import annotations

import os
import sys

from promptlib_rollback import run_playbook

LOCAL_INVENTORY = {
    "all": {
        "children": {
            "prompt_library": {
                "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
            }
        }
    }
}


def test_missing_token_named(tmp_path, monkeypatch):
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)
    result = run_playbook("playbooks/validate.yml", LOCAL_INVENTORY, artifacts_root=tmp_path,
                          envvars={"PM2_HOME": str(tmp_path / "pm2")})
    assert "ADMIN_TOKEN" not in os.environ
    assert result.outcome == "failed"
    assert result.failed_step is not None
    assert "No admin token: set ADMIN_TOKEN" in result.failed_step.message
