"""The reverse applier: Gestão Scouter's changes, from the reverse topic into TabuladorMax.

    plan.py        pure: decode events, map names back, merge one batch's versions, the SQL
    store.py       one batch in one transaction, tagged `sync_source = 'gestao_scouter'`
    component.py   the consumer loop: poll, apply, then commit offsets
"""
