"""The personal-data commands: ``enrich forget`` (erasure), ``enrich export-person`` (access) and ``enrich
rotate-key`` (re-encrypting the response store)."""

from __future__ import annotations

import argparse
from pathlib import Path

from enrichment_assets.cli.inputs import store_cipher
from enrichment_assets.cli.output import EXIT_OK, console, fail_input


def add_parsers(sub: argparse._SubParsersAction) -> None:
    forget = sub.add_parser("forget", help="erase a person from every table, the response store and the marts")
    forget.add_argument("--record-id")
    forget.add_argument("--email")
    forget.add_argument("--linkedin-url")
    forget.add_argument("--requested-by", help="who asked, for the audit trail (default: the OS user)")
    forget.set_defaults(func=cmd_forget)

    export = sub.add_parser("export-person", help="write everything held about one person to a JSON file")
    export.add_argument("--record-id")
    export.add_argument("--email")
    export.add_argument("--linkedin-url")
    export.add_argument("--out", help="the JSON file to write (default: data/exports/person-<time>.json)")
    export.add_argument("--requested-by", help="who asked, for the audit trail (default: the OS user)")
    export.set_defaults(func=cmd_export_person)

    rotate = sub.add_parser("rotate-key", help="re-encrypt the response store with ENRICHMENT_NEW_ENCRYPTION_KEY")
    rotate.add_argument("--decrypt", action="store_true", help="store the answers unencrypted instead")
    rotate.set_defaults(func=cmd_rotate_key)


def cmd_forget(args: argparse.Namespace) -> int:
    from enrichment_assets.config import ConfigError, load_config
    from enrichment_assets.masking import mask_email
    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.erasure import forget, rewrite_database
    from enrichment_assets.storage.personal_data_log import RequestCounts, log_request, requester
    from enrichment_assets.storage.store_crypto import StoreKeyError
    from enrichment_assets.storage.warehouse import connect
    from enrichment_assets.waterfall.suppression import load_suppression

    person = _person_identifiers(args, "say who to forget")
    if isinstance(person, int):
        return person
    email, linkedin = person
    settings = load_settings()
    if not settings.db_path.exists():
        return fail_input(f"no database at {settings.db_path}")
    try:  # colleagues whose number is no longer shared are re-scored as the merge would: same order, same list
        order = load_config(settings.config_path).active_order
        cipher = store_cipher(settings)
    except (ConfigError, StoreKeyError) as exc:
        return fail_input(str(exc))
    suppression = load_suppression(settings.suppression_path)
    conn = connect(settings.db_path)
    try:
        with settings.open_state_store(cipher) as store:
            report = forget(conn, store, settings.marts_dir, record_id=args.record_id, email=email,
                            linkedin_url=linkedin, out_dir=settings.out_dir, provider_order=order,
                            suppression=suppression)
        log_request(conn, "erasure", requester(args.requested_by), _identified_by(args), RequestCounts(
            records_found=len(report.record_ids), rows_deleted=sum(report.rows_deleted.values()),
            answers_deleted=report.responses_deleted, ledger_entries_scrubbed=report.ledger_rows_scrubbed))
    finally:
        conn.close()
    if report.found:
        rewrite_database(settings.db_path)
    who = args.record_id or (mask_email(email) if email else "that LinkedIn profile")
    if not report.found:
        console.print(f"Nobody matching {who} is stored; nothing to forget.")
        return EXIT_OK
    deleted = sum(report.rows_deleted.values())
    console.print(f"Forgot {len(report.record_ids)} record(s) matching {who}: {deleted} table rows and "
                  f"{report.responses_deleted} stored vendor responses deleted, {report.ledger_rows_scrubbed} "
                  "ledger rows kept with identifiers removed, marts republished."
                  + (f" Re-scored {sum(report.rescored.values())} lead(s) of colleagues whose number is no longer "
                     "shared." if report.rescored else ""))
    if report.enriched_files_deleted:
        console.print(f"Deleted the enriched file(s) holding them: {', '.join(report.enriched_files_deleted)} "
                      "(the next run of the list writes them again).")
    return EXIT_OK


