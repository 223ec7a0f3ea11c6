"""Campaign pages: compose, preview, confirm, follow the send, and act on what went wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from werkzeug.utils import secure_filename

from webapp.access import requires
from webapp.addresses import delivery_report_url
from webapp.extensions import db
from webapp.forms import (
    ApprovalForm,
    CampaignFilterForm,
    CampaignForm,
    ConfirmForm,
    EmptyForm,
    SendTestForm,
    SpeedForm,
)
from webapp.gateway.rules import sender_problem
from webapp.models import (
    Batch,
    BatchState,
    Campaign,
    CampaignStatus,
    DeliveryOutcome,
    MessageTemplate,
    Role,
)
from webapp.services import (
    abtests,
    approval,
    audience,
    campaigns,
    chart,
    clicks,
    delivery,
    dispatch,
    outcomes,
    quiet_hours,
    reconcile,
)
from webapp.services.campaigns import (
    VARIANTS,
    ApprovalNeeded,
    ApprovalRefused,
    CampaignDraft,
    CampaignInvalid,
    CampaignStateError,
    DuplicateCampaign,
)
from webapp.services.counter import count_message, describe_replacements
from webapp.services.optout_links import footer_text_for
from webapp.services.pages import Page, page_number
from webapp.services.preview import (
    PreviewFailed,
    draft_problems,
    phone_view,
    preview_campaign,
    recipient_messages,
)
from webapp.services.progress import campaign_progress
from webapp.services.tracked_links import track_urls
from webapp.services.undeliverable import EXPLANATION as UNDELIVERABLE_EXPLANATION
from webapp.sms import replace_lookalikes
from webapp.views.common import (
    client_address,
    counted_text,
    csv_response,
    default_country,
    flash_form_errors,
    id_or_none,
    opt_out_footer,
    save_message_as_template,
    template_tools,
    tracked_link_host,
    utm_choice,
)

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

PER_PAGE = 50


def _jobs():
    return current_app.extensions["jobs"]


def _client():
    return current_app.extensions["gateway"].client()


def _user_zone() -> ZoneInfo:
    return ZoneInfo(current_user.timezone or "UTC")


def _campaign(campaign_id: int) -> Campaign:
    return db.get_or_404(Campaign, campaign_id)


# --- Lists of campaigns and compose --------------------------------------------------------


FILTER_KEYS = ("status", "sender", "q", "sent_from", "sent_to", "sort")


@bp.route("/")
@requires(Role.VIEWER)
def index():
    """Every campaign, filtered, searched and sorted as the query string says, a page at a
    time; filters that cannot be read are shown with what is wrong, as typed."""
    form = CampaignFilterForm(formdata=request.args)
    senders = campaigns.campaign_senders(db.session)
    if form.sender.data and form.sender.data not in senders:
        senders.append(form.sender.data)  # still shown as chosen: it matches nothing
    form.sender.choices = [("", "any sender"), *((sender, sender) for sender in senders)]
    # What the sort links and pages carry along: the filters as typed (empty ones left out).
    kept = {key: request.args[key][:100] for key in FILTER_KEYS if request.args.get(key)}
    if not form.validate():
        return render_template("campaigns/index.html", form=form, campaigns=None, kept=kept), 400
    chosen = campaigns.CampaignFilter(
        status=CampaignStatus(form.status.data) if form.status.data else None,
        sender=form.sender.data or "",
        search=form.q.data or "",
        sent_from=form.sent_from.data,
        sent_to=form.sent_to.data,
        sort=form.sort.data or "",
    )
    page = campaigns.campaigns_page(
        db.session, chosen, page_number(request.args.get("page")), zone=_user_zone()
    )
    return render_template(
        "campaigns/index.html", form=form, campaigns=page, chosen=chosen, kept=kept
    )


def _form_for(campaign: Campaign | None) -> CampaignForm:
    if campaign is None:
        form = CampaignForm(formdata=request.form if request.method == "POST" else None)
    elif request.method == "POST":
        form = CampaignForm()
    else:
        form = CampaignForm(obj=campaign)
        form.list_ids.data = [lst.id for lst in campaign.lists]
        if campaign.send_at:
            form.send_at.data = campaign.send_at.astimezone(_user_zone()).replace(tzinfo=None)
        _fill_ab_test(form, campaign)
    form.list_ids.choices = [
        (lst.id, f"{lst.name} ({lst.recipient_count:,} recipients)")
        for lst in campaigns.selectable_lists(db.session)
    ]
    return form


def _draft_from(form: CampaignForm) -> CampaignDraft:
    send_at = None
    if form.send_at.data:
        send_at = form.send_at.data.replace(tzinfo=_user_zone()).astimezone(UTC)
    return CampaignDraft(
        name=form.name.data or "",
        sender=form.sender.data or "",
        message=form.message.data or "",
        list_ids=list(form.list_ids.data or []),
        encoding=form.encoding.data or "auto",
        send_at=send_at,
        speed_per_minute=form.speed_per_minute.data,
        plain_values=bool(form.plain_values.data),
        opt_out_footer=opt_out_footer() if form.opt_out_link.data else None,
        link_host=tracked_link_host(),
        template_id=id_or_none(form.template_id.data),
        include_undeliverable=bool(form.include_undeliverable.data),
        **_ab_test_of(form),
    )


def _fill_ab_test(form: CampaignForm, campaign: Campaign) -> None:
    """The form's A/B test fields from a saved draft."""
    shares = campaign.variant_shares or {}
    form.variants.data = str(len(shares) or 1)
    for letter, share in shares.items():
        getattr(form, f"share_{letter.lower()}").data = share
    form.send_winner.data = campaign.winner_after_minutes is not None
    form.winner_metric.data = campaign.winner_metric
    if campaign.winner_after_minutes:
        form.winner_after_hours.data = campaign.winner_after_minutes // 60


