"""A method that raises for seed 5: to test that failures are recorded and the grid goes on."""

from corner_scores import corner_scores

from benchmark import Method, hookimpl


class Flaky(Method):
    name = "flaky"
    description = "raises for seed 5, else scores the test split by its mean brightness per corner"
    uses_source = False

    def run(self, ctx):
        if ctx.seed == 5:
            raise RuntimeError("flaky method fails on seed 5")
        return corner_scores(ctx)


class Quitter(Flaky):
    name = "quitter"
    description = "calls sys.exit for seed 2 (a plugin must not end the run), else as flaky"

    def run(self, ctx):
        if ctx.seed == 2:
            raise SystemExit(3)
        return super().run(ctx)


@hookimpl
def tlbench_register_methods(register):
    register(Flaky())
    register(Quitter())
