"""The config file: where it is found, precedence of data root and cache, dataset declarations."""

import json
from pathlib import Path

import pytest
from fakedata import make_csv_dataset, make_imagefolder, write_image

from benchmark.registry.catalog import Catalog
from benchmark.registry.config import Config, ConfigError, load_config, resolve_cache_dir, resolve_data_root
from benchmark.registry.declared import register_declared

CIFAR_LIKE = """
data_root = "data"
cache_dir = "cache"

[datasets.tinyfolder]
format = "imagefolder"
path = "tinyfolder"
modality = "natural"
roles = ["source"]

[[datasets_ignored]]
x = 1
"""


def test_tlbench_toml_paths_are_relative_to_the_file(tmp_path):
    (tmp_path / "tlbench.toml").write_text(CIFAR_LIKE)
    config = load_config(tmp_path)
    assert config.path == tmp_path / "tlbench.toml"
    assert config.data_root == tmp_path / "data" and config.cache_dir == tmp_path / "cache"
    (declaration,) = config.datasets
    assert declaration.name == "tinyfolder" and declaration.format == "imagefolder"
    assert declaration.roles == frozenset({"source"}) and declaration.modality == "natural"
    assert config.table["datasets_ignored"] == [{"x": 1}]


def test_a_declared_imaging_kind_reaches_the_dataset_and_leaves_its_version(tmp_path):
    make_imagefolder(tmp_path / "data" / "tinyfolder")
    (tmp_path / "tlbench.toml").write_text(CIFAR_LIKE.replace('roles =', 'imaging = "fundus"\nroles ='))
    config = load_config(tmp_path)
    (declaration,) = config.datasets
    catalog = Catalog()
    assert register_declared(catalog, config.datasets, config.data_root, config.path) == []
    assert declaration.imaging == catalog.datasets["tinyfolder"].imaging == "fundus"
    (tmp_path / "tlbench.toml").write_text(CIFAR_LIKE)
    (undeclared,) = load_config(tmp_path).datasets
    assert undeclared.imaging == "other"
    assert undeclared.as_dict() == declaration.as_dict()  # it sets the audit's threshold, not the images


def test_pyproject_tool_table_and_array_of_tables(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.tlbench]\ndata_root = "/data"\n\n'
        '[[tool.tlbench.datasets]]\nname = "lesions"\nformat = "csv"\npath = "les"\ncsv = "labels.csv"\n'
        'roles = ["source", "target"]\n'
    )
    config = load_config(tmp_path)
    assert config.data_root == Path("/data")
    assert config.datasets[0].csv == Path("labels.csv")
    assert config.datasets[0].roles == frozenset({"source", "target"})


def test_no_config_and_a_pyproject_without_the_table(tmp_path):
    assert load_config(tmp_path) == Config()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_config(tmp_path) == Config()


def test_precedence_option_env_config_default(tmp_path):
    config = Config(data_root=tmp_path / "cfg", cache_dir=tmp_path / "cfgcache")
    env = {"TLBENCH_DATA": "/env", "TLBENCH_CACHE": "/envcache"}
    assert resolve_data_root(Path("/opt"), config, env) == Path("/opt")
    assert resolve_data_root(None, config, env) == Path("/env")
    assert resolve_data_root(None, config, {}) == tmp_path / "cfg"
    assert resolve_data_root(None, Config(), {}) == Path("data")
    assert resolve_cache_dir(None, config, env) == Path("/envcache")
    assert resolve_cache_dir(None, config, {}) == tmp_path / "cfgcache"
    assert resolve_cache_dir(None, Config(), {}) == Path.home() / ".cache" / "tlbench"


@pytest.mark.parametrize("body, message", [
    ('data_root = 3', "data_root must be a path"),
    ('data_root = ', "not valid TOML"),
])
def test_bad_configs_name_the_file_and_the_problem(tmp_path, body, message):
    (tmp_path / "tlbench.toml").write_text(body)
    with pytest.raises(ConfigError, match=message) as error:
        load_config(tmp_path)
    assert str(tmp_path / "tlbench.toml") in str(error.value)


GOOD = '[datasets.good]\npath = "g"\n'


