-- Per lead list: how many leads got a dialable mobile and what the vendors charged for the list.

with lists as (
    select list_id from {{ source('enrichment', 'raw_leads') }}
    union
    select list_id from {{ source('enrichment', 'credit_ledger') }} where list_id is not null
),

leads as (
    select list_id, count(*) as leads
    from {{ source('enrichment', 'raw_leads') }}
    group by list_id
),

outcomes as (
    select
        list_id,
        count(*) filter (where status = 'mobile_found') as mobiles,
        count(*) filter (where status in ('mobile_found', 'phone_found')) as reachable,
        count(*) filter (where status = 'pending') as pending,
        count(*) filter (where status = 'suppressed') as suppressed
    from {{ source('enrichment', 'contacts') }}
    group by list_id
),

spend as (
    select list_id, count(*) as calls, sum(credits) as credits, sum(usd) as usd
    from {{ source('enrichment', 'credit_ledger') }}
    group by list_id
)

select
    lists.list_id,
    coalesce(leads.leads, 0) as leads,
    coalesce(outcomes.mobiles, 0) as mobiles,
    coalesce(outcomes.reachable, 0) as reachable,
    coalesce(outcomes.pending, 0) as pending,
    coalesce(outcomes.suppressed, 0) as suppressed,
    coalesce(outcomes.mobiles, 0) / nullif(leads.leads, 0) as mobile_rate,
    coalesce(spend.calls, 0) as calls,
    coalesce(spend.credits, 0) as credits,
    coalesce(spend.usd, 0) as usd,
    spend.credits / nullif(outcomes.mobiles, 0) as credits_per_mobile,
    spend.usd / nullif(outcomes.mobiles, 0) as usd_per_mobile
from lists
left join leads using (list_id)
left join outcomes using (list_id)
left join spend using (list_id)
