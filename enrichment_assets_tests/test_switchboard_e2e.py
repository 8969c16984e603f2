"""Switchboard evidence crosses lists: two lists of one CRM, people of the same companies in both.

A number returned for two distinct people of the same company is a switchboard, whichever lists those people
are in and in whichever order (or at the same time) the lists are enriched. The lead files are drawn from the
sandbox world, whose Enrich Layer returns each company's switchboard among its people's numbers, so the
evidence really comes from vendor answers over HTTP; the world says who is who.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from enrichment_assets.sandbox.world import VENDORS, Person, World
from enrichment_assets_tests.support import REPO_ROOT, tables
from enrichment_assets_tests.support.cli import prepare_env, run_enrich_at_once
from enrichment_assets_tests.support.files import write_config
from enrichment_assets_tests.support.pipeline import Pipeline
from enrichment_assets_tests.support.sandbox import RecordingSandbox

pytestmark = pytest.mark.e2e

HEADER = ("record_id", "First Name", "Last Name", "Company Name", "Website", "Work Email", "LinkedIn", "Country")


@dataclass
class TwoLists:
    """Who goes in which list: record_id -> (person, with LinkedIn URL)."""

    a: dict[str, tuple[Person, bool]] = field(default_factory=dict)
    b: dict[str, tuple[Person, bool]] = field(default_factory=dict)
    #: Companies with exactly one person in each list whose numbers include the switchboard.
    one_each: list[int] = field(default_factory=list)
    #: People of the first list whose best phone is their switchboard as long as the first list is alone.
    board_first: list[Person] = field(default_factory=list)
    #: People in both lists under two record ids (same LinkedIn URL; or LinkedIn + email in one, email only in b).
    twice: list[Person] = field(default_factory=list)


def switchboard_holders(world: World, company_id: int) -> list[Person]:
    """The company's people for whom Enrich Layer returns numbers (its switchboard first among them)."""
    return [p for p in world.company_people(company_id) if world.knowledge("enrichlayer", p).phones]


def board_wins_alone(world: World, person: Person) -> bool:
    """Nobody returns another number that beats the switchboard: only it, or it and the office line, both from
    Enrich Layer alone, the switchboard sorting first."""
    by_vendor = {v: {p.e164 for p in world.knowledge(v, person).phones} for v in VENDORS}
    numbers = set().union(*by_vendor.values())
    others = set().union(*(n for v, n in by_vendor.items() if v != "enrichlayer"))
    return numbers == {person.switchboard} or (
        numbers == {person.switchboard, person.office} and not others and person.switchboard < person.office)


def plan_lists(world: World) -> TwoLists:
    plan = TwoLists()
    companies = [c.company_id for c in world.companies]

    def add(target: dict, prefix: str, person: Person, linkedin: bool = True) -> None:
        target[f"{prefix}-{len(target) + 1:03d}"] = (person, linkedin)

    for company_id in companies[::-1]:  # from the end of the world, `take` below starts at its beginning
        holders = switchboard_holders(world, company_id)
        first = next((p for p in holders if board_wins_alone(world, p)), None)
        if first is not None and len(holders) >= 2:
            add(plan.a, "A", first)
            add(plan.b, "B", next(p for p in holders if p != first))
            plan.one_each.append(company_id)
            plan.board_first.append(first)
            if len(plan.board_first) == 3:
                break
    free = (c for c in companies if c not in plan.one_each)

    def take(min_holders: int) -> list[Person]:
        for company_id in free:
            holders = switchboard_holders(world, company_id)
            if len(holders) >= min_holders:
                return holders
        raise AssertionError("the world ran out of companies")

    for _ in range(8):  # one person per list: neither list alone sees the switchboard twice
        first, second = take(2)[:2]
        add(plan.a, "A", first)
        add(plan.b, "B", second)
        plan.one_each.append(first.company_id)
    for _ in range(3):  # one in the first list, two colleagues in the second
        holders = take(3)
        add(plan.a, "A", holders[0])
        for person in holders[1:3]:
            add(plan.b, "B", person)
    for _ in range(2):  # two and two
        holders = take(4)
        for person in holders[:2]:
            add(plan.a, "A", person)
        for person in holders[2:4]:
            add(plan.b, "B", person)
    for _ in range(2):  # shared within the first list already: the second list changes nothing for them
        for person in take(2)[:2]:
            add(plan.a, "A", person)
    for _ in range(8):
        add(plan.a, "A", take(1)[0])
    for _ in range(4):
        add(plan.b, "B", take(1)[0])
    for _ in range(2):  # the same person twice, same LinkedIn URL
        person = take(1)[0]
        add(plan.a, "A", person)
        add(plan.b, "B", person)
        plan.twice.append(person)
    for _ in range(3):  # the same person twice: LinkedIn and email in the first list, the email only in the second
        person = take(1)[0]
        add(plan.a, "A", person)
        add(plan.b, "B", person, linkedin=False)
        plan.twice.append(person)
    return plan