def _ab_test_of(form: CampaignForm) -> dict:
    """The draft's A/B test fields from the form (no test when it shows one variant)."""
    letters = VARIANTS[: form.variant_count]
    if len(letters) < 2:
        return {}
    hours = form.winner_after_hours.data
    return {
        "message_b": form.message_b.data or "",
        "message_c": (form.message_c.data or "") if "C" in letters else None,
        "variant_shares": {
            letter: getattr(form, f"share_{letter.lower()}").data or 0 for letter in letters
        },
        "winner_after_minutes": (hours or 0) * 60 if form.send_winner.data else None,
        "winner_metric": form.winner_metric.data or "delivery_rate",
    }


def _change_variants(form: CampaignForm) -> None:
    """Add a variant (B with shares 10/10, then C) or remove the last one; the no-JavaScript
    form's buttons and the htmx fragment both come here."""
    count = form.variant_count
    if "add_variant" in request.form and count < len(VARIANTS):
        count = max(2, count + 1)
        for letter in VARIANTS[:count]:
            share = getattr(form, f"share_{letter.lower()}")
            share.data = share.data or 10
    elif "remove_variant" in request.form and count > 1:
        count = 1 if count == 2 else count - 1
    form.variants.data = str(count)


def _compose_page(
    form: CampaignForm, campaign: Campaign | None, status: int = 200, tools: dict | None = None
):
    chosen = campaigns.lists_by_id(db.session, form.list_ids.data or [])
    fields = audience.fields_for_compose(db.session, campaign, chosen)
    encoding = form.encoding.data if form.encoding.data in campaigns.ENCODINGS else "auto"
    footer = footer_text_for(opt_out_footer()) if form.opt_out_link.data else ""
    counter = count_message(
        db.session,
        counted_text(form.message.data or ""),
        encoding,
        [lst.id for lst in chosen],
        footer,
        plain_values=bool(form.plain_values.data),
        template_id=id_or_none(form.template_id.data),
        include_undeliverable=bool(form.include_undeliverable.data),
    )
    return render_template(
        "campaigns/compose.html",
        form=form,
        campaign=campaign,
        counter=counter,
        available_tags=fields,
        zone=current_user.timezone,
        parent_ab_test=bool(
            campaign and campaign.parent_id and _campaign(campaign.parent_id).is_ab_test
        ),
        **_variant_counters(form),
        **(tools or template_tools()),
    ), status


