from django.db import migrations

ROLES = [
    "producer",
    "room_operator",
    "floor_controller",
    "host",
    "cs_agent",
    "ad_buyer",
    "ad_approver",
    "viewer",
]


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
