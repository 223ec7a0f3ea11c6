"""Who a campaign reaches: its lists merged in the order chosen, each number once, no opt-outs,
and (unless the campaign includes them) no numbers flagged undeliverable.

The one definition of "a list's recipients" (those of its finished imports) lives here, and the
one description of what changes an audience (`audience_state`): the composer's counter caches
by it and a campaign's preview fingerprint includes it, so the two can never disagree about
whether a list changed.
"""

from __future__ import annotations

import dataclasses
import json
from array import array
from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    bindparam,
    exists,
    func,
    or_,
    select,
)
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


@dataclass(frozen=True, slots=True)
class ResolvedRecipient:
    msisdn: str
    country: str | None
    fields: dict


@dataclass(kw_only=True)
class Exclusions:
    """How many rows an audience left out, and why."""

    excluded_opted_out: int = 0
    excluded_duplicates: int = 0
    excluded_undeliverable: int = 0
    # Flagged numbers the campaign reaches because it includes them (then none are excluded).
    included_undeliverable: int = 0

    def exclusions(self) -> dict[str, int]:
        return {name.name: getattr(self, name.name) for name in dataclasses.fields(Exclusions)}


@dataclass
class ResolvedRecipients(Exclusions):
    recipients: list[ResolvedRecipient]
    fields: list[str]


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

    A follow-up campaign reaches its parent's failed recipients instead of lists. Every
    recipient with their fields at once: for a few; a campaign's own steps read
    `resolve_audience`, which holds a million in a few MB.
    """
    kept = KeptNumbers.for_campaign(session, campaign)
    recipients = [
        ResolvedRecipient(msisdn, country, values or {})
        for _, (msisdn, country, values) in kept.rows(session, ("country", "fields"))
    ]
    return ResolvedRecipients(
        recipients=recipients, fields=resolve_fields(session, campaign), **kept.exclusions()
    )


def recipients_in_order(session: Session, campaign: Campaign) -> Iterator[ResolvedRecipient]:
    """`resolve_recipients(...).recipients` one at a time, as they are read (stop when done)."""
    kept = KeptNumbers.for_campaign(session, campaign)
    for _, (msisdn, country, values) in kept.rows(session, ("country", "fields")):
        yield ResolvedRecipient(msisdn, country, values or {})


CHUNK = 10_000
"""Recipients read at once when an audience's fields are read again (`Audience.recipients`)."""


@dataclass
class Audience(Exclusions):
    """Who a campaign reaches, small enough to hold for a million recipients (about 12 bytes
    each): each recipient's row id and country, in sending order, source after source. Their
    fields stay in the database; `recipients` reads them again a chunk at a time.

    The same recipients, order and exclusions as `resolve_recipients`.
    """

    sources: list[Source]
    fields: list[str]
    row_ids: array  # of "q"
    # The position where each source's recipients start (they follow one another).
    starts: list[int]
    # Each recipient's country as an index into `countries` (in order of first appearance).
    country_codes: array  # of "H"
    countries: list[str | None]

    def __len__(self) -> int:
        return len(self.row_ids)

    def country_at(self, position: int) -> str | None:
        return self.countries[self.country_codes[position]]

    def runs(self, positions: Iterable[int]) -> Iterator[tuple[int, list[int], list[int]]]:
        """(source index, positions, row ids) of each run of `positions` (increasing) that one
        source holds: the rows a statement on that source's table reads."""
        starts, row_ids = self.starts, self.row_ids
        index, run = -1, []
        for position in positions:
            source = bisect_right(starts, position) - 1
            if source != index and run:
                yield index, run, [row_ids[p] for p in run]
                run = []
            index = source
            run.append(position)
        if run:
            yield index, run, [row_ids[p] for p in run]

    def recipients(
        self, session: Session, positions: Sequence[int]
    ) -> Iterator[tuple[int, ResolvedRecipient]]:
        """(position, recipient) of the recipients at `positions` (increasing), read `CHUNK`
        at a time: a range of ids where the run is dense, else the ids themselves."""
        for start in range(0, len(positions), CHUNK):
            for index, run, ids in self.runs(positions[start : start + CHUNK]):
                source = self.sources[index]
                table = source.table
                statement = source.rows("id", "msisdn", "country", "fields")
                if ids[-1] - ids[0] < 4 * len(ids):
                    statement = statement.where(table.id.between(ids[0], ids[-1]))
                else:
                    statement = statement.where(
                        id_in(table.id, ids, session.get_bind().dialect.name)
                    )
                position_of = dict(zip(ids, run, strict=True))
                with read(session, statement) as result:
                    for row_id, msisdn, country, values in result:
                        position = position_of.get(row_id)
                        if position is not None:  # not a row left out between the ids
                            yield position, ResolvedRecipient(msisdn, country, values or {})


