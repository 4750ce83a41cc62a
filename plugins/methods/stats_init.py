"""Weight-statistics initialisation: each tensor of the source's weights redrawn at random with its own mean and
standard deviation, then fine-tuned; against ``ft`` it tells feature reuse from a good weight scale."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark import Method, MethodResult, hookimpl

if TYPE_CHECKING:
    import torch

    from benchmark import ExperimentContext


def redraw_from_statistics(model: torch.nn.Module, seed: int) -> int:
    """Redraw every parameter tensor of ``model`` except its classifier's (the new head) with normal noise drawn
    from a generator seeded with ``seed``, shifted and scaled to the tensor's own mean and standard deviation
    exactly; a single-value tensor keeps its value. Reset the running statistics of normalisation layers that
    track them, which described the activations of the weights no longer there. Returns the tensors redrawn.

    Matsoukas et al. 2022 ("What makes transfer learning work for medical images") draw each layer from a normal
    with its pretrained mean and std; the moments are matched exactly here, so that a small tensor (a batch norm's
    scale) keeps its scale too, not just a sample of it. Normalisation layers' scales and shifts are weights of
    their layer like any other and are redrawn with the rest: kept, they would carry per-channel source values.
    """
    import torch  # imported here, not at load: listing the methods must not load torch

    head = {id(p) for p in model.get_classifier().parameters()}
    generator = torch.Generator().manual_seed(seed)
    redrawn = 0
    with torch.no_grad():
        for parameter in model.parameters():
            if id(parameter) in head or parameter.numel() < 2:
                continue
            source = parameter.detach().double()
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            noise = (noise - noise.mean()) / noise.std(unbiased=False)
            drawn = noise * source.std(unbiased=False) + source.mean()
            parameter.copy_(drawn.to(device=parameter.device, dtype=parameter.dtype))
            redrawn += 1
    for module in model.modules():
        if getattr(module, "track_running_stats", False):
            module.reset_running_stats()
    return redrawn


class StatisticsInit(Method):
    name = "stats-init"
    label = "stats-init"
    compared_with = "ft"  # the same fine-tuning from the source's weight statistics instead of its weights
    description = ("Each source weight tensor redrawn from a normal with its own mean and std, then fine-tune all "
                   "layers, scored on the head (Matsoukas et al. 2022)")
    trains = True

    def run(self, ctx: ExperimentContext) -> MethodResult:
        model = ctx.source_model()
        ctx.info["redrawn_tensors"] = redraw_from_statistics(model, ctx.seed)
        history = ctx.train(model)
        return MethodResult(ctx.softmax_scores(model), history)


@hookimpl
def tlbench_register_methods(register):
    register(StatisticsInit())
