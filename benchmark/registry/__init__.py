"""Plugin loading: entry points and -p modules, the catalog, datasets declared in tlbench.toml, the config file.

Internal to tlbench: plugins use what ``benchmark`` exports (``benchmark.__all__``).
"""
