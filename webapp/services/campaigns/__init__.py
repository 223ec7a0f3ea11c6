"""Campaigns from draft to confirmation.

drafts        compose, check, save, copy, delete; the follow-up of failed recipients
confirmation  is the preview current (the fingerprint), and freezing recipients into batches
approvals     ask for approval, approve, reject, withdraw (over the workspace's approval limits)
payload       the gateway request a batch sends (the preview and the dispatcher share it)
test_sends    test messages to the user's own phones
events        the campaign's history
queries       what the campaign pages read

Who a campaign reaches is `webapp.services.audience`; the preview is
`webapp.services.preview`, the send `webapp.services.dispatch`. The names below are the
package's public surface, so callers write ``campaigns.save_draft(...)``.
"""

from webapp.services.audience import (
    ResolvedRecipient,
    ResolvedRecipients,
    available_fields,
    lists_by_id,
    resolve_fields,
    resolve_recipients,
)
from webapp.services.campaigns.approvals import (
    approve_campaign,
    awaiting_approval,
    reject_campaign,
    request_approval,
    withdraw_approval,
)
from webapp.services.campaigns.confirmation import (
    account_balance,
    batch_size_for,
    chunks,
    confirm_campaign,
    content_fingerprint,
    duplicates_of,
    preview_is_current,
    recent_duplicates,
)
from webapp.services.campaigns.drafts import (
    CampaignDraft,
    copy_campaign,
    create_follow_up,
    delete_draft,
    save_draft,
    set_include_undeliverable,
    validate_draft,
)
from webapp.services.campaigns.errors import (
    ApprovalNeeded,
    ApprovalRefused,
    CampaignInvalid,
    CampaignStateError,
    DuplicateCampaign,
)
from webapp.services.campaigns.events import record_event
from webapp.services.campaigns.payload import (
    ENCODINGS,
    VARIANTS,
    batch_message,
    gateway_encoding,
    render_for,
    tagged_batch_message,
)
from webapp.services.campaigns.queries import (
    SORTS,
    CampaignFilter,
    CampaignRow,
    batches_in_state,
    campaign_rows,
    campaign_senders,
    campaigns_page,
    follow_ups_of,
    selectable_lists,
    sent_tests_of,
)
from webapp.services.campaigns.test_sends import MAX_TEST_NUMBERS, send_test

__all__ = [
    "ApprovalNeeded",
    "ApprovalRefused",
    "approve_campaign",
    "awaiting_approval",
    "reject_campaign",
    "request_approval",
    "withdraw_approval",
    "ENCODINGS",
    "VARIANTS",
    "MAX_TEST_NUMBERS",
    "SORTS",
    "CampaignDraft",
    "CampaignFilter",
    "CampaignRow",
    "CampaignInvalid",
    "CampaignStateError",
    "DuplicateCampaign",
    "ResolvedRecipient",
    "ResolvedRecipients",
    "available_fields",
    "batch_message",
    "batch_size_for",
    "batches_in_state",
    "campaign_rows",
    "campaign_senders",
    "chunks",
    "account_balance",
    "confirm_campaign",
    "content_fingerprint",
    "copy_campaign",
    "create_follow_up",
    "delete_draft",
    "duplicates_of",
    "follow_ups_of",
    "gateway_encoding",
    "campaigns_page",
    "lists_by_id",
    "preview_is_current",
    "recent_duplicates",
    "record_event",
    "render_for",
    "resolve_fields",
    "resolve_recipients",
    "save_draft",
    "selectable_lists",
    "set_include_undeliverable",
    "send_test",
    "sent_tests_of",
    "tagged_batch_message",
    "validate_draft",
]
