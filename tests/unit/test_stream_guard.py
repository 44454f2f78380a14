"""Measuring payloads without recursion: depth, element count and characters."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from slixmpp_jet.stream_guard import PayloadLimits, oversize

LIMITS = PayloadLimits(depth=3, elements=5, characters=10)


def chain(depth: int) -> ET.Element:
    root = element = ET.Element("a")
    for _ in range(depth - 1):
        element = ET.SubElement(element, "a")
    return root


def test_within_every_limit() -> None:
    assert oversize(chain(3), LIMITS) is None


def test_one_level_too_deep() -> None:
    assert oversize(chain(4), LIMITS) == "nested deeper than 3 levels"


def test_far_deeper_than_the_recursion_limit() -> None:
    assert oversize(chain(100_000), LIMITS) == "nested deeper than 3 levels"


def test_too_many_elements() -> None:
    root = ET.Element("a")
    for _ in range(5):
        ET.SubElement(root, "b")
    assert oversize(root, LIMITS) == "more than 5 elements"


def test_text_and_attribute_values_count_together() -> None:
    root = ET.Element("a", {"sid": "12345"})
    root.text = "12345"
    assert oversize(root, LIMITS) is None
    root.tail = "x"
    assert oversize(root, LIMITS) == "more than 10 characters"
