-- Leads with a personal mobile, ready for a dialer or a CRM import: one row per record_id.
-- A view, not a table: it holds names and numbers, and `enrich forget` erases people from the
-- pipeline's tables only, so a copy here would outlive an erasure.
{{ config(materialized='view') }}

with best_number as (
    -- contact_phones has one row per distinct number of a person; any_value guards against a
    -- number repeated across lists.
    select record_id, e164, any_value(region) as region, bool_or(shared_with_others) as shared_with_others
    from {{ source('enrichment', 'contact_phones') }}
    group by record_id, e164
)

select
    c.record_id,
    c.list_id,
    nullif(trim(concat_ws(' ', c.first_name, c.last_name)), '') as name,
    c.first_name,
    c.last_name,
    c.company,
    c.linkedin_url,
    c.best_phone,
    c.best_phone_type as phone_type,
    c.best_phone_score as score,
    c.best_phone_sources as sources,
    array_to_string(list_sort(c.best_phone_sources), ', ') as sources_text,
    len(c.best_phone_sources) as source_count,
    p.region as phone_region,
    c.enriched_at
from {{ source('enrichment', 'contacts') }} as c
left join best_number as p
    on p.record_id = c.record_id and p.e164 = c.best_phone
where c.status = 'mobile_found'
  and c.best_phone is not null