@pytest.mark.parametrize("body, name, message", [
    ('[datasets.a]\npath = "x"\nformat = "zip"', "a", "format must be one of"),
    ('[datasets."bad name"]\npath = "x"', "bad name", "letters, digits"),
    ('[datasets."a::b"]\npath = "x"', "a::b", "letters, digits"),
    ('[datasets.a]\npath = "x"\ncolour = 1', "a", "unknown key"),
    ('[datasets.a]\nformat = "imagefolder"', "a", "give path"),
    ('[datasets.a]\nformat = "csv"\npath = "x"', "a", "needs csv"),
    ('[datasets.a]\npath = "x"\nroles = ["teacher"]', "a", "roles must be"),
    ('[datasets.a]\npath = "x"\nimaging = "retina"', "a",
     "imaging must be one of xray, cells, dermoscopy, fundus, natural, other"),
    ('[[datasets]]\nname = "good"\npath = "y"', "good", "more than once"),
    ('[datasets.a]\npath = "x"\ngroup_pattern = "^[^_]+_"', "a", "needs a group that captures the patient"),
    ('[datasets.a]\npath = "x"\ngroup_pattern = "(["', "a", "not a regular expression"),
    ('[datasets.a]\ncsv = "l.csv"\npath = "x"\ngroup_pattern = "(.)"', "a", "a csv gives a group column"),
])
def test_a_bad_declaration_is_broken_alone(tmp_path, body, name, message):
    """Each bad declaration is reported with the file and the problem; the good one beside it stays usable."""
    if body.startswith("[["):
        (tmp_path / "tlbench.toml").write_text('[[datasets]]\nname = "good"\npath = "g"\n' + body)
    else:
        (tmp_path / "tlbench.toml").write_text(GOOD + body)
    config = load_config(tmp_path)
    assert [d.name for d in config.datasets] == ["good"]
    ((broken_name, error),) = config.broken
    assert broken_name == name and message in error and str(tmp_path / "tlbench.toml") in error


def test_declared_imagefolder_and_csv_are_registered_with_their_classes(tmp_path):
    make_imagefolder(tmp_path / "data" / "tinyfolder", classes=("cat", "dog"), splits=("train", "test"))
    make_csv_dataset(tmp_path / "data" / "les")
    (tmp_path / "tlbench.toml").write_text(
        CIFAR_LIKE + '\n[datasets.lesions]\npath = "les"\ncsv = "labels.csv"\n')
    config = load_config(tmp_path)
    catalog = Catalog()
    register_declared(catalog, config.datasets, config.data_root, config.path)
    assert set(catalog.datasets) == {"tinyfolder", "lesions"}
    assert catalog.tasks()["tinyfolder"][1].classes == ("cat", "dog")
    assert catalog.tasks()["lesions"][1].classes == ("benign", "malignant")
    assert "tinyfolder" in catalog.all_sources() and "lesions" in catalog.target_tasks()
    assert catalog.owners[("datasets", "lesions")] == "tlbench.toml"
    (plugin,) = catalog.plugins
    assert (plugin.name, plugin.origin, plugin.provides) == ("tlbench.toml", "config",
                                                             {"datasets": ["tinyfolder", "lesions"]})
    ((name, error),) = register_declared(catalog, config.datasets[:1], config.data_root, config.path)
    assert name == "tinyfolder" and "clashes" in error


