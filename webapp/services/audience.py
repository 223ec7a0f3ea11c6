"""Who a campaign reaches: its lists merged in the order chosen, each number once, no opt-outs,
and (unless the campaign includes them) no numbers flagged undeliverable.

The one definition of "a list's recipients" (those of its finished imports) lives here, and the
one description of what changes an audience (`audience_state`): the composer's counter caches
by it and a campaign's preview fingerprint includes it, so the two can never disagree about
whether a list changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from webapp.models import (
    Campaign,
    CampaignRecipient,
    ImportStatus,
    ListImport,
    OptOut,
    Recipient,
    RecipientList,
    RecipientState,
)
from webapp.services.optouts import opted_out_numbers
from webapp.services.recipient_states import state_in
from webapp.services.undeliverable import flagged_select

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ResolvedRecipient:
    msisdn: str
    country: str | None
    fields: dict


@dataclass
class ResolvedRecipients:
    recipients: list[ResolvedRecipient]
    fields: list[str]
    excluded_opted_out: int = 0
    excluded_duplicates: int = 0
    excluded_undeliverable: int = 0
    # Flagged numbers the campaign reaches because it includes them (then none are excluded).
    included_undeliverable: int = 0


def finished_recipients(list_id: int, recipient=Recipient) -> tuple[ColumnElement[bool], ...]:
    """Criteria on `Recipient` (or an alias of it) for a list's recipients: those of its
    finished imports only.

    Recipients of an import that is still running, or failed, are never shown or sent to.
    """
    finished = select(ListImport.id).where(ListImport.status == ImportStatus.DONE)
    return (recipient.list_id == list_id, recipient.import_id.in_(finished))


def lists_by_id(session: Session, list_ids: Sequence[int]) -> list[RecipientList]:
    """The visible lists among ``list_ids``, in the order given, each once."""
    if not list_ids:
        return []
    found = {
        lst.id: lst
        for lst in session.scalars(
            select(RecipientList).where(
                RecipientList.id.in_(list_ids), RecipientList.hidden.is_(False)
            )
        )
    }
    return [found[i] for i in dict.fromkeys(list_ids) if i in found]


def available_fields(lists: Sequence[RecipientList]) -> list[str]:
    """The personalisation fields of the chosen lists, in order, each once."""
    seen: dict[str, None] = {}
    for recipient_list in lists:
        for name in recipient_list.fields or []:
            seen.setdefault(name, None)
    return list(seen)


def resolve_fields(session: Session, campaign: Campaign) -> list[str]:
    """The fields a campaign can personalise with: its lists', or its first ancestor's."""
    while campaign.parent_id is not None:
        campaign = session.get(Campaign, campaign.parent_id)
    return available_fields(campaign.lists)


def fields_for_compose(
    session: Session, campaign: Campaign | None, chosen: Sequence[RecipientList]
) -> list[str]:
    """The tags the composer offers: a follow-up keeps its parent's fields whatever is chosen."""
    if campaign is not None and campaign.parent_id is not None:
        return resolve_fields(session, campaign)
    return available_fields(chosen)


def audience_state(session: Session, lists: Sequence[RecipientList]) -> tuple:
    """Everything that changes who ``lists`` reach, as plain values: each list's fields,
    recipient count and latest finished import (id and time, since SQLite may reuse an id), and
    the opt-outs (count and newest)."""
    latest = {
        list_id: (import_id, str(created_at))
        for list_id, import_id, created_at in session.execute(
            select(ListImport.list_id, func.max(ListImport.id), func.max(ListImport.created_at))
            .where(
                ListImport.list_id.in_([lst.id for lst in lists]),
                ListImport.status == ImportStatus.DONE,
            )
            .group_by(ListImport.list_id)
        )
    }
    opt_out_count, newest_opt_out = session.execute(
        select(func.count(), func.max(OptOut.created_at))
    ).one()
    return (
        tuple(
            (lst.id, tuple(lst.fields or ()), lst.recipient_count, latest.get(lst.id))
            for lst in lists
        ),
        (opt_out_count, str(newest_opt_out)),
    )


