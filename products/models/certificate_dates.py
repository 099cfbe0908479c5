"""``Lot.certificate_until``: a stored copy of "until when does this lot hold a certificate of
analysis", kept by the database itself.

Issue 19. Counting every lot on the shelf by its clearance (the manager's home page, the stock
overview, the compliance page's totals) asked, for each of tens of thousands of lots, whether
its manufacturer's lot has a current, unexpired certificate: a hashed ``IN`` over every
certificate on file, about half the counting query. The answer changes only when a document or
a lot's origin is written, and its dependence on the day is a date comparison, so each lot row
keeps the latest expiry among the current certificates of analysis filed on the row that stands
for its manufacturer's lot (``Coalesce(origin, pk)``): ``9999-12-31`` for one without an expiry
date, NULL for none. "Holds a valid certificate today" is then ``certificate_until >= today``
on the row itself.

The copy is kept by triggers, not by the services, so no write path can leave it stale: a
document created, renewed (superseded), re-dated, moved, deleted or bulk-updated, a lot created
(a split copy takes its origin's) or saved from an instance loaded before a certificate was
filed (the value the application writes is ignored; the trigger recomputes it). The clearance
gate for one lot still asks the documents themselves (``lot_document_group_condition``'s
EXISTS); only counts over many lots read the copy, and the tests compare both spellings.

``install`` is idempotent and runs from the migration that adds the column and after every
``migrate`` (``products.apps``): SQLite drops a table's triggers when a later migration rebuilds
the table, and this puts them back (and recomputes every row) if any is missing.
"""

# The SQL below is built only from this module's constants (table, column and type names):
# nothing a user sends reaches it.
# ruff: noqa: S608

from __future__ import annotations

# The document group the stored date answers for (``products.models.compliance.LOT_REQUIRES``
# is checked against it by the tests), and the date that stands for "no expiry".
STORED_TYPES = ("coa",)
NO_EXPIRY = "9999-12-31"

_TYPES_SQL = ", ".join(f"'{t}'" for t in STORED_TYPES)


def _latest(root: str) -> str:
    """SQL: the stored value for the lots whose manufacturer's lot is the row ``root``."""
    return (
        f"(SELECT MAX(COALESCE(d.expires_on, DATE '{NO_EXPIRY}')) FROM products_regulatorydocument d"
        f" WHERE d.lot_id = {root} AND d.doc_type IN ({_TYPES_SQL}) AND d.superseded_by_id IS NULL)"
    )


def _family(root: str) -> str:
    """SQL: the lot rows whose manufacturer's lot is ``root`` (the row itself, its split copies)."""
    return f"((id = {root} AND origin_id IS NULL) OR origin_id = {root})"


def _refresh(root: str) -> str:
    return f"UPDATE products_lot SET certificate_until = {_latest(root)} WHERE {_family(root)}"


POSTGRESQL_TRIGGERS = {
    "products_lot_certificate_until": f"""
CREATE OR REPLACE FUNCTION products_lot_certificate_until() RETURNS trigger AS $$
BEGIN
    NEW.certificate_until := {_latest("COALESCE(NEW.origin_id, NEW.id)")};
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS products_lot_certificate_until ON products_lot;
CREATE TRIGGER products_lot_certificate_until
    BEFORE INSERT OR UPDATE OF certificate_until, origin_id ON products_lot
    FOR EACH ROW EXECUTE FUNCTION products_lot_certificate_until();
""",
    "products_document_certificate_until": f"""
CREATE OR REPLACE FUNCTION products_document_certificate_until() RETURNS trigger AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.lot_id IS NOT NULL THEN
        {_refresh("OLD.lot_id")};
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.lot_id IS NOT NULL
            AND (TG_OP = 'INSERT' OR NEW.lot_id IS DISTINCT FROM OLD.lot_id) THEN
        {_refresh("NEW.lot_id")};
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS products_document_certificate_until ON products_regulatorydocument;
CREATE TRIGGER products_document_certificate_until
    AFTER INSERT OR UPDATE OR DELETE ON products_regulatorydocument
    FOR EACH ROW EXECUTE FUNCTION products_document_certificate_until();
""",
}

