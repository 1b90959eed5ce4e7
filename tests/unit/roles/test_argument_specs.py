"""Check every role's meta/argument_specs.yml against its defaults/main.yml.

ansible-doc and role argument validation show the defaults from
argument_specs.yml, while plays use defaults/main.yml, so the two must agree.
A default that is a template is rendered with Ansible's templar and without any
promptlib_* inventory variable, which is the value a play gets when the
inventory sets nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.module_utils.common.validation import check_type_bool, check_type_float, check_type_int
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

ROLES = Path(__file__).resolve().parents[3] / "roles"
ROLE_NAMES = sorted(path.name for path in ROLES.iterdir() if (path / "tasks" / "main.yml").is_file())

CONVERTERS = {"bool": check_type_bool, "int": check_type_int, "float": check_type_float}


def load(path: Path) -> dict:
    if not path.is_file():
        return {}
    # AnsibleLoader, unlike yaml.safe_load, understands the !unsafe tag that role defaults use.
    return AnsibleLoader(path.read_text(encoding="utf-8")).get_single_data() or {}


def role_files(role: str) -> tuple[dict, dict]:
    specs = load(ROLES / role / "meta" / "argument_specs.yml")
    defaults = load(ROLES / role / "defaults" / "main.yml")
    return specs, defaults


def templar_for(defaults: dict) -> Templar:
    return Templar(loader=DataLoader(), variables=dict(defaults, omit="__omit_place_holder__"))


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_has_main_entry_point(role):
    specs = role_files(role)[0]
    main = specs.get("argument_specs", {}).get("main")
    assert main, f"roles/{role}/meta/argument_specs.yml has no main entry point"
    assert main.get("short_description")
    assert (ROLES / role / "meta" / "main.yml").is_file()


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_variables_prefixed(role):
    specs, defaults = role_files(role)
    options = specs["argument_specs"]["main"].get("options", {})
    for name in list(options) + list(defaults):
        assert name.startswith(role + "_"), f"{name} in role {role} lacks the prefix {role}_"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_defaults_documented(role):
    specs, defaults = role_files(role)
    # A default may belong to another entry point (tasks_from), documented under its own name.
    options = set()
    for entry_point in specs["argument_specs"].values():
        options.update(entry_point.get("options", {}))
    undocumented = sorted(set(defaults) - set(options))
    assert not undocumented, f"roles/{role}/defaults/main.yml sets {undocumented} without an argument spec"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_role_spec_defaults_match(role):
    specs, defaults = role_files(role)
    options = specs["argument_specs"]["main"].get("options", {})
    templar = templar_for(defaults)
    for name, option in options.items():
        if "default" not in option:
            continue
        assert name in defaults, f"{name} has a default in argument_specs.yml but not in defaults/main.yml"
        converter = CONVERTERS.get(option.get("type"))
        # Only options with a default are rendered: the others may use lookups, which
        # need the plugin loaders of a real play.
        rendered = templar.template(defaults[name])
        actual = converter(rendered) if converter else rendered
        assert actual == option["default"], (
            f"roles/{role}: {name} defaults to {actual!r} in defaults/main.yml "
            f"but to {option['default']!r} in meta/argument_specs.yml"
        )
