"""A small ledger in right-to-left languages, for the reader-page tests (not a demo: invented, neutral content).

An Arabic article (archived) and an Arabic report; Arabic claims anchored to
their quotes (one reviewed with an Arabic label and a %-encoded review URL,
one long, one corrected), a Persian and a Hebrew claim; the publisher and the
editor have Arabic names. Keys come from fixed seeds and every record has a
fixed time, so two builds are byte-identical.
"""

from __future__ import annotations

from ledger.api import Ledger
from ledger.editing import claim_record, key_record, review_record, source_record
from ledger.note import Signer

ORIGIN = "ar.desk.example/log"
PUBLISHER = "مكتب التحقق التجريبي"  # "The demo fact-check desk"
EDITOR = ("sara@ar.desk.example", "سارة المنصوري")
T = ("2024-04-20T08:00:00Z", "2024-04-20T09:00:00Z", "2024-04-20T10:00:00Z", "2024-04-21T09:00:00Z",
     "2024-04-22T12:00:00Z", "2024-04-22T12:05:00Z")

ARTICLE = "source:ar-wheat-statement"
REPORT = "source:ar-grain-report"
PERSIAN = "source:fa-water-report"
HEBREW = "source:he-rail-report"
WHEAT = "claim:ar-wheat-40pct"
LONG = "claim:ar-self-sufficiency-2026"
AREA = "claim:ar-cultivated-area"
WATER = "claim:fa-water-30pct"
RAIL = "claim:he-rail-line"
MISSING = "claim:ar-no-such-claim"  # named in a note, and in no record

ARTICLE_TEXT = (
    "عمّان – قالت وزارة الزراعة يوم الأحد إن إنتاج القمح في البلاد ارتفع بنسبة 40% في عام 2023 مقارنة بالعام السابق.\n"
    "وأضافت الوزارة في بيان أن المساحات المزروعة بلغت 1.2 مليون دونم، وأن الأمطار كانت أعلى من المعدل.\n"
    "من جهته، قال تقرير لمنظمة الأغذية والزراعة (FAO) صدر في آذار/مارس 2024 إن إنتاج الحبوب في المنطقة تراجع "
    "بسبب الجفاف، وإن الزيادة المعلنة «لا تتفق مع صور الأقمار الصناعية».\n"
    "وأكد المتحدث باسم الوزارة أن البلاد ستحقق الاكتفاء الذاتي من القمح بحلول عام 2026، وأن الحكومة خصصت 50 مليون "
    "دينار لدعم المزارعين في المناطق الشمالية والجنوبية على حد سواء، مع إعطاء الأولوية لصغار المزارعين الذين تضرروا "
    "من موجات الجفاف المتتالية خلال السنوات الخمس الماضية، وأن برنامج الدعم سيشمل البذور المحسّنة وأنظمة الري "
    "بالتنقيط والتدريب الميداني.\n"
).encode("utf-8")

LONG_QUOTE = (
    "البلاد ستحقق الاكتفاء الذاتي من القمح بحلول عام 2026، وأن الحكومة خصصت 50 مليون دينار لدعم المزارعين في "
    "المناطق الشمالية والجنوبية على حد سواء، مع إعطاء الأولوية لصغار المزارعين الذين تضرروا من موجات الجفاف "
    "المتتالية خلال السنوات الخمس الماضية، وأن برنامج الدعم سيشمل البذور المحسّنة وأنظمة الري بالتنقيط والتدريب الميداني"
)
REVIEW_URL = ("https://ar.desk.example/%D8%AA%D8%AD%D9%82%D9%82/2024/04/"
              "%D8%A5%D9%86%D8%AA%D8%A7%D8%AC-%D8%A7%D9%84%D9%82%D9%85%D8%AD-%D9%81%D9%8A-2023")  # تحقق/2024/04/إنتاج-القمح-في-2023


def _signer(name: str) -> Signer:
    import hashlib

    return Signer.from_seed(name, hashlib.sha256(b"fact-ledger rtl test key\n" + name.encode()).digest())


def _sources() -> list[dict]:
    return [
        source_record(REPORT, "تقرير منظمة الأغذية والزراعة عن إنتاج الحبوب (آذار/مارس 2024)", type="report", created=T[1],
                      language="ar", publisher="منظمة الأغذية والزراعة (FAO)", published="2024-03-28",
                      url="https://www.fao.example/ar/%D8%AA%D9%82%D8%B1%D9%8A%D8%B1-%D8%A7%D9%84%D8%AD%D8%A8%D9%88%D8%A8-2024"),
        source_record(ARTICLE, "وزارة الزراعة: إنتاج القمح ارتفع 40% في 2023", created=T[1], language="ar",
                      publisher="صحيفة المثال", published="2024-04-14", third_party=True,
                      url="https://news.example/%D8%A7%D9%82%D8%AA%D8%B5%D8%A7%D8%AF/%D8%A7%D9%84%D9%82%D9%85%D8%AD",
                      snapshot=(ARTICLE_TEXT, "text/plain; charset=utf-8"), links=[f"cites={REPORT}"]),
        source_record(PERSIAN, "گزارش مصرف آب شهری (۱۴۰۲)", type="report", created=T[1], language="fa",
                      publisher="سازمان آب نمونه"),
        source_record(HEBREW, "דוח משרד התחבורה על קו הרכבת החדש", type="report", created=T[1], language="he",
                      publisher="משרד התחבורה לדוגמה"),
    ]


