"""What ``serve`` remembers in ``server_settings``: the address it is reached at, and the settings
that define the campaign's work (fixed by the first start, changed only on purpose).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from baton.annotation.models import ServerSetting
from baton.annotation.store.base import StoreCore
from baton.errors import InputError

# The settings that define a campaign's work, kept in ``server_settings`` by the first ``serve``, and
# the ``serve`` flag of each (for messages).
CAMPAIGN_FLAGS: dict[str, str] = {
    "labels_per_clip": "--k",
    "raters_per_item": "--raters-per-item",
    "tasks": "--collect",
    "pairs_per_prompt": "--pairs-per-prompt",
    "pairs_seed": "--pairs-seed",
    "select": "--select",
    "round_size": "--round-size",
    "random_share": "--random-share",
    "budget": "--budget",
}
CAMPAIGN_KEYS = tuple(CAMPAIGN_FLAGS)


def _put_setting(session: Session, key: str, value: str, now: datetime) -> None:
    """Store one of serve's settings (``server_settings``), new or replacing the one there."""
    row = session.get(ServerSetting, key, with_for_update=True)
    if row is None:
        session.add(ServerSetting(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


class CampaignStore(StoreCore):
    """The server's remembered settings."""

    def remember_url(self, url: str) -> None:
        """Keep the address the server is reached at, for links made by the other commands."""
        now = self.clock()

        self._write(lambda session: _put_setting(session, "url", url, now))

    def server_url(self) -> str | None:
        """The address the last ``serve`` of this database was reached at, if one ran."""
        with self.db.read() as session:
            setting = session.get(ServerSetting, "url")
            return None if setting is None else setting.value

    def campaign_settings(self) -> dict[str, str]:
        """The settings that define the campaign's work, as the first ``serve`` stored them."""
        with self.db.read() as session:
            rows = session.execute(select(ServerSetting).where(ServerSetting.key.in_(CAMPAIGN_KEYS)))
            return {row.key: row.value for row in rows.scalars()}

    def fix_campaign(
        self,
        given: dict[str, str | None],
        defaults: dict[str, str],
        *,
        change: bool = False,
        check: Callable[[dict[str, str]], None] | None = None,
    ) -> dict[str, str]:
        """The campaign's settings (``CAMPAIGN_KEYS``, as text): stored on the first start, kept after.

        ``given`` holds the values asked for this time (``None``: not given): a setting not stored
        yet takes the given value or its default; a stored one stays unless ``change`` is set, and a
        different given value is refused, so that a restart cannot quietly change what the campaign
        asks of its annotators. ``check`` may refuse the settings as a whole (raising): then nothing
        is stored. The store then works with the settings returned.
        """
        now = self.clock()

        def work(session: Session) -> dict[str, str]:
            settings = {}
            for key in CAMPAIGN_KEYS:
                row = session.get(ServerSetting, key, with_for_update=True)
                wanted = given.get(key)
                if row is None or (change and wanted is not None and wanted != row.value):
                    settings[key] = wanted if wanted is not None else defaults[key]
                    _put_setting(session, key, settings[key], now)
                elif wanted is None or wanted == row.value:
                    settings[key] = row.value
                else:
                    flag = CAMPAIGN_FLAGS[key]
                    raise InputError(
                        f"the campaign in this database was set up with {flag} {row.value}, and {flag} "
                        f"{wanted} was given now: leave {flag} out (or give {row.value}) to go on as it "
                        "is, or add --change-settings to change the campaign",
                        path=self.db.describe(),
                        field=key,
                    )
            if check is not None:
                check(settings)
            return settings

        settings = self._write(work)
        self.k = int(settings["labels_per_clip"])
        self.raters = int(settings["raters_per_item"])
        return settings
