"""Offline synthesis: the real program under Pulumi mocks, with no CLI, cloud or network."""
