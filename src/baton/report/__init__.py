"""Stage 7: one self-contained HTML report of a run (figures, plots, audio, settings)."""
