"""Test-only backends for the multi-process tests, named to subprocesses through BATON_EXTRA_BACKENDS.

``LoggedToneBackend`` is the tone stand-in that also appends every call's seeds to the file in
``BATON_TEST_CALL_LOG`` (one JSON line per call, with the process's rank), and, when
``BATON_TEST_DIE_AFTER`` is set, ends its process abruptly (``os._exit``, no clean-up, like a kill)
once it has made that many clips.
"""

from __future__ import annotations

import json
import os

from .fake_backend import ToneBackend


class LoggedToneBackend(ToneBackend):
    name = "logged-tone"
    made = 0

    def generate(self, texts, seeds, settings=None):
        limit = os.environ.get("BATON_TEST_DIE_AFTER")
        if limit is not None and LoggedToneBackend.made >= int(limit):
            os._exit(3)
        clips = super().generate(texts, seeds, settings)
        log = os.environ.get("BATON_TEST_CALL_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(
                    json.dumps({"rank": int(os.environ.get("RANK", "0")), "seeds": list(seeds)}) + "\n"
                )
        LoggedToneBackend.made += len(texts)
        return clips
