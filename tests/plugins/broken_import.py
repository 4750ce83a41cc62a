"""A plugin that fails to import."""

raise ImportError("this plugin needs a package that is not installed")
