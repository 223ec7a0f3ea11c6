"""The way out to the SMS gateway: the mtsms client, its typed errors, reports and prices.

`from webapp.gateway import MtsmsClient, SmsMessage, Recipient, GatewayError`. The local fake
of the gateway is a package of its own, `mtsms_sandbox`, which this package never imports.
"""

from webapp.gateway.client import MtsmsClient, parse_usage
from webapp.gateway.errors import (
    BadRequest,
    Forbidden,
    GatewayConnectionLost,
    GatewayError,
    GatewayProtocolError,
    GatewayServerError,
    GatewayTimeout,
    GatewayUnavailable,
    InsufficientCredit,
    InvalidDeliveryReport,
    InvalidMessage,
    NotFound,
    TooManyConnections,
    Unauthorized,
    Unprocessable,
)
from webapp.gateway.messages import (
    Balance,
    Recipient,
    SendResult,
    SmsMessage,
    Usage,
    validate_message,
)
from webapp.gateway.pricing import PricedMessage, PriceTable, RecipientPrice, price_message
from webapp.gateway.reports import (
    DELIVERY_STATUSES,
    FINAL_DELIVERY_STATUSES,
    SIGNATURE_HEADER,
    is_final,
    sign_delivery_report,
    verify_delivery_report,
)

__all__ = [
    "DELIVERY_STATUSES",
    "FINAL_DELIVERY_STATUSES",
    "SIGNATURE_HEADER",
    "BadRequest",
    "Balance",
    "Forbidden",
    "GatewayConnectionLost",
    "GatewayError",
    "GatewayProtocolError",
    "GatewayServerError",
    "GatewayTimeout",
    "GatewayUnavailable",
    "InsufficientCredit",
    "InvalidDeliveryReport",
    "InvalidMessage",
    "MtsmsClient",
    "NotFound",
    "PriceTable",
    "PricedMessage",
    "Recipient",
    "RecipientPrice",
    "SendResult",
    "SmsMessage",
    "TooManyConnections",
    "Unauthorized",
    "Unprocessable",
    "Usage",
    "is_final",
    "parse_usage",
    "price_message",
    "sign_delivery_report",
    "validate_message",
    "verify_delivery_report",
]
