"""Stage 3: people label clips in a browser; agreement statistics; import and export of labels."""
