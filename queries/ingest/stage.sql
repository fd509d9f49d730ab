-- The landed rows cast to the export types (a naive timestamp is UTC: the session zone is UTC), with
-- `reason`, null for a valid row; the column list and the reason's `case` are generated from engine/schema.py.
create or replace temp view staged as
select _ingest_file, file_row_number as row_no,
    {columns},
    {reason} as reason
from landing
