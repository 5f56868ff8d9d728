import django.db.models.deletion
from django.db import migrations, models

# The group-only index goes; question_newest_in_group (group_id, asked_at DESC) serves every
# lookup by group. Dropped concurrently and on its own: altering the field would also drop
# and re-add the foreign key, re-checking every question with the tables locked.
INDEX = "support_question_group_id_16e28636"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("support", "0003_question_newest_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="question",
                    name="group",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="questions",
                        to="support.questiongroup",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{INDEX}"',
                    reverse_sql=(
                        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{INDEX}" '
                        'ON "support_question" ("group_id")'
                    ),
                ),
            ],
        ),
    ]
