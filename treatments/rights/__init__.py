"""A patient's data rights under UK GDPR: a copy of everything held (articles 15 and 20)
and restriction of processing (article 18).

``restriction`` holds the services that restrict and lift, ``export`` builds the
subject-access ZIP and ``views`` serves both to managers. The package sits above the rest
of the app (it reads photos, reminders and records); only ``treatments.urls`` imports it.
"""
