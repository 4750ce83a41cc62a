"""``tlbench convert-keras``: Keras' VGG16 weights file as a timm ``vgg16`` checkpoint to declare as a source."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from benchmark.cli.app import EXIT_FAILED, console, main


@main.command("convert-keras")
@click.argument("keras_file", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
def convert_keras_command(keras_file, out):
    """Convert Keras' VGG16 ImageNet weights (vgg16_weights_tf_dim_ordering_tf_kernels.h5) into a timm vgg16
    state dict at OUT, to declare as a source with input = "caffe" (needs h5py: pip install 'tlbench[keras]')."""
    from benchmark.engine.kerasweights import KerasWeightsError, convert_keras_vgg16

    try:
        tensors = convert_keras_vgg16(keras_file, out)
    except KerasWeightsError as error:
        console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
        sys.exit(EXIT_FAILED)
    console.print(f"wrote {escape(str(out))}: timm vgg16, {len(tensors['head.fc.bias'])} classes. Declare it in "
                  "tlbench.toml (Caffe-style input: BGR, 0-255, the ImageNet mean subtracted):\n")
    console.print(escape(f'[sources.keras-vgg16]\nbackbone = "vgg16"\nweights = "{out}"\ninput = "caffe"'),
                  soft_wrap=True)
