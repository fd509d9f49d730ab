-- The failures that may count for one attempt: its (username, address) pair's and its address's.
select username, address, failed_at
from app.sign_in_failures
where failed_at > $since
    and ((username = $username and address is not distinct from $address)
        or ($address is not null and address = $address))
order by failed_at
