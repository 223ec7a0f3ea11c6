"""Time an A/B test of 100,000 recipients beside a plain campaign of the same list.

Run by hand:
    .venv/bin/python bench/bench_abtest.py [--recipients 100000] [--shares 10,10]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Builds a temporary instance (SQLite by default) and one list, as bench_dispatch.py does, and the
sandbox in this process. Then, for a plain campaign and for an A/B test (variant B longer, the
shares given, the rest held back): the dry-run preview (the test's held-back batches are dry-run
once per variant, to price them at the costliest), the confirmation (recipients frozen with their
recorded split), the test part's dispatch, and the winner sent by hand with the rest's dispatch.
Prints wall seconds per step and what the sandbox received; asserts nothing. The machine is
shared: run it when it is quiet, or compare several runs.

WARNING: with a PostgreSQL URL the schema ``public`` of that database is dropped and recreated.
"""

from __future__ import annotations

import argparse

from bench_dispatch import BATCH_SIZE, MAX_CONNECTIONS, PERSONALISED, timed, workspace

from webapp.services import abtests, campaigns, dispatch
from webapp.services.campaigns import CampaignDraft
from webapp.services.preview import preview_campaign

VARIANT_B = (  # two segments: the held-back are priced at it, and it wins
    PERSONALISED + " Free delivery on every order placed before midnight tonight, a gift with"
    " each one, and a voucher for the next."
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--shares", default="10,10", help="A's and B's percent, e.g. 10,10")
    parser.add_argument("--database-url", help="PostgreSQL URL; SQLite in a temp dir if absent")
    return parser.parse_args()


def run(session, user, list_id, client, sandbox, name: str, shares: dict | None) -> dict:
    draft = CampaignDraft(name=name, sender="Shop", message=PERSONALISED, list_ids=[list_id])
    if shares:
        draft.message_b, draft.variant_shares = VARIANT_B, shares
    campaign = campaigns.save_draft(session, user, draft)
    steps = {}
    _, steps["preview"] = timed(
        preview_campaign,
        session,
        campaign,
        user,
        client,
        honours_dry_run=True,
        batch_size=BATCH_SIZE,
    )
    _, steps["confirm"] = timed(
        campaigns.confirm_campaign,
        session,
        campaign,
        user,
        batch_size=BATCH_SIZE,
        allow_duplicate=True,  # the same list, on purpose
    )
    outcome, steps["dispatch"] = timed(
        dispatch.dispatch_campaign, session, campaign.id, client, max_connections=MAX_CONNECTIONS
    )
    if outcome == "waiting for the winner":
        _, steps["winner + rest"] = timed(
            lambda: (
                abtests.send_winner(session, campaign, "B", user),
                dispatch.dispatch_campaign(
                    session, campaign.id, client, max_connections=MAX_CONNECTIONS
                ),
            )
        )
    return {
        "steps": steps,
        "received": sandbox.store.count_received(label=name),
        "previewed segments": campaign.segments,
        "charged segments": sum(row["parts"] for row in sandbox.store.received_for(label=name)),
    }


def main() -> None:
    args = parse_args()
    share_a, share_b = (int(part) for part in args.shares.split(","))
    with workspace(args.database_url, "thread", args.recipients) as space:
        common = (space.session, space.user, space.list_id, space.client, space.sandbox)
        results = {
            "plain": run(*common, "Bench plain", None),
            f"A/B {share_a}/{share_b}": run(*common, "Bench A/B", {"A": share_a, "B": share_b}),
        }
    dialect = space.dialect
    print(f"{args.recipients:,} recipients on {dialect}")
    for name, result in results.items():
        steps = ", ".join(f"{step} {timing.wall:.2f} s" for step, timing in result["steps"].items())
        print(f"  {name}: {steps}")
        print(
            f"    {result['received']:,} SMS received by the sandbox; segments previewed "
            f"{result['previewed segments']:,}, charged {result['charged segments']:,}"
        )


if __name__ == "__main__":
    main()
