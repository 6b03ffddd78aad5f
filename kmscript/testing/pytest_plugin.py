"""pytest plugin (entry point ``pytest11``) for kmscript scenarios.

Registered so that pytest loads it in any project with kmscript installed.  Collection of
``test_*.kms`` files is provided by the scenario runner (kmscript.testing.runner).
"""
