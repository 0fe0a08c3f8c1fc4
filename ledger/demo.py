"""The demo ledger: one archived article, its provenance chain, claims and their history.

``build_demo`` builds, deterministically, a small ledger around
``data/seed/article-ro.txt``, a Romanian translation of an Associated Press
report of 12 April 2024 (third-party content, kept as the archived snapshot;
see ``data/seed/README.md``). Keys come from fixed seeds and every record has
a fixed ``created`` time, so two builds hold byte-identical entries and
checkpoints (Ed25519 signatures are deterministic, RFC 8032 §5.1.6).

What it holds, one append batch (and so one checkpoint) per step:

1. the log key (entry 0) and the two editor keys;
2. the sources: the Romanian article -> the AP report -> the anonymous
   officials -> the US intelligence assessment, and the AP report -> the Free
   Russia Foundation analysis -> Russian customs data;
3. every factual claim in the article, each anchored to an exact quote;
4. reviews: all "unproven", because the claims are attributed to a
   non-public assessment or to an analysis the article does not reproduce;
5. history: a translation revision, a correction (with its notice), a
   retraction of a duplicate claim, and a revised review.

Nothing here goes beyond what the article says: no URLs, archive links or
dates it does not give. The article's last two paragraphs (Blinken's travel,
Biden's concern raised with Xi) are AP's own reporting, not findings; they are
left out because ``claim_chain`` walks on from the AP report along its first
link and would show them as coming from the intelligence assessment.

The records are built by ``ledger.editing``, as the CLI builds them, and
appended in batches; ``write_demo`` is what ``ledger demo`` runs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

from ledger.api import Ledger
from ledger.editing import claim_record, key_record, review_record, source_record
from ledger.keys import write_key_file
from ledger.note import Signer

# In a source checkout the seed is data/seed/; an installed wheel carries it as ledger/_data/seed/.
ARTICLE_PATH = next(
    (p for p in (Path(__file__).resolve().parent / "_data" / "seed" / "article-ro.txt",
                 Path(__file__).resolve().parent.parent / "data" / "seed" / "article-ro.txt") if p.is_file()),
    Path(__file__).resolve().parent.parent / "data" / "seed" / "article-ro.txt",
)
ARTICLE_MEDIA_TYPE = "text/plain; charset=utf-8"

DEMO_ORIGIN = "demo.fact-ledger.example/log"
DEMO_PUBLISHER = "Demo Fact-Check Desk"  # the log key's display name: who publishes the ledger
ANA = ("ana@demo.fact-ledger.example", "Ana Popescu (demo editor)")
MIHAI = ("mihai@demo.fact-ledger.example", "Mihai Ionescu (demo editor)")
# Key file name in keys_dir -> key name.
DEMO_KEY_FILES = {"log.key": DEMO_ORIGIN, "ana.key": ANA[0], "mihai.key": MIHAI[0]}

# Fixed times, one per batch, so that rebuilding gives the same bytes.
T_CREATE = "2024-04-15T08:00:00Z"
T_KEYS = "2024-04-15T08:05:00Z"
T_SOURCES = "2024-04-15T09:00:00Z"
T_CLAIMS_ANA = "2024-04-15T10:00:00Z"
T_CLAIMS_MIHAI = "2024-04-15T11:00:00Z"
T_REVIEWS = "2024-04-16T09:00:00Z"
T_REVISIONS = "2024-04-16T14:00:00Z"
T_CORRECTION = "2024-04-16T14:05:00Z"
T_RETRACTION = "2024-04-17T09:00:00Z"
REVIEWED = "2024-04-16"
CLAIM_DATE = "2024-04-12"

SRC_ARTICLE = "source:article-ro-ap-2024-04-12"
SRC_AP = "source:ap-report-2024-04-12"
SRC_OFFICIALS = "source:biden-officials-2024-04-12"
SRC_ASSESSMENT = "source:us-intelligence-assessment-china-russia"
SRC_FRF = "source:frf-analysis-russian-customs-data"
SRC_CUSTOMS = "source:russian-customs-data"

# Attributions, as ``ledger.editing.claim_fields`` takes them.
OFFICIALS = {"attributed_to": "Two senior Biden administration officials, speaking on condition of anonymity",
             "anonymous": True, "attribution_source": SRC_OFFICIALS}
ASSESSMENT = {"attributed_to": "A US intelligence assessment, as reported by AP", "anonymous": False,
              "attribution_source": SRC_ASSESSMENT}
AP_OWN = {"attributed_to": "The Associated Press, in its own reporting", "anonymous": False, "attribution_source": SRC_AP}
FRF = {"attributed_to": "Free Russia Foundation analysis of Russian customs data", "anonymous": False,
       "attribution_source": SRC_FRF}

CLAIM_90PCT = "claim:ro-microelectronics-90pct"
CLAIM_Q4_IMPORTS = "claim:ro-imports-q4-2023-70pct"
CLAIM_SEMICONDUCTORS = "claim:ro-semiconductor-imports-2021-2022"
CLAIM_MILITARY_OPTICS = "claim:ro-military-optics-iray-nciieo"
CLAIM_SATELLITE_IMAGERY = "claim:ro-satellite-imagery"
CLAIM_DUPLICATE = "claim:ro-microelectronics-90pct-duplicate"


def _signer(name: str) -> Signer:
    # A published, derivable seed: these keys protect nothing.
    return Signer.from_seed(name, hashlib.sha256(b"fact-ledger demo key seed\n" + name.encode()).digest())


def _sources(article: bytes) -> list[dict]:
    # Targets come before the sources that link to them: a link must name a source already in the log.
    return [
        source_record(
            SRC_CUSTOMS, "Russian customs data", type="dataset", created=T_SOURCES,
            description="Russian customs data on imports, as analysed by the Free Russia Foundation. "
                        "The article does not identify the dataset further."),
        source_record(
            SRC_FRF, "Free Russia Foundation analysis of Russian customs data", type="report", created=T_SOURCES,
            publisher="Free Russia Foundation", links=[f"based-on={SRC_CUSTOMS}"],
            description="Analysis of Russian customs data by the Free Russia Foundation, which the article describes "
                        "as a group that advocates the development of civil society. The article cites it for "
                        "Russia's semiconductor imports from China in 2021 and 2022."),
        source_record(
            SRC_ASSESSMENT, "US intelligence assessment of China's support for Russia's war industry", type="assessment",
            created=T_SOURCES, publisher="US intelligence community", public=False,
            description="Not public. Known only through the account of two senior Biden administration officials "
                        "reported by AP: China increased sales to Russia of machine tools, microelectronics and "
                        "other technology that Moscow uses to produce weapons for its war against Ukraine."),
        source_record(
            SRC_OFFICIALS, "Two senior Biden administration officials", type="person", created=T_SOURCES,
            anonymous=True, links=[f"based-on={SRC_ASSESSMENT}"],
            description="Discussed the sensitive findings of the US intelligence assessment on Friday, 12 April 2024, "
                        "on condition of anonymity."),
        source_record(
            SRC_AP, "AP report on China's support for Russia's war industry (12 April 2024)", type="article",
            created=T_SOURCES, publisher="Associated Press", language="en", published="2024-04-12",
            links=[f"quotes={SRC_OFFICIALS}", f"cites={SRC_FRF}"],
            description="The Associated Press report that the Romanian article translates. The original English text "
                        "is not archived in this ledger."),
        source_record(
            SRC_ARTICLE, "China a crescut vânzările către Rusia de mașini-unelte, microelectronice și alte tehnologii (AP)",
            type="article", created=T_SOURCES, publisher="Romanian news outlet (unnamed in the archived copy)",
            language="ro", third_party=True, snapshot=(article, ARTICLE_MEDIA_TYPE), links=[f"translation-of={SRC_AP}"],
            description="A Romanian translation of the Associated Press report of 12 April 2024 on China's support "
                        "for Russia's war industry. Third-party content, archived unchanged as evidence."),
    ]


# The claims, one batch per editor: (ID, text, English translation, exact quote in the article, attribution, tags,
# quantity). The quantity is the options of ``ledger.editing.claim_fields``.
CLAIMS_ANA = (
    ("claim:ro-sales-machine-tools-microelectronics",
     "China a crescut vânzările către Rusia de mașini-unelte, microelectronice și alte tehnologii pe care "
     "Moscova le folosește pentru a produce rachete, tancuri, avioane și alte arme pentru războiul său "
     "împotriva Ucrainei.",
     "China has increased sales to Russia of machine tools, microelectronics and other technology that "
     "Moscow in turn uses to produce missiles, tanks, aircraft and other weapons for its war against Ukraine.",
     "China a crescut vânzările către Rusia de mașini-unelte, microelectronice și alte tehnologii pe care "
     "Moscova le folosește, la rândul său, pentru a produce rachete, tancuri, avioane și alte arme pentru "
     "a fi folosite în războiul său împotriva Ucrainei",
     ASSESSMENT, ["machine-tools", "microelectronics", "weapons"], None),
    (CLAIM_90PCT,
     "În 2023, aproximativ 90% din microelectronica Rusiei a venit din China; Rusia a folosit-o pentru a "
     "produce rachete, tancuri și avioane.",
     "In 2023, about 90% of Russia's microelectronics came from China; Russia used them to produce "
     "missiles, tanks and aircraft.",
     "în 2023 aproximativ 90% din microelectronica Rusiei a venit din China, pe care Rusia a folosit-o "
     "pentru a produce rachete, tancuri și avioane",
     OFFICIALS, ["microelectronics", "weapons"],
     {"quantity": "90", "unit": "%", "subject": "Russia's microelectronics imports from China",
      "period": "2023"}),
    # The English translation of this first version says "billion": a
    # deliberate mistake, corrected in step 5 so the site shows a correction.
    (CLAIM_Q4_IMPORTS,
     "Aproape 70% din importurile de aproximativ 900 de milioane de dolari ale Rusiei în ultimul trimestru "
     "al anului 2023 au venit din China.",
     "Nearly 70% of Russia's imports of about $900 billion in the last quarter of 2023 came from China.",
     "Aproape 70% din importurile de aproximativ 900 de milioane de dolari ale Rusiei în ultimul trimestru "
     "al anului 2023 au venit din China.",
     OFFICIALS, ["imports", "microelectronics"],
     {"quantity": "70", "unit": "%",
      "subject": "Share from China of Russia's imports of about $900 million (the article does not say of what)",
      "period": "2023-Q4"}),
    (CLAIM_SEMICONDUCTORS,
     "Importurile Rusiei de semiconductori din China au crescut de la 200 de milioane de dolari în 2021 la "
     "peste 500 de milioane de dolari în 2022.",
     "Russia's semiconductor imports from China rose from $200 million in 2021 to more than $500 million "
     "in 2022.",
     "Importurile Rusiei de semiconductori din China au crescut de la 200 de milioane de dolari în 2021 la "
     "peste 500 de milioane de dolari în 2022, potrivit datelor vamale rusești analizate de Fundația Rusia Liberă",
     FRF, ["semiconductors", "microelectronics", "imports"],
     {"quantity": "500000000", "unit": "USD",
      "subject": "Russia's semiconductor imports from China (a lower bound: 'peste', more than)",
      "period": "2022"}),
    ("claim:ro-drones-co-production",
     "Entități chineze și ruse au lucrat pentru a produce în comun drone în Rusia.",
     "Chinese and Russian entities have worked to jointly produce drones in Russia.",
     "Entitățile chineze și ruse au lucrat, de asemenea, pentru a produce în comun drone în Rusia",
     OFFICIALS, ["drones"], None),
    ("claim:ro-nitrocellulose",
     "Companii chineze furnizează Rusiei nitroceluloză utilizată la fabricarea muniției.",
     "Chinese companies supply Russia with nitrocellulose used to make ammunition.",
     "companiile chineze furnizează Rusiei nitroceluloză utilizată la fabricarea muniției",
     OFFICIALS, ["munitions", "nitrocellulose"], None),
    ("claim:ro-optical-components-tanks",
     "Companiile cu sediul în China Wuhan Global Sensor Technology Co., Wuhan Tongsheng Technology Co. Ltd. "
     "și Hikvision furnizează componente optice pentru tancurile și vehiculele blindate rusești.",
     "China-based companies Wuhan Global Sensor Technology Co., Wuhan Tongsheng Technology Co. Ltd. and "
     "Hikvision supply optical components for Russian tanks and armoured vehicles.",
     "Companiile cu sediul în China Wuhan Global Sensor Technology Co., Wuhan Tongsheng Technology Co. Ltd. "
     "și Hikvision furnizează componente optice pentru tancurile și vehiculele blindate rusești",
     OFFICIALS, ["optics", "tanks", "armoured-vehicles"], None),
)


CLAIMS_MIHAI = (
    # The first English translation says "from"; step 5 revises it to "made by".
    (CLAIM_MILITARY_OPTICS,
     "Rusia a primit optică militară fabricată de firmele chineze iRay Technology și North China Research "
     "Institute of Electro-Optics.",
     "Russia received military optics from the Chinese firms iRay Technology and North China Research "
     "Institute of Electro-Optics.",
     "Rusia a primit optică militară fabricate de firmele chineze iRay Technology și North China Research "
     "Institute of Electro-Optics",
     OFFICIALS, ["optics"], None),
    ("claim:ro-uav-and-cruise-missile-engines",
     "China a furnizat Rusiei motoare UAV și motoare turboreactoare pentru rachete de croazieră.",
     "China has supplied Russia with UAV engines and turbojet engines for cruise missiles.",
     "China a furnizat Rusiei motoare UAV și motoare turborreactor pentru rachete de croazieră",
     OFFICIALS, ["drones", "engines", "cruise-missiles"], None),
    ("claim:ro-satellite-space-capabilities",
     "Beijingul lucrează cu Rusia pentru a-și îmbunătăți capacitățile de satelit și alte capacități spațiale "
     "pentru a fi utilizate în Ucraina.",
     "Beijing is working with Russia to improve its satellite and other space capabilities for use in Ukraine.",
     "Beijingul lucrează, de asemenea, cu Rusia pentru a-și îmbunătăți capacitățile de satelit și alte "
     "capacități spațiale pentru a fi utilizate în Ucraina",
     OFFICIALS, ["satellites", "space"], None),
    ("claim:ro-space-threat-to-europe",
     "Cooperarea spațială ar putea crește pe termen lung amenințarea pe care o reprezintă Rusia în Europa.",
     "The space cooperation could, in the long term, increase the threat Russia poses in Europe.",
     "o evoluție despre care oficialii spun că ar putea crește pe termen lung amenințarea pe care o "
     "reprezintă Rusia în Europa",
     OFFICIALS, ["satellites", "space", "europe"], None),
    (CLAIM_SATELLITE_IMAGERY,
     "China furnizează Rusiei imagini din satelit pentru războiul său împotriva Ucrainei.",
     "China is providing Russia with satellite imagery for its war against Ukraine.",
     "China furnizează imagini din satelit Rusiei pentru războiul său împotriva Ucrainei",
     OFFICIALS, ["satellites", "imagery"], None),
    # AP's own reporting: attributed to the AP report itself, so the chain stops there.
    ("claim:ro-blinken-china-trip",
     "Secretarul de stat Antony Blinken urmează să călătorească în China luna aceasta pentru discuții.",
     "Secretary of State Antony Blinken is to travel to China this month for talks.",
     "secretarul de stat Antony Blinken urmează să călătorească în China luna aceasta pentru discuții",
     AP_OWN, ["diplomacy"], None),
    ("claim:ro-blinken-g7-capri",
     "Blinken urmează să participe săptămâna viitoare la reuniunea miniștrilor de externe ai G7 de la Capri, "
     "unde se așteaptă să-și exprime îngrijorarea față de sprijinul indirect al Chinei pentru Rusia.",
     "Blinken is to attend the G7 foreign ministers' meeting in Capri next week, where he is expected to "
     "voice concern about China's growing indirect support for Russia.",
     "Blinken urmează să participe săptămâna viitoare la reuniunea miniștrilor de externe ale Grupului 7 "
     "de la Capri, Italia, unde se așteaptă să-și manifeste îngrijorarea cu privire la sprijinul indirect "
     "tot mai mare al Chinei pentru Rusia",
     AP_OWN, ["diplomacy", "g7"], None),
    ("claim:ro-biden-raised-concern-with-xi",
     "Președintele Joe Biden i-a transmis direct președintelui chinez Xi Jinping îngrijorarea privind "
     "sprijinul indirect al Beijingului pentru efortul de război al Rusiei.",
     "President Joe Biden has directly conveyed to Chinese President Xi Jinping his concern about Beijing's "
     "indirect support for Russia's war effort.",
     "Președintele Joe Biden i-a transmis direct președintelui chinez Xi Jinping îngrijorarea cu privire "
     "la sprijinirea indirectă a Beijing a efortului de război al Rusiei",
     AP_OWN, ["diplomacy"], None),
    # Entered by mistake: Ana already had this claim. Retracted in step 5.
    (CLAIM_DUPLICATE,
     "Aproximativ 90% din microelectronica Rusiei a venit din China în 2023.",
     "About 90% of Russia's microelectronics came from China in 2023.",
     "în 2023 aproximativ 90% din microelectronica Rusiei a venit din China",
     OFFICIALS, ["microelectronics"], None),
)


# The reviews: (claim ID, explanation, evidence). All "unproven": the claims are attributed to a non-public
# assessment or to an analysis the article does not reproduce.
REVIEWS = (
    (CLAIM_90PCT,
     "The figure comes from two senior Biden administration officials, speaking anonymously about a US "
     "intelligence assessment that is not public. The article gives no data the desk could check it against.",
     [SRC_AP, SRC_OFFICIALS, SRC_ASSESSMENT]),
    (CLAIM_Q4_IMPORTS,
     "Attributed to the same anonymous officials and the non-public assessment. The article does not say "
     "which imports the roughly $900 million covers, so the share cannot be checked against other figures.",
     [SRC_AP, SRC_OFFICIALS, SRC_ASSESSMENT]),
    (CLAIM_SEMICONDUCTORS,
     "The article attributes the figures to Russian customs data analysed by the Free Russia Foundation. "
     "The desk has not seen the analysis or the data, and the article gives nothing more.",
     [SRC_FRF, SRC_CUSTOMS]),
    (CLAIM_SATELLITE_IMAGERY,
     "The officials say the United States learned this; the article gives no detail on how, and the "
     "assessment is not public.",
     [SRC_AP, SRC_OFFICIALS, SRC_ASSESSMENT]),
)


def _reviews() -> list[dict]:
    return [review_record(claim_id, "Atribuit, neverificat independent", "unproven",
                          record_id="review:" + claim_id.split(":", 1)[1], created=T_REVIEWS, label_language="ro",
                          explanation=explanation, evidence=evidence, reviewed=REVIEWED)
            for claim_id, explanation, evidence in REVIEWS]


def _write_keys(keys_dir: Path, signers: dict[str, Signer]) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    for file_name, signer in signers.items():
        path = keys_dir / file_name
        if not path.exists():
            write_key_file(path, signer, passphrase=None)


def build_demo(db_path, keys_dir) -> Ledger:
    """Build the demo ledger at ``db_path`` (a new file) and write its keys to ``keys_dir``.

    The three key files (``log.key``, ``ana.key``, ``mihai.key``) are DEMO
    KEYS: derived from published seeds and written unencrypted, so anyone can
    sign as them. Never use them for a real ledger. An existing key file is
    left as it is. Building twice gives byte-identical entries.

    Example::

        ledger = build_demo("demo.db", "demo-keys")
        ledger.current("claim:ro-microelectronics-90pct")
    """
    log, ana, mihai = _signer(DEMO_ORIGIN), _signer(ANA[0]), _signer(MIHAI[0])
    _write_keys(Path(keys_dir), {"log.key": log, "ana.key": ana, "mihai.key": mihai})
    article = ARTICLE_PATH.read_bytes()

    # 1. The log key (entry 0), then the editors.
    ledger = Ledger.create(db_path, log, display_name=DEMO_PUBLISHER, created=T_CREATE)
    ledger.append([key_record(signer.vkey, display, record_id=f"key:{name.split('@')[0]}", created=T_KEYS)
                   for signer, (name, display) in ((ana, ANA), (mihai, MIHAI))], log, log)

    # 2-4. Sources, claims, reviews.
    ledger.append(_sources(article), ana, log, snapshots=[(article, ARTICLE_MEDIA_TYPE)])
    ledger.append(_claims(CLAIMS_ANA, T_CLAIMS_ANA), ana, log)
    ledger.append(_claims(CLAIMS_MIHAI, T_CLAIMS_MIHAI), mihai, log)
    ledger.append(_reviews(), mihai, log)
    _append_history(ledger, ana, mihai, log)
    return ledger


def _claims(claims, created: str) -> list[dict]:
    return [claim_record(SRC_ARTICLE, {"exact": exact}, "ro", record_id=claim_id, created=created, text=text,
                         translation=translation, tags=tags, claim_date=CLAIM_DATE, **attribution, **(quantity or {}))
            for claim_id, text, translation, exact, attribution, tags, quantity in claims]


def _append_history(ledger: Ledger, ana: Signer, mihai: Signer, log: Signer) -> None:
    # 5. Revisions first; the correction notice needs both versions' entry hashes.
    wrong = ledger.current(CLAIM_Q4_IMPORTS).hash_hex
    ledger.append([
        ledger.revision(
            CLAIM_MILITARY_OPTICS,
            "English translation: 'made by' follows 'fabricate de'; 'from' blurred maker and supplier.",
            translation={"language": "en", "text": "Russia received military optics made by the Chinese firms iRay "
                                                   "Technology and North China Research Institute of Electro-Optics."},
        ).evolve(created=T_REVISIONS),
        ledger.revision(
            CLAIM_Q4_IMPORTS,
            "English translation: '900 de milioane' is $900 million, not $900 billion.",
            translation={"language": "en", "text": "Nearly 70% of Russia's imports of about $900 million in the last "
                                                   "quarter of 2023 came from China."},
        ).evolve(created=T_REVISIONS),
    ], ana, log)
    ledger.append([{
        "kind": "correction", "id": "correction:ro-imports-q4-2023-900-million", "version": 1, "created": T_CORRECTION,
        "target": CLAIM_Q4_IMPORTS, "target_entry": wrong, "corrected_entry": ledger.current(CLAIM_Q4_IMPORTS).hash_hex,
        "reason": "The English translation said $900 billion; the article says about $900 million "
                  "('900 de milioane de dolari').",
    }], ana, log)
    semiconductors_review = "review:" + CLAIM_SEMICONDUCTORS.split(":", 1)[1]
    ledger.append([
        {"kind": "retraction", "id": "retraction:ro-microelectronics-90pct-duplicate", "version": 1,
         "created": T_RETRACTION, "target": CLAIM_DUPLICATE, "target_entry": ledger.current(CLAIM_DUPLICATE).hash_hex,
         "reason": f"duplicate of {CLAIM_90PCT}"},
        ledger.revision(
            semiconductors_review,
            "Explanation: say that the 2022 figure is only a lower bound.",
            explanation="The article attributes the figures to Russian customs data analysed by the Free Russia "
                        "Foundation. The 2022 figure is a lower bound ('peste 500 de milioane', more than $500 "
                        "million). The desk has not seen the analysis or the data, and the article gives nothing more.",
        ).evolve(created=T_RETRACTION),
    ], mihai, log)


class BuiltDemo(NamedTuple):
    """What ``write_demo`` built: where, how many entries and claims, and the log's verifier key."""

    path: Path
    entries: int
    claims: int
    log_vkey: str


def write_demo(db_path) -> BuiltDemo:
    """Build the demo ledger at ``db_path``, replacing it, with its keys in ``keys/`` beside it.

    It is built in a new file beside ``db_path`` and then moved over it, so a
    failed build leaves the old demo as it was.
    """
    target = Path(db_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        with build_demo(Path(tmp) / "demo.db", target.parent / "keys") as ledger:
            built = BuiltDemo(target, ledger.size, ledger.record_count("claim"), ledger.log_vkey)
        os.replace(Path(tmp) / "demo.db", target)
    return built


DEMO_CLAIM_IDS = [claim[0] for claim in CLAIMS_ANA + CLAIMS_MIHAI]
