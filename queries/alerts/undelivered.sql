-- Events no receiver has had: not one ok delivery, whatever outbox rows they have; oldest first.
select e.event_id
from app.alert_events as e
anti join app.alert_deliveries as d on d.event_id = e.event_id and d.ok
order by e.seq
