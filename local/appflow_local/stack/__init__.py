"""The stack as local mode sees it: the template and its loader, the provisioned stack's description,
provisioning into the emulator, sample objects and reading results back.
"""
