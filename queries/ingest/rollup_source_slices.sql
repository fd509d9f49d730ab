create or replace temp view rollup_source as select * from slice_events
