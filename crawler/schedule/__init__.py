"""Scheduled recrawls: schedules, the scheduler loop, crawl status, watchlists.

Everything lives in the store (tables ``schedule``, ``schedule_run``,
``crawl_progress``, ``watch``, ``watch_hit``), so a scheduler can be stopped
and restarted, and several commands can look at the same state.
"""
