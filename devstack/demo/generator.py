"""Realistic sample leads for a scouting agency's call centre. Pure: a seeded RNG in, dicts out."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

FIRST = ["Ana", "Beatriz", "Camila", "Daniela", "Eduarda", "Fernanda", "Gabriela", "Helena", "Isabela", "Julia",
         "Larissa", "Mariana", "Natália", "Olívia", "Paula", "Rafaela", "Sofia", "Valentina", "Lucas", "Pedro",
         "Gabriel", "Rafael", "Mateus", "Enzo", "Miguel", "Arthur", "Heitor", "Davi", "Thiago", "Bruno"]
LAST = ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
        "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa"]
CITIES = [("São Paulo", "SP", "Moema"), ("Rio de Janeiro", "RJ", "Tijuca"), ("Belo Horizonte", "MG", "Savassi"),
          ("Curitiba", "PR", "Batel"), ("Porto Alegre", "RS", "Moinhos"), ("Salvador", "BA", "Barra"),
          ("Recife", "PE", "Boa Viagem"), ("Campinas", "SP", "Cambuí"), ("Goiânia", "GO", "Setor Bueno")]
SCOUTERS = ["Carla Mendes", "Diego Rocha", "Elisa Prado", "Fábio Nunes", "Gisele Teixeira", "Hugo Pacheco"]
PROJETOS = ["Fashion Week 2027", "Catálogo Verão", "Comercial TV", "Editorial Revista", "Campanha Kids"]
ETAPAS = ["novo", "contato", "agendado", "confirmado", "compareceu", "ficha_paga", "perdido"]
FONTES = ["abordagem_rua", "instagram", "indicacao", "evento", "site"]
OLHOS = ["castanhos", "verdes", "azuis", "pretos", "mel"]
CABELOS = ["castanho", "loiro", "preto", "ruivo", "grisalho"]


def lead(lead_id: int, rng: random.Random, *, now: datetime | None = None) -> dict[str, Any]:
    """One lead with every column a call centre fills, in JSON-friendly values."""
    now = now or datetime.now(UTC)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, state, district = rng.choice(CITIES)
    age = rng.randint(4, 35)
    created = now - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 1440))
    stage = rng.choice(ETAPAS)
    appointment = (created + timedelta(days=rng.randint(1, 20))).date()
    phone = f"+55 11 9{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"
    return {
        "id": lead_id, "name": f"{first} {last}", "age": age,
        "address": f"Rua {rng.choice(LAST)}, {rng.randint(1, 3000)}", "celular": phone,
        "responsavel": f"{rng.choice(FIRST)} {last}" if age < 18 else None,
        "criado": created.isoformat(), "updated_at": now.isoformat(),
        "email": f"{first.lower()}.{last.lower()}{lead_id}@example.com",
        "telefone_casa": None, "telefone_trabalho": None, "cpf": f"{rng.randint(10**10, 10**11 - 1)}",
        "data_nascimento": (date(now.year - age, 1, 1) + timedelta(days=rng.randint(0, 364))).isoformat(),
        "genero": rng.choice(["F", "M"]), "cidade": city, "estado": state, "bairro": district,
        "cep": f"{rng.randint(10000, 99999)}-{rng.randint(100, 999)}", "scouter": rng.choice(SCOUTERS),
        "supervisor": rng.choice(SCOUTERS), "projeto": rng.choice(PROJETOS), "etapa": stage,
        "status_fluxo": "ativo" if stage != "perdido" else "encerrado", "fonte": rng.choice(FONTES),
        "local_abordagem": f"Shopping {district}", "data_abordagem": created.isoformat(),
        "data_agendamento": appointment.isoformat(), "horario_agendamento": f"{rng.randint(9, 18):02d}:00:00",
        "data_confirmacao": None, "confirmado": stage in ("confirmado", "compareceu", "ficha_paga"),
        "compareceu": stage in ("compareceu", "ficha_paga"), "data_comparecimento": None,
        "valor_ficha": f"{rng.choice([150, 250, 350, 490])}.00", "ficha_paga": stage == "ficha_paga",
        "altura_cm": rng.randint(100, 190), "peso_kg": f"{rng.uniform(20, 80):.2f}",
        "manequim": rng.choice(["PP", "P", "M", "G", "36", "38", "40"]), "cor_olhos": rng.choice(OLHOS),
        "cor_cabelo": rng.choice(CABELOS), "foto_url": f"https://cdn.example.com/leads/{lead_id}.jpg",
        "instagram": f"@{first.lower()}{lead_id}", "observacoes": rng.choice([None, "Retornar após 18h",
                                                                              "Mãe prefere WhatsApp"]),
        "tags": rng.sample(["vip", "kids", "plus", "teen", "retorno"], k=rng.randint(0, 2)),
        "tentativas_contato": rng.randint(0, 5), "ultimo_contato": now.isoformat(),
        "operador_telemarketing": rng.choice(["op01", "op02", "op03", "op04"]),
        "motivo_perda": "sem interesse" if stage == "perdido" else None, "dados_extras": {"campanha": "demo"},
    }


def leads(first_id: int, count: int, *, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    return [lead(i, rng, now=now) for i in range(first_id, first_id + count)]


INSERT = "INSERT INTO {table} SELECT * FROM json_populate_recordset(NULL::{table}, $1::json)"
