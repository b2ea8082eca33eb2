"""Planned failovers: preflight, lower TTL, drain, switch, verify, hold — or roll back.

A run acts only by writing intents (a TTL cap, a traffic shift, a pin), so the same
controller, policy and providers that handle failures carry it out. Which site a run goes
to, what refuses it and what its preview shows are answered by ``gtm.core.moves``; these
modules gather the values those functions take, do the waiting and keep the record:

- :mod:`.runbooks`: the entry point (start, abort, wait; evacuations and drills);
- :mod:`.executor`: sequences a run's steps and completes it;
- :mod:`.steps`: each step's I/O; :mod:`.delivery`: publication and providers;
- :mod:`.situation`: what the registry and the controller say about a service now;
- :mod:`.preview`: a dry run; :mod:`.campaigns`: evacuations and drills;
- :mod:`.runs`: the typed run store, and the intents each run owns;
- :mod:`.recovery`: rolling back a run that failed, or whose gtm died mid-run.
"""
