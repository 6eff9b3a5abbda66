"""Stage 7: one self-contained HTML report of a run: results, plots, audio players, settings.

The Python API (imported on first use, so that ``import baton.report`` stays light)::

    from baton.report import ReportConfig, write_report

    path = write_report(ReportConfig(run=Path("demo-run")))

:func:`write_report` is :func:`baton.report.run.run`; the page is rendered from the Jinja2 templates
in ``report/templates/`` by :func:`baton.report.html.render_report`.
"""

from __future__ import annotations

from baton.exports import lazy_exports

# name -> (module, attribute); imported on first use.
_EXPORTS = {
    "ReportConfig": ("baton.report.config", "ReportConfig"),
    "write_report": ("baton.report.run", "run"),
    "load_run": ("baton.report.run", "load_run"),
    "render_report": ("baton.report.html", "render_report"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
