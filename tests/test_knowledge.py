"""Behaviour of the knowledge base (knowledge/*.yml and knowledge/loader.py)."""

from __future__ import annotations

import argparse

import io
import shutil
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from knowledge.schema import DISPUTE_TYPE_CODES, ROUTES, KnowledgeError
from knowledge.base import Knowledge
from knowledge.villages import import_villages_csv
from knowledge.check import check as knowledge_check
from knowledge.loader import load_knowledge
from xiangyin.commands.knowledge import main_check

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "knowledge"
EXAMPLE_CSV = SHIPPED / "examples" / "villages.example.csv"

SEVEN_TOWNSHIPS = ["共和镇", "新桥镇", "江坡镇", "凤屯镇", "蟠猫乡", "戌街乡", "安乐乡"]

SERVICE_IDS = [
    "social_security_card",
    "resident_medical_insurance",
    "medical_reimbursement",
    "offsite_medical_filing",
    "resident_pension",
    "pension_certification",
    "dibao",
    "temporary_assistance",
    "tekun",
    "medical_assistance",
    "disability_card",
    "disability_subsidy",
    "elderly_allowance",
    "hukou_transfer",
    "id_card",
    "birth_registration",
    "birth_registration_service",
    "death_deregistration",
    "marriage_registration",
    "divorce_registration",
    "school_enrollment",
    "student_aid",
    "homestead_approval",
    "housing_renovation",
    "real_estate_registration",
    "land_contract_certificate",
    "forest_right",
    "farmland_subsidy",
    "agri_machinery_subsidy",
    "business_license",
    "employment_subsidy",
    "residence_permit",
    "veterans",
    "legal_documents_notary",
    "general_service",
]

# id → (number, unit, start_event, article) for every deadline in RULES.md §1–4.
STATUTORY_DEADLINES: dict[str, tuple[int, str, str, str]] = {
    "petition_intake_notice": (15, "日", "登记", "22"),
    "petition_objection": (5, "工作日", "收到", "23"),
    "petition_handling": (60, "日", "受理", "34"),
    "petition_extension": (30, "日", "期限届满", "34"),
    "petition_review_request": (30, "日", "收到答复", "35"),
    "petition_review_reply": (30, "日", "收到", "35"),
    "petition_recheck_request": (30, "日", "收到复查意见", "36"),
    "petition_recheck_reply": (30, "日", "收到", "36"),
    "legal_aid_decision": (7, "日", "收到", "43"),
    "legal_aid_lawyer_assignment": (3, "日", "决定", "43"),
    "legal_aid_urgent_threshold": (7, "日", "期限届满", "44"),
    "legal_aid_objection_decision": (5, "日", "收到", "49"),
    "mediation_judicial_confirmation": (30, "日", "协议生效", "33"),
    "labour_arbitration_limit": (1, "年", "知道或应当知道", "27"),
    "labour_mediation_to_arbitration": (15, "日", "收到", "14"),
    "labour_arbitration_accept": (5, "日", "收到", "29"),
    "labour_award": (45, "日", "受理", "43"),
    "labour_sue_after_award": (15, "日", "裁决送达", "48"),
    "civil_limitation": (3, "年", "知道或应当知道", "188"),
    "land_contract_arbitration": (2, "年", "知道或应当知道", "18"),
    "land_contract_sue_after_award": (30, "日", "裁决送达", "48"),
    "land_ownership_sue": (30, "日", "收到", "14"),
    "administrative_review": (60, "日", "知道或应当知道", "20"),
    "administrative_litigation": (6, "月", "知道或应当知道", "46"),
    "work_injury_application": (1, "年", "事故发生", "17"),
    "protection_order": (72, "小时", "受理", "28"),
    "protection_order_urgent": (24, "小时", "受理", "28"),
}


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge(SHIPPED)


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Path:
    """A private copy of knowledge/ that a test may break or import into."""
    target = tmp_path / "knowledge"
    shutil.copytree(SHIPPED, target)
    return target


