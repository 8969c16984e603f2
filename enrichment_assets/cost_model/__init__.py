"""The cost model: what each provider is likely to find for a kind of lead, and at what price.

``segments`` says which segment a lead is in, ``rates`` learns per provider and segment the chance of a number
and of a personal mobile and the credits per call (shrunk toward priors), ``order`` turns those into an
adaptive waterfall order per lead, and ``forecast`` adds them up over a list before any vendor is called.
Plain Python: no Dagster; the table ``provider_segment_rates`` is written by ``storage/segment_rates.py``.
"""
