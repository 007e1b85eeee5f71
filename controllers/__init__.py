# Public routes (tracking, landing, unsubscribe) arrive with the tracking issue.
