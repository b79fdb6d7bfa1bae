"""`eventrouter destinations`, `destinations show`, `new-destination`, broken third-party plugins, and
third-party plugins' own commands (`eventrouter <type> <command>`).

Third-party plugins are registered the way pip registers them: a ``*.dist-info`` folder with an
``entry_points.txt`` on the path of a real `eventrouter` process."""
from __future__ import annotations

from destinations import registry

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import destinations
from destinations.kit.scaffold import ScaffoldError, write_package
from tests.e2e.procs import write_config

WORKTREE = str(Path(destinations.__file__).parent.parent)

BROKEN_IMPORT = "import no_such_module_for_eventrouter_tests\n"
BROKEN_SCHEMA = '''\
from destinations.kit import BaseSettings, Destination


class Settings(BaseSettings):
    def __init__(self, *a, **kw):
        raise RuntimeError("schema exploded")


class BadSchemaDestination(Destination):
    slug = "badschema"
    display_name = "Bad Schema"
    handles = frozenset({"track"})
    settings_schema = Settings
'''

CRASHING_VALIDATOR = '''\
from marshmallow import validates_schema

from destinations.kit import BaseSettings, Destination


class Settings(BaseSettings):
    @validates_schema
    def _check(self, data, **kw):
        raise TypeError("validator bug")


class CrashingDestination(Destination):
    slug = "crashing"
    display_name = "Crashing"
    handles = frozenset({"track"})
    settings_schema = Settings
'''


