from django.db import migrations, models

# Positions written before the average was stored: an open one's average is its cost over its
# quantity (what was reported until now); a closed one's is the average of its opening trades.
BACKFILL = """
UPDATE portfolio_position SET avg_entry_price = CASE
  WHEN quantity <> 0 THEN ABS(cost_basis / quantity)
  ELSE COALESCE(
    (SELECT SUM(t.quantity * t.price) / SUM(t.quantity) FROM portfolio_trade t
      WHERE t.position_id = portfolio_position.id AND t.realized_pnl_gross IS NULL),
    exit_price, 0)
END
"""


class Migration(migrations.Migration):
    dependencies = [("portfolio", "0003_trade_append_only")]

    operations = [
        migrations.AddField(
            model_name="position",
            name="avg_entry_price",
            field=models.DecimalField(decimal_places=30, max_digits=50, null=True),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="position",
            name="avg_entry_price",
            field=models.DecimalField(decimal_places=30, max_digits=50),
        ),
    ]