# SQLite cannot assign NEW in a trigger, so the lot's own triggers update the row after the
# write; its triggers do not fire themselves (recursive_triggers is off, SQLite's default).
_LOT_ROW = (
    "UPDATE products_lot SET certificate_until = "
    + _latest("COALESCE(NEW.origin_id, NEW.id)")
    + " WHERE id = NEW.id"
)
SQLITE_TRIGGERS = {
    "products_lot_certificate_until_insert": f"""
CREATE TRIGGER IF NOT EXISTS products_lot_certificate_until_insert AFTER INSERT ON products_lot
BEGIN {_LOT_ROW}; END""",
    "products_lot_certificate_until_update": f"""
CREATE TRIGGER IF NOT EXISTS products_lot_certificate_until_update
AFTER UPDATE OF certificate_until, origin_id ON products_lot
BEGIN {_LOT_ROW}; END""",
    "products_document_certificate_until_insert": f"""
CREATE TRIGGER IF NOT EXISTS products_document_certificate_until_insert
AFTER INSERT ON products_regulatorydocument WHEN NEW.lot_id IS NOT NULL
BEGIN {_refresh("NEW.lot_id")}; END""",
    "products_document_certificate_until_update": f"""
CREATE TRIGGER IF NOT EXISTS products_document_certificate_until_update
AFTER UPDATE ON products_regulatorydocument WHEN OLD.lot_id IS NOT NULL OR NEW.lot_id IS NOT NULL
BEGIN
    {_refresh("OLD.lot_id")};
    {_refresh("NEW.lot_id")};
END""",
    "products_document_certificate_until_delete": f"""
CREATE TRIGGER IF NOT EXISTS products_document_certificate_until_delete
AFTER DELETE ON products_regulatorydocument WHEN OLD.lot_id IS NOT NULL
BEGIN {_refresh("OLD.lot_id")}; END""",
}

# Every row at once, from the documents (the migration's fill, and after a trigger was missing).
RECOMPUTE_ALL = "UPDATE products_lot SET certificate_until = " + _latest(
    "COALESCE(products_lot.origin_id, products_lot.id)"
)


def _sqlite(sql: str) -> str:
    """SQLite's spelling: its date literal is a plain string ('YYYY-MM-DD' is how it stores dates)."""
    return sql.replace(f"DATE '{NO_EXPIRY}'", f"'{NO_EXPIRY}'")


def triggers_for(vendor: str) -> dict[str, str]:
    """Trigger name → the SQL that creates it, for ``vendor`` ("postgresql" or "sqlite")."""
    if vendor == "postgresql":
        return POSTGRESQL_TRIGGERS
    if vendor == "sqlite":
        return {name: _sqlite(sql) for name, sql in SQLITE_TRIGGERS.items()}
    raise NotImplementedError(f"certificate_until has no triggers for {vendor}")


def installed(connection) -> set[str]:
    """The names of this module's triggers that exist in ``connection``'s database."""
    names = list(triggers_for(connection.vendor))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgname = ANY(%s)", [names])
        else:
            marks = ", ".join("%s" for _ in names)
            cursor.execute(
                f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})", names
            )
        return {row[0] for row in cursor.fetchall()}


def remove(connection) -> None:
    """Drop this module's triggers (and PostgreSQL's trigger functions)."""
    tables = {"lot": "products_lot", "document": "products_regulatorydocument"}
    with connection.cursor() as cursor:
        for name in triggers_for(connection.vendor):
            if connection.vendor == "postgresql":
                table = tables[name.split("_")[1]]
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def install(connection, *, replace: bool = False) -> bool:
    """Create whichever triggers are missing (every one when ``replace``: a migration that
    changes them); when any was created, recompute every lot's stored date from the documents.
    Returns whether anything was (re)created."""
    wanted = triggers_for(connection.vendor)
    if replace:
        remove(connection)
    missing = set(wanted) - installed(connection)
    if not missing:
        return False
    with connection.cursor() as cursor:
        # PostgreSQL's two triggers are each a function and a trigger: (re)created together.
        for name in sorted(missing):
            cursor.execute(wanted[name])
        cursor.execute(RECOMPUTE_ALL if connection.vendor == "postgresql" else _sqlite(RECOMPUTE_ALL))
    return True


def install_after_migrate(sender, *, using: str, **kwargs) -> None:
    """``post_migrate``: put back any trigger a table rebuild dropped (once the column exists:
    ``migrate products 0011`` leaves none to keep)."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor not in ("postgresql", "sqlite"):
        return
    with connection.cursor() as cursor:
        if "products_lot" not in connection.introspection.table_names(cursor):
            return
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "products_lot")}
    if "certificate_until" in columns:
        install(connection)
