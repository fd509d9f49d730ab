-- rowid breaks a tie between two choices stored within the same microsecond: the later insert wins.
select value from app.user_preferences
where username = $username and name = $name
order by set_at desc, rowid desc
limit 1