def resolve_recipients(session: Session, campaign: Campaign) -> ResolvedRecipients:
    """Who the campaign would reach now: lists merged, each number once, opt-outs excluded.

    A follow-up campaign reaches its parent's failed recipients instead of lists.
    """
    chosen = sources(campaign)
    rows = (
        (msisdn, ResolvedRecipient(msisdn, country, values or {}))
        for source in chosen
        for msisdn, country, values in read(session, source.rows("msisdn", "country", "fields"))
    )
    flagged = flagged_in(session, chosen)
    left_out = set() if campaign.include_undeliverable else flagged
    recipients, opted_out, duplicates, undeliverable = each_number_once(
        rows, opted_out_numbers(session), left_out
    )
    included = 0
    if campaign.include_undeliverable and flagged:
        included = sum(1 for recipient in recipients if recipient.msisdn in flagged)
    return ResolvedRecipients(
        recipients=recipients,
        fields=resolve_fields(session, campaign),
        excluded_opted_out=opted_out,
        excluded_duplicates=duplicates,
        excluded_undeliverable=undeliverable,
        included_undeliverable=included,
    )


def flagged_in(session: Session, chosen: Sequence[Source]) -> set[str]:
    """The numbers flagged undeliverable among the sources' rows (one query); none among
    frozen recipients."""
    chosen = [source for source in chosen if not source.frozen]
    if not chosen:
        return set()
    return set(session.scalars(_flagged_among(chosen)))


def _flagged_among(chosen: Sequence[Source]) -> Select:
    """The flagged numbers (few: found from the undeliverable rows' partial index) that a row
    of the sources has, each looked up by number, rather than every number of the sources
    tried for a flag (a 100,000-row list: 140 ms on SQLite)."""
    flagged = flagged_select().subquery()
    present = [exists().where(s.table.msisdn == flagged.c.msisdn, *s.criteria) for s in chosen]
    return select(flagged.c.msisdn).where(or_(*present))


def left_out_undeliverable(session: Session, campaign: Campaign) -> set[str]:
    """The flagged numbers a campaign leaves out: none when it includes them."""
    if campaign.include_undeliverable:
        return set()
    return flagged_in(session, sources(campaign))


def _left_out_query(campaign: Campaign, chosen: Sequence[Source]) -> Select | None:
    """`left_out_undeliverable` as a query, for a criterion of the query that reads a page."""
    chosen = [source for source in chosen if not source.frozen]
    if campaign.include_undeliverable or not chosen:
        return None
    return flagged_select()  # the rows read are the sources' own: every flag applies


def page_of_recipients(
    session: Session, campaign: Campaign, *, offset: int, limit: int
) -> list[ResolvedRecipient]:
    """``resolve_recipients(...).recipients[offset:offset + limit]``, read a page at a time.

    The database leaves out the opted-out numbers and, in each list, the numbers an earlier
    list has; a list's rows are counted only when the page starts beyond it. Reads `limit`
    rows, not the whole audience: for the preview's table.
    """
    found: list[ResolvedRecipient] = []
    chosen = sources(campaign)
    flagged = _left_out_query(campaign, chosen)
    for index, source in enumerate(chosen):
        if len(found) >= limit:
            break
        criteria = _new_numbers(source, chosen[:index], flagged)
        statement = source.rows("msisdn", "country", "fields").where(*criteria)
        rows = session.execute(statement.offset(offset).limit(limit - len(found))).all()
        if rows:
            offset = 0
            found.extend(ResolvedRecipient(m, c, values or {}) for m, c, values in rows)
        elif offset:
            counted = select(func.count()).select_from(source.table).where(*source.criteria)
            offset -= session.scalar(counted.where(*criteria)) or 0
    return found


def count_recipients(session: Session, campaign: Campaign) -> int:
    """``len(resolve_recipients(...).recipients)``, counted by the database."""
    chosen = sources(campaign)
    flagged = _left_out_query(campaign, chosen)
    return sum(
        session.scalar(
            select(func.count())
            .select_from(source.table)
            .where(*source.criteria, *_new_numbers(source, chosen[:index], flagged))
        )
        or 0
        for index, source in enumerate(chosen)
    )


