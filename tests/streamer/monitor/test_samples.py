"""The charts' figures from the ring of samples: rates, lag, and commit→visible quantiles."""

from __future__ import annotations

import math

import pytest

from streamer.monitor.masking import mask_lead
from streamer.monitor.samples import Ring, Sample, quantile, series

INF = math.inf


def test_quantile_interpolates_inside_the_bucket() -> None:
    buckets = ((0.1, 0.0), (0.5, 50.0), (1.0, 100.0), (INF, 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.5)
    assert quantile(0.25, buckets) == pytest.approx(0.3)
    assert quantile(0.99, buckets) == pytest.approx(0.99)
    assert quantile(0.5, ((1.0, 0.0), (INF, 0.0))) is None
    assert quantile(0.99, ((1.0, 1.0), (INF, 10.0))) == 1.0  # in +Inf: the highest finite bound


def test_series_are_per_interval_rates_and_restarted_counters_count_from_zero() -> None:
    b = ((1.0, 0.0), (INF, 0.0))
    samples = [Sample(0, 100, 0, 5, b), Sample(5, 150, 5, 3, ((1.0, 10.0), (INF, 10.0))),
               Sample(10, 20, 5, None, ((1.0, 2.0), (INF, 2.0)))]
    out = series(samples)
    assert out["t"] == [5, 10]
    assert out["landed_per_s"] == [10.0, 4.0]  # 20 since a restart, over 5 s
    assert out["errors_per_s"] == [1.0, 0.0]
    assert out["lag"] == [3, None]
    assert out["visible_p50"][0] == pytest.approx(0.5) and out["visible_p50"][1] == pytest.approx(0.5)


def test_no_figure_without_the_sink_in_this_process() -> None:
    out = series([Sample(0, None, None, None, ()), Sample(5, None, None, None, ())])
    assert out["landed_per_s"] == [None] and out["visible_p99"] == [None]


def test_the_ring_keeps_an_hour() -> None:
    ring = Ring(3600, 5)
    for i in range(1000):
        ring.add(Sample(i * 5, i, 0, 0, ()))
    kept = ring.samples()
    assert len(kept) == 721 and kept[-1].at == 999 * 5 and kept[-1].at - kept[0].at == 3600
    with pytest.raises(ValueError, match="every"):
        Ring(3600, 0)


def test_the_drawer_masks_personal_data_but_keeps_the_keys() -> None:
    lead = {"id": 7, "name": "Ana Souza", "celular": "11999998888", "email": "ana@example.com", "cpf": None,
            "etapa": "novo", "cidade": "Campinas", "observacoes": "ligar depois", "motivo_perda": "tel 11999998888",
            "dados_extras": {"x": 1}, "tags": ["vip"], "confirmado": True}
    masked = mask_lead(lead)
    assert list(masked) == list(lead)
    assert masked["name"] == masked["celular"] == masked["email"] == masked["observacoes"] == "***"
    assert masked["cpf"] is None and masked["dados_extras"] == "***"
    assert masked["etapa"] == "novo" and masked["cidade"] == "Campinas" and masked["confirmado"] is True
    assert "11999998888" not in str(masked)
    assert mask_lead(None) is None and mask_lead("text") == "***"


def test_the_drawer_masks_the_response_body_text_by_text() -> None:
    """A PostgREST error keeps its code and constraint names; quoted rows and values are masked."""
    from streamer.monitor.masking import mask_body

    body = ('{"code":"23514","details":"Failing row contains (20000, Ana Souza, 11999998888).","hint":null,'
            '"message":"new row for relation \\"leads\\" violates check constraint \\"no_blocked\\""}')
    masked = mask_body(body)
    assert masked is not None
    assert '"code":"23514"' in masked and "no_blocked" in masked and "Ana" not in masked
    assert "11999998888" not in masked
    assert mask_body("upstream said: ana@example.com") == "upstream said: ***@***"
    assert mask_body(None) is None
