"""Change capture: every change of TabuladorMax's leads becomes an event on Kafka."""
