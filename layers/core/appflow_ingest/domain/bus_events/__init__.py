"""Outbound events: the envelope and every detail-type published to the downstream bus."""
