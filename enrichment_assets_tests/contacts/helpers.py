"""Lead lists in a DuckDB file, with the answers their providers gave, for the merge's tests."""

from __future__ import annotations

import duckdb

ORDER = ["leadmagic", "enrichlayer", "lantern"]
BOARD = "+441212345678"  # Acme's switchboard
ANN_MOBILE, BOB_MOBILE, CY_MOBILE = "+447400123456", "+447400123499", "+447400123477"
GLOBEX_LINE = "+441212345699"


class Lists:
    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.rows = 0

    def lead(self, list_id: str, record_id: str, *, company: str = "Acme Ltd", domain: str | None = "acme.co.uk",
             linkedin: str | None = None, email: str | None = None, mobile: str | None = None,
             board: bool = False, other: tuple[str, ...] = ()) -> None:
        """A lead whose mobile LeadMagic found and whose numbers Enrich Layer listed (the board first)."""
        self.rows += 1
        self.conn.execute(
            "INSERT INTO raw_leads (list_id, record_id, first_name, company, domain, email, linkedin_url, country, "
            "fingerprint, loaded_at, row_number) VALUES (?, ?, 'X', ?, ?, ?, ?, 'GB', ?, now(), ?)",
            [list_id, record_id, company, domain, email, linkedin, f"fp-{list_id}-{record_id}", self.rows])
        self.answer("leadmagic", list_id, record_id, [mobile] if mobile else [])
        self.answer("enrichlayer", list_id, record_id, ([BOARD] if board else []) + list(other))

    def answer(self, provider: str, list_id: str, record_id: str, phones: list[str]) -> None:
        self.conn.execute(f"DELETE FROM {provider}_results WHERE list_id = ? AND record_id = ?",
                          [list_id, record_id])
        self.conn.execute(f"INSERT INTO {provider}_results (list_id, record_id, outcome, phones, claimed_types) "
                          "VALUES (?, ?, ?, ?, ?)", [list_id, record_id, "found" if phones else "not_found",
                                                     phones, ["mobile"] * len(phones) if provider == "leadmagic"
                                                     else [None] * len(phones)])


def two_lists(conn: duckdb.DuckDBPyConnection) -> Lists:
    """Ann (list l1) has only Acme's board; Cy (l1) is at Globex; Bob (l2), Ann's colleague, has the board too."""
    lists = Lists(conn)
    lists.lead("l1", "ann", linkedin="https://www.linkedin.com/in/ann", board=True)
    lists.lead("l1", "cy", company="Globex", domain="globex.co.uk", linkedin="https://www.linkedin.com/in/cy",
               mobile=CY_MOBILE, other=(GLOBEX_LINE,))
    lists.lead("l2", "bob", linkedin="https://www.linkedin.com/in/bob", mobile=BOB_MOBILE, board=True)
    return lists
