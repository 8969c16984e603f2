-- Which vendor delivers the mobiles and which one eats the budget: per provider, over every list so far.

with performance as (
    select * from {{ source('enrichment', 'provider_performance') }}
)

select
    provider,
    leads_sent,
    cache_hits,
    calls,
    found,
    mobiles,
    found / nullif(leads_sent, 0) as found_rate,
    mobiles / nullif(leads_sent, 0) as mobile_rate,
    mobiles / nullif(sum(mobiles) over (), 0) as share_of_mobiles,
    credits,
    usd,
    usd / nullif(sum(usd) over (), 0) as share_of_usd,
    credits / nullif(mobiles, 0) as credits_per_mobile,
    usd / nullif(mobiles, 0) as usd_per_mobile
from performance
