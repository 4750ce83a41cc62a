from benchmark.registry.pluginmanager import load_catalog, parse_plugin_args


def _plugin(catalog, name):
    return next(p for p in catalog.plugins if p.name == name)


def test_builtin_plugins_come_from_entry_points():
    catalog = load_catalog()
    assert {"synth_shapes", "synth_xray", "synth_cells"} <= set(catalog.datasets)
    assert {"scratch", "fe-svm", "ft-svm"} <= set(catalog.methods)
    assert {"random", "imagenet"} <= set(catalog.sources)
    assert "filters" in catalog.visualizers
    synthetic = _plugin(catalog, "synthetic")
    assert synthetic.origin == "entry point" and synthetic.distribution == "tlbench"
    assert synthetic.status == "ok" and synthetic.version
    assert synthetic.provides["datasets"] == ["synth_shapes", "synth_xray", "synth_cells"]


def test_dataset_sources_are_derived_from_source_roles():
    sources = load_catalog().all_sources()
    assert "synth_shapes" in sources  # source role
    assert "synth_xray" not in sources  # target only


def test_p_loads_a_module_by_import_path():
    catalog = load_catalog(["tiny_plugin"])
    assert {"tiny_src", "tiny_tgt"} <= set(catalog.datasets)
    assert _plugin(catalog, "tiny_plugin").origin == "-p"


def test_p_naming_a_module_an_entry_point_loaded_does_not_load_it_twice():
    catalog = load_catalog(["tlbench_plugins.methods.scratch"])
    assert [p.name for p in catalog.plugins].count("scratch") == 1
    assert all(p.status == "ok" for p in catalog.plugins) and "scratch" in catalog.methods


def test_environment_variable_works_like_p():
    catalog = load_catalog(environ={"TLBENCH_PLUGINS": "tiny_plugin, no:synthetic"})
    assert "tiny_tgt" in catalog.datasets
    assert "synth_xray" not in catalog.datasets


def test_blocking_a_plugin_by_name():
    catalog = load_catalog(["no:synthetic", "no:ft-svm"])
    assert _plugin(catalog, "synthetic").status == "blocked"
    assert not {"synth_shapes", "synth_xray", "synth_cells"} & set(catalog.datasets)
    assert "ft-svm" not in catalog.methods and "fe-svm" in catalog.methods


def test_a_plugin_that_fails_to_import_is_listed_broken_and_the_rest_works():
    catalog = load_catalog(["broken_import", "tiny_plugin"])
    broken = _plugin(catalog, "broken_import")
    assert broken.status == "broken"
    assert "needs a package that is not installed" in broken.error
    assert "tiny_tgt" in catalog.datasets and "scratch" in catalog.methods


def test_a_plugin_whose_hook_raises_is_broken_with_the_hook_named():
    catalog = load_catalog(["broken_hook"])
    plugin = _plugin(catalog, "broken_hook")
    assert plugin.status == "broken"
    assert "tlbench_register_methods" in plugin.error and "registration blew up" in plugin.error


def test_an_unknown_hook_is_rejected_at_registration():
    catalog = load_catalog(["unknown_hook"])
    plugin = _plugin(catalog, "unknown_hook")
    assert plugin.status == "broken"
    assert "tlbench_register_dataset" in plugin.error


def test_a_duplicate_name_is_rejected_naming_both_plugins():
    catalog = load_catalog(["duplicate_dataset"])
    plugin = _plugin(catalog, "duplicate_dataset")
    assert plugin.status == "broken"
    assert "synth_xray" in plugin.error
    assert "'duplicate_dataset'" in plugin.error and "'synthetic'" in plugin.error
    assert catalog.owners[("datasets", "synth_xray")] == "synthetic"


def test_parse_plugin_args_merges_environment_first():
    modules, blocked = parse_plugin_args(["b", "no:c"], {"TLBENCH_PLUGINS": "a,no:d"})
    assert modules == ["a", "b"] and blocked == {"c", "d"}


def test_plugins_command_json(cli):
    import json

    result = cli("-p", "broken_import", "plugins", "--json")
    assert result.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(result.output)}
    assert plugins["broken_import"]["status"] == "broken"
    assert plugins["scratch"]["provides"] == {"methods": ["scratch"]}


def test_a_bare_name_loads_an_opt_in_entry_point_or_a_built_in_module():
    catalog = load_catalog(["blood_cells_pooled"])
    pooled = _plugin(catalog, "blood_cells_pooled")
    assert (pooled.status, pooled.origin, pooled.distribution) == ("ok", "-p", "tlbench")
    assert "blood_cells_pooled" in catalog.datasets
    assert "blood_cells_pooled" not in load_catalog().datasets, "opt-in: only when named"


def test_a_bare_name_finds_a_built_in_module_that_no_entry_point_names(monkeypatch):
    monkeypatch.setenv("TLBENCH_DISTRIBUTIONS", "nobody")  # no entry points at all: only the module search
    catalog = load_catalog(["synthetic"])
    assert _plugin(catalog, "synthetic").status == "ok" and "synth_xray" in catalog.datasets


def test_an_unknown_bare_name_is_broken_with_close_names():
    plugin = _plugin(load_catalog(["blood_cels_pooled"]), "blood_cels_pooled")
    assert plugin.status == "broken" and "no plugin 'blood_cels_pooled'" in plugin.error
    assert "did you mean blood_cells_pooled" in plugin.error


def test_only_the_named_distributions_entry_points_load(monkeypatch):
    from importlib.metadata import EntryPoint, entry_points

    import benchmark.registry.pluginmanager as pluginmanager

    class Dist:
        metadata = {"Name": "someone-else"}
        version = "1.0"

    other = EntryPoint("other", "tiny_plugin", "tlbench")
    other = other._for(Dist()) if hasattr(other, "_for") else other
    real = list(entry_points(group="tlbench"))
    monkeypatch.setattr(pluginmanager, "entry_points", lambda group: [other, *real])
    assert "other" not in {p.name for p in pluginmanager.load_catalog().plugins}  # the fixtures: tlbench only
    monkeypatch.delenv("TLBENCH_DISTRIBUTIONS")
    assert "tiny_tgt" in pluginmanager.load_catalog().datasets


def test_a_built_in_keeps_its_name_against_an_installed_plugin_that_sorts_first(monkeypatch):
    from importlib.metadata import EntryPoint, entry_points

    import benchmark.registry.pluginmanager as pluginmanager

    class Dist:
        metadata = {"Name": "aaa-clash"}
        version = "0.1"

    clash = EntryPoint("aaa_clash", "duplicate_dataset", "tlbench")
    clash = clash._for(Dist()) if hasattr(clash, "_for") else clash
    real = list(entry_points(group="tlbench"))
    monkeypatch.setattr(pluginmanager, "entry_points", lambda group: [clash, *real])
    monkeypatch.delenv("TLBENCH_DISTRIBUTIONS")  # an installed plugin is the point here
    catalog = pluginmanager.load_catalog()
    plugins = {p.name: p for p in catalog.plugins}
    assert plugins["synthetic"].status == "ok" and catalog.owners[("datasets", "synth_xray")] == "synthetic"
    assert plugins["aaa_clash"].status == "broken" and "synth_xray" in plugins["aaa_clash"].error