def _new_numbers(
    source: Source, earlier: Sequence[Source], flagged: Select | None = None
) -> list[ColumnElement[bool]]:
    """Criteria for the rows of `source` that `each_number_once` keeps after `earlier`, the
    numbers of the ``flagged`` query (see `_left_out_query`) left out."""
    table = source.table
    criteria = [~exists().where(OptOut.msisdn == table.msisdn)]
    if flagged is not None:
        criteria.append(table.msisdn.not_in(flagged))
    for previous in earlier:
        other = aliased(previous.table)
        criteria.append(~exists().where(other.msisdn == table.msisdn, *previous.criteria_on(other)))
    return criteria


@dataclass(frozen=True)
class Source:
    """Some of the people a campaign would reach: rows of one table, read in id order.

    `list_id` names the list a `Recipient` source reads (None for a follow-up's source).
    """

    table: type[Recipient] | type[CampaignRecipient]
    criteria: tuple
    list_id: int | None = None
    # A campaign's own frozen recipients: the numbers flagged undeliverable were already
    # left out (or included) when they were frozen, so no flag applies to them again.
    frozen: bool = False

    def criteria_on(self, alias) -> tuple:
        """The criteria again, on an alias of the table (to compare two lists' rows)."""
        if self.list_id is None:
            raise ValueError("Only list sources are compared with one another.")
        return finished_recipients(self.list_id, alias)

    def rows(self, *columns: str) -> Select:
        selected = [getattr(self.table, column) for column in columns]
        return select(*selected).where(*self.criteria).order_by(self.table.id)


def sources(campaign: Campaign) -> list[Source]:
    """A follow-up's parent's failed recipients, or the campaign's lists in the order chosen;
    for a campaign waiting for approval, its own recipients as they were frozen when approval
    was asked for (what an approver approves is what will be sent)."""
    if campaign.status.awaits_approval:
        own = (CampaignRecipient.campaign_id == campaign.id,)
        return [Source(CampaignRecipient, own, frozen=True)]
    if campaign.parent_id is not None:
        failed = (
            CampaignRecipient.campaign_id == campaign.parent_id,
            state_in(RecipientState.FAILED),
        )
        return [Source(CampaignRecipient, failed)]
    return list_sources(campaign.lists)


def list_sources(lists: Sequence[RecipientList]) -> list[Source]:
    """The lists' recipients, list by list in the order given."""
    return [Source(Recipient, finished_recipients(lst.id), lst.id) for lst in lists]


def read(session: Session, query: Select):
    """Rows as they are read, through Core: for lists of 100,000 that takes half the time of
    the ORM, which would also make every row of a chunk at once."""
    return session.connection().execute(query.execution_options(yield_per=10_000))


def each_number_once(
    rows: Iterable[tuple[str, T]], opted_out: set[str], undeliverable: Collection[str] = ()
) -> tuple[list[T], int, int, int]:
    """The items of (msisdn, item) rows, each number once (the first row wins), opted-out and
    ``undeliverable`` numbers left out; and how many rows were left out as opted out, as
    repeated numbers, and how many undeliverable numbers were."""
    kept: list[T] = []
    seen: set[str] = set()
    excluded_opted_out = excluded_duplicates = excluded_undeliverable = 0
    for msisdn, item in rows:
        if msisdn in opted_out:
            excluded_opted_out += 1
        elif msisdn in seen:
            excluded_duplicates += 1
        elif msisdn in undeliverable:
            seen.add(msisdn)
            excluded_undeliverable += 1
        else:
            seen.add(msisdn)
            kept.append(item)
    return kept, excluded_opted_out, excluded_duplicates, excluded_undeliverable


def recipients_of_lists(session: Session, lists: Sequence[RecipientList]):
    """(msisdn, country, fields) of the lists' recipients, list by list in the order chosen:
    the first list wins for a number in several."""
    for lst in lists:
        source = Source(Recipient, finished_recipients(lst.id))
        yield from read(session, source.rows("msisdn", "country", "fields"))
