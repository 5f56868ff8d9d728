"""What other apps add to a stream planned from a template (the scripts app: the template's
script). Filled in `AppConfig.ready()`, so `rooms` never imports those apps."""

from collections.abc import Callable

from .models import Stream, StreamTemplate, User

StreamFromTemplate = Callable[[User | None, Stream, StreamTemplate], None]
_hooks: list[StreamFromTemplate] = []


def register(hook: StreamFromTemplate) -> None:
    if hook not in _hooks:
        _hooks.append(hook)


def stream_planned_from(actor: User | None, stream: Stream, template: StreamTemplate) -> None:
    for hook in _hooks:
        hook(actor, stream, template)
