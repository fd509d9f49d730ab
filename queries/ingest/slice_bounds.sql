select (min(day) - 1)::timestamp::timestamptz as slices_from, (max(day) + 2)::timestamp::timestamptz as slices_to
from slices
