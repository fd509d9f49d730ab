insert into app.saved_views (username, name, query, removed, saved_at)
values ($username, $name, $query, $removed, $saved_at)