def rewrite(root: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Load one YAML file of a copy, change it, write it back."""
    path = root / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def entry(items: list[dict[str, Any]], entry_id: str) -> dict[str, Any]:
    return next(item for item in items if item.get("id") == entry_id)


# ---------------------------------------------------------------------------
# The shipped knowledge
# ---------------------------------------------------------------------------


def test_shipped_knowledge_loads_and_passes_the_check() -> None:
    lines = knowledge_check(SHIPPED)
    assert lines[0].startswith("knowledge OK")
    assert "townships: 7" in lines


def test_mouding_county_has_exactly_the_seven_townships(knowledge: Knowledge) -> None:
    assert knowledge.county.id == "mouding"
    assert knowledge.county.name == "牟定县"
    assert knowledge.county.province == "云南省"
    assert knowledge.county.prefecture == "楚雄彝族自治州"
    assert [t.name for t in knowledge.county.townships] == SEVEN_TOWNSHIPS
    assert "共和" in knowledge.township_names()


def test_shipped_villages_are_marked_as_samples_with_locations(knowledge: Knowledge) -> None:
    assert knowledge.villages_are_samples
    for township in knowledge.county.townships:
        assert 3 <= len(township.villages) <= 5, township.name
        assert abs(township.location.lat - 25.31) <= 0.25
        assert abs(township.location.lon - 101.54) <= 0.25
        for village in township.villages:
            assert village.sample is True
            assert village.location is not None


def test_a_village_name_is_shared_by_two_townships_in_the_samples(knowledge: Knowledge) -> None:
    owners = [t.id for t in knowledge.county.townships for v in t.villages if v.name == "庄科村"]
    assert len(owners) == 2


def test_every_village_gets_its_own_village_level_agencies(knowledge: Knowledge) -> None:
    agency = knowledge.agencies_by_id["gonghe.tiantai.village_mediation"]
    assert agency.name == "天台村人民调解委员会"
    assert (agency.level, agency.township_id, agency.village_id) == ("village", "gonghe", "tiantai")
    villages = sum(len(t.villages) for t in knowledge.county.townships)
    village_kinds = [k for k in knowledge.agency_kinds.values() if k.level == "village"]
    assert sum(1 for a in knowledge.agencies if a.level == "village") == villages * len(
        village_kinds
    )
    assert knowledge.agencies_by_id["gonghe.township_justice_office"].name == "共和镇司法所"
    assert knowledge.agencies_by_id["mouding.county_legal_aid_center"].phone == "12348"


def test_the_catalogue_has_at_least_thirty_services_with_the_agreed_ids(
    knowledge: Knowledge,
) -> None:
    assert len(knowledge.services) >= 30
    assert set(SERVICE_IDS) <= set(knowledge.services)


def test_every_service_has_a_short_answer_and_enough_keywords(knowledge: Knowledge) -> None:
    for service in knowledge.services.values():
        assert 8 <= len(service.keywords) <= 20, service.id
        assert len(service.answer.splitlines()) <= 3, service.id
        assert service.where and service.fee and service.time_limit, service.id
        if service.online.available:
            assert service.online.channel, service.id


def test_dispute_types_are_the_twelve_codes_with_many_keywords(knowledge: Knowledge) -> None:
    assert list(knowledge.dispute_types) == list(DISPUTE_TYPE_CODES)
    for dispute_type in knowledge.dispute_types.values():
        assert 25 <= len(dispute_type.keywords) <= 50, dispute_type.id
    assert "宅基地" in knowledge.dispute_types["land"].keywords
    assert "老板跑了" in knowledge.dispute_types["labour"].keywords


def test_terms_include_legal_words_and_dialect(knowledge: Knowledge) -> None:
    assert len(knowledge.terms) >= 100
    for word in [
        "信访",
        "人民调解",
        "法律援助",
        "司法确认",
        "诉讼时效",
        "咋个",
        "莫得",
        "晓得",
        "搞不拢",
    ]:
        assert word in knowledge.terms
    words = knowledge.user_dictionary_words()
    assert "天台村" in words and "异地就医" in words


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("dispute_type", DISPUTE_TYPE_CODES)
def test_every_route_and_dispute_type_routes_to_an_agency(
    knowledge: Knowledge, route: str, dispute_type: str
) -> None:
    with_place = knowledge.route_case(route, dispute_type, "gonghe", "tiantai")
    without_place = knowledge.route_case(route, dispute_type, None, None)
    assert with_place.agency.id in knowledge.agencies_by_id
    assert without_place.agency.level == "county"


def test_all_statutory_deadlines_are_present_with_their_articles(knowledge: Knowledge) -> None:
    for deadline_id, (number, unit, start_event, article) in STATUTORY_DEADLINES.items():
        deadline = knowledge.deadlines[deadline_id]
        assert (deadline.number, deadline.unit, deadline.start_event) == (
            number,
            unit,
            start_event,
        ), deadline_id
        assert article in deadline.article, deadline_id
        assert deadline.law
        assert "{date}" in deadline.explain
    assert knowledge.deadlines["labour_award"].extension == 15
    assert knowledge.deadlines["legal_aid_urgent_threshold"].counts == "before"


def test_deadline_explanations_fill_in_the_date(knowledge: Knowledge) -> None:
    text = knowledge.deadlines["petition_handling"].explain_for("12月12日")
    assert "12月12日" in text


def test_holidays_know_the_2025_and_2026_days_off_and_makeup_workdays(knowledge: Knowledge) -> None:
    holidays = knowledge.holidays
    assert date(2025, 1, 28) in holidays.off_days  # 除夕
    assert holidays.is_workday(date(2025, 1, 26))  # Sunday worked
    assert not holidays.is_workday(date(2026, 2, 16))  # 春节 Monday
    assert holidays.is_workday(date(2026, 2, 28))  # Saturday worked
    assert holidays.is_workday(date(2026, 10, 8))  # first Thursday after 国庆 2026
    assert not holidays.is_workday(date(2026, 3, 7))  # ordinary Saturday
    assert holidays.covers(date(2026, 6, 1)) and not holidays.covers(date(2030, 1, 1))


def test_legal_aid_rules_follow_the_law(knowledge: Knowledge) -> None:
    rules = knowledge.legal_aid
    assert rules.hotline == "12348"
    assert len(rules.matters) == 9
    assert rules.urgent.threshold_days == 7
    assert [i.id for i in rules.matching_no_hardship_test("他喝了酒就打我")] == [
        "abuse_or_domestic_violence"
    ]
    assert "migrant_workers_pay_or_injury" in [
        i.id for i in rules.matching_exempt_groups("农民工讨薪")
    ]
    assert "no_income_minor_elderly_disabled" in [
        i.id for i in rules.matching_exempt_groups("我七十多了")
    ]
    assert "maintenance" in [i.id for i in rules.matching_matters("儿子不管老人，不给赡养费")]
    assert any("身份证" in m for m in rules.materials)


# ---------------------------------------------------------------------------
# Broken files are reported with file, entry and field
# ---------------------------------------------------------------------------


def test_a_bad_deadline_unit_names_the_file_entry_and_field(kb_copy: Path) -> None:
    rewrite(
        kb_copy,
        "deadlines.yml",
        lambda d: entry(d["deadlines"], "petition_handling").update(unit="天"),
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    error = caught.value
    assert error.file.endswith("deadlines.yml")
    assert (error.entry, error.field) == ("petition_handling", "unit")
    assert str(error).endswith(
        "deadlines.yml: entry 'petition_handling': field 'unit': "
        "must be one of 日, 工作日, 年, 月, 小时 (got '天')"
    )


def test_an_unknown_agency_kind_in_routing_is_reported(kb_copy: Path) -> None:
    rewrite(
        kb_copy,
        "routing.yml",
        lambda d: entry(d["rules"], "mediation_neighbour").update(first="village_mediator"),
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    assert caught.value.file.endswith("routing.yml")
    assert (caught.value.entry, caught.value.field) == ("mediation_neighbour", "first")
    assert "village_mediator" in str(caught.value)


def test_a_duplicate_service_id_is_reported(kb_copy: Path) -> None:
    rewrite(
        kb_copy, "services.yml", lambda d: d["services"].append(dict(entry(d["services"], "dibao")))
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    assert caught.value.file.endswith("services.yml")
    assert (caught.value.entry, caught.value.field) == ("dibao", "id")
    assert "duplicate" in str(caught.value)


def test_a_yaml_syntax_error_names_the_file_and_line(kb_copy: Path) -> None:
    path = kb_copy / "holidays.yml"
    path.write_text(
        path.read_text(encoding="utf-8") + "\n  - {name: 元旦, start: [\n", encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    assert caught.value.file.endswith("holidays.yml")
    assert "YAML syntax error at line" in str(caught.value)


def test_a_missing_required_field_is_reported(kb_copy: Path) -> None:
    rewrite(kb_copy, "deadlines.yml", lambda d: entry(d["deadlines"], "labour_award").pop("law"))
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    assert (caught.value.entry, caught.value.field) == ("labour_award", "law")
    assert str(caught.value).endswith("field 'law': is required")


def test_a_duplicate_yaml_key_is_not_silently_ignored(kb_copy: Path) -> None:
    path = kb_copy / "terms.yml"
    path.write_text(path.read_text(encoding="utf-8") + "\nterms: [信访]\n", encoding="utf-8")
    with pytest.raises(KnowledgeError, match="duplicate key 'terms'"):
        load_knowledge(kb_copy)


def _duplicate_village(d: dict[str, Any]) -> None:
    villages = d["county"]["townships"][0]["villages"]
    villages.append({**villages[0], "name": "另一个村"})


def _drop_service_default(d: dict[str, Any]) -> None:
    d["rules"] = [r for r in d["rules"] if r["id"] != "service_default"]


def _chain_goes_down(d: dict[str, Any]) -> None:
    entry(d["rules"], "mediation_default")["chain"] = [
        "county_comprehensive_center",
        "township_mediation",
    ]


@pytest.mark.parametrize(
    ("file", "change", "entry_name", "field_name"),
    [
        ("jurisdictions.yml", _duplicate_village, "gonghe/tiantai", "id"),
        ("routing.yml", _drop_service_default, "service/land", "dispute_type"),
        ("routing.yml", _chain_goes_down, "mediation_default", "chain[1]"),
        (
            "routing.yml",
            lambda d: entry(d["rules"], "mediation_labour").update(dispute_type="wages"),
            "mediation_labour",
            "dispute_type",
        ),
        (
            "deadlines.yml",
            lambda d: entry(d["deadlines"], "civil_limitation")["applies_to"].append("loans"),
            "civil_limitation",
            "applies_to[11]",
        ),
        (
            "deadlines.yml",
            lambda d: entry(d["deadlines"], "petition_handling").update(start_event="立案"),
            "petition_handling",
            "start_event",
        ),
        (
            "agencies.yml",
            lambda d: entry(d["kinds"], "police_station").update(level="city"),
            "police_station",
            "level",
        ),
        (
            "services.yml",
            lambda d: entry(d["services"], "dibao")["online"].update(available="maybe"),
            "dibao",
            "online.available",
        ),
        (
            "jurisdictions.yml",
            lambda d: d["county"]["townships"][1]["location"].update(lat=125.0),
            "xinqiao",
            "location.lat",
        ),
        (
            "legal_aid.yml",
            lambda d: d["matters"][0]["dispute_types"].append("wages"),
            "matters/state_compensation",
            "dispute_types[1]",
        ),
    ],
)
def test_cross_reference_and_value_errors_name_the_entry_and_field(
    kb_copy: Path,
    file: str,
    change: Callable[[dict[str, Any]], None],
    entry_name: str,
    field_name: str,
) -> None:
    rewrite(kb_copy, file, change)
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(kb_copy)
    assert caught.value.file.endswith(file)
    assert (caught.value.entry, caught.value.field) == (entry_name, field_name)


def test_a_missing_file_is_reported(kb_copy: Path) -> None:
    (kb_copy / "services.yml").unlink()
    with pytest.raises(KnowledgeError, match="services.yml: file is missing"):
        load_knowledge(kb_copy)


def test_the_check_command_fails_with_the_error_message(kb_copy: Path) -> None:
    rewrite(
        kb_copy,
        "deadlines.yml",
        lambda d: entry(d["deadlines"], "petition_handling").update(unit="天"),
    )
    out, err = io.StringIO(), io.StringIO()
    assert main_check(argparse.Namespace(root=str(kb_copy)), out=out, err=err) == 1
    assert "field 'unit'" in err.getvalue()
    assert main_check(argparse.Namespace(root=str(SHIPPED)), out=out, err=err) == 0
    assert "services: 35" in out.getvalue()


# ---------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------


def test_a_neighbour_dispute_in_tiantai_goes_to_tiantai_mediation_committee(
    knowledge: Knowledge,
) -> None:
    decision = knowledge.route_case("mediation", "neighbour", "gonghe", "tiantai")
    assert decision.agency.id == "gonghe.tiantai.village_mediation"
    assert decision.agency.name == "天台村人民调解委员会"
    assert [a.kind for a in decision.chain] == [
        "township_mediation",
        "township_justice_office",
        "county_comprehensive_center",
    ]
    assert decision.chain[0].township_id == "gonghe"


def test_wage_arrears_go_to_labour_inspection_with_legal_aid_offered(knowledge: Knowledge) -> None:
    decision = knowledge.route_case("mediation", "labour", "gonghe", "tiantai")
    assert decision.agency.kind == "county_labour_inspection"
    assert [a.kind for a in decision.chain] == ["county_labour_arbitration"]
    assert "legal_aid" in decision.also_offer


def test_a_legal_aid_application_about_wages_goes_to_the_legal_aid_center(knowledge: Knowledge) -> None:
    decision = knowledge.route_case("legal_aid", "labour", "gonghe", "tiantai")
    assert decision.agency.kind == "county_legal_aid_center"
    assert decision.intake is not None and decision.intake.kind == "township_justice_office"
    assert "county_labour_inspection" in decision.also_offer


def test_a_general_petition_goes_to_the_county_petition_bureau(knowledge: Knowledge) -> None:
    decision = knowledge.route_case("petition", "other", "gonghe", "tiantai")
    assert decision.agency.id == "mouding.county_petition_bureau"
    assert decision.agency.name == "牟定县信访局"


def test_family_disputes_offer_legal_aid_and_the_womens_federation(knowledge: Knowledge) -> None:
    decision = knowledge.route_case("mediation", "family", "xinqiao", "zhuangke")
    assert decision.agency.id == "xinqiao.zhuangke.village_mediation"
    assert {"legal_aid", "county_womens_federation"} <= set(decision.also_offer)


def test_legal_aid_is_decided_by_the_county_centre_with_the_justice_office_taking_applications(
    knowledge: Knowledge,
) -> None:
    decision = knowledge.route_case("legal_aid", "family", "anle", None)
    assert decision.agency.kind == "county_legal_aid_center"
    assert decision.intake is not None and decision.intake.name == "安乐乡司法所"


def test_without_a_village_mediation_starts_at_the_township(knowledge: Knowledge) -> None:
    decision = knowledge.route_case("mediation", "neighbour", "xinqiao", None)
    assert decision.agency.id == "xinqiao.township_mediation"


def test_land_and_service_questions_follow_their_own_chains(knowledge: Knowledge) -> None:
    assert knowledge.route_case("petition", "land").agency.kind == "county_natural_resources"
    land = knowledge.route_case("mediation", "land", "fengtun", "longtan")
    assert [land.agency.kind, *[a.kind for a in land.chain]] == [
        "township_mediation",
        "county_agriculture",
    ]
    service = knowledge.route_case("service", "other", "anle", "gaoqiao")
    assert [service.agency.kind, *[a.kind for a in service.chain]] == [
        "village_service_point",
        "township_service_center",
        "county_service_center",
    ]
    assert knowledge.route_case("mediation", "injury", "gonghe").agency.kind == "police_station"


def test_routing_rejects_unknown_places_and_codes(knowledge: Knowledge) -> None:
    with pytest.raises(ValueError):
        knowledge.route_case("mediation", "neighbour", "beijing", None)
    with pytest.raises(ValueError):
        knowledge.route_case("mediation", "neighbour", "gonghe", "shiba")  # 石坝 is in 新桥镇
    with pytest.raises(ValueError):
        knowledge.route_case("complaint", "neighbour")
    with pytest.raises(ValueError):
        knowledge.route_case("mediation", "neighbour", None, "zhuangke")  # in two townships


# ---------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------


def test_find_place_reads_township_and_village(knowledge: Knowledge) -> None:
    match = knowledge.find_place("共和镇天台村")
    assert match is not None
    assert (match.township.id, match.village.id) == ("gonghe", "tiantai")  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["天台", "我是天台村的", "我是 天台 的"])
def test_find_place_recognises_a_bare_village_name(knowledge: Knowledge, text: str) -> None:
    match = knowledge.find_place(text)
    assert match is not None and match.village is not None and match.township is not None
    assert (match.township.id, match.village.id) == ("gonghe", "tiantai")
    assert match.ambiguous == []


def test_find_place_lists_candidates_for_a_village_name_in_two_townships(
    knowledge: Knowledge,
) -> None:
    match = knowledge.find_place("我是庄科的")
    assert match is not None
    assert match.township is None and match.village is None
    assert sorted(c.label for c in match.ambiguous) == ["共和镇庄科村", "新桥镇庄科村"]


def test_find_place_uses_the_township_to_settle_a_shared_village_name(knowledge: Knowledge) -> None:
    match = knowledge.find_place("新桥庄科村")
    assert match is not None and match.township is not None and match.village is not None
    assert (match.township.id, match.village.id) == ("xinqiao", "zhuangke")


def test_find_place_with_only_a_township(knowledge: Knowledge) -> None:
    match = knowledge.find_place("我在蟠猫")
    assert match is not None and match.township is not None
    assert match.township.id == "panmao" and match.village is None


def test_find_place_returns_none_without_a_place(knowledge: Knowledge) -> None:
    assert knowledge.find_place("隔壁家的牛吃了我家苞谷") is None


# ---------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "service_id"),
    [
        ("异地就医咋个备案", "offsite_medical_filing"),
        ("补办身份证", "id_card"),
        ("低保咋个申请", "dibao"),
        ("身份證丟了咋個辦", "id_card"),  # Traditional characters
        ("娃娃上户口要带哪样", "birth_registration"),
        ("养老金 刷脸认证", "pension_certification"),
        ("砍树要办证吗", "forest_right"),
    ],
)
def test_match_service_finds_the_catalogue_entry(
    knowledge: Knowledge, text: str, service_id: str
) -> None:
    match = knowledge.match_service(text)
    assert match is not None
    service, score = match
    assert service.id == service_id
    assert score >= 2.0


def test_a_service_reply_says_where_to_go_and_whether_the_phone_works(knowledge: Knowledge) -> None:
    filing = knowledge.services["offsite_medical_filing"]
    assert filing.where.startswith("国家医保服务平台App、")
    assert filing.online_text() == "手机上也能办：国家医保服务平台App"
    assert "窗口" in knowledge.services["dibao"].online_text()


@pytest.mark.parametrize(
    ("text", "dispute_type"),
    [
        ("隔壁家的牛又跑到我地头，把苞谷吃了", "neighbour"),
        ("老板欠我三个月工资不给", "labour"),
        ("他家占了我家承包地，还挖了界桩", "land"),
        ("儿子不管老人，不给赡养费", "family"),
    ],
)
def test_dispute_keywords_suggest_a_dispute_type(
    knowledge: Knowledge, text: str, dispute_type: str
) -> None:
    assert knowledge.classify_dispute_keywords(text) == dispute_type


def test_no_dispute_keyword_means_no_suggestion(knowledge: Knowledge) -> None:
    assert knowledge.classify_dispute_keywords("你好") is None


def test_match_service_returns_none_for_small_talk(knowledge: Knowledge) -> None:
    assert knowledge.match_service("今天天气好") is None
    assert knowledge.match_service("") is None


# ---------------------------------------------------------------------------
# Village import
# ---------------------------------------------------------------------------


def test_importing_a_village_csv_replaces_the_samples(kb_copy: Path) -> None:
    result = import_villages_csv(EXAMPLE_CSV, kb_copy)
    assert result.imported == 10
    assert result.removed_samples == 23
    imported = load_knowledge(kb_copy)
    villages = [(t.id, v) for t in imported.county.townships for v in t.villages]
    assert len(villages) == 10
    assert all(v.sample is False for _, v in villages)
    assert not imported.villages_are_samples
    # A village already known keeps its id, so agency ids stay stable.
    assert imported.village("gonghe", "tiantai") is not None
    lawan = imported.village("gonghe", "lawan")
    assert lawan is not None and lawan.aliases == ["腊湾", "腊湾子"]
    assert imported.village("xujie", "shuijing").location is None  # type: ignore[union-attr]
    decision = imported.route_case("mediation", "neighbour", "gonghe", "tiantai")
    assert decision.agency.id == "gonghe.tiantai.village_mediation"
    assert decision.agency.sample is False
    assert imported.find_place("腊湾子") is not None


def test_importing_generates_stable_ids_for_new_villages(kb_copy: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "villages.csv"
    csv_path.write_text(
        "township,village,aliases,lat,lon\n凤屯,新华村,新华,25.2,101.4\n", encoding="utf-8"
    )
    import_villages_csv(csv_path, kb_copy)
    first = load_knowledge(kb_copy).county.townships[3].villages[0].id
    import_villages_csv(csv_path, kb_copy)
    assert load_knowledge(kb_copy).county.townships[3].villages[0].id == first
    assert first.startswith("v")


def test_importing_rejects_an_unknown_township_and_writes_nothing(
    kb_copy: Path, tmp_path: Path
) -> None:
    before = (kb_copy / "jurisdictions.yml").read_text(encoding="utf-8")
    csv_path = tmp_path / "villages.csv"
    csv_path.write_text(
        "township,village,aliases,lat,lon\n共和镇,天台村,天台,25.3,101.5\n大理镇,洱海村,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError) as caught:
        import_villages_csv(csv_path, kb_copy)
    assert caught.value.file.endswith("villages.csv")
    assert (caught.value.entry, caught.value.field) == ("line 3", "township")
    assert "大理镇" in str(caught.value) and "共和镇" in str(caught.value)
    assert (kb_copy / "jurisdictions.yml").read_text(encoding="utf-8") == before


def test_importing_rejects_a_bad_coordinate(kb_copy: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "villages.csv"
    csv_path.write_text(
        "township,village,aliases,lat,lon\n共和镇,天台村,,北纬25,101.5\n", encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as caught:
        import_villages_csv(csv_path, kb_copy)
    assert (caught.value.entry, caught.value.field) == ("line 2", "lat")


# ---------------------------------------------------------------------------
# Default root and cache
# ---------------------------------------------------------------------------


def test_the_default_knowledge_is_the_directory_named_in_the_environment(
    kb_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewrite(kb_copy, "terms.yml", lambda d: d["terms"].append("测试专用词"))
    monkeypatch.setenv("XIANGYIN_KNOWLEDGE_DIR", str(kb_copy))
    assert "测试专用词" in load_knowledge().terms
