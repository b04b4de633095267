"""Which screen a mode shows for the config's task: the QA screens when ``task: extractive_qa``, the
classification ones (tui/widgets/cls_*.py) when ``task: classification``.

The app's "template" and "playground" modes build their screen through :func:`for_task`; when the
task changes (Config screen's task picker, a config loaded), :func:`sync_mode` drops a mode's screen
built for the other task before the app switches to it, so the next visit builds the right one.
Nothing heavy here: these screens import torch and transformers in their workers only.
"""

from __future__ import annotations

QA = "extractive_qa"
CLS = "classification"


def is_qa(cfg) -> bool:
    return getattr(cfg, "task", "causal_lm") == QA


def is_qa_run(run_dir) -> bool:
    """A run folder trained with ``task: extractive_qa`` (reads its config.yaml; no heavy imports)."""
    from engine.tasks.qa_infer import is_qa_run as engine_is_qa_run

    return engine_is_qa_run(run_dir)


def is_cls_run(run_dir) -> bool:
    """A run folder trained with ``task: classification`` (reads its config.yaml; no heavy imports)."""
    from engine.tasks.cls_infer import is_cls_run as engine_is_cls_run

    return engine_is_cls_run(run_dir)


def cls_screen_class(mode: str):
    """The classification screen class for a mode, or None when the mode has none."""
    if mode == "template":
        from .widgets.cls_preview import ClsTemplateScreen

        return ClsTemplateScreen
    if mode == "playground":
        from .widgets.cls_play import ClsPlayScreen

        return ClsPlayScreen
    return None


def task_screen_class(mode: str, task: str):
    """The screen class a mode shows for ``task`` (None: the causal-LM screen)."""
    return qa_screen_class(mode) if task == QA else cls_screen_class(mode) if task == CLS else None


def qa_screen_class(mode: str):
    """The QA screen class for a mode, or None when the mode has no QA variant."""
    if mode == "template":
        from .widgets.qa_preview import QaTemplateScreen

        return QaTemplateScreen
    if mode == "playground":
        from .widgets.qa_play import QaPlayScreen

        return QaPlayScreen
    return None


def for_task(mode: str, make_lm):
    """A mode factory: the task's screen (extractive QA, classification), else ``make_lm()``."""
    def make():
        from textual._context import active_app

        app = active_app.get()
        cls = task_screen_class(mode, getattr(app.state.config, "task", "causal_lm"))
        if cls is None:
            return make_lm()
        screen = cls()
        screen._css_update_count = app._css_update_count  # born up to date (see tui/app.py _styled_at_birth)
        return screen
    make.__name__ = getattr(make_lm, "__name__", f"make_{mode}")
    return make


def sync_mode(app, mode: str) -> None:
    """Forget ``mode``'s screen when it was built for another task than the config's (not the current mode)."""
    if qa_screen_class(mode) is None or mode == app.current_mode:
        return
    stack = app._screen_stacks.get(mode)
    if not stack:
        return
    built_for = getattr(stack[0], "task_kind", "causal_lm")
    if built_for != app.state.config.task:
        factory = app._modes[mode]
        app.remove_mode(mode)
        app.add_mode(mode, factory)
