"""The operations verbs (runs, quarantine, dead-letters, redrive, reingest, report), for a deployed
stack (``--stack NAME``: resources resolved through CloudFormation) and the emulator
(``--endpoint-url URL``) alike. ``target.resolve_target`` is the one way every verb finds a stack.
"""