def _save(form: CampaignForm, campaign: Campaign | None):
    """Save the draft; on 'Preview' go on to the preview. Errors keep everything typed."""
    if "fix_lookalikes" in request.form:  # the counter's button, without JavaScript
        replacement = replace_lookalikes(form.message.data or "")
        form.message.data = replacement.text
        flash(describe_replacements(replacement), "info")
        return _compose_page(form, campaign)
    if "track_links" in request.form:  # the "Track links" button, without JavaScript
        form.message.data = track_urls(form.message.data or "", utm_choice())
        return _compose_page(form, campaign)
    if "use_template" in request.form:  # the templates' buttons, without JavaScript
        template = db.get_or_404(MessageTemplate, id_or_none(request.form.get("template_choice")))
        form.message.data, form.encoding.data = template.message, template.encoding
        form.template_id.data = str(template.id)
        flash(f"The message of the template “{template.name}” was filled in.", "info")
        return _compose_page(form, campaign)
    if "add_variant" in request.form or "remove_variant" in request.form:  # without JavaScript
        _change_variants(form)
        return _compose_page(form, campaign)
    if "save_template" in request.form:
        tools = save_message_as_template()
        return _compose_page(form, campaign, 400 if tools["template_error"] else 200, tools)
    # The form's own checks and the service's run together, so every problem shows at once.
    form_ok = form.validate_on_submit()
    wants_preview = request.form.get("action") == "preview"
    follow_up = campaign is not None and campaign.parent_id is not None
    problems = draft_problems(
        db.session, _draft_from(form), for_preview=wants_preview, follow_up=follow_up
    )
    for name, message in problems.items():
        if message not in getattr(form, name).errors:
            getattr(form, name).errors = [*getattr(form, name).errors, message]
    if form.opt_out_link.data and opt_out_footer() is None:
        form.opt_out_link.errors = ["Set PUBLIC_URL, the dashboard's public address, to link to."]
        form_ok = False
    if form_ok and not problems:
        was_waiting = campaign is not None and campaign.status.awaits_approval
        try:
            campaign = campaigns.save_draft(
                db.session, current_user, _draft_from(form), campaign, address=client_address()
            )
        except CampaignStateError as error:
            flash(str(error), "error")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
        if was_waiting:
            flash(
                "The approval request was withdrawn: the campaign changed. Preview it and ask "
                "for approval again.",
                "info",
            )
        if wants_preview:
            return _run_preview(campaign, just_saved=True)
        flash("Draft saved.", "success")
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    return _compose_page(form, campaign, 400)


@bp.route("/new")
@requires(Role.SENDER)
def new():
    return _compose_page(_form_for(None), None)


@bp.route("/new", methods=["POST"])
@requires(Role.SENDER)
def create():
    return _save(_form_for(None), None)


@bp.route("/<int:campaign_id>/edit")
@requires(Role.SENDER)
def edit(campaign_id: int):
    campaign = _campaign(campaign_id)
    if not campaign.status.can_edit:
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return _compose_page(_form_for(campaign), campaign)


@bp.route("/<int:campaign_id>/edit", methods=["POST"])
@requires(Role.SENDER)
def update(campaign_id: int):
    campaign = _campaign(campaign_id)
    return _save(_form_for(campaign), campaign)


@bp.route("/ab-test", methods=["POST"])
@requires(Role.SENDER)
def ab_test():
    """The composer's A/B test section again, a variant added or removed (an htmx fragment)."""
    form = CampaignForm()
    _change_variants(form)
    return render_template("campaigns/_ab_test.html", form=form, **_variant_counters(form))


@bp.route("/ab-test/held-back", methods=["POST"])
@requires(Role.SENDER)
def held_back():
    """The held-back share, recounted as the user types the variants' shares."""
    return render_template("campaigns/_held_back.html", form=CampaignForm())


def _variant_counters(form: CampaignForm) -> dict:
    """Each extra variant's counter, over the form's lists and encoding."""
    encoding = form.encoding.data if form.encoding.data in campaigns.ENCODINGS else "auto"
    footer = footer_text_for(opt_out_footer()) if form.opt_out_link.data else ""
    return {
        "variant_counters": {
            letter: count_message(
                db.session,
                getattr(form, f"message_{letter.lower()}").data or "",
                encoding,
                list(form.list_ids.data or []),
                footer,
                plain_values=bool(form.plain_values.data),
                include_undeliverable=bool(form.include_undeliverable.data),
            )
            for letter in VARIANTS[1 : form.variant_count]
        }
    }


@bp.route("/check-sender", methods=["POST"])
@requires(Role.SENDER)
def check_sender():
    """The sender field, validated as the user types (an htmx fragment)."""
    sender = request.form.get("sender", "").strip()
    problem = sender_problem(sender) if sender else None
    return render_template("campaigns/_sender_check.html", problem=problem, sender=sender)


@bp.route("/<int:campaign_id>/copy", methods=["POST"])
@requires(Role.SENDER)
def copy(campaign_id: int):
    copy = campaigns.copy_campaign(
        db.session, _campaign(campaign_id), current_user, address=client_address()
    )
    flash("A copy was made; change it and preview it.", "success")
    return redirect(url_for("campaigns.edit", campaign_id=copy.id))