def resolve_audience(session: Session, campaign: Campaign) -> Audience:
    """`resolve_recipients` without the fields: one read of every source's ids, numbers and
    countries, each number kept once (`KeptNumbers`)."""
    kept = KeptNumbers.for_campaign(session, campaign)
    row_ids, country_codes = array("q"), array("H")
    starts: list[int] = []
    countries: dict[str | None, int] = {}  # each country's code, in order of appearance
    index = -1
    for source, (_, row_id, country) in kept.rows(session, ("id", "country")):
        while index < source:
            starts.append(len(row_ids))
            index += 1
        code = countries.get(country)
        if code is None:
            code = countries[country] = len(countries)
        row_ids.append(row_id)
        country_codes.append(code)
    starts.extend([len(row_ids)] * (len(kept.sources) - 1 - index))
    fields = resolve_fields(session, campaign)
    return Audience(
        kept.sources, fields, row_ids, starts, country_codes, list(countries), **kept.exclusions()
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
    """Criteria for the rows of `source` that `KeptNumbers` keeps after `earlier`, the
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


class FirstNumbers:
    """Each number once (the first row wins), opted-out and ``undeliverable`` numbers left out,
    a row at a time: `keep` says whether a row is kept, and counts why not (as opted out, as a
    repeated number, or as one of the undeliverable numbers).

    The numbers seen are kept as ints (a canonical number's digits), about 64 bytes each in a
    set, half a string's; ``remember=False`` for rows whose numbers no later row can repeat.
    """

    def __init__(self, opted_out: Collection[str], undeliverable: Collection[str] = ()) -> None:
        self._opted_out = opted_out
        self._undeliverable = undeliverable
        self._seen: set[int | str] = set()
        self.opted_out = self.duplicates = self.undeliverable = 0

    def keep(self, msisdn: str, remember: bool = True) -> bool:
        if msisdn in self._opted_out:
            self.opted_out += 1
            return False
        seen = self._seen
        if remember or seen:
            # "045..." and "45..." are different numbers: only canonical digits become ints.
            canonical = msisdn.isascii() and msisdn.isdigit() and msisdn[:1] != "0"
            key = int(msisdn) if canonical else msisdn
            if key in seen:
                self.duplicates += 1
                return False
            if remember:
                seen.add(key)
        if msisdn in self._undeliverable:
            self.undeliverable += 1
            return False
        return True


@dataclass
class KeptNumbers(Exclusions):
    """A campaign's sources read in order, each number kept once (`FirstNumbers`); the counts
    of what was left out are complete once `rows` has been read to the end."""

    sources: list[Source]
    opted_out: set[str]
    left_out: Collection[str]  # the flagged numbers it leaves out
    included: Collection[str]  # the flagged numbers it reaches, as it includes them

    @classmethod
    def for_campaign(cls, session: Session, campaign: Campaign) -> KeptNumbers:
        chosen = sources(campaign)
        flagged = flagged_in(session, chosen)
        left_out = set() if campaign.include_undeliverable else flagged
        included = flagged if campaign.include_undeliverable else set()
        return cls(chosen, opted_out_numbers(session), left_out, included)

    def rows(self, session: Session, columns: Sequence[str]) -> Iterator[tuple[int, Row]]:
        """(source index, row of msisdn and `columns`) of each recipient kept, in sending
        order.

        A source never repeats a number of its own (the lists' and campaigns' unique numbers),
        so the last source's numbers need not be remembered: one list remembers none.
        """
        numbers = FirstNumbers(self.opted_out, self.left_out)
        included, last = self.included, len(self.sources) - 1
        self.included_undeliverable = 0
        for index, source in enumerate(self.sources):
            remember = index < last
            with read(session, source.rows("msisdn", *columns)) as result:
                for row in result:
                    msisdn = row[0]
                    if numbers.keep(msisdn, remember):
                        if included and msisdn in included:
                            self.included_undeliverable += 1
                        yield index, row
        self.excluded_opted_out = numbers.opted_out
        self.excluded_duplicates = numbers.duplicates
        self.excluded_undeliverable = numbers.undeliverable


def id_in(column, ids: Sequence[int], dialect: str) -> ColumnElement[bool]:
    """``column IN ids`` for thousands of ids. PostgreSQL: the ids written into the statement
    (10,000 bound parameters cost more to prepare than the insert itself). SQLite: one JSON
    array bound to one statement text. Written-in ids would give each batch a statement of its
    own, and sqlite3 keeps the last 128 prepared (a confirmation of 1,000,000 recipients held
    about 140 MB in them); this one text is prepared once, and runs three times as fast."""
    ids = [int(row_id) for row_id in ids]
    if dialect == "sqlite":
        values = func.json_each(json.dumps(ids)).table_valued("value")
        return column.in_(select(values.c.value))
    return column.in_(bindparam("ids", ids, expanding=True, literal_execute=True))
