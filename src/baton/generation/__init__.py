"""Stage 2: generate several clips per prompt from a text-to-audio backend."""
