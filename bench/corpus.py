"""Seeded synthetic needs and profiles for benchmarks, built from the clinical-area vocabulary.

Texts read like the demo data: a needs statement names its problem in the vocabulary's
own words (terms and abbreviations of one to three areas, in en, fr or pt), gives
numbers and context, and says what help it wants; a profile describes a UK team, its
experience and how it works. Lengths are drawn uniformly from the ranges the issue sets
(needs 50-160 words, profiles 60-180). Every record validates against matcher.schema.

    python bench/corpus.py --profiles 1000 --needs 200 --out /tmp/corpus   # writes JSONL
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from matcher.areas import Vocabulary, load_vocabulary  # noqa: E402
from matcher.schema import AREA_IDS, MODALITIES, Need, Profile  # noqa: E402

NEED_WORDS = (50, 160)
PROFILE_WORDS = (60, 180)
COUNTRIES = {
    "en": ["GH", "NG", "KE", "UG", "TZ", "ZM", "MW", "SL", "LR", "ZW", "ET", "RW", "SS", "GM", "NP", "BD"],
    "fr": ["SN", "CI", "CM", "ML", "BF", "NE", "TD", "CD", "BJ", "TG", "GN", "MG", "HT", "BI"],
    "pt": ["MZ", "AO", "GW", "CV", "ST", "TL"],
}
NEED_LANGUAGE_SHARE = (("en", 0.55), ("fr", 0.3), ("pt", 0.15))
PROFILE_LANGUAGE_SHARE = (("en", 0.85), ("fr", 0.1), ("pt", 0.05))
KINDS = ("nhs_trust", "university", "royal_college", "charity", "social_enterprise")
REGIONS = ("London", "North West England", "Yorkshire", "Scotland", "Wales", "South West England",
           "East Midlands", "West Midlands", "Northern Ireland", "South East England", "North East England")

# Sentence pools with slots: {term} (a vocabulary term of the record's area), {area} (the
# area's name), {n} (a number), {place}, {staff}. Several pools per language keep texts varied.
NEED_SENTENCES: dict[str, dict[str, list[str]]] = {
    "en": {
        "open": [
            "Our hospital serves about {n} thousand people and we see more patients with {term} every year.",
            "Every month we admit around {n} patients with {term}, and too many of them do badly.",
            "We are a district hospital {n} kilometres from the capital and {term} is one of our biggest problems.",
            "Patients often arrive late with {term} because families first try traditional healers.",
        ],
        "context": [
            "We have no specialist in {area} and the nurses have never had specific training in {term}.",
            "Our only {staff} covers the whole hospital at night, and equipment breaks often.",
            "Medicines for {term} are often out of stock and patients pay for most of their care.",
            "We keep paper records only, so we do not know how many patients with {term} survive.",
            "Referral to the regional centre takes {n} hours by road and ambulances are rare.",
            "Staff turnover is high and new {staff} learn on the job without written guidelines.",
            "The ward has {n} beds but we often have two patients in one bed.",
        ],
        "ask": [
            "We would like a partner to train our {staff} in {term} and help us write simple ward protocols.",
            "We want mentorship by video call and a short visit to see how a good {area} service works.",
            "We need help to audit our care of {term} and to set up a quality improvement cycle.",
            "We hope to build a training course that our own trainers can run after the partnership ends.",
            "Help with {term} would make the biggest difference to our patients.",
        ],
    },
    "fr": {
        "open": [
            "Notre hôpital dessert environ {n} mille habitants et nous voyons de plus en plus de cas de {term}.",
            "Chaque mois nous recevons près de {n} patients pour {term}, et beaucoup arrivent trop tard.",
            "Nous sommes un hôpital de district à {n} kilomètres de la capitale et {term} est un problème majeur.",
            "Les familles consultent d'abord les tradipraticiens, puis arrivent avec {term} à un stade avancé.",
        ],
        "context": [
            "Nous n'avons aucun spécialiste en {area} et les infirmiers n'ont jamais été formés à {term}.",
            "Un seul {staff} assure les gardes de nuit pour tout l'hôpital et le matériel tombe souvent en panne.",
            "Les médicaments pour {term} manquent souvent et les patients paient la plupart des soins.",
            "Nos dossiers sont sur papier et nous ne savons pas combien de patients survivent.",
            "Le transfert vers le centre régional prend {n} heures de route et les ambulances sont rares.",
            "Le service compte {n} lits mais deux patients partagent souvent un même lit.",
        ],
        "ask": [
            "Nous souhaitons un partenaire pour former nos {staff} à {term} et rédiger des protocoles simples.",
            "Nous voulons un mentorat en ligne et une courte visite d'échange dans un service de {area}.",
            "Nous avons besoin d'aide pour évaluer nos pratiques et lancer une démarche qualité.",
            "Nous aimerions créer une formation que nos propres formateurs pourront poursuivre.",
        ],
    },
    "pt": {
        "open": [
            "O nosso hospital serve cerca de {n} mil pessoas e vemos cada vez mais casos de {term}.",
            "Todos os meses recebemos cerca de {n} doentes com {term}, e muitos chegam tarde demais.",
            "Somos um hospital distrital a {n} quilómetros da capital e {term} é um dos nossos maiores problemas.",
            "As famílias procuram primeiro o curandeiro e os doentes chegam com {term} já avançado.",
        ],
        "context": [
            "Não temos nenhum especialista em {area} e os enfermeiros nunca tiveram formação em {term}.",
            "Um único {staff} cobre o hospital inteiro durante a noite e o equipamento avaria muitas vezes.",
            "Os medicamentos para {term} faltam com frequência e os doentes pagam a maior parte dos cuidados.",
            "Os registos são em papel e não sabemos quantos doentes sobrevivem.",
            "A transferência para o hospital provincial demora {n} horas de estrada.",
            "A enfermaria tem {n} camas mas muitas vezes dois doentes partilham uma cama.",
        ],
        "ask": [
            "Gostaríamos de um parceiro para formar os nossos {staff} em {term} e escrever protocolos simples.",
            "Queremos mentoria por videochamada e uma curta visita a um bom serviço de {area}.",
            "Precisamos de ajuda para auditar os cuidados e iniciar um ciclo de melhoria da qualidade.",
            "Esperamos criar um curso que os nossos próprios formadores possam continuar.",
        ],
    },
}
PROFILE_SENTENCES: dict[str, dict[str, list[str]]] = {
    "en": {
        "open": [
            "Our team has worked on {term} with partner hospitals in {place} for {n} years.",
            "We are a {area} service with a long record of teaching {staff} about {term}.",
            "For over {n} years our clinicians have supported hospitals in {place} to improve care of {term}.",
        ],
        "context": [
            "Our faculty includes consultants, specialist nurses, physiotherapists and pharmacists in {area}.",
            "We delivered a modular course on {term} and then mentored local trainers to run it themselves.",
            "We co-wrote ward pathways and checklists for {term} that fit the drugs and equipment available.",
            "Our {staff} have run simulation drills and case reviews with colleagues in {place}.",
            "We helped a partner hospital open a dedicated unit and set up an audit of {term}.",
            "We publish our teaching materials openly and adapt them to each partner.",
        ],
        "ask": [
            "We work through fortnightly online case reviews, short exchange visits and quality improvement.",
            "We can offer {n} places a year on our training course and remote mentorship for {staff}.",
            "We are keen to repeat this model with another hospital willing to commit a core team.",
            "We would like a partner interested in protocols and curricula for {term}.",
        ],
    },
    "fr": {
        "open": [
            "Notre équipe travaille depuis {n} ans sur {term} avec des hôpitaux partenaires en {place}.",
            "Nous sommes un service de {area} qui forme depuis longtemps des {staff} à {term}.",
        ],
        "context": [
            "Notre équipe comprend des médecins, des infirmiers spécialisés et des kinésithérapeutes en {area}.",
            "Nous avons conçu une formation modulaire sur {term} puis accompagné des formateurs locaux.",
            "Nous avons rédigé avec nos partenaires des protocoles adaptés aux moyens disponibles.",
            "Nos {staff} animent des exercices de simulation et des revues de cas.",
        ],
        "ask": [
            "Nous proposons un mentorat en ligne, des visites d'échange et des démarches qualité.",
            "Nous pouvons accueillir {n} participants par an et parlons français et anglais.",
        ],
    },
    "pt": {
        "open": [
            "A nossa equipa trabalha há {n} anos em {term} com hospitais parceiros em {place}.",
            "Somos um serviço de {area} com experiência na formação de {staff} em {term}.",
        ],
        "context": [
            "A equipa inclui médicos, enfermeiros especialistas e fisioterapeutas em {area}.",
            "Criámos um curso modular sobre {term} e acompanhámos formadores locais.",
            "Escrevemos protocolos adaptados aos medicamentos e equipamentos disponíveis.",
        ],
        "ask": [
            "Oferecemos mentoria online, visitas de intercâmbio e melhoria da qualidade.",
            "Podemos receber {n} participantes por ano e falamos português e inglês.",
        ],
    },
}
STAFF = {
    "en": ["nurses", "midwives", "junior doctors", "clinical officers", "medical officer", "pharmacists"],
    "fr": ["infirmiers", "sages-femmes", "médecins", "internes", "pharmaciens", "techniciens"],
    "pt": ["enfermeiros", "parteiras", "médicos", "técnicos de saúde", "farmacêuticos"],
}
PLACES = ("Ghana", "Sierra Leone", "Uganda", "Malawi", "Senegal", "Mozambique", "Kenya", "Zambia", "Cameroon")
NAME_PARTS = (("Northgate", "Riverside", "St Anne's", "Wessex", "Pennine", "Highland", "Severn", "Thames Valley",
               "Mercia", "Solent", "Fenland", "Clyde", "Tyne", "Avon", "Cotswold"),
              ("Hospital", "Health Partnership", "NHS Foundation Trust", "University", "Global Health Unit",
               "Institute", "Network", "Trust"))
INSTITUTION_PARTS = (("Regional", "District", "University", "Provincial", "Mission", "Central", "General"),
                     ("Hospital", "Health Centre", "Teaching Hospital", "Medical Centre"))


@cache
def _vocabulary() -> Vocabulary:
    return load_vocabulary()


def _pick(rng: random.Random, shares: Sequence[tuple[str, float]]) -> str:
    x = rng.random()
    for value, share in shares:
        x -= share
        if x <= 0:
            return value
    return shares[-1][0]


def _terms(area: str, language: str) -> list[str]:
    vocab = _vocabulary()
    terms = vocab.terms[area][language] or vocab.terms[area]["en"]
    return terms + vocab.abbreviations[area][:2]


def _text(rng: random.Random, pools: dict[str, list[str]], language: str, areas: list[str],
          words: tuple[int, int]) -> str:
    """Sentences from `pools` (opening, context..., asks) until the drawn length is reached."""
    vocab = _vocabulary()
    target = rng.randint(*words)

    def fill(template: str) -> str:
        area = areas[0] if rng.random() < 0.6 else rng.choice(areas)
        return template.format(term=rng.choice(_terms(area, language)), area=vocab.names[area][language].lower(),
                               n=rng.randint(2, 90), place=rng.choice(PLACES), staff=rng.choice(STAFF[language]))

    out = [fill(rng.choice(pools["open"]))]
    count = len(out[0].split())
    closing = fill(rng.choice(pools["ask"]))
    while count + len(closing.split()) < target:
        pool = pools["context"] if rng.random() < 0.7 else pools["ask"]
        sentence = fill(rng.choice(pool))
        out.append(sentence)
        count += len(sentence.split())
    out.append(closing)
    text = " ".join(out)
    hi = words[1]
    split = text.split()
    if len(split) > hi:  # trim a long last sentence to the range
        text = " ".join(split[:hi]).rstrip(",;") + "."
    return text


def _areas(rng: random.Random) -> list[str]:
    k = rng.choices((1, 2, 3), weights=(0.5, 0.35, 0.15))[0]
    return rng.sample(AREA_IDS, k)


def need_dict(i: int, rng: random.Random) -> dict[str, Any]:
    """One synthetic need as an import-format dict (id `bench-need-<i>`)."""
    language = _pick(rng, NEED_LANGUAGE_SHARE)
    areas = _areas(rng)
    return {
        "id": f"bench-need-{i:07d}",
        "institution": f"{rng.choice(INSTITUTION_PARTS[0])} {rng.choice(INSTITUTION_PARTS[1])} {i}",
        "country": rng.choice(COUNTRIES[language]),
        "language": language,
        "description": _text(rng, NEED_SENTENCES[language], language, areas, NEED_WORDS),
        "preferred_modalities": rng.sample(MODALITIES, rng.randint(0, 3)),
    }


def profile_dict(i: int, rng: random.Random) -> dict[str, Any]:
    """One synthetic UK profile as an import-format dict (id `bench-prof-<i>`)."""
    language = _pick(rng, PROFILE_LANGUAGE_SHARE)
    areas = _areas(rng)
    languages = ["en"] + ([language] if language != "en" else []) + (["fr"] if rng.random() < 0.1 else [])
    countries = sorted({c for lang in ("en", "fr", "pt") for c in COUNTRIES[lang] if rng.random() < 0.06})
    return {
        "id": f"bench-prof-{i:07d}",
        "name": f"{rng.choice(NAME_PARTS[0])} {rng.choice(NAME_PARTS[1])} {i}",
        "kind": rng.choice(KINDS),
        "country": "GB",
        "region": rng.choice(REGIONS),
        "description": _text(rng, PROFILE_SENTENCES[language], language, areas, PROFILE_WORDS),
        "languages": list(dict.fromkeys(languages)),
        "capacity": rng.randint(0, 5),
        "countries_of_experience": countries,
        "modalities": rng.sample(MODALITIES, rng.randint(1, 5)),
        **({"clinical_areas": areas[:1]} if rng.random() < 0.3 else {}),
    }


def iter_profiles(n: int, seed: int = 0) -> Iterator[Profile]:
    """`n` validated synthetic profiles; the same seed gives the same records."""
    rng = random.Random(f"profiles-{seed}")
    for i in range(n):
        yield Profile.model_validate(profile_dict(i, rng))


def iter_needs(n: int, seed: int = 0) -> Iterator[Need]:
    """`n` validated synthetic needs; the same seed gives the same records."""
    rng = random.Random(f"needs-{seed}")
    for i in range(n):
        yield Need.model_validate(need_dict(i, rng))


def profiles(n: int, seed: int = 0) -> list[Profile]:
    """A list of `n` synthetic profiles."""
    return list(iter_profiles(n, seed))


def needs(n: int, seed: int = 0) -> list[Need]:
    """A list of `n` synthetic needs."""
    return list(iter_needs(n, seed))


def texts_of_length(n: int, words: int = 120, seed: int = 0) -> list[str]:
    """`n` profile-like English texts of exactly `words` words (for encoder throughput)."""
    rng = random.Random(f"texts-{seed}")
    out = []
    while len(out) < n:
        parts: list[str] = []
        while len(parts) < words:
            parts.extend(profile_dict(len(out), rng)["description"].split())
        out.append(" ".join(parts[:words]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write profiles.jsonl and needs.jsonl of the requested sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1000)
    parser.add_argument("--needs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, records in (("profiles", iter_profiles(args.profiles, args.seed)),
                          ("needs", iter_needs(args.needs, args.seed))):
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r.model_dump(), ensure_ascii=False) + "\n")
    print(f"wrote {args.profiles} profiles and {args.needs} needs to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