def _claims() -> list[dict]:
    ministry = {"attributed_to": "وزارة الزراعة", "claim_date": "2024-04-14"}
    return [
        claim_record(ARTICLE, {"exact": "إنتاج القمح في البلاد ارتفع بنسبة 40% في عام 2023 مقارنة بالعام السابق"}, "ar",
                     record_id=WHEAT, created=T[2], text="ارتفع إنتاج القمح في البلاد بنسبة 40% في عام 2023.",
                     translation="Wheat production in the country rose by 40% in 2023.", tags=["القمح", "الزراعة"],
                     quantity="40", unit="%", period="2023", **ministry),
        claim_record(ARTICLE, {"exact": LONG_QUOTE}, "ar", record_id=LONG, created=T[2],
                     text=LONG_QUOTE.replace("البلاد ستحقق", "ستحقق البلاد", 1) + ".",
                     translation="The country will be self-sufficient in wheat by 2026; the government has set aside "
                                 "50 million dinars to support farmers in the north and the south alike.",
                     attributed_to="المتحدث باسم وزارة الزراعة", claim_date="2024-04-14"),
        claim_record(ARTICLE, {"exact": "المساحات المزروعة بلغت 1.2 مليون دونم"}, "ar", record_id=AREA, created=T[2],
                     text="بلغت المساحات المزروعة بالقمح 2.1 مليون دونم.",
                     translation="The area sown with wheat reached 2.1 million dunums.", **ministry),
        {"kind": "claim", "id": WATER, "version": 1, "created": T[2], "language": "fa", "source": PERSIAN,
         "text": "مصرف آب شهری در سال ۱۴۰۲ سی درصد کاهش یافت.", "attribution": {"text": "سازمان آب نمونه"},
         "translation": {"language": "en", "text": "Urban water use fell by thirty percent in 1402."}},
        {"kind": "claim", "id": RAIL, "version": 1, "created": T[2], "language": "he", "source": HEBREW,
         "text": "קו הרכבת החדש יקצר את זמן הנסיעה בחצי.", "attribution": {"text": "משרד התחבורה לדוגמה"}},
    ]


def build_rtl_ledger(path) -> Ledger:
    """Build the ledger at ``path`` (a new file)."""
    log, editor = _signer(ORIGIN), _signer(EDITOR[0])
    ledger = Ledger.create(path, log, display_name=PUBLISHER, created=T[0])
    ledger.append([key_record(editor.vkey, EDITOR[1], record_id="key:sara", created=T[0])], log, log)
    ledger.append(_sources(), editor, log, snapshots=[(ARTICLE_TEXT, "text/plain; charset=utf-8")])
    ledger.append(_claims(), editor, log)
    ledger.append([review_record(
        WHEAT, "مضلّل", "misleading", record_id="review:ar-wheat-40pct", created=T[3], label_language="ar",
        explanation="تقرير منظمة الأغذية والزراعة (FAO) يقول إن إنتاج الحبوب في المنطقة تراجع في 2023 بسبب الجفاف، "
                    f"ولا تنشر الوزارة بياناتها (انظر {REPORT}).",
        evidence=[REPORT], reviewed="2024-04-21", url=REVIEW_URL)], editor, log)
    wrong = ledger.current(AREA).hash_hex
    ledger.append([ledger.revision(AREA, f"تصحيح الرقم: البيان يذكر 1.2 مليون دونم (وليس {MISSING}).",
                                   text="بلغت المساحات المزروعة بالقمح 1.2 مليون دونم.",
                                   translation={"language": "en", "text": "The area sown with wheat reached 1.2 million dunums."},
                                   ).evolve(created=T[4])], editor, log)
    ledger.append([{"kind": "correction", "id": "correction:ar-cultivated-area", "version": 1, "created": T[5],
                    "target": AREA, "target_entry": wrong, "corrected_entry": ledger.current(AREA).hash_hex,
                    "reason": f"النسخة الأولى ذكرت 2.1 مليون دونم، والبيان يقول 1.2 مليون (انظر {WHEAT})."}], editor, log)
    return ledger
