from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

# Built concurrently: intake keeps writing groups while a live deployment migrates.


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("support", "0004_question_group_index_once"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="questiongroup",
            index=models.Index(
                condition=models.Q(("claimed_by__isnull", False), ("status", "open")),
                fields=["claimed_by", "claim_expires_at"],
                name="claims_held",
            ),
        ),
    ]
