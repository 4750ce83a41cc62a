"""A method that raises for seed 5: to test that failures are recorded and the grid goes on."""

import numpy as np

from benchmark import Method, MethodResult, hookimpl


class Flaky(Method):
    name = "flaky"
    description = "raises for seed 5, else scores the test split by its mean brightness per corner"
    uses_source = False

    def run(self, ctx):
        if ctx.seed == 5:
            raise RuntimeError("flaky method fails on seed 5")
        images = ctx.data.test.images.float()
        half = images.shape[-1] // 2
        corners = [images[:, :, y * half:(y + 1) * half, x * half:(x + 1) * half].mean(dim=(1, 2, 3))
                   for y in (0, 1) for x in (0, 1)]
        return MethodResult(np.stack([c.numpy() for c in corners], axis=1)[:, : ctx.num_classes])


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
