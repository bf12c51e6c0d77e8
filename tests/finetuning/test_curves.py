"""training_curves.png (issue 13): the dev loss is drawn on a "loss" axis (not one labelled "train loss"), the
legends sit off the curves, and a sweep's top-level picture shows every learning rate with the chosen one."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from bert_tf.finetuning.common import RunResult, curves_figure, plot_sweep  # noqa: E402


def _history(learning_rate, scale):
    return {"learning_rate": learning_rate, "done": True,
            "train": [{"step": s, "loss": 4.0 * scale / s} for s in range(1, 31)],
            "eval": [{"step": s, "loss": 3.0 * scale / s, "accuracy": 0.5 + 0.01 * s / scale} for s in (10, 20, 30)],
            "best": {"step": 30, "metrics": {"accuracy": 0.5 + 0.3 / scale}}}


def _overlaps(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_one_run_losses_share_a_loss_axis_and_legends_leave_the_curves_free():
    fig = curves_figure([(5e-5, _history(5e-5, 1.0))], "accuracy", chosen=(5e-5, 30))
    ax_loss, ax_metric = fig.axes
    assert ax_loss.get_ylabel() == "loss" and ax_metric.get_ylabel() == "dev accuracy"
    assert set(_lines(ax_loss)) == {"train loss", "dev loss"}
    assert set(_lines(ax_metric)) == {"dev accuracy", "chosen: step 30"}
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in (ax_loss, ax_metric):
        legend = ax.get_legend()
        assert legend is not None
        assert not _overlaps(legend.get_window_extent(renderer), ax.get_window_extent(renderer))


def test_run_without_dev_set_has_only_the_loss_panel():
    history = _history(5e-5, 1.0)
    history["eval"] = []
    fig = curves_figure([(5e-5, history)], "accuracy")
    assert len(fig.axes) == 1 and set(_lines(fig.axes[0])) == {"train loss"}


@pytest.mark.parametrize("rates", [(5e-5, 3e-5, 2e-5)])
def test_sweep_picture_shows_every_learning_rate(tmp_path, rates):
    runs = [RunResult(lr, str(tmp_path / f"lr_{lr:g}"), {"accuracy": 0.8}, 30, _history(lr, i + 1.0))
            for i, lr in enumerate(rates)]
    fig = curves_figure([(r.learning_rate, r.history) for r in runs], "accuracy", chosen=(3e-5, 30))
    ax_loss, ax_metric = fig.axes
    assert {f"train loss, lr {lr:g}" for lr in rates} <= set(_lines(ax_loss))
    assert {f"dev accuracy, lr {lr:g}" for lr in rates} <= set(_lines(ax_metric))
    assert "chosen: step 30, lr 3e-05" in _lines(ax_metric)
    assert "lr 3e-05 chosen" in fig._suptitle.get_text()
    path = plot_sweep(runs, runs[1], str(tmp_path / "training_curves.png"), "accuracy")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_options_gather_the_shared_arguments():
    """`FinetuneOptions` (issue 15): what the four finetune_* functions share, picked from their arguments;
    a bad learning rate fails when the options are made. `RunResult.sweep` is a declared field."""
    from bert_tf.finetuning import FinetuneError, FinetuneOptions

    options = FinetuneOptions.pick({"seed": 3, "learning_rate": "5e-5,3e-5", "train_file": "ignored"})
    assert options.seed == 3 and options.learning_rates == [5e-5, 3e-5] and options.max_seq_length == 128
    with pytest.raises(FinetuneError, match="learning rates must be positive"):
        FinetuneOptions(learning_rate=0)
    assert RunResult(1e-3, "d", {}, 1, {}).sweep is None
