-- Each (account, member, service, model) among the events to roll up, with a 64-bit key: the rollups group by
-- the key (far cheaper than by four text columns) and take the text back from here. The caller uses the keyed
-- statements only when every combination here has its own key (rollup_keys_distinct), so grouping by the key
-- is grouping by the text.
create or replace temp table rollup_keys as
select distinct hash(account_id, user_id, service, model) as k, account_id, user_id, service, model
from rollup_source