def _person_identifiers(args: argparse.Namespace, ask: str) -> tuple[str | None, str | None] | int:
    """The normalized email and LinkedIn URL naming a person (forget, export-person), or the exit code of a
    bad or missing identifier, already reported."""
    from enrichment_assets.leads.normalize import InvalidField, normalize_email, normalize_linkedin

    try:
        email = normalize_email(args.email) if args.email else None
        linkedin = normalize_linkedin(args.linkedin_url) if args.linkedin_url else None
    except InvalidField as exc:
        return fail_input(str(exc))
    if not (args.record_id or email or linkedin):
        return fail_input(f"{ask}: --record-id, --email or --linkedin-url")
    return email, linkedin


def _identified_by(args: argparse.Namespace) -> str:
    return "+".join(name for name, value in (("record_id", args.record_id), ("email", args.email),
                                             ("linkedin_url", args.linkedin_url)) if value)


def cmd_export_person(args: argparse.Namespace) -> int:
    """Write everything held about one person to a JSON file (an access request), and log the request."""
    from datetime import UTC, datetime

    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.personal_data_log import RequestCounts, log_request, requester
    from enrichment_assets.storage.store_crypto import StoreKeyError
    from enrichment_assets.storage.subject_access import person_copy, write_copy
    from enrichment_assets.storage.warehouse import connect
    from enrichment_assets.waterfall.suppression import SuppressionError, load_suppression

    person = _person_identifiers(args, "say whose data to export")
    if isinstance(person, int):
        return person
    email, linkedin = person
    settings = load_settings()
    if not settings.db_path.exists():
        return fail_input(f"no database at {settings.db_path}")
    try:
        cipher = store_cipher(settings)
        suppression = load_suppression(settings.suppression_path)
    except (StoreKeyError, SuppressionError) as exc:
        return fail_input(str(exc))
    now = datetime.now(UTC)
    out = Path(args.out).expanduser().resolve() if args.out else (
        settings.db_path.parent / "exports" / f"person-{now:%Y%m%dT%H%M%S}.json")
    conn = connect(settings.db_path)
    try:
        with settings.open_state_store(cipher) as store:
            copy = person_copy(conn, store, suppression, record_id=args.record_id, email=email,
                               linkedin_url=linkedin, now=now)
        write_copy(copy, out)
        log_request(conn, "export", requester(args.requested_by), _identified_by(args), RequestCounts(
            records_found=copy.records, rows_found=copy.rows, answers_found=copy.answers,
            ledger_entries=copy.ledger_entries, suppression_entries=copy.suppression_entries), at=now)
    finally:
        conn.close()
    console.print(f"Wrote {out}: {copy.records} lead record(s), {copy.rows} table rows, {copy.answers} vendor "
                  f"answers, {copy.ledger_entries} ledger entries, {copy.suppression_entries} do-not-contact "
                  "entries." if copy.found else f"Wrote {out}: nobody matching is stored (an empty copy).",
                  soft_wrap=True)
    return EXIT_OK


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """Re-encrypt the response store: from ENRICHMENT_ENCRYPTION_KEY (unset: not encrypted yet) to
    ENRICHMENT_NEW_ENCRYPTION_KEY, or to no key with --decrypt."""
    from enrichment_assets.settings import load_settings
    from enrichment_assets.storage.store_crypto import (
        KEY_ENV,
        NEW_KEY_ENV,
        PLAIN,
        StoreKeyError,
        cipher_from_environment,
    )

    settings = load_settings()
    path = settings.state_where
    if settings.state_url is None and not settings.response_store_path.exists():
        return fail_input(f"no response store at {path}")
    try:
        old = store_cipher(settings)
        new = PLAIN if args.decrypt else cipher_from_environment(NEW_KEY_ENV)
        if not args.decrypt and not new.encrypted:
            return fail_input(f"set {NEW_KEY_ENV} to the new key (or pass --decrypt to store answers unencrypted)")
        with settings.open_state_store(old) as store:
            count = store.rekey(new)
    except StoreKeyError as exc:
        return fail_input(str(exc))
    if args.decrypt:
        console.print(f"Decrypted {count} stored answers in {path}. Unset {KEY_ENV}.")
    else:
        console.print(f"Re-encrypted {count} stored answers in {path} with the new key. Set {KEY_ENV} to it "
                      f"(and unset {NEW_KEY_ENV}) before the next run.")
    return EXIT_OK
