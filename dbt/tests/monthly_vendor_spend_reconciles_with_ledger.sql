-- Every credit and every dollar in the ledger lands in exactly one month: totals per provider must match.
{{ config(meta={'dagster': {'ref': {'name': 'monthly_vendor_spend'}}}) }}

with ledger as (
    select provider, count(*) as calls, sum(credits) as credits, sum(usd) as usd
    from {{ source('enrichment', 'credit_ledger') }}
    group by provider
),

monthly as (
    select provider, sum(calls) as calls, sum(credits) as credits, sum(usd) as usd
    from {{ ref('monthly_vendor_spend') }}
    group by provider
)

select coalesce(ledger.provider, monthly.provider) as provider,
       ledger.calls as ledger_calls, monthly.calls as monthly_calls,
       ledger.credits as ledger_credits, monthly.credits as monthly_credits,
       ledger.usd as ledger_usd, monthly.usd as monthly_usd
from ledger
full outer join monthly on ledger.provider = monthly.provider
where ledger.calls is distinct from monthly.calls
   or abs(coalesce(ledger.credits, 0) - coalesce(monthly.credits, 0)) > 1e-9
   or abs(coalesce(ledger.usd, 0) - coalesce(monthly.usd, 0)) > 1e-9
