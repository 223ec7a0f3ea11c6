"""What can go wrong with a campaign, in words a user can act on."""

from __future__ import annotations

RECENT_DAYS = 7  # how far back a send of the same message to the same lists is a duplicate


class CampaignInvalid(ValueError):
    """The campaign cannot be saved or sent as it is: ``errors`` maps each field to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


class CampaignStateError(ValueError):
    """The action does not fit the campaign's state (e.g. editing a campaign that was sent)."""


class DuplicateCampaign(CampaignStateError):
    """The same message to the same lists went out recently; sending it again needs a yes."""

    def __init__(self, earlier: list):
        self.earlier = earlier
        names = ", ".join(f"“{c.name}” (campaign {c.id}, {c.status.value})" for c in earlier)
        super().__init__(
            f"The same message was already sent to the same lists in the last {RECENT_DAYS} "
            f"days: {names}. Sending it again reaches every recipient twice."
        )


class ApprovalNeeded(CampaignStateError):
    """The campaign is over the workspace's approval limits: it is sent only once an approver
    approves it, so confirming it asks for approval instead (`request_approval`)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(
            f"This campaign needs approval before it is sent: {reason}. Ask for approval: an "
            "admin or an approver then approves it."
        )


class ApprovalRefused(CampaignStateError):
    """This user may not decide this approval (no approver right, or their own request)."""
