"""Delivery channels of a subscription: webhook, MQTT topic prefix, e-mail address.

Each channel names the languages its messages are written in (``zh-CN``, ``en-US``).

* ``webhook``: an ``https`` URL. Plain ``http`` is accepted only for ``localhost``,
  ``127.0.0.1`` and ``::1`` (test receivers on the same machine). Credentials in the URL
  (``user:password@``) are refused, since the URL is stored in plain text.
* ``mqtt``: a topic *prefix* such as ``yujing/port/yantian``; alerts are published below
  it. Levels are made of ``A-Z a-z 0-9 _ . -`` and separated by ``/``; no empty levels, no
  leading or trailing ``/``, no wildcards (``+``, ``#``) and no ``$`` topics. This is
  stricter than MQTT 3.1.1/5 allow, so a prefix works on every broker.
* ``email``: one address, checked with a deliberately simple pattern (dot-atom local part,
  a domain of letters, digits and hyphens with at least one dot); it does not prove the
  mailbox exists.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

__all__ = ["Channel", "EmailChannel", "Language", "MqttChannel", "WebhookChannel"]

Language = Literal["zh-CN", "en-US"]
"""A language a channel's messages are written in."""

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_HOST_NAME = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9_.-]+")
_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)


def _check_webhook_url(url: str) -> str:
    if len(url) > 2048:
        raise ValueError("URL is longer than 2048 characters; use a shorter endpoint")
    if any(character.isspace() or ord(character) < 0x20 for character in url):
        raise ValueError("URL contains spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as err:
        raise ValueError(
            f"{url!r} is not a URL ({err}); write e.g. 'https://ops.example.cn/hook'"
        ) from None
    del port  # parsed only to refuse an invalid port
    scheme = parts.scheme.lower()
    if not host:
        raise ValueError(f"{url!r} has no host; write e.g. 'https://ops.example.cn/hook'")
    if parts.username is not None or parts.password is not None:
        raise ValueError("URL carries credentials (user@ or user:password@); use a token header")
    if scheme == "http" and host in _LOCAL_HOSTS:
        return url
    if scheme != "https":
        raise ValueError(
            f"{url!r} is not an https URL; webhooks must use https "
            "(plain http only for localhost or 127.0.0.1)"
        )
    if _HOST_NAME.fullmatch(host) is None:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"host {host!r} is not a host name or IP address; write non-ASCII names in "
                "punycode (xn--...)"
            ) from None
    return url


def _check_topic_prefix(topic: str) -> str:
    if not topic:
        raise ValueError("topic prefix is empty; write e.g. 'yujing/port/yantian'")
    if "+" in topic or "#" in topic:
        raise ValueError(
            f"{topic!r} contains an MQTT wildcard ('+' or '#'), which is for subscribing, not "
            "publishing; give a fixed prefix such as 'yujing/port/yantian'"
        )
    if topic.startswith("$"):
        raise ValueError(f"{topic!r} starts with '$', which brokers reserve; drop the '$'")
    if len(topic) > 200:
        raise ValueError("topic prefix is longer than 200 characters; shorten it")
    levels = topic.split("/")
    if any(not level for level in levels):
        raise ValueError(
            f"{topic!r} has an empty level (leading, trailing or doubled '/'); "
            "write e.g. 'yujing/port/yantian'"
        )
    for level in levels:
        if _TOPIC_LEVEL.fullmatch(level) is None:
            raise ValueError(
                f"topic level {level!r} has characters other than A-Z a-z 0-9 _ . -; "
                "write e.g. 'yujing/port/yantian'"
            )
    return topic


def _check_email(address: str) -> str:
    match = _EMAIL.fullmatch(address)
    if match is None or len(address) > 254 or len(match.group("local")) > 64:
        raise ValueError(
            f"{address!r} is not an e-mail address we can send to; "
            "write e.g. 'duty@port.example.cn'"
        )
    return address


def _unique_languages(languages: tuple[Language, ...]) -> tuple[Language, ...]:
    if len(set(languages)) != len(languages):
        raise ValueError(f"languages {list(languages)} repeat one; list each language once")
    return languages


Languages = Annotated[
    tuple[Language, ...], Field(min_length=1, max_length=2), AfterValidator(_unique_languages)
]


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    languages: Languages


class WebhookChannel(_Channel):
    """Deliver by HTTP POST to an https URL."""

    kind: Literal["webhook"]
    url: Annotated[str, Strict(), AfterValidator(_check_webhook_url)]

    @property
    def target(self) -> str:
        """Where deliveries go (the URL)."""
        return self.url


class MqttChannel(_Channel):
    """Deliver by publishing below an MQTT topic prefix."""

    kind: Literal["mqtt"]
    topic_prefix: Annotated[str, Strict(), AfterValidator(_check_topic_prefix)]

    @property
    def target(self) -> str:
        """Where deliveries go (the topic prefix)."""
        return self.topic_prefix


class EmailChannel(_Channel):
    """Deliver by e-mail to one address."""

    kind: Literal["email"]
    address: Annotated[str, Strict(), AfterValidator(_check_email)]

    @property
    def target(self) -> str:
        """Where deliveries go (the address)."""
        return self.address


Channel = Annotated[WebhookChannel | MqttChannel | EmailChannel, Field(discriminator="kind")]
"""A delivery channel, told apart by its ``kind``."""
