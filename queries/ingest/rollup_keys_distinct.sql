select count(*) = count(distinct k) from rollup_keys
