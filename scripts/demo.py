"""Demo script for `seed_demo`: the Hangzhou studio's beauty night, locked, run by the live
demo stream."""

from rooms.demo import DemoWorld

from . import services
from .models import Script, VersionStatus

TITLE = "晚八点美妆专场 Beauty Night 脚本"

SHEET = """时间段,环节,链接号,主播话术,副播话术,中控操作,场控/氛围,道具,备注
20:00-20:05,开场暖场 Opening,,"家人们晚上好！欢迎来到直播间
今晚福利满满，先点个关注不迷路",新进来的宝宝扣1！,,欢呼,,
20:05-20:15,补水面膜 Hydrating mask,1号,"这款面膜【直播价9.9元】10片
只有【2000份】，拍完就没了",真的假的？这么便宜！,"上架1号讲解
发券",音乐起,面膜样品,
20:15-20:30,精华液 Repair serum,2号,"主推款来了！精华液30ml
日常价399，今天【直播价259元】，还送同款小样",姐妹们冲！,"上架2号讲解
改价259",倒计时,精华样品,
20:30-20:40,福袋时间 Lucky bag,,"关注主播点亮灯牌，马上开福袋
【福袋3分钟后开奖】",手慢无！,发福袋 1号,欢呼,,
"""


def seed(world: DemoWorld) -> None:
    studio = world.studios["hz"]
    script = Script.objects.filter(studio=studio, title=TITLE).first()
    if script is None:
        script = services.script_create(actor=None, studio=studio, title=TITLE)
        draft = services.script_import_file(
            actor=None, script=script, filename="demo.csv", content=SHEET.encode()
        )
        services.version_lock(actor=None, version=draft)
    if (
        world.live_stream is not None
        and script.versions.filter(status=VersionStatus.LOCKED).exists()
    ):
        services.stream_script_set(actor=None, stream=world.live_stream, script=script)
