-- What each vendor cost per calendar month (UTC): one row per (month, provider).
-- Every request that reached a vendor is one ledger row; cache hits cost nothing and make no row.

select
    cast(date_trunc('month', timezone('UTC', called_at)) as date) as month,
    provider,
    count(*) as calls,
    count(*) filter (where outcome = 'found') as found_calls,
    count(*) filter (where outcome = 'unknown') as unknown_calls,
    sum(credits) as credits,
    sum(usd) as usd,
    count(distinct list_id) as lists
from {{ source('enrichment', 'credit_ledger') }}
group by all
