"""What can go wrong with a campaign, in words a user can act on."""

from __future__ import annotations


class CampaignInvalid(ValueError):
    """The campaign cannot be saved or sent as it is: ``errors`` maps each field to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


class CampaignStateError(ValueError):
    """The action does not fit the campaign's state (e.g. editing a campaign that was sent)."""