def write_list(path: Path, rows: dict[str, tuple[Person, bool]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for record_id, (p, linkedin) in rows.items():
            writer.writerow([record_id, p.first_name, p.last_name, p.company, f"https://{p.domain}", p.work_email,
                             p.linkedin_url if linkedin else "", p.country])
    return path


def person_of(world: World, linkedin: str | None, email: str | None) -> Person:
    person = world.person_by_linkedin(linkedin) if linkedin else world.person_by_email(email)
    assert person is not None, (linkedin, email)
    return person


@dataclass
class Evidence:
    #: (company_id, e164) -> list_id -> person ids the number was returned for.
    holders: dict[tuple[int, str], dict[str, set[int]]]
    #: (company_id, e164) returned for two or more distinct people, over both lists.
    shared: set[tuple[int, str]]
    #: record_id -> the (company_id, e164) pairs it holds.
    held: dict[str, set[tuple[int, str]]]


def evidence(db_env: dict[str, str], world: World) -> Evidence:
    """What the vendors returned, by the world's identity of people and companies."""
    holders: dict[tuple[int, str], dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    held: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for list_id, record_id, e164, linkedin, email in query(
            db_env, "SELECT p.list_id, p.record_id, p.e164, r.linkedin_url, r.email FROM contact_phones p "
                    "JOIN raw_leads r USING (list_id, record_id) WHERE p.e164 IS NOT NULL"):
        person = person_of(world, linkedin, email)
        pair = (person.company_id, e164)
        holders[pair][list_id].add(person.person_id)
        held[record_id].add(pair)
    shared = {pair for pair, by_list in holders.items() if len(set().union(*by_list.values())) >= 2}
    return Evidence(holders, shared, held)


def assert_no_switchboard_is_anyones_best_phone(db_env: dict[str, str], world: World) -> Evidence:
    found = evidence(db_env, world)
    contacts = query(db_env, "SELECT c.record_id, c.best_phone, r.linkedin_url, r.email FROM contacts c "
                             "JOIN raw_leads r USING (list_id, record_id)")
    assert len(contacts) == query(db_env, "SELECT count(*) FROM raw_leads")[0][0]
    for record_id, best, linkedin, email in contacts:
        if best is not None:
            assert (person_of(world, linkedin, email).company_id, best) not in found.shared, record_id
    # Every row of one number at one company says the same, and says the truth.
    for record_id, e164, shared_flag, linkedin, email in query(
            db_env, "SELECT p.record_id, p.e164, p.shared_with_others, r.linkedin_url, r.email FROM contact_phones p "
                    "JOIN raw_leads r USING (list_id, record_id) WHERE p.e164 IS NOT NULL"):
        pair = (person_of(world, linkedin, email).company_id, e164)
        assert shared_flag == (pair in found.shared), (record_id, pair)
    return found


def assert_the_setup_has_cross_list_switchboards(found: Evidence, plan: TwoLists) -> None:
    """Without numbers that only both lists together show as shared, the test would pass on any code."""
    only_across = {pair for pair in found.shared
                   if all(len(people) < 2 for people in found.holders[pair].values())}
    assert len({company for company, _ in only_across} & set(plan.one_each)) >= 5, only_across
    # The same person under two record ids holds the same numbers twice: not colleagues.
    twice = {p.person_id for p in plan.twice}
    doubled = [pair for pair, by_list in found.holders.items()
               if len(by_list) == 2 and set().union(*by_list.values()) <= twice]
    assert len(doubled) >= 3, doubled


def list_a_rows(db_env: dict[str, str]) -> dict[str, tuple]:
    """Each lead of the first list: its contacts row (enriched_at included) and its contact_phones rows."""
    phones: dict[str, list] = defaultdict(list)
    for row in query(db_env, "SELECT * FROM contact_phones WHERE list_id = 'list_a' ORDER BY record_id, e164"):
        phones[row[0]].append(row)
    return {row[0]: (row, phones.get(row[0], [])) for row in query(db_env, "SELECT * FROM contacts "
                                                                             "WHERE list_id = 'list_a'")}


def query(db_env: dict[str, str], sql: str, params: list | None = None) -> list[tuple]:
    return tables.query(db_env["ENRICHMENT_DB"], sql, params)


def merge_metadata(home: str, asset: str = "contacts") -> list[dict]:
    """The metadata of the asset's materializations, newest first."""
    with DagsterInstance.from_config(home) as instance:
        records = instance.fetch_materializations(AssetKey(asset), limit=10).records
        return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]


def enriched_file_best_phones(db_env: dict[str, str], list_id: str) -> dict[str, str | None]:
    """record_id -> best_phone as the list's enriched file says (data/out/<list>.enriched.csv beside the DB)."""
    path = Path(db_env["ENRICHMENT_DB"]).parent / "out" / f"{list_id}.enriched.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {row["record_id"]: row["best_phone"] or None for row in csv.DictReader(handle)}


def assert_enriched_file_follows_contacts(db_env: dict[str, str], list_id: str) -> dict[str, str | None]:
    in_file = enriched_file_best_phones(db_env, list_id)
    assert in_file == dict(query(db_env, "SELECT record_id, best_phone FROM contacts WHERE list_id = ?", [list_id]))
    return in_file


def test_switchboards_seen_across_lists_one_after_the_other_and_at_once(
        pipeline_on_disk: Pipeline, fast_sandbox: RecordingSandbox, cli_env: dict[str, str], tmp_path: Path) -> None:
    pipeline = pipeline_on_disk  # its runs are read back from the Dagster home (merge_metadata), as the CLI's are
    world = fast_sandbox.state.world
    plan = plan_lists(world)
    first = write_list(tmp_path / "list_a.csv", plan.a)
    second = write_list(tmp_path / "list_b.csv", plan.b)
    config = write_config(tmp_path / "never.yaml", fast_clients=True, waterfall={"stop_when": "never"})
    env = pipeline.env

    # One after the other (in this process: the same assets and instance as `enrich run`).
    pipeline.run(first, config)
    alone = evidence(env, world)
    before = list_a_rows(env)
    best = dict(query(env, "SELECT record_id, best_phone FROM contacts"))
    boards = [rid for rid, (person, _) in plan.a.items() if person in plan.board_first
              and best[rid] == person.switchboard]
    assert len(boards) >= 2, boards  # alone, the first list cannot tell these switchboards from a direct line
    file_before = assert_enriched_file_follows_contacts(env, "list_a")
    assert all(file_before[rid] == best[rid] for rid in boards)
    pipeline.run(second, config)
    found = assert_no_switchboard_is_anyones_best_phone(env, world)
    assert_the_setup_has_cross_list_switchboards(found, plan)
    after = list_a_rows(env)
    assert set(after) == set(before)
    newly_shared = found.shared - alone.shared
    affected = {record_id for record_id in plan.a if found.held[record_id] & newly_shared}
    assert len(affected) >= 5
    changed = {record_id for record_id in before if before[record_id] != after[record_id]}
    assert changed == affected  # the first list's affected leads were re-scored, and no other lead was rewritten
    metadata = merge_metadata(env["DAGSTER_HOME"])[0]  # the second run's merge
    assert metadata["rescored_leads"] == len(affected)
    assert metadata["rescored_other_lists"] == "list_a"
    # The second run rewrote the first list's enriched file: a CRM re-import brings back no switchboard.
    file_after = assert_enriched_file_follows_contacts(env, "list_a")
    assert {rid for rid in file_before if file_before[rid] != file_after[rid]} >= set(boards)
    assert merge_metadata(env["DAGSTER_HOME"], "enriched_lead_file")[0]["refreshed_other_lists"] == "list_a"
    assert_enriched_file_follows_contacts(env, "list_b")

    # The same two lists at the same time, two `enrich run` processes, on a fresh database, store and instance.
    fresh = dict(prepare_env(cli_env, fast_sandbox, config), ENRICHMENT_DB=str(tmp_path / "fresh.duckdb"),
                 DAGSTER_HOME=str(tmp_path / "fresh_home"))
    Path(fresh["DAGSTER_HOME"]).mkdir()
    pools = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text(encoding="utf-8"))["concurrency"]
    (Path(fresh["DAGSTER_HOME"]) / "dagster.yaml").write_text(yaml.safe_dump({"concurrency": pools}),
                                                               encoding="utf-8")
    fresh["ENRICHMENT_CONFIG"] = str(config)
    for result in run_enrich_at_once([(["run", str(first)], fresh), (["run", str(second)], fresh)], tmp_path):
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    at_once = assert_no_switchboard_is_anyones_best_phone(fresh, world)
    assert at_once.shared == found.shared
    # Whichever list merged second re-scored the leads of the first that hold a number shared across lists.
    rescored = sorted(m["rescored_leads"] for m in merge_metadata(fresh["DAGSTER_HOME"]))
    assert rescored[0] == 0 and rescored[1] > 0
