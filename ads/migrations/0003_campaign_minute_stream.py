import django.db.models.deletion
from django.db import migrations, models


def attribute_to_campaign_stream(apps, schema_editor):
    """Rows written before minutes carried their stream belong to the campaign's stream;
    a campaign without one has no series to keep."""
    CampaignMinute = apps.get_model("ads", "CampaignMinute")
    CampaignMinute.objects.filter(campaign__stream__isnull=True).delete()
    for campaign_id, stream_id in CampaignMinute.objects.values_list(
        "campaign_id", "campaign__stream_id"
    ).distinct():
        CampaignMinute.objects.filter(campaign_id=campaign_id).update(stream_id=stream_id)


class Migration(migrations.Migration):
    dependencies = [
        ("ads", "0002_stream_kill_switch_audit_append_only"),
        ("rooms", "0009_run_of_show"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignminute",
            name="stream",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="campaign_minutes",
                to="rooms.stream",
            ),
        ),
        migrations.RunPython(attribute_to_campaign_stream, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="campaignminute",
            name="stream",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="campaign_minutes",
                to="rooms.stream",
            ),
        ),
        migrations.AddIndex(
            model_name="campaignminute",
            index=models.Index(fields=["stream", "minute"], name="campaign_minute_stream"),
        ),
    ]
