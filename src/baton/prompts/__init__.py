"""Stage 1: multi-event prompts from an event vocabulary or a caption file."""
