"""The domain: onboarding requests and their approval state machine, naming rules, input rules, license
profiles and seat decisions, temporary passwords, the information-barrier segment catalog (validation,
placement, PowerShell generation), audit vocabulary, errors and user-facing texts.

Pure by contract (import-linter): no frameworks, no drivers, no network. The only I/O is reading a
configuration file in the two ``load_*`` helpers.
"""
