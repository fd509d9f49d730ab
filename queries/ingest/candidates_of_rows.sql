create or replace temp view candidates as select * from candidates_rows