@bp.route("/<int:campaign_id>/delete", methods=["POST"])
@requires(Role.SENDER)
def delete(campaign_id: int):
    campaign = _campaign(campaign_id)
    try:
        campaigns.delete_draft(db.session, campaign, current_user, address=client_address())
    except CampaignStateError as error:
        flash(str(error), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    flash(f"The draft “{campaign.name}” was deleted.", "success")
    return redirect(url_for("campaigns.index"))


# --- Preview and confirm -------------------------------------------------------------------


def _run_preview(campaign: Campaign, *, just_saved: bool = False):
    config = current_app.config
    try:
        preview_campaign(
            db.session,
            campaign,
            current_user,
            _client(),
            honours_dry_run=config["SMS_GATEWAY_HONOURS_DRY_RUN"],
            batch_size=config["SMS_BATCH_SIZE"],
            default_country=default_country(),
            quiet_hours=quiet_hours.quiet_hours(db.session, config),
        )
    except CampaignInvalid as error:
        saved = "The draft was saved, but it cannot be previewed yet: " if just_saved else ""
        for message in error.errors.values():
            flash(saved + message, "error")
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id))
    except (PreviewFailed, CampaignStateError) as error:
        flash(str(error), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return redirect(url_for("campaigns.preview", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/preview", methods=["POST"])
@requires(Role.SENDER)
def run_preview(campaign_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    return _run_preview(_campaign(campaign_id))


@bp.route("/<int:campaign_id>/undeliverable", methods=["POST"])
@requires(Role.SENDER)
def include_undeliverable(campaign_id: int):
    """Include (or leave out again) the numbers flagged undeliverable, then preview again."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    campaign = _campaign(campaign_id)
    try:
        campaigns.set_include_undeliverable(
            db.session,
            campaign,
            current_user,
            request.form.get("include") == "1",
            address=client_address(),
        )
    except CampaignStateError as error:
        flash(str(error), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return _run_preview(campaign)


@bp.route("/<int:campaign_id>/preview")
@requires(Role.VIEWER)
def preview(campaign_id: int):
    campaign = _campaign(campaign_id)
    if campaign.preview_summary is None:
        flash("This campaign has not been previewed yet.", "info")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    waiting = campaign.status.awaits_approval
    # A campaign waiting for approval is frozen as at the request: its preview stays its own.
    current = waiting or campaigns.preview_is_current(db.session, campaign)
    confirm = ConfirmForm(fingerprint=campaign.preview_fingerprint)
    test_form = _test_form(campaign)
    balance = (
        campaigns.account_balance(_client()) if campaign.status.can_confirm or waiting else None
    )
    needs_approval = (
        approval.approval_reason(db.session, campaign)
        if campaign.status.can_confirm and current
        else None
    )
    response = make_response(
        render_template(
            "campaigns/preview.html",
            campaign=campaign,
            summary=campaign.preview_summary,
            current=current,
            confirm=confirm,
            needs_approval=needs_approval,
            waiting_reasons=approval.approval_reasons(db.session, campaign) if waiting else [],
            approval_form=ApprovalForm(formdata=None, fingerprint=campaign.preview_fingerprint),
            balance=balance,
            balance_short=balance is not None and campaign.cost > balance.credit,
            duplicates=campaigns.duplicates_of(db.session, campaign) if current else [],
            test_form=test_form,
            undeliverable_explanation=UNDELIVERABLE_EXPLANATION,
            phone=phone_view(db.session, campaign, request.args.get("phone")),
            **_messages_context(campaign, current=current),
        )
    )
    # Back (or a restored tab) must ask again, so a confirmed campaign shows that it was sent.
    response.headers["Cache-Control"] = "no-store"
    return response


def _table_args() -> dict[str, str]:
    """The messages table's own query arguments, for a link to the page that shows it (any
    other key, such as ``campaign_id`` or ``_external``, would be taken by ``url_for``)."""
    return {
        key: request.args[key] for key in ("page", "q", "costlier", "sort") if key in request.args
    }


def _known_total(campaign: Campaign, current: bool | None) -> int | None:
    """The number of recipients when the stored preview is current: it counted them."""
    if current is None:
        current = campaigns.preview_is_current(db.session, campaign)
    return campaign.preview_summary["recipients"] if current and campaign.preview_summary else None


def _messages_context(campaign: Campaign, current: bool | None = None) -> dict:
    page = page_number(request.args.get("page"))
    search = request.args.get("q", "")[:100]
    costlier = request.args.get("costlier") == "1"
    sort = request.args.get("sort", "")
    rows, total = recipient_messages(
        db.session,
        campaign,
        search=search,
        costlier_only=costlier,
        sort=sort if sort in ("segments", "-segments") else "",
        page=page,
        per_page=PER_PAGE,
        total=_known_total(campaign, current),
    )
    shown = Page(rows, total, page, PER_PAGE)
    return {
        "rows": shown.rows,
        "total": shown.total,
        "page": shown.page,
        "pages": shown.pages,
        "search": search,
        "costlier": costlier,
        "sort": sort,
    }


@bp.route("/<int:campaign_id>/messages")
@requires(Role.VIEWER)
def messages(campaign_id: int):
    """Every recipient's own message, a page at a time (the htmx fragment of the preview)."""
    campaign = _campaign(campaign_id)
    context = _messages_context(campaign)
    if request.htmx:
        return render_template("campaigns/_messages.html", campaign=campaign, **context)
    return redirect(url_for("campaigns.preview", campaign_id=campaign_id, **_table_args()))


@bp.route("/<int:campaign_id>/phone")
@requires(Role.VIEWER)
def phone(campaign_id: int):
    """One recipient's message on a phone, its segments marked (the htmx fragment of the
    preview; without JavaScript the preview page takes ?phone=)."""
    campaign = _campaign(campaign_id)
    view = phone_view(db.session, campaign, request.args.get("phone"))
    if request.htmx:
        return render_template("campaigns/_phone.html", campaign=campaign, phone=view)
    return redirect(url_for("campaigns.preview", campaign_id=campaign_id, **request.args))


@bp.route("/<int:campaign_id>/confirm", methods=["POST"])
@requires(Role.SENDER)
def confirm(campaign_id: int):
    def confirmed(campaign: Campaign):
        _jobs().dispatch_campaign(campaign.id, eta=campaign.send_at)
        when = (
            f"It will be sent at {campaign.send_at.astimezone(_user_zone()):%Y-%m-%d %H:%M}."
            if campaign.send_at
            else "It is being sent now."
        )
        return (
            f"Confirmed for {campaign.recipient_count:,} recipients. {when} "
            "The recipients are frozen: later list changes do not change who it reaches."
        )

    return _freeze(campaign_id, campaigns.confirm_campaign, confirmed)


def _freeze(campaign_id: int, freeze, then):
    """What "Confirm and send" and "Ask for approval" share: the form, the stale-tab check, and
    ``freeze`` (a campaigns service that runs every confirmation check and freezes the
    recipients); ``then(campaign)`` queues what follows and says it."""
    campaign = _campaign(campaign_id)
    if not campaign.status.can_confirm:
        return _already_confirmed(campaign)
    form = ConfirmForm()
    back = redirect(url_for("campaigns.preview", campaign_id=campaign.id))
    if not form.validate_on_submit():
        flash_form_errors(form)
        return back
    if form.fingerprint.data != campaign.preview_fingerprint:
        flash("The preview you confirmed is out of date. Check the new figures.", "error")
        return back
    try:
        freeze(
            db.session,
            campaign,
            current_user,
            batch_size=current_app.config["SMS_BATCH_SIZE"],
            by_country=quiet_hours.quiet_hours(db.session, current_app.config) is not None,
            allow_duplicate=bool(form.send_again.data),
            balance=campaigns.account_balance(_client()),
            address=client_address(),
        )
    except DuplicateCampaign as error:
        flash(f"{error} Tick “Send it again” to send it anyway.", "error")
        return back
    except ApprovalNeeded as error:  # the limits changed since the page was shown
        flash(str(error), "error")
        return back
    except (CampaignStateError, CampaignInvalid) as error:
        if not campaign.status.can_confirm:  # another request confirmed it meanwhile
            return _already_confirmed(campaign)
        flash(str(error), "error")
        return back
    flash(then(campaign), "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


def _already_confirmed(campaign: Campaign):
    """A second confirmation (a double submit, another tab): the campaign page, no second send."""
    if campaign.status.awaits_approval:
        flash("This campaign is already waiting for approval; it is sent once approved.", "info")
    else:
        flash("This campaign was already confirmed; it is sent once.", "info")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


# --- Approval ---------------------------------------------------------------------------------


@bp.route("/<int:campaign_id>/ask-approval", methods=["POST"])
@requires(Role.SENDER)
def ask_approval(campaign_id: int):
    """ "Ask for approval": the confirmation of a campaign over the approval limits. The same
    form and checks as "Confirm and send"; the campaign then waits for an approver."""

    def asked(campaign: Campaign):
        _jobs().notify_approvers(campaign.id)
        return (
            f"Approval asked for: {campaign.recipient_count:,} recipients are frozen as they "
            "are now. Nothing is sent until an admin or an approver approves it; changing the "
            "campaign withdraws the request."
        )

    return _freeze(campaign_id, campaigns.request_approval, asked)


def _may_approve(user) -> bool:
    """The approver right (admins, and users given it), enforced with the role (403)."""
    return user.may_approve


def _decide(campaign_id: int, decide, done: str):
    campaign = _campaign(campaign_id)
    form = ApprovalForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("campaigns.preview", campaign_id=campaign.id))
    try:
        decide(campaign, form)
    except ApprovalRefused as error:
        flash(str(error), "error")
        return redirect(url_for("campaigns.preview", campaign_id=campaign.id))
    except CampaignInvalid as error:
        for message in error.errors.values():
            flash(message, "error")
        return redirect(url_for("campaigns.preview", campaign_id=campaign.id))
    except CampaignStateError as error:
        flash(str(error), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    flash(done, "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


@bp.route("/<int:campaign_id>/approve", methods=["POST"])
@requires(Role.VIEWER, right=_may_approve)
def approve(campaign_id: int):
    def decide(campaign: Campaign, form: ApprovalForm) -> None:
        campaigns.approve_campaign(
            db.session,
            campaign,
            current_user,
            comment=form.comment.data,
            balance=campaigns.account_balance(_client()),
            fingerprint=form.fingerprint.data or "",
            address=client_address(),
        )
        _jobs().dispatch_campaign(campaign.id, eta=campaign.send_at)

    return _decide(campaign_id, decide, "Approved. It is sent now, or at its send time.")


@bp.route("/<int:campaign_id>/reject", methods=["POST"])
@requires(Role.VIEWER, right=_may_approve)
def reject(campaign_id: int):
    def decide(campaign: Campaign, form: ApprovalForm) -> None:
        campaigns.reject_campaign(
            db.session,
            campaign,
            current_user,
            comment=form.comment.data or "",
            fingerprint=form.fingerprint.data or "",
            address=client_address(),
        )

    return _decide(
        campaign_id, decide, "Rejected: it is a draft again, with your comment for its sender."
    )


@bp.route("/<int:campaign_id>/withdraw", methods=["POST"])
@requires(Role.SENDER)
def withdraw(campaign_id: int):
    campaign = _campaign(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        campaigns.withdraw_approval(db.session, campaign, current_user, address=client_address())
    except CampaignStateError as error:
        flash(str(error), "error")
    else:
        flash("The approval request was withdrawn: it is a draft again.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


def _test_form(campaign: Campaign, formdata=None) -> SendTestForm:
    form = SendTestForm(formdata=formdata)
    if formdata is None and current_user.phone:
        form.numbers.data = current_user.phone
    sample_rows, _ = recipient_messages(db.session, campaign, per_page=20, total=0)
    form.sample.choices = [(row.msisdn, f"+{row.msisdn}: {row.text[:40]}") for row in sample_rows]
    form.variant.choices = [(letter, f"Variant {letter}") for letter in abtests.texts_of(campaign)]
    return form


@bp.route("/<int:campaign_id>/test", methods=["POST"])
@requires(Role.SENDER)
def send_test(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = _test_form(campaign, request.form)
    if form.validate_on_submit():
        try:
            record = campaigns.send_test(
                db.session,
                campaign,
                current_user,
                _client(),
                numbers=(form.numbers.data or "").split(","),
                sample_msisdn=form.sample.data,
                default_country=default_country(),
                callback_url=delivery_report_url(current_app),
                variant=(form.variant.data or None) if campaign.is_ab_test else None,
                link_secret=current_app.config["SECRET_KEY"],
            )
        except CampaignInvalid as error:
            flash(error.errors["numbers"], "error")
        else:
            if record.error:
                flash(f"The test was not sent: {record.error}", "error")
            else:
                numbers = ", ".join(f"+{n}" for n in record.numbers)
                flash(
                    f"Test sent to {numbers}. It does not count as the campaign's send.", "success"
                )
    back = "campaigns.preview" if campaign.preview_summary else "campaigns.show"
    return redirect(url_for(back, campaign_id=campaign.id))


# --- Sending and history -------------------------------------------------------------------


@bp.route("/<int:campaign_id>")
@requires(Role.VIEWER)
def show(campaign_id: int):
    campaign = _campaign(campaign_id)
    unconfirmed = campaigns.batches_in_state(db.session, campaign, BatchState.UNCONFIRMED)
    return render_template(
        "campaigns/show.html",
        campaign=campaign,
        progress=campaign_progress(db.session, campaign),
        speed_form=SpeedForm(speed_per_minute=campaign.speed_per_minute),
        unconfirmed=unconfirmed,
        evidence={b.id: reconcile.reports_for_batch(db.session, b) for b in unconfirmed},
        not_sent_risk=dispatch.not_sent_risk,
        not_sent_word=dispatch.NOT_SENT_CONFIRMATION,
        test_sends=campaigns.sent_tests_of(db.session, campaign),
        follow_ups=campaigns.follow_ups_of(db.session, campaign),
        waiting=quiet_hours.waiting_countries(
            db.session,
            campaign,
            quiet_hours.quiet_hours(db.session, current_app.config),
            datetime.now(UTC),
        ),
        # A draft (or one waiting for approval) has no results yet: its page reads none.
        **(_results_context(campaign) if campaign.status.is_confirmed else {}),
        **(_outcomes_context(campaign) if campaign.status.is_confirmed else {}),
        ab_test=_ab_test_context(campaign),
    )


# --- Results: delivery figures, the outcome table, exports ------------------------------------


def _results_context(campaign: Campaign) -> dict:
    summary = delivery.delivery_summary(db.session, campaign)
    hours = current_app.config["SMS_VALIDITY_HOURS"]
    links = clicks.campaign_clicks(db.session, campaign.id)
    return {
        "delivery": summary,
        "chart": chart.delivery_chart(db.session, campaign, delivered=summary.delivered),
        "links": links,
        "click_chart": (
            chart.click_chart(db.session, campaign, clicks=links.total.clicks) if links else None
        ),
        "usage": outcomes.usage_by_country(campaign),
        "reporting": outcomes.still_reporting(campaign, summary.all_final, hours),
        "clicking": outcomes.still_clicking(campaign, links is not None),
    }


def _ab_test_context(campaign: Campaign) -> dict | None:
    """An A/B test's results per variant and their comparison in words (None: no test)."""
    if not campaign.is_ab_test:
        return None
    results = abtests.variant_results(db.session, campaign)
    metric = abtests.metric_of(campaign)
    return {
        "results": results,
        "metric": metric,
        "comparison": abtests.compare_variants(results, metric),
        "other_comparisons": abtests.other_comparisons(results, metric),
        "held_back": abtests.held_back_count(db.session, campaign),
        "texts": abtests.texts_of(campaign),
    }


def _outcome_filter() -> outcomes.OutcomeFilter:
    args = request.args
    return outcomes.OutcomeFilter(
        outcome=args.get("outcome", "")[:16],
        country=args.get("country", "")[:2],
        reason=args.get("reason", "")[:16],
        search=args.get("q", "")[:100],
    )


def _outcomes_context(campaign: Campaign) -> dict:
    chosen = _outcome_filter()
    page = outcomes.outcome_page(
        db.session, campaign, chosen, page=request.args.get("page", 1, type=int), per_page=PER_PAGE
    )
    return {
        "outcome_page": page,
        "chosen": chosen,
        "choices": outcomes.filter_choices(db.session, campaign),
        "outcome_words": list(DeliveryOutcome),
    }


@bp.route("/<int:campaign_id>/results")
@requires(Role.VIEWER)
def results(campaign_id: int):
    """The live delivery figures (an htmx fragment that polls until no report can come)."""
    campaign = _campaign(campaign_id)
    response = make_response(
        render_template("campaigns/_results.html", campaign=campaign, **_results_context(campaign))
    )
    response.headers["HX-Trigger"] = "results-changed"  # the outcome table refreshes too
    return response


@bp.route("/<int:campaign_id>/ab-test")
@requires(Role.VIEWER)
def ab_results(campaign_id: int):
    """An A/B test's results per variant (an htmx fragment, refreshed with the results)."""
    campaign = _campaign(campaign_id)
    ab_test = _ab_test_context(campaign)
    if ab_test is None:
        abort(404)
    return render_template("campaigns/_ab_results.html", campaign=campaign, ab_test=ab_test)


@bp.route("/<int:campaign_id>/outcomes")
@requires(Role.VIEWER)
def outcome_table(campaign_id: int):
    """The per-recipient outcome table: filtered, searched, a page at a time."""
    campaign = _campaign(campaign_id)
    if request.htmx:
        return render_template(
            "campaigns/_outcomes.html", campaign=campaign, **_outcomes_context(campaign)
        )
    return redirect(url_for("campaigns.show", campaign_id=campaign_id, **request.args))


@bp.route("/<int:campaign_id>/export")
@requires(Role.VIEWER)
def export(campaign_id: int):
    """Every recipient's outcome as CSV (comma or semicolon) or .xlsx, streamed."""
    campaign = _campaign(campaign_id)
    name = secure_filename(campaign.name) or f"campaign-{campaign.id}"
    if request.args.get("format") == "xlsx":
        return Response(
            stream_with_context(outcomes.export_xlsx(db.session, campaign)),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}-outcomes.xlsx"'},
        )
    separator = outcomes.SEPARATORS.get(request.args.get("sep", "comma"), ",")
    return csv_response(
        outcomes.export_csv(db.session, campaign, separator), f"{name}-outcomes.csv"
    )


@bp.route("/<int:campaign_id>/progress")
@requires(Role.VIEWER)
def progress(campaign_id: int):
    """The live progress fragment; it stops polling once the campaign is finished."""
    campaign = _campaign(campaign_id)
    response = make_response(
        render_template(
            "campaigns/_progress.html",
            campaign=campaign,
            progress=campaign_progress(db.session, campaign),
        )
    )
    if request.args.get("live") and not campaign.status.is_live:
        response.headers["HX-Refresh"] = "true"  # the whole page changes: buttons, batches
    return response


def _act(campaign_id: int, action, message: str, *, enqueue: bool = False):
    campaign = _campaign(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action(db.session, campaign, current_user, address=client_address())
    except CampaignStateError as error:
        flash(str(error), "error")
    else:
        if enqueue:
            _jobs().dispatch_campaign(campaign.id)
        flash(message, "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/winner", methods=["POST"])
@requires(Role.SENDER)
def send_winner(campaign_id: int):
    """The user picks an A/B test's winner by hand: it goes to the held-back recipients now."""
    campaign = _campaign(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    letter = request.form.get("variant", "")[:1]
    try:
        sent = abtests.send_winner(
            db.session, campaign, letter, current_user, address=client_address()
        )
    except CampaignStateError as error:
        flash(str(error), "error")
    else:
        _jobs().dispatch_campaign(campaign.id)
        flash(f"Variant {letter} is being sent to the {sent:,} held-back recipients.", "success")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/pause", methods=["POST"])
@requires(Role.SENDER)
def pause(campaign_id: int):
    return _act(campaign_id, dispatch.pause_campaign, "Paused. Batches already under way finish.")


@bp.route("/<int:campaign_id>/resume", methods=["POST"])
@requires(Role.SENDER)
def resume(campaign_id: int):
    return _act(campaign_id, dispatch.resume_campaign, "Resumed.", enqueue=True)


@bp.route("/<int:campaign_id>/cancel", methods=["POST"])
@requires(Role.SENDER)
def cancel(campaign_id: int):
    return _act(
        campaign_id,
        dispatch.cancel_campaign,
        "Cancelled. Batches that were already sent stay sent.",
    )


@bp.route("/<int:campaign_id>/speed", methods=["POST"])
@requires(Role.SENDER)
def speed(campaign_id: int):
    campaign = _campaign(campaign_id)
    form = SpeedForm()
    if form.validate_on_submit():
        dispatch.set_speed(
            db.session,
            campaign,
            current_user,
            form.speed_per_minute.data,
            address=client_address(),
        )
        flash("The new speed applies from the next batch.", "success")
    else:
        flash_form_errors(form)
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/batches/<int:batch_id>/decide", methods=["POST"])
@requires(Role.SENDER)
def decide(campaign_id: int, batch_id: int):
    campaign = _campaign(campaign_id)
    batch = db.get_or_404(Batch, batch_id)
    if not EmptyForm().validate_on_submit() or request.form.get("accepted") not in ("yes", "no"):
        abort(400)
    try:
        dispatch.decide_unconfirmed(
            db.session,
            campaign,
            batch,
            current_user,
            accepted=request.form["accepted"] == "yes",
            typed=request.form.get("typed", "")[:20],
            address=client_address(),
        )
    except CampaignStateError as error:
        flash(str(error), "error")
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/<int:campaign_id>/follow-up", methods=["POST"])
@requires(Role.SENDER)
def follow_up(campaign_id: int):
    campaign = _campaign(campaign_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        follow = campaigns.create_follow_up(
            db.session, campaign, current_user, address=client_address()
        )
    except CampaignStateError as error:
        flash(str(error), "error")
        return redirect(url_for("campaigns.show", campaign_id=campaign_id))
    flash("A follow-up draft reaches exactly the failed recipients. Preview it to send.", "success")
    return redirect(url_for("campaigns.edit", campaign_id=follow.id))
