select * from app.adjustments where adjustment_id = $adjustment_id