def eventrouter(*args: str, path: list[Path] = (), config: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([WORKTREE, *map(str, path)]))
    if config:
        env["EVENTROUTER_CONFIG"] = str(config)
    return subprocess.run([sys.executable, "-m", "router.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def install_fake_dist(site: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """What `pip install` leaves for a plugin package: its modules and a dist-info with the entry points."""
    info = site / f"{name.replace('-', '_')}-2.3.4.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.3.4\n")
    (info / "entry_points.txt").write_text(
        "[eventrouter.destinations]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    for module, text in modules.items():  # "pkg/cli" is the module pkg.cli
        path = site / f"{module}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    install_fake_dist(site, "eventrouter-broken", {"broken": "broken_plugin:Broken",
                                                   "badschema": "bad_schema_plugin:BadSchemaDestination",
                                                   "crashing": "crashing_plugin:CrashingDestination"},
                      {"broken_plugin": BROKEN_IMPORT, "bad_schema_plugin": BROKEN_SCHEMA,
                       "crashing_plugin": CRASHING_VALIDATOR})
    return site


def test_destinations_lists_every_builtin_plugin_with_its_limits():
    result = eventrouter("destinations")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TYPE", "PACKAGE", "VERSION", "EVENTS", "BATCH", "RATE", "LIMIT", "DELETE"]
    extole = next(line for line in lines if line.startswith("extole "))
    assert extole.split() == ["extole", "eventrouter", "(built-in)", "0.1.0", "delete,identify,track", "20", "(max",
                              "100)", "100/minute", "yes"]
    listed = sorted(line.split()[0] for line in lines[1:])
    # the built-ins, and whatever third-party plugins this environment has installed (CI: the example)
    assert listed == sorted(registry.sources())
    assert {"custobar", "extole", "http", "stickystreet", "webhook", "yespo"} <= set(listed)


def test_destinations_show_prints_each_setting_with_default_secrecy_and_description():
    result = eventrouter("destinations", "show", "extole")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows["api_key"].split()[:4] == ["api_key", "string", "(required)", "secret"]
    assert rows["api_key"].endswith("Extole access token, sent as a Bearer token")
    assert rows["identify_event_name"].split()[:3] == ["identify_event_name", "string", "'identify'"]
    assert "secret" not in rows["identify_event_name"].split()
    assert eventrouter("destinations", "show", "nope").returncode == 2


def test_a_broken_plugin_is_listed_with_its_cause_and_does_not_hide_the_others(site):
    result = eventrouter("destinations", path=[site])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "broken: ModuleNotFoundError: No module named 'no_such_module_for_eventrouter_tests'" in out
    assert "badschema: settings schema: RuntimeError: schema exploded" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["broken"] == ["broken", "eventrouter-broken", "2.3.4", "BROKEN", "(see", "below)"]
    assert "webhook " in out and "extole " in out


def test_a_plugin_that_exits_while_imported_is_listed_as_broken_and_does_not_end_the_command(tmp_path):
    site = tmp_path / "site"
    install_fake_dist(site, "eventrouter-exits", {"exits": "exiting_plugin:Exits"},
                      {"exiting_plugin": "import sys\n\nsys.exit(3)\n"})
    listed = eventrouter("destinations", path=[site])
    assert listed.returncode == 0, listed.stderr
    assert "exits: SystemExit: 3 (at " in listed.stdout and "exiting_plugin.py:3)" in listed.stdout
    assert "webhook " in listed.stdout
    config = write_config(tmp_path, [{"name": "e", "type": "exits", "settings": {}}])
    checked = eventrouter("check-config", path=[site], config=config)
    assert checked.returncode == 2
    assert "destinations[0].type: the exits plugin is installed but broken: SystemExit: 3 (at " in checked.stderr


UNDECLARED = """\
from destinations.kit import Destination, Outcome


class CLASS(Destination):
    slug = "SLUG"
    display_name = "SLUG"
    DECLARATION

    def map(self, event):
        return event

    def send_one(self, item):
        return Outcome.delivered()
"""


@pytest.mark.parametrize("declaration,cause", [
    ("", "handles: not declared (the event types it delivers, e.g. frozenset({'identify', 'track'}))"),
    ("handles = frozenset({'identify', 'purchase'})", "handles: 'purchase' is not an event type (event types: alias, "
                                                      "delete, group, identify, page, screen, track)"),
    ("handles = frozenset({'track'}); default_batch_size = 500", "batch sizes: default_batch_size 500 is not "
                                                                 "between 1 and max_batch_size 100"),
    ("handles = frozenset({'track'}); default_rate_limit = '10 a second'", "default_rate_limit: not a rate limit: "
                                                                           "'10 a second'"),
    ("handles = frozenset({'track'}); aliases = 'Undeclared CRM'", "aliases: 'Undeclared CRM' is a str, not a tuple "
                                                                   "of names (write ('Undeclared CRM',))"),
])
def test_a_plugin_that_declares_itself_wrong_is_listed_as_broken_and_a_config_using_it_says_why(tmp_path, declaration,
                                                                                               cause):
    site = tmp_path / "site"
    install_fake_dist(site, "eventrouter-undeclared", {"undeclared": "undeclared_plugin:Undeclared"},
                      {"undeclared_plugin": UNDECLARED.replace("CLASS", "Undeclared").replace("SLUG", "undeclared")
                       .replace("DECLARATION", declaration)})
    listed = eventrouter("destinations", path=[site])
    assert listed.returncode == 0, listed.stderr
    assert f"undeclared: {cause}" in listed.stdout and "webhook " in listed.stdout
    config = write_config(tmp_path, [{"name": "u", "type": "undeclared", "settings": {}}])
    checked = eventrouter("check-config", path=[site], config=config)
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    assert f"destinations[0].type: the undeclared plugin is installed but broken: {cause}" in checked.stderr


def test_a_plugin_that_cannot_be_set_up_with_its_settings_is_a_config_error_not_a_drain_that_always_fails(tmp_path):
    site = tmp_path / "site"
    init = ("\n    def __init__(self, settings, **kw):\n        super().__init__(settings, **kw)\n"
            "        raise ValueError('api key ' + settings['url'] + ' is not a zk_ key')\n")
    source = PLUGIN_WITH_COMMANDS.replace("SLUG", "picky").replace("CLASS", "PickyDestination")
    source = source.replace('url = fields.String(required=True, metadata={"description": "where"})',
                            'url = fields.String(required=True, metadata={"description": "key", "secret": True})')
    install_fake_dist(site, "eventrouter-picky", {"picky": "picky_plugin:PickyDestination"},
                      {"picky_plugin": source + init})
    config = write_config(tmp_path, [{"name": "p", "type": "picky", "settings": {"url": "sk-live-1234"}}])
    checked = eventrouter("check-config", path=[site], config=config)
    assert checked.returncode == 2, checked.stdout
    assert ("destinations[0].settings: the picky plugin could not be set up with these settings: "
            "ValueError: api key [redacted] is not a zk_ key") in checked.stderr
    assert "sk-live-1234" not in checked.stderr + checked.stdout


def test_check_config_reports_a_broken_plugin_and_works_for_configs_that_do_not_use_it(site, tmp_path):
    ok = write_config(tmp_path, [{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}}])
    result = eventrouter("check-config", path=[site], config=ok)
    assert result.returncode == 0, result.stderr
    assert ("warning: destination plugin 'broken' could not be loaded (not used here): ModuleNotFoundError: "
            "No module named 'no_such_module_for_eventrouter_tests' (at ") in result.stdout
    assert "warning: destination plugin 'badschema' could not be loaded (not used here): settings schema: " \
           "RuntimeError: schema exploded" in result.stdout


@pytest.mark.parametrize("kind,cause", [
    ("broken", "ModuleNotFoundError: No module named 'no_such_module_for_eventrouter_tests'"),
    ("badschema", "settings schema: RuntimeError: schema exploded"),
])
def test_a_config_that_uses_a_broken_plugin_fails_with_the_cause(site, tmp_path, kind, cause):
    config = write_config(tmp_path, [{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}},
                                     {"name": "b", "type": kind, "settings": {}}])
    result = eventrouter("check-config", path=[site], config=config)
    assert result.returncode == 2
    assert f"destinations[1].type: the {kind} plugin is installed but broken: {cause}" in result.stderr


def test_a_settings_schema_that_crashes_on_load_is_a_config_error_naming_the_plugin(site, tmp_path):
    config = write_config(tmp_path, [{"name": "c", "type": "crashing", "settings": {}}])
    result = eventrouter("check-config", path=[site], config=config)
    assert result.returncode == 2
    assert ("destinations[0].settings: the crashing plugin's settings schema is broken: TypeError: validator bug"
            in result.stderr)
    assert "Traceback" not in result.stderr


def test_a_plugin_named_like_a_builtin_type_is_reported_as_not_used_instead_of_vanishing(tmp_path):
    site = tmp_path / "site"
    install_fake_dist(site, "eventrouter-acme-hooks", {"webhook": "webhook_tools:WebhookDestination"},
                      plugin_package("webhook", LISTING_COMMAND))
    said = ("eventrouter-acme-hooks 2.3.4 registers webhook = webhook_tools:WebhookDestination, not used: "
            "webhook is a built-in type (give the entry point another name)")
    listed = eventrouter("destinations", path=[site])
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines() if line.startswith("webhook ")]
    assert rows[0][:3] == ["webhook", "eventrouter", "(built-in)"]
    assert rows[1] == ["webhook", "eventrouter-acme-hooks", "2.3.4", "NOT", "USED", "(see", "below)"]
    assert f"webhook: {said}" in listed.stdout.splitlines()
    config = write_config(tmp_path, [{"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}}])
    checked = eventrouter("check-config", path=[site], config=config)
    assert checked.returncode == 0, checked.stderr
    assert f"warning: {said}" in checked.stdout.splitlines()


def test_two_plugins_registering_one_type_are_both_listed_and_the_unused_one_says_which_is_used(tmp_path):
    site = tmp_path / "site"
    for name in ("one", "two"):
        install_fake_dist(site, f"eventrouter-acme-{name}", {"acme": f"acme_{name}:AcmeDestination"},
                          {f"acme_{name}": PLUGIN_WITH_COMMANDS.replace("SLUG", "acme").replace("CLASS", "AcmeDestination")})
    listed = eventrouter("destinations", path=[site])
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[:3] for line in listed.stdout.splitlines() if line.startswith("acme ")]
    assert sorted(row[1] for row in rows) == ["eventrouter-acme-one", "eventrouter-acme-two"]
    used, unused = rows[0][1], rows[1][1]
    target = f"acme_{unused.rsplit('-', 1)[1]}:AcmeDestination"
    assert (f"acme: {unused} 2.3.4 registers acme = {target}, not used: {used} 2.3.4 registers acme too, "
            "and is the one used") in listed.stdout.splitlines()


def test_new_destination_writes_a_package_that_passes_its_own_tests(tmp_path):
    result = eventrouter("new-destination", "Acme CRM", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    root = tmp_path / "eventrouter-acme-crm"
    assert f"wrote {root} (destination type `acme_crm`, module eventrouter_acme_crm)" in result.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root)], cwd=root,
                           env=dict(os.environ, PYTHONPATH=os.pathsep.join([WORKTREE, str(root)])),
                           capture_output=True, text=True, timeout=120)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "10 passed" in tests.stdout  # 7 of the kit's contract suite, 3 exact-payload tests


def test_the_new_package_registers_its_class_through_the_entry_point(tmp_path):
    made = write_package("acme", tmp_path)
    meta = tomllib.loads((made.root / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["eventrouter.destinations"] == {"acme": "eventrouter_acme:AcmeDestination"}
    assert meta["tool"]["setuptools"]["packages"]["find"]["include"] == ["eventrouter_acme*"]
    # installed = its modules plus a dist-info with that entry point: the host lists it and loads a config using it
    site = tmp_path / "site"
    install_fake_dist(site, "eventrouter-acme", meta["project"]["entry-points"]["eventrouter.destinations"], {})
    listed = eventrouter("destinations", path=[site, made.root])
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()}
    assert rows["acme"] == ["acme", "eventrouter-acme", "2.3.4", "identify,track", "100", "(max", "100)", "10/second", "no"]
    config = write_config(tmp_path, [{"name": "a", "type": "acme", "settings": {"api_key": "k"}}])
    checked = eventrouter("check-config", path=[site, made.root], config=config)
    assert checked.returncode == 0 and "a (acme, enabled): batch 100, rate 10/1s, events identify, track" in checked.stdout


def test_the_new_package_installs_pytest_with_its_test_extra_as_the_readme_and_the_cli_say(tmp_path):
    result = eventrouter("new-destination", "Acme", "--dir", str(tmp_path))
    root = tmp_path / "eventrouter-acme"
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["optional-dependencies"] == {"test": ["pytest>=8.0"]}
    assert f"  pip install -e '{root}[test]'   # registers it through the eventrouter.destinations entry point" \
        in result.stdout.splitlines()
    assert "    pip install -e '.[test]'" in (root / "README.md").read_text().splitlines()


def test_new_destination_refuses_a_bad_name_and_an_existing_folder(tmp_path):
    with pytest.raises(ScaffoldError, match="not a usable name"):
        write_package("123", tmp_path)
    write_package("acme", tmp_path)
    with pytest.raises(ScaffoldError, match="already exists"):
        write_package("acme", tmp_path)


def test_new_destination_refuses_the_name_of_a_builtin_type_which_the_plugin_could_never_take(tmp_path):
    result = eventrouter("new-destination", "Webhook", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert ("not a usable name: 'Webhook' is the built-in destination type webhook, which a plugin cannot take "
            "over (choose another, e.g. 'Acme Webhook')") in result.stderr
    assert list(tmp_path.iterdir()) == []


PLUGIN_WITH_COMMANDS = '''\
from marshmallow import fields

from destinations.kit import BaseSettings, Destination


class Settings(BaseSettings):
    url = fields.String(required=True, metadata={"description": "where"})


class CLASS(Destination):
    slug = "SLUG"
    display_name = "CLASS"
    handles = frozenset({"track"})
    settings_schema = Settings
'''

LISTING_COMMAND = '''\
import click

from destinations.kit import Host, pass_host

cli = click.Group("SLUG", help="SLUG tools.")


@cli.command("list")
@pass_host
def list_destinations(host: Host) -> None:
    """The SLUG destinations of the config."""
    for d in host.destinations():
        if d.type == "SLUG":
            click.echo(f"{d.name} {d.settings['url']}")
'''


def plugin_package(slug: str, cli: str) -> dict[str, str]:
    """A plugin package ``<slug>_tools`` with the class in its ``__init__`` and ``cli`` as its cli module."""
    cls = f"{slug.title()}Destination"
    return {f"{slug}_tools/__init__": PLUGIN_WITH_COMMANDS.replace("SLUG", slug).replace("CLASS", cls),
            f"{slug}_tools/cli": cli.replace("SLUG", slug)}


@pytest.fixture
def commands_site(tmp_path: Path) -> Path:
    """Installed: acme with a command, badcli whose commands module does not import, notgroup whose ``cli``
    is a function, stats (a built-in command's name) with a command."""
    site = tmp_path / "site"
    modules = {**plugin_package("acme", LISTING_COMMAND),
               **plugin_package("badcli", "import click\nimport no_such_module_for_eventrouter_tests\n"),
               **plugin_package("notgroup", "def cli():\n    pass\n"),
               **plugin_package("stats", LISTING_COMMAND)}
    install_fake_dist(site, "eventrouter-tools", {slug: f"{slug}_tools:{slug.title()}Destination"
                                                  for slug in ("acme", "badcli", "notgroup", "stats")}, modules)
    return site


def commands_config(tmp_path: Path) -> Path:
    return write_config(tmp_path, [{"name": "a1", "type": "acme", "settings": {"url": "http://127.0.0.1:9/a1"}},
                                   {"name": "hook", "type": "webhook", "settings": {"url": "http://127.0.0.1:9/"}},
                                   {"name": "a2", "type": "acme", "settings": {"url": "http://127.0.0.1:9/a2"}},
                                   {"name": "s", "type": "stats", "settings": {"url": "http://127.0.0.1:9/s"}}])


def test_a_third_party_plugins_command_is_listed_and_runs_with_the_host(commands_site, tmp_path):
    listed = eventrouter("--help", path=[commands_site])
    assert listed.returncode == 0, listed.stderr
    assert "  acme             acme tools." in listed.stdout.splitlines()
    ran = eventrouter("acme", "list", path=[commands_site], config=commands_config(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "a1 http://127.0.0.1:9/a1\na2 http://127.0.0.1:9/a2\n"


def test_broken_plugin_commands_are_reported_with_the_cause_and_the_other_commands_run(commands_site, tmp_path):
    cli_py = commands_site / "badcli_tools" / "cli.py"
    cause = f"commands: ModuleNotFoundError: No module named 'no_such_module_for_eventrouter_tests' (at {cli_py}:2)"
    listed = eventrouter("--help", path=[commands_site])
    assert listed.returncode == 0, listed.stderr
    assert "acme" in listed.stdout and "check-config" in listed.stdout
    assert "BROKEN: commands: ModuleNotFoundError" in listed.stdout  # the cause itself is wrapped to the width
    ran = eventrouter("badcli", "anything", "--help", path=[commands_site])
    assert ran.returncode == 1 and ran.stderr == f"eventrouter badcli: the badcli plugin's {cause}\n"
    shown = eventrouter("destinations", path=[commands_site])
    assert shown.returncode == 0, shown.stderr
    assert f"badcli: {cause}" in shown.stdout.splitlines()
    assert (f"notgroup: commands: notgroup_tools.cli.cli is function, not a click group "
            f"(in {commands_site / 'notgroup_tools' / 'cli.py'})") in shown.stdout.splitlines()
    rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines()}
    assert rows["badcli"][3:] == ["track", "100", "(max", "100)", "none", "no"]  # the destination itself works
    config = commands_config(tmp_path)
    assert eventrouter("check-config", path=[commands_site], config=config).returncode == 0
    assert eventrouter("acme", "list", path=[commands_site], config=config).stdout.startswith("a1 ")


def test_a_plugin_named_like_a_builtin_command_does_not_replace_it(commands_site, tmp_path):
    config = commands_config(tmp_path)
    ran = eventrouter("stats", "list", path=[commands_site], config=config)
    assert ran.returncode == 2 and "Got unexpected extra argument (list)" in ran.stderr  # the built-in `stats`
    shown = eventrouter("destinations", path=[commands_site])
    assert "stats: commands: not mounted, `eventrouter stats` is one of eventrouter's own commands" \
        in shown.stdout.splitlines()
    assert eventrouter("check-config", path=[commands_site], config=config).returncode == 0  # `type: stats` works


def test_a_command_imports_no_plugin_commands_but_its_own():
    script = ("import sys\nfrom router.cli import main\nmain(['new-destination', '--help'], standalone_mode=False)\n"
              "print(sorted(m for m in sys.modules if m.endswith('.cli') and m != 'router.cli'))")
    result = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=WORKTREE),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
