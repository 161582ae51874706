"""Every rule of conformance_rules has a test on each side it binds, and every section of docs/PROTOCOL.md that states
rules (1 to 9) has rules."""

import re

import test_conformance_agent
import test_conformance_coordinator
from conformance_peers import ROOT
from conformance_rules import AGENT, COORDINATOR, RULES

SIDES = {AGENT: test_conformance_agent, COORDINATOR: test_conformance_coordinator}


def covered(module):
    return {rule for name, test in vars(module).items() if name.startswith("test_")
            for rule in getattr(test, "rules", ())}


def test_every_rule_is_checked_on_every_side_it_binds():
    missing = [f"{rule.id} ({side})" for rule in RULES for side in rule.sides if rule.id not in covered(SIDES[side])]
    assert not missing, "rules without a test: " + ", ".join(missing)


def test_every_protocol_section_with_rules_has_rules():
    text = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
    sections = {m.group(1) for m in re.finditer(r"^## (\d+)\. ", text, re.M)}
    with_rules = {rule.section for rule in RULES}
    # 10 is the Python sketch, run by tests/test_protocol_sketch.py; 8 (reconnecting) is checked as 5.expiry and
    # 5.leaving, whose behaviour it details.
    assert sections - with_rules <= {"8", "10"}, f"sections without rules: {sorted(sections - with_rules)}"
    assert with_rules <= sections, f"rules cite sections the document lacks: {sorted(with_rules - sections)}"
