"""Trades are append-only: PostgreSQL refuses any UPDATE or DELETE of a trade row, whoever asks.
(TRUNCATE, an owner-only maintenance command, is left to the owner: test databases are emptied with it.)"""

from django.db import migrations

CREATE = """
CREATE FUNCTION portfolio_trade_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'trades are append-only: % refused', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER portfolio_trade_append_only
    BEFORE UPDATE OR DELETE ON portfolio_trade
    FOR EACH ROW EXECUTE FUNCTION portfolio_trade_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS portfolio_trade_append_only ON portfolio_trade;
DROP FUNCTION IF EXISTS portfolio_trade_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("portfolio", "0002_orders_trades_accounts")]
    operations = [migrations.RunPython(forwards, backwards)]
