"""The reverse applier: Gestão Scouter's changes, from the reverse topic into TabuladorMax.

    plan.py        pure: decode events, map names back, order one batch's versions, the SQL
    blocked.py     which database errors stop the applier until fixed, and the fix to log
    store.py       one batch in one transaction, tagged `sync_source = 'gestao_scouter'`
    component.py   the consumer loop: poll, apply, then commit offsets
"""