def test_cli_list_shows_a_declared_dataset(tmp_path, monkeypatch, cli):
    make_imagefolder(tmp_path / "data" / "tinyfolder")
    (tmp_path / "tlbench.toml").write_text(CIFAR_LIKE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TLBENCH_DATA", raising=False)
    listing = json.loads(cli("list", "--json").output)
    (task,) = [t for t in listing["tasks"] if t["task"] == "tinyfolder"]
    assert task["status"] == "available" and task["plugin"] == "tlbench.toml" and task["roles"] == ["source"]
    (tmp_path / "tlbench.toml").write_text(CIFAR_LIKE + '[datasets.x]\nformat = "nope"\npath = "x"\n')
    result = cli("list")
    assert result.exit_code == 0 and "format must be one of" in result.output
    listing = json.loads(cli("list", "--json").output)
    assert "tinyfolder" in {t["task"] for t in listing["tasks"]}, "the good declaration stays usable"
    (broken,) = listing["broken_plugins"]
    assert broken["name"] == "declared dataset x" and "format must be one of" in broken["error"]


def test_declared_datasets_take_patient_groups(tmp_path):
    folder = tmp_path / "data" / "scans"
    for label, name in enumerate(("a", "b")):
        for patient in ("p1", "p2"):
            for view in range(2):
                write_image(folder / name / f"{patient}{name}_{view}.png", label)
    make_csv_dataset(tmp_path / "data" / "les")
    (tmp_path / "tlbench.toml").write_text(
        'data_root = "data"\n[datasets.scans]\npath = "scans"\ngroup_pattern = "^(?P<group>[^_]+)_"\n'
        '[datasets.plain]\npath = "scans"\n[datasets.lesions]\npath = "les"\ncsv = "labels.csv"\n')
    config = load_config(tmp_path)
    catalog = Catalog()
    assert register_declared(catalog, config.datasets, config.data_root, config.path) == []
    scans, task = catalog.tasks()["scans"]
    files = scans.files(task, config.data_root)
    assert sorted(set(files.groups)) == ["p1a", "p1b", "p2a", "p2b"]
    assert all(group in path.name for group, path in zip(files.groups, files.paths, strict=True))
    assert catalog.datasets["plain"].files(catalog.tasks()["plain"][1], config.data_root).groups is None
    assert "group_pattern" not in catalog.datasets["plain"].declaration.as_dict(), "a version without it stays"
    lesions, task = catalog.tasks()["lesions"]
    assert lesions.files(task, config.data_root).groups is not None  # the csv's group column


def test_a_file_outside_the_group_pattern_is_an_error_that_names_it(tmp_path):
    write_image(tmp_path / "data" / "scans" / "a" / "p1_0.png", 0)
    write_image(tmp_path / "data" / "scans" / "b" / "nounderscore.png", 1)
    (tmp_path / "tlbench.toml").write_text(
        'data_root = "data"\n[datasets.scans]\npath = "scans"\ngroup_pattern = "^([^_]+)_"\n')
    config = load_config(tmp_path)
    catalog = Catalog()
    register_declared(catalog, config.datasets, config.data_root, config.path)
    scans, task = catalog.tasks()["scans"]
    with pytest.raises(ValueError, match="nounderscore.png does not match group_pattern"):
        scans.files(task, config.data_root)


def test_a_group_pattern_that_matches_no_file_is_a_status_that_says_what_to_do(tmp_path, monkeypatch, cli):
    for label, name in enumerate(("a", "b")):
        for image in range(3):
            write_image(tmp_path / "data" / "scans" / name / f"img{image}.png", label)
    (tmp_path / "tlbench.toml").write_text(
        'data_root = "data"\n[datasets.scans]\npath = "scans"\nroles = ["target"]\n'
        'group_pattern = "^(?P<group>P\\\\d+)_"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TLBENCH_CACHE", str(tmp_path / "cache"))
    result = cli("run", "-d", "scans", "-m", "scratch", "--collect-only")
    assert result.exit_code == 0 and "3 skipped" in result.output, result.output  # a plan, not a traceback
    expected = ("group_pattern '^(?P<group>P\\\\d+)_' of dataset 'scans' (in the config's [datasets.scans]) matches "
                "none of its 6 file names (for example 'img0.png')")
    assert expected in " ".join(result.output.split()), result.output
    assert "or remove group_pattern" in result.output
    (task,) = [t for t in json.loads(cli("list", "--json").output)["tasks"] if t["task"] == "scans"]
    assert task["status"] == "corrupt" and "matches none of its 6 file names" in task["message"]


def test_tlbench_plugins_lists_the_config_file_with_its_datasets(tmp_path, monkeypatch, cli):
    make_imagefolder(tmp_path / "data" / "tinyfolder")
    (tmp_path / "tlbench.toml").write_text(CIFAR_LIKE)
    monkeypatch.chdir(tmp_path)
    plugins = {p["name"]: p for p in json.loads(cli("plugins", "--json").output)}
    listed = plugins["tlbench.toml"]
    assert (listed["origin"], listed["status"], listed["provides"]) == ("config", "ok", {"datasets": ["tinyfolder"]})
