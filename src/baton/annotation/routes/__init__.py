"""The app's routes, one router per area, included by :func:`baton.annotation.app.create_app`:

* :mod:`.pages`: the pages (login, home, labelling, A/B, listening test, guidelines, dashboard) and audio;
* :mod:`.labels`: the labelling API; :mod:`.pairs`: the A/B API; :mod:`.ratings`: the listening test's;
* :mod:`.admin`: the admin's API;
* :mod:`.context`: what they all stand on (the app's parts, who is asking, error answers).
"""
