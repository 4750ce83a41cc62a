"""Training curves from the stored history of the methods that train (scratch, FT): per target, the training and
validation loss and accuracy per epoch, one line per source and method (the mean over seeds), each seed's
best-validation epoch (the weights kept) marked."""

from __future__ import annotations

import numpy as np

from benchmark import BoardVisualizer, Figure, column_line, hookimpl, method_colour, save, styled

QUANTITIES = (("train_loss", "training loss"), ("val_loss", "validation loss"),
              ("train_accuracy", "training accuracy"), ("val_accuracy", "validation accuracy"))


def mean_series(histories: list[list[dict]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, mean over the seeds that reached each epoch) of ``key``; empty where no history has it."""
    values: dict[int, list[float]] = {}
    for history in histories:
        for record in history:
            if record.get(key) is not None:
                values.setdefault(int(record["epoch"]), []).append(float(record[key]))
    epochs = np.array(sorted(values), dtype=np.int64)
    return epochs, np.array([np.mean(values[e]) for e in epochs])


def best_epoch(history: list[dict]) -> tuple[int, float] | None:
    """(epoch, validation loss) of the first epoch with the lowest validation loss, the one training keeps."""
    scored = [(r["val_loss"], r["epoch"]) for r in history if r.get("val_loss") is not None]
    if not scored:
        return None
    loss, epoch = min(scored, key=lambda s: s[0])
    return int(epoch), float(loss)


def trained(ctx, board) -> dict[tuple[str, str, str], list[list[dict]]]:
    """(target, source, method) -> its seeds' histories, for the board's cells with a stored history."""
    out: dict[tuple[str, str, str], list[list[dict]]] = {}
    for row in ctx.board_rows(board):
        if row.get("history"):
            out.setdefault((row["target"], row["source"], row["method"]), []).append(row["history"])
    return out


class CurvesVisualizer(BoardVisualizer):
    name = "curves"
    description = "Training and validation loss and accuracy per epoch of the methods that train"
    order = 50

    def board_figure(self, ctx, board, several: bool) -> Figure | None:
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        histories = trained(ctx, board)
        if not histories:
            return None
        shown = [(key, name) for key, name in QUANTITIES
                 if any(r.get(key) is not None for hs in histories.values() for h in hs for r in h)]
        targets = [t for t in board.targets if any(k[0] == t for k in histories)]
        columns = [c for c in board.columns if any(k[1:] == c for k in histories)]
        bests = {}
        with styled():
            fig, axes = plt.subplots(len(targets), len(shown), figsize=(3.3 * len(shown), 2.7 * len(targets) + 0.6),
                                     squeeze=False, sharex=True)
            for row_axes, target in zip(axes, targets, strict=True):
                for ax, (key, name) in zip(row_axes, shown, strict=True):
                    for column in columns:
                        seeds = histories.get((target, *column))
                        if not seeds:
                            continue
                        epochs, mean = mean_series(seeds, key)
                        ax.plot(epochs, mean, **column_line(board, column))
                        if key == "val_loss":
                            marks = [b for h in seeds if (b := best_epoch(h)) is not None]
                            bests[f"{target} · {board.column_label(column)}"] = [e for e, _ in marks]
                            ax.plot([e for e, _ in marks], [v for _, v in marks], "o",
                                    color=method_colour(board, column[1]), markersize=4, markeredgecolor="#000000",
                                    markeredgewidth=0.5)
                    ax.set_title(f"{target}: {name}", fontsize=10)
                    ax.set_ylabel("cross-entropy" if key.endswith("loss") else "accuracy (fraction)")
            for ax in axes[-1]:
                ax.set_xlabel("epoch")
                ax.xaxis.get_major_locator().set_params(integer=True)
            handles = [Line2D([], [], **column_line(board, c), label=board.column_label(c)) for c in columns]
            handles.append(Line2D([], [], marker="o", linestyle="", color="#7F7F7F", markeredgecolor="#000000",
                                  label="a seed's best validation epoch"))
            title = "Training curves, mean over seeds" + (f" · {board.title}" if several else "")
            fig.suptitle(title)
            fig.tight_layout()
            fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 4), bbox_to_anchor=(0.5, 0.0),
                       frameon=False)
            (path,) = save(fig, ctx.board_path("curves", board))
        return Figure(path, title, _caption(board, histories, shown, columns), facts={"best_epochs": bests})


def _caption(board, histories: dict, shown: list, columns: list) -> str:
    seeds = sorted({len(h) for h in histories.values()})
    text = ("Per target, the training and validation cross-entropy" + (" and accuracy" if len(shown) > 2 else "")
            + f" per epoch of the columns that train ({', '.join(board.column_label(c) for c in columns)}), the mean "
            f"over seeds ({'/'.join(map(str, seeds))}; where early stopping ended seeds at different epochs, each "
            "epoch averages the seeds that reached it). Dots: each seed's best validation epoch, whose weights "
            "training kept. Colour: the method; line style: the source.")
    seeds_with = sum(any(r.get("val_accuracy") is not None for r in h) for hs in histories.values() for h in hs)
    seeds_all = sum(len(hs) for hs in histories.values())
    if len(shown) <= 2:
        text += " The stored history has no accuracy (rows stored before it was recorded): loss only."
    elif seeds_with < seeds_all:
        text += (f" Accuracy from the {seeds_with} of {seeds_all} seeds that recorded it (the others were stored "
                 "before it was).")
    without = [board.column_label(c) for c in board.columns if c not in columns]
    if without:
        text += f" No training history (the method does not train, or it was not stored): {', '.join(without)}."
    return text


@hookimpl
def tlbench_register_visualizers(register):
    register(CurvesVisualizer())
