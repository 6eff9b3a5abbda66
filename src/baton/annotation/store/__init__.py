"""Everything the app does to its database, one module per concern, composed into one
:class:`AnnotationStore` for the app, the commands and the tests.

* :mod:`.base`: errors, ids and times, the write transaction, row locks and the claim of an open row;
* :mod:`.clips`: loading samples files (and gold clips), a clip's audio, safely;
* :mod:`.campaign`: what ``serve`` remembers (its address, the campaign's settings);
* :mod:`.annotators`: annotators, their secret links, who a token belongs to;
* :mod:`.labels`: labelling: which clip to give whom (assignment, leases), answers, undo, progress;
  :mod:`.statements` holds its prebuilt SQL;
* :mod:`.ratings`: listening tests (blind, shuffled rating items);
* :mod:`.records`: labels read back as label records, and label records imported.

(A/B pairs have their own queue over this store: :mod:`baton.annotation.pairs`.)
"""

from __future__ import annotations

from baton.annotation.store.annotators import AnnotatorStore, AnnotatorView
from baton.annotation.store.base import BUSY, Busy, Conflict, Forbidden, NotFound, StoreError
from baton.annotation.store.campaign import CAMPAIGN_FLAGS, CAMPAIGN_KEYS, CampaignStore
from baton.annotation.store.clips import GOLD_MODEL, ClipStore, LoadResult, read_samples
from baton.annotation.store.labels import FLAGS, MAX_COMMENT, Answer, Answered, ClipView, LabelStore, Progress
from baton.annotation.store.ratings import ItemView, RatingStore
from baton.annotation.store.records import ImportCounts, LabelRow, RecordStore, label_table

__all__ = [
    "BUSY",
    "CAMPAIGN_FLAGS",
    "CAMPAIGN_KEYS",
    "FLAGS",
    "GOLD_MODEL",
    "MAX_COMMENT",
    "AnnotationStore",
    "AnnotatorView",
    "Answer",
    "Answered",
    "Busy",
    "ClipView",
    "Conflict",
    "Forbidden",
    "ImportCounts",
    "ItemView",
    "LabelRow",
    "LoadResult",
    "NotFound",
    "Progress",
    "StoreError",
    "label_table",
    "read_samples",
]


class AnnotationStore(ClipStore, CampaignStore, AnnotatorStore, LabelStore, RatingStore, RecordStore):
    """The app's operations over one :class:`~baton.annotation.db.Database`: each part works on the
    shared :class:`~baton.annotation.store.base.StoreCore` (database, settings, caches, transactions)
    and on nothing of another part."""
